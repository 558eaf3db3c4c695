"""Evaluation of reconstructed objects: ICP with scale, Chamfer distance, F-score, CD_h."""

"""Evaluation: reconstructed objects (`metrics`: ICP with scale, Chamfer distance, F-score,
CD_h) and grasps (`physics`: penetration, contact, simulation displacement in MuJoCo)."""

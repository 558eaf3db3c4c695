"""Data: the clip format, the synthetic hand-object world, the prior's training data."""

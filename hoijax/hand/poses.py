"""A generative model of natural hand articulations (grasp synergies), in numpy.

Poses are drawn as "how closed is the hand" (one grip value) plus per-finger deviations,
mapped to flexion about each joint's anatomical flexion axis and a little abduction at the
knuckles. It gives the stand-in its PCA space and pose correctives, and gives synthetic
data plausible articulations for either hand model. Output: (N,45) MANO axis-angles
(flat-hand mean, MANO joint order).
"""
from __future__ import annotations

import numpy as np

from hoijax.hand.anatomy import FINGER_CHAINS, back_direction, flexion_axes

# Flexion at full grip (radians) of the three joints of a finger, and of the thumb.
FINGER_FLEX = np.array([1.35, 1.55, 0.95])
THUMB_FLEX = np.array([0.9, 0.5, 0.8])
# Abduction rank of each finger: positive spreads toward the thumb.
SPREAD_RANK = {"index": 1.5, "middle": 0.5, "ring": -0.5, "pinky": -1.5}


def sample_natural_poses(joints21: np.ndarray, side: str, num: int,
                         seed: int = 0) -> np.ndarray:
    """(num,45) plausible articulations for a hand with rest joints joints21 (21,3)."""
    rng = np.random.default_rng(seed)
    axes = flexion_axes(joints21, side)  # (15,3)
    back = back_direction(joints21, side)
    grip = rng.uniform(-0.1, 1.0, size=(num, 1))
    spread = rng.normal(0.0, 0.12, size=(num, 1))
    poses = np.zeros((num, 15, 3))
    for name, chain in FINGER_CHAINS.items():
        curl = np.clip(grip + rng.normal(0.0, 0.15, size=(num, 1)), -0.15, 1.0)
        flex_max = THUMB_FLEX if name == "thumb" else FINGER_FLEX
        flex = curl * flex_max + rng.normal(0.0, 0.06, size=(num, 3))
        flex[:, 1:] = np.maximum(flex[:, 1:], -0.1)  # PIP/DIP barely hyperextend
        for k, j in enumerate(chain):
            poses[:, j - 1] = flex[:, k:k + 1] * axes[j - 1]
        if name != "thumb":
            # Positive rotation about the back direction moves a right finger thumbward.
            sign = 1.0 if side == "right" else -1.0
            abduct = sign * (SPREAD_RANK[name] * spread + rng.normal(0.0, 0.05, (num, 1)))
            poses[:, chain[0] - 1] += abduct * back
    return poses.reshape(num, 45)


def pca_basis(poses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MANO-style PCA of (N,45) poses: components (45,45) orthonormal rows, mean (45,)."""
    mean = poses.mean(axis=0)
    _, _, vt = np.linalg.svd(poses - mean, full_matrices=False)
    # Deterministic signs: the largest entry of each component is positive.
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
    return vt * signs[:, None], mean

"""G-HOP's normalised hand frame `n` and the interaction grid's points (docs/design.md §11).

    x_n = (x_h - c) / s,   c = J_index1(beta) + (0, -0.08, 0) m,   s = 0.2 m

`x_h` is the MANO hand frame (zero wrist rotation and translation). The reference code
takes joint 5 of manopth's 21-joint order, which is MANO joint 1 (the index knuckle,
`hoijax.hand.model.OPENPOSE_ORDER[5] == 1`); it is a child of the wrist, so `c` depends on
the hand shape only, never on the articulation. The 8 cm shift along -y puts `c` in front
of the palm, where a held object sits.

The grid is cell-centred over [-L, L]^3 in normalised units, indexed (i, j, k) <-> (x, y, z)
('ij' meshgrid): point (i, j, k) = -L + (i + 1/2, j + 1/2, k + 1/2) * 2L / R. The
reference uses R = 64 over L = 1.5 (voxel 0.6 m / 64 = 9.4 mm); hoijax's CPU default keeps
that voxel with R = 32 over L = 0.75 (a 0.30 m box: the hand and the part of the object
within 15 cm of the palm; larger objects are cut by the box, as the reference cuts them
at 30 cm).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

HAND_SCALE = 0.2  # s: metres per normalised unit
CENTER_JOINT = 1  # MANO joint 1 = index knuckle (manopth's joint 5)
CENTER_OFFSET = (0.0, -0.08, 0.0)  # metres, added to the knuckle: in front of the palm


def hand_center(joints):
    """(...,21,3) or (...,16,3) MANO joints (hand frame, m) -> (...,3) the frame centre c."""
    return joints[..., CENTER_JOINT, :] + jnp.asarray(CENTER_OFFSET, joints.dtype)


def to_normalised(x_h, center, scale=HAND_SCALE):
    """(...,3) hand-frame points (m) -> normalised points; center (...,3) broadcastable."""
    return (x_h - center) / scale


def from_normalised(x_n, center, scale=HAND_SCALE):
    """(...,3) normalised points -> hand-frame points (m)."""
    return x_n * scale + center


def nTh(center, scale=HAND_SCALE):
    """(...,3) centre -> (...,4,4) the similarity transform hand -> normalised frame."""
    center = jnp.asarray(center, jnp.float32)
    eye = jnp.broadcast_to(jnp.eye(3, dtype=jnp.float32), center.shape[:-1] + (3, 3))
    top = jnp.concatenate([eye / scale, (-center / scale)[..., None]], -1)
    bottom = jnp.broadcast_to(jnp.array([0.0, 0.0, 0.0, 1.0]), center.shape[:-1] + (1, 4))
    return jnp.concatenate([top, bottom], -2)


def grid_points(resolution: int, half_extent: float) -> jnp.ndarray:
    """(R,R,R,3) cell-centred normalised coordinates of the grid over [-L, L]^3."""
    axis = (np.arange(resolution) + 0.5) * (2.0 * half_extent / resolution) - half_extent
    return jnp.asarray(np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1), jnp.float32)


def voxel_size_m(resolution: int, half_extent: float, scale=HAND_SCALE) -> float:
    """The grid's voxel edge in metres."""
    return 2.0 * half_extent * scale / resolution


def grid_coordinates(x_n, resolution: int, half_extent: float):
    """(...,3) normalised points -> (...,3) continuous voxel indices (cell centres at
    integers), for trilinear lookups."""
    return (x_n + half_extent) * (resolution / (2.0 * half_extent)) - 0.5

"""The hand's 2-channel surface code: the "UV" condition that the prior sees.

Channel 0 ("finger"): which part of the hand a point lies on, constant along a finger and
distinct between fingers: thumb -1, index -0.5, middle 0, ring 0.5, pinky 1; on the palm it
varies continuously with the lateral position between the index and pinky knuckles, and
it blends with the skinning weights near the knuckles, so it has no seams.
Channel 1 ("side"): the cosine between the rest-pose vertex normal and the back-of-hand
direction: -1 on the palm, +1 on the back, 0 on the sides of the fingers.

Both are computed from the rest geometry, the skinning weights and the joint order alone,
so the same definition serves the official MANO and the stand-in.
"""
from __future__ import annotations

import numpy as np

from hoijax.geometry.mesh import vertex_normals
from hoijax.hand.anatomy import back_direction
from hoijax.hand.model import JOINT_FINGER

# Channel-0 value of each finger id of `JOINT_FINGER` (1 thumb .. 5 pinky).
FINGER_CODE = {1: -1.0, 2: -0.5, 3: 0.0, 4: 0.5, 5: 1.0}


def compute_surface_code(model) -> np.ndarray:
    """(V,2) surface code of a `ManoModel` in [-1, 1] (see module docstring)."""
    verts = np.asarray(model.v_template, np.float64)
    faces = np.asarray(model.faces)
    weights = np.asarray(model.weights, np.float64)
    joints = np.asarray(model.J_regressor, np.float64) @ verts
    index_knuckle, pinky_knuckle = joints[1], joints[7]
    span = pinky_knuckle - index_knuckle
    lateral = (verts - index_knuckle) @ span / (span @ span)  # 0 at index, 1 at pinky
    palm_code = np.clip(-0.5 + 1.5 * lateral, -1.0, 1.0)
    joint_code = np.array([0.0] + [FINGER_CODE[JOINT_FINGER[j]] for j in range(1, 16)])
    finger = weights[:, 0] * palm_code + weights[:, 1:] @ joint_code[1:]
    finger = finger / np.maximum(weights.sum(-1), 1e-12)
    side = vertex_normals(verts, faces) @ back_direction(joints, model.side)
    return np.stack([finger, side], axis=-1).astype(np.float32)

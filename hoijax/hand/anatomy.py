"""Anatomical directions of a MANO-format hand, from its rest joints alone.

These work for the official MANO and the stand-in alike, right or left: the palm's back
direction, each finger's rest direction, the axes about which its joints flex, and the
regions that touch a held object (each finger's distal half, the palm's centre; from the
rest mesh and the skinning weights).
"""
from __future__ import annotations

import numpy as np

# Joint chains from the palm outwards (MANO joint ids), and each finger's tip index in the
# 21-joint output (16 + thumb, index, middle, ring, pinky tips).
FINGER_CHAINS = {
    "thumb": (13, 14, 15),
    "index": (1, 2, 3),
    "middle": (4, 5, 6),
    "ring": (10, 11, 12),
    "pinky": (7, 8, 9),
}
FINGER_TIP = {"thumb": 16, "index": 17, "middle": 18, "ring": 19, "pinky": 20}


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def back_direction(joints: np.ndarray, side: str) -> np.ndarray:
    """Unit vector from the palm toward the back of the hand; joints (>=16,3) at rest."""
    along = joints[4] - joints[0]  # wrist -> middle knuckle
    across = joints[1] - joints[7]  # pinky knuckle -> index knuckle
    back = _unit(np.cross(along, across))
    return back if side == "right" else -back


def segment_directions(joints21: np.ndarray) -> np.ndarray:
    """(15,3) unit direction of the bone that each finger joint 1..15 moves (joint -> child).

    joints21: (21,3) rest joints (16 MANO joints + 5 tips in thumb..pinky order).
    """
    dirs = np.zeros((15, 3))
    for name, chain in FINGER_CHAINS.items():
        ends = list(chain[1:]) + [FINGER_TIP[name]]
        for j, child in zip(chain, ends):
            dirs[j - 1] = _unit(joints21[child] - joints21[j])
    return dirs


def flexion_axes(joints21: np.ndarray, side: str) -> np.ndarray:
    """(15,3) unit axes whose positive rotation curls each joint toward the palm.

    Fingers bend about (bone x palmar). The thumb's first joint rotates about the palm's
    long axis (opposition: the thumb swings in front of the palm); its other two joints
    bend toward the palm's centre.
    """
    palmar = -back_direction(joints21, side)
    dirs = segment_directions(joints21)
    axes = _unit(np.cross(dirs, palmar))
    lateral = _unit(joints21[1] - joints21[7])  # toward the thumb side
    toward_palm = _unit(palmar - 0.6 * lateral)
    thumb = FINGER_CHAINS["thumb"]
    for j in thumb[1:]:
        axes[j - 1] = _unit(np.cross(dirs[j - 1], toward_palm))
    long_axis = _unit(joints21[4] - joints21[0])
    lever = joints21[FINGER_TIP["thumb"]] - joints21[thumb[0]]
    axes[thumb[0] - 1] = long_axis if np.cross(long_axis, lever) @ palmar > 0 else -long_axis
    return axes


def palm_vertices(model, count: int = 12) -> np.ndarray:
    """Ids of `count` vertices at the centre of the palm (palm side, skinned by the wrist)."""
    verts = np.asarray(model.v_template)
    weights = np.asarray(model.weights)
    joints = np.asarray(model.J_regressor) @ verts
    palmar = -back_direction(joints, model.side)
    centre = joints[[0, 4, 10]].mean(0) * 0.5 + joints[[1, 4, 7, 10]].mean(0) * 0.5
    side = (verts - centre) @ palmar
    candidates = np.nonzero((weights[:, 0] > 0.6) & (side > 0.0))[0]
    order = np.argsort(np.linalg.norm(verts[candidates] - centre, axis=1))
    return candidates[order[:count]]


def contact_parts(model) -> list:
    """Vertex ids of the distal half of each finger (thumb, index, middle, ring, pinky):
    the vertices skinned mostly by its last two joints."""
    weights = np.asarray(model.weights)
    chains = ((14, 15), (2, 3), (5, 6), (11, 12), (8, 9))
    return [np.nonzero(weights[:, list(c)].sum(1) > 0.5)[0] for c in chains]


def contact_regions(model, palm_count: int = 24) -> tuple:
    """The 6 contact parts' vertex ids: each finger's distal half (thumb, index, middle,
    ring, pinky; `contact_parts`) and the palm centre (`palm_vertices`)."""
    return tuple(list(contact_parts(model)) + [palm_vertices(model, palm_count)])

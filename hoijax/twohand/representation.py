"""Two hands as vectors (docs/design.md §12): per hand 64 numbers = articulation 45
(axis-angle, flat-hand mean) + shape 10 + root rotation 6D + wrist translation 3.

The anchor (first) hand is the left hand in its own frame: root rotation identity, wrist at
the origin. The second, right hand is expressed relative to it: R_rel = R_l^T R_r,
t_rel = R_l^T (wrist_r - wrist_l). So a pair is (a, b), each (N,64), and decodes to MANO
parameters of both hands in the left wrist's frame, in metres, as smplx/manopth apply them
(global_orient = log R, transl = wrist - J_0(betas), since MANO rotates about the wrist).

The issue and the design notes say "61 numbers per hand", but the parts they list (45 +
10 + 6 + 3) make 64, which is also the reference code's layout; hoijax uses 64.

Pairs are mirrored for augmentation (left <-> right, hoijax.data.synthetic.two_hands.
mirror_hands), which is exact for the stand-in (its left hand mirrors its right).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from scipy.spatial.transform import Rotation

from hoijax.data.synthetic.objects import canonical_category
from hoijax.geometry.rotations import matrix_to_rot6d, rot6d_to_matrix
from hoijax.hand import proxy as P

HAND_DIM = 64
POSE, BETAS, ROT, TRANS = slice(0, 45), slice(45, 55), slice(55, 61), slice(61, 64)
ROOT = slice(55, 64)  # relative rotation and translation: where CFG acts
IDENTITY_6D = np.array([1.0, 0, 0, 0, 1.0, 0], np.float32)
SIDES = ("left", "right")
OBJECTS = ("",) + ("box", "can", "fruit", "bottle")  # held-object condition; 0: no object
KEYS = ("hand_pose", "betas", "global_orient", "transl")


def root_of(model, mano: dict, side: str):
    """(R (N,3,3), wrist (N,3)) of one hand of MANO arrays with `side`_ prefixed keys."""
    R = Rotation.from_rotvec(np.asarray(mano[f"{side}_global_orient"], np.float64)).as_matrix()
    wrist = np.asarray(mano[f"{side}_transl"]) + np.asarray(
        P.rest_joints(model, mano[f"{side}_betas"]))[:, 0]
    return R, wrist


def encode(models, mano: dict):
    """MANO arrays of both hands (left_/right_ keys, any shared frame) -> (a, b) (N,64)."""
    left_model, right_model = models
    Rl, wl = root_of(left_model, mano, "left")
    Rr, wr = root_of(right_model, mano, "right")
    n = len(Rl)
    a = np.concatenate([mano["left_hand_pose"], mano["left_betas"],
                        np.tile(IDENTITY_6D, (n, 1)), np.zeros((n, 3))], 1)
    rel = np.einsum("nji,njk->nik", Rl, Rr)
    t = np.einsum("nji,nj->ni", Rl, wr - wl)
    b = np.concatenate([mano["right_hand_pose"], mano["right_betas"],
                        np.asarray(matrix_to_rot6d(jnp.asarray(rel))), t], 1)
    return a.astype(np.float32), b.astype(np.float32)


def decode(models, a, b) -> dict:
    """(a, b) (N,64) -> MANO arrays (left_/right_ keys) in the left wrist's frame."""
    left_model, right_model = models
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    n = len(a)
    Rl = np.asarray(rot6d_to_matrix(jnp.asarray(a[:, ROT])), np.float64)
    Rr = np.asarray(rot6d_to_matrix(jnp.asarray(b[:, ROT])), np.float64)
    wl, wr = a[:, TRANS], b[:, TRANS]
    # The anchor's root is canonical by construction; decoding honours what a says anyway.
    Rr, wr = np.einsum("nij,njk->nik", Rl, Rr), wl + np.einsum("nij,nj->ni", Rl, wr)
    out = {}
    for side, model, v, R, w in (("left", left_model, a, Rl, wl),
                                 ("right", right_model, b, Rr, wr)):
        out[f"{side}_hand_pose"] = v[:, POSE]
        out[f"{side}_betas"] = v[:, BETAS]
        out[f"{side}_global_orient"] = Rotation.from_matrix(R).as_rotvec()
        out[f"{side}_transl"] = np.asarray(P.transl_from_wrist(model, v[:, BETAS], w))
    assert all(len(x) == n for x in out.values())
    return {k: np.asarray(x, np.float32) for k, x in out.items()}


def canonical_anchor(a):
    """The anchor with its root set canonical (identity rotation, wrist at 0): (...,64)."""
    a = jnp.asarray(a)
    root = jnp.concatenate([jnp.asarray(IDENTITY_6D), jnp.zeros(3)])
    return a.at[..., ROOT].set(jnp.broadcast_to(root, a.shape[:-1] + (9,)))


def frame_of(v):
    """(R (...,3,3), wrist (...,3)) of hand vectors (...,64) (differentiable)."""
    return rot6d_to_matrix(v[..., ROT]), v[..., TRANS]


def normalizer(vectors):
    """Per-dimension (mean, std) over rows of (M,D) vectors; std floored at 1e-3 (the
    anchor's canonical root is constant)."""
    v = np.asarray(vectors, np.float64)
    return v.mean(0).astype(np.float32), np.maximum(v.std(0), 1e-3).astype(np.float32)


def vector_dims(mode: str) -> int:
    """Width of the diffused vector: one hand (cascaded) or both (joint)."""
    return HAND_DIM * (2 if mode == "joint" else 1)


def object_index(names) -> np.ndarray:
    """(N,) int: index into OBJECTS (0 for none or an unknown category)."""
    return np.array([OBJECTS.index(str(n)) if str(n) in OBJECTS else 0 for n in names])


def held_object_index(category: str | None) -> int:
    """The prior's object index of a held-object category name (0: none); ValueError
    naming the categories the prior knows for any other."""
    if not category:
        return 0
    name = canonical_category(category)
    if name not in OBJECTS:
        raise ValueError(f"held object {category!r}: the two-hand prior knows "
                         f"{', '.join(OBJECTS[1:])}")
    return OBJECTS.index(name)

"""hoijax's licence-free stand-in hand: a procedural MANO-format model.

The official MANO files may not be redistributed, so hoijax builds its own hand,
deterministically (about 4 s on first use, then read from a cache in ~/.cache/hoijax that
is keyed by a hash of the building code). Steps 1 and 2 live in `standin_shape`:

1. Anatomy: 16 joints in MANO's tree and order (plus 5 fingertips), laid out like an adult
   right hand about 19 cm from wrist to middle fingertip, in MANO's rest frame (fingers
   along -x, thumb toward +z, palm facing -y, wrist near MANO's at (0.095, 0.006, 0.006)).
   The surface is an implicit function: a rounded palm slab and thenar pad, smoothly joined
   to tapered capsules along the finger bones.
2. Mesh: a box-modelled quad cage (palm block, four fingers and a thumb extruded from it)
   refined by one Catmull-Clark step, projected onto the implicit surface and relaxed;
   one closed, consistently oriented surface of about 1k vertices.
3. Rig: skinning weights from each vertex's position along its finger chain (smooth
   partition of unity across each joint), a sparse non-negative joint regressor that
   reproduces the designed joints from vertex rings around them, 10 designed shape
   directions (size, finger length, palm width, ...), pose correctives fitted by least
   squares so that skinned fingers keep their volume at bent joints, and a pose PCA of
   natural articulations (`hoijax.hand.poses`).

The left hand is the exact mirror (x -> -x) of the right, as in MANO.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import os
import sys

import numpy as np
import scipy.optimize
from scipy.spatial.transform import Rotation

from hoijax.geometry import mesh
from hoijax.hand import anatomy, poses, standin_shape
from hoijax.hand.io import model_from_arrays
from hoijax.hand.model import MANO_PARENTS, ManoModel
from hoijax.hand.poses import pca_basis, sample_natural_poses
from hoijax.hand.standin_shape import (FINGER_ORDER, FINGERS, LOCAL_TO_MANO, TIP_ORDER, build_mesh,
                                       finger_points, local_joints, sdf_by_label, sdf_gradient,
                                       to_local, to_mano, unit)

# ----------------------------------------------------------------------------------------
# 3. The rig.


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


# Half-widths (m) of the skinning blend across the three joints of a finger and the thumb.
BLEND_FINGERS, BLEND_THUMB_JOINTS = (0.008, 0.005, 0.004), (0.012, 0.007, 0.005)


def chain_coordinates(verts, joints21):
    """Where each vertex lies along each finger chain (wrist, 3 joints, tip).

    Returns dist (V,5) distance to each chain polyline, arc (V,5) arc length of the closest
    point, stations (5,4) arc length of the three joints and the tip, and foot (V,5,3)
    the closest points, for chains in `FINGER_ORDER`.
    """
    num = len(verts)
    dist, arc, foot = np.zeros((num, 5)), np.zeros((num, 5)), np.zeros((num, 5, 3))
    stations = np.zeros((5, 4))
    for c, name in enumerate(FINGER_ORDER):
        j = FINGERS[name]["joint"]
        pts = np.concatenate([joints21[[0, j, j + 1, j + 2]],
                              joints21[[16 + TIP_ORDER.index(name)]]])
        seg = np.diff(pts, axis=0)
        lengths = np.linalg.norm(seg, axis=-1)
        cum = np.concatenate([[0.0], np.cumsum(lengths)])
        stations[c] = cum[1:]
        best = np.full(num, np.inf)
        for k in range(4):
            t = np.clip(((verts - pts[k]) @ seg[k]) / lengths[k] ** 2, 0.0, 1.0)
            q = pts[k] + t[:, None] * seg[k]
            d = np.linalg.norm(verts - q, axis=-1)
            better = d < best
            best = np.where(better, d, best)
            arc[:, c] = np.where(better, cum[k] + t * lengths[k], arc[:, c])
            foot[:, c] = np.where(better[:, None], q, foot[:, c])
        dist[:, c] = best
    return dist, arc, stations, foot


def chain_membership(dist, tau=0.003):
    """(V,5) soft assignment of vertices to chains from their distances (softmax)."""
    logits = -(dist - dist.min(axis=1, keepdims=True)) ** 2 / tau ** 2
    w = np.exp(logits)
    return w / w.sum(axis=1, keepdims=True)


def along_chain_weights(arc, stations, blends):
    """(V,4) weights of the bones [wrist, joint1, joint2, joint3] along one chain."""
    ramps = [_smoothstep((arc - stations[k] + blends[k]) / (2 * blends[k])) for k in range(3)]
    return np.stack([1 - ramps[0], ramps[0] - ramps[1], ramps[1] - ramps[2], ramps[2]], -1)


def skinning_weights(verts, joints21):
    """(V,16) linear blend skinning weights, a smooth partition of unity."""
    dist, arc, stations, _ = chain_coordinates(verts, joints21)
    member = chain_membership(dist)
    weights = np.zeros((len(verts), 16))
    for c, name in enumerate(FINGER_ORDER):
        j = FINGERS[name]["joint"]
        blends = BLEND_THUMB_JOINTS if name == "thumb" else BLEND_FINGERS
        w = along_chain_weights(arc[:, c], stations[c], blends) * member[:, c:c + 1]
        weights[:, 0] += w[:, 0]
        weights[:, j:j + 3] += w[:, 1:]
    weights[weights < 1e-4] = 0.0
    return weights / weights.sum(axis=1, keepdims=True)


def joint_regressor(verts, joints16, weights, slab=0.009):
    """(16,V) sparse, non-negative, rows summing to 1, with J_regressor @ verts ~= joints.

    Each joint is regressed from the ring of vertices around it: vertices that the joint or
    its parent skins, within a slab across the bone; NNLS with a heavy sum-to-one row and a
    small ridge that spreads the weights over the ring.
    """
    reg = np.zeros((16, len(verts)))
    dirs = np.zeros((16, 3))
    for j in range(1, 16):  # along the bone the joint moves; the last one continues its parent
        dirs[j] = unit(joints16[j + 1] - joints16[j] if j % 3 else joints16[j] - joints16[j - 1])
    dirs[0] = unit(joints16[4] - joints16[0])
    for j in range(16):
        parent = MANO_PARENTS[j]
        influence = weights[:, j] + (weights[:, parent] if parent >= 0 else 0.0)
        near = np.abs((verts - joints16[j]) @ dirs[j]) < slab
        cand = np.nonzero(near & (influence > 0.05)
                          & (np.linalg.norm(verts - joints16[j], axis=-1) < 0.025))[0]
        a = np.concatenate([verts[cand].T, 10.0 * np.ones((1, len(cand))),
                            1e-3 * np.eye(len(cand))])
        b = np.concatenate([joints16[j], [10.0], np.zeros(len(cand))])
        w, _ = scipy.optimize.nnls(a, b)
        reg[j, cand] = w / w.sum()
    return reg


def shape_directions(verts, joints21):
    """(V,3,10) designed shape directions in local coordinates, one unit ~ one std.

    0 size (6%), 1 finger length (7%), 2 palm width (8%), 3 finger thickness (8%),
    4 palm thickness (10%), 5 thumb length (8%), 6 palm length (7%), 7 finger spread
    (0.04 rad per finger), 8 index vs ring length (6%), 9 pinky length (10%).
    """
    dist, arc, stations, foot = chain_coordinates(verts, joints21)
    member = chain_membership(dist)
    e_a, e_l, e_b = np.eye(3)
    dirs = np.zeros((len(verts), 3, 10))
    dirs[..., 0] = 0.06 * (verts - joints21[0])
    lateral_center = 0.5 * (joints21[1, 1] + joints21[7, 1])
    fingerness = np.zeros(len(verts))
    for c, name in enumerate(FINGER_ORDER):
        base = joints21[FINGERS[name]["joint"]]
        beyond = _smoothstep((arc[:, c] - stations[c, 0] + 0.006) / 0.012) * member[:, c]
        to_foot = np.where((arc[:, c] > stations[c, 0])[:, None], foot[:, c] - base, 0.0)
        radial = verts - foot[:, c]
        if name == "thumb":
            dirs[..., 5] += 0.08 * member[:, c:c + 1] * to_foot
            continue
        fingerness += beyond
        dirs[..., 1] += 0.07 * member[:, c:c + 1] * to_foot
        dirs[..., 3] += 0.08 * beyond[:, None] * radial
        dirs[..., 2] += 0.08 * beyond[:, None] * (base[1] - lateral_center) * e_l
        dirs[..., 6] += 0.07 * beyond[:, None] * base[0] * e_a
        rank = {"pinky": -1.5, "ring": -0.5, "middle": 0.5, "index": 1.5}[name]
        dirs[..., 7] += 0.04 * rank * member[:, c:c + 1] * np.cross(e_b, to_foot)
        ratio = {"index": 0.06, "ring": -0.06}.get(name, 0.0)
        dirs[..., 8] += ratio * member[:, c:c + 1] * to_foot
        if name == "pinky":
            dirs[..., 9] += 0.10 * member[:, c:c + 1] * to_foot
    palm = np.clip(1.0 - fingerness, 0.0, 1.0)[:, None]
    dirs[..., 2] += 0.08 * palm * (verts[:, 1:2] - lateral_center) * e_l
    dirs[..., 4] += 0.10 * palm * verts[:, 2:3] * e_b
    dirs[..., 6] += 0.07 * palm * np.maximum(verts[:, :1], 0.0) * e_a
    return dirs


def _rotations(axis_angles):
    """(...,3) axis-angles -> (...,3,3) matrices, float64 (offline fitting)."""
    flat = np.asarray(axis_angles, np.float64).reshape(-1, 3)
    return Rotation.from_rotvec(flat).as_matrix().reshape(np.shape(axis_angles)[:-1] + (3, 3))


def _skinning_transforms(rest_joints, pose45):
    """Per-joint skinning transforms (R (16,3,3), t (16,3)) for one pose, float64."""
    rots = _rotations(np.concatenate([np.zeros(3), pose45]).reshape(16, 3))
    world_r, world_t = np.zeros((16, 3, 3)), np.zeros((16, 3))
    for j, p in enumerate(MANO_PARENTS):
        if p < 0:
            world_r[j], world_t[j] = rots[j], rest_joints[j]
        else:
            world_r[j] = world_r[p] @ rots[j]
            world_t[j] = world_t[p] + world_r[p] @ (rest_joints[j] - rest_joints[p])
    skin_t = world_t - np.einsum("kij,kj->ki", world_r, rest_joints)
    return world_r, skin_t


def pose_features(pose45):
    """(135,) MANO's pose-blend-shape features vec(R_k - I) of the 15 finger joints."""
    return (_rotations(np.asarray(pose45).reshape(15, 3)) - np.eye(3)).reshape(135)


def surface_offsets(verts_m, labels, weights, rest16_m, pose45, posedirs=None):
    """How far the skinned stand-in is from its own posed implicit surface.

    The implicit surface is posed by moving the finger capsules with the joints; each
    skinned vertex takes one Newton step onto its part's surface (points skinned by the palm
    alone: none). Returns the offsets in the posed frame (V,3) and taken back to the rest
    frame (V,3), metres.
    """
    world_r, skin_t = _skinning_transforms(rest16_m, pose45)
    blend_r = np.einsum("vk,kij->vij", weights, world_r)
    rest = verts_m if posedirs is None else verts_m + posedirs @ pose_features(pose45)
    posed = np.einsum("vij,vj->vi", blend_r, rest) + weights @ skin_t
    finger_pts = {}
    for name in FINGER_ORDER:  # posed joints and tip, in local coordinates
        j = FINGERS[name]["joint"]
        bones = [j, j, j + 1, j + 2]  # the bone that carries each of the 4 points
        pts = [world_r[b] @ r + skin_t[b] for b, r in zip(bones, to_mano(finger_points(name)))]
        finger_pts[name] = to_local(np.stack(pts))
    posed_l = to_local(posed)
    f = sdf_by_label(posed_l, labels, finger_pts)
    g = sdf_gradient(posed_l, labels, finger_pts)
    delta = (-(f / np.maximum((g * g).sum(-1), 1e-6))[:, None] * g) @ LOCAL_TO_MANO.T
    # Points skinned by the palm alone move rigidly and stay on the rest surface; without
    # this, a finger folded over the palm would "attract" the palm's points.
    delta[weights[:, 0] > 0.999] = 0.0
    return delta, np.einsum("vji,vj->vi", blend_r, delta)  # R^T: back to the rest frame


def fit_pose_correctives(verts_m, labels, weights, rest16_m, poses, ridge=1e-2):
    """Least-squares pose blend shapes (V,3,135), MANO coordinates.

    The rest-frame offsets of `surface_offsets` over sampled poses are regressed on the
    features vec(R_k - I) of the joints that skin each vertex, so that skinned fingers
    keep their shape (no collapse at bent knuckles).
    """
    feats = np.stack([pose_features(p) for p in poses])  # (N,135)
    offsets = np.stack([surface_offsets(verts_m, labels, weights, rest16_m, p)[1]
                        for p in poses])  # (N,V,3)
    posedirs = np.zeros((len(verts_m), 3, 135))
    for v in range(len(verts_m)):
        joints = [k for k in range(1, 16) if weights[v, k] > 0.0]
        if not joints:
            continue
        cols = np.concatenate([np.arange(9 * (k - 1), 9 * k) for k in joints])
        x = feats[:, cols]
        coef = np.linalg.solve(x.T @ x + ridge * np.eye(len(cols)), x.T @ offsets[:, v])
        posedirs[v][:, cols] = coef.T
    return posedirs


def _mirror_arrays(arrays):
    """Right-hand MANO arrays -> the left hand (mirror x -> -x)."""
    m = np.array([-1.0, 1.0, 1.0])
    out = dict(arrays)
    out["v_template"] = arrays["v_template"] * m
    out["shapedirs"] = arrays["shapedirs"] * m[None, :, None]
    feature_sign = np.einsum("i,k->ik", m, m).reshape(9)  # entry (i,k) of R - I flips
    out["posedirs"] = (arrays["posedirs"] * m[None, :, None]
                       * np.tile(feature_sign, 15)[None, None, :])
    aa_sign = np.tile(np.array([1.0, -1.0, -1.0]), 15)  # mirrored axis-angle (x, -y, -z)
    out["hands_components"] = arrays["hands_components"] * aa_sign[None, :]
    out["hands_mean"] = arrays["hands_mean"] * aa_sign
    out["f"] = arrays["f"][:, ::-1].copy()
    out["side"] = "left"
    return out


def _cache_path() -> str:
    """Where the built right hand is cached: keyed by a hash of the code that builds it."""


    digest = hashlib.sha256()
    for module in (mesh, anatomy, poses, standin_shape, sys.modules[__name__]):
        digest.update(inspect.getsource(module).encode())
    root = os.environ.get("HOIJAX_CACHE_DIR", os.path.expanduser("~/.cache/hoijax"))
    return os.path.join(root, f"standin-{digest.hexdigest()[:16]}.npz")


@functools.lru_cache(maxsize=None)
def standin_arrays(side: str = "right") -> dict:
    """The stand-in hand as MANO-format numpy arrays (official key names).

    Building takes a few seconds; the result is cached on disk (see `_cache_path`), and
    rebuilt whenever the code that builds it changes.
    """
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    if side == "left":
        return _mirror_arrays(standin_arrays("right"))
    path = _cache_path()
    if os.path.exists(path):
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        arrays.update(side="right", hoijax_standin=True)
        return arrays
    arrays = build_standin_arrays()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp.npz"
        np.savez(tmp, **{k: v for k, v in arrays.items() if isinstance(v, np.ndarray)})
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs the rebuild
    return arrays


def build_standin_arrays() -> dict:
    """Builds the right stand-in hand from scratch (deterministic)."""
    verts_l, faces, labels = build_mesh()
    joints_l = local_joints()
    weights = skinning_weights(verts_l, joints_l)
    regressor = joint_regressor(verts_l, joints_l[:16], weights)
    shapedirs_l = shape_directions(verts_l, joints_l)
    tips = [int(np.argmin(np.linalg.norm(verts_l - joints_l[16 + k], axis=-1)))
            for k in range(5)]
    verts_m, joints21_m = to_mano(verts_l), to_mano(joints_l)
    joints21_m[16:] = verts_m[tips]
    poses = sample_natural_poses(joints21_m, "right", num=2000, seed=0)
    components, mean = pca_basis(poses)
    fit_poses = sample_natural_poses(joints21_m, "right", num=160, seed=1)
    posedirs = fit_pose_correctives(verts_m, labels, weights, regressor @ verts_m, fit_poses)
    kintree = np.array([[4294967295] + list(MANO_PARENTS[1:]), list(range(16))], np.int64)
    return {
        "v_template": verts_m,
        "shapedirs": np.einsum("ij,vjs->vis", LOCAL_TO_MANO, shapedirs_l),
        "posedirs": posedirs,
        "J_regressor": regressor,
        "weights": weights,
        "kintree_table": kintree,
        "f": faces.astype(np.int64),
        "hands_components": components,
        "hands_mean": mean,
        "fingertip_vert_ids": np.array(tips, np.int64),
        "side": "right",
        "hoijax_standin": True,
    }


@functools.lru_cache(maxsize=None)
def load_standin(side: str = "right") -> ManoModel:
    """The stand-in hand as a `ManoModel` (built once per process and side)."""
    return model_from_arrays(standin_arrays(side), path=f"<stand-in {side}>", side=side,
                             name="standin")

"""Cheap geometry of posed hands for two-hand contact: the skeleton alone, a sphere proxy of
the hand's volume, and mesh-level penetration and contact measures (docs/design.md §12).

- `skeleton`: the 21 joints of `mano_forward` without skinning the mesh (only the five
  fingertip vertices are skinned): ~100x cheaper, so guidance and data refinement can run
  on thousands of hands per step.
- `SphereProxy`: ~66 spheres along the bones (palm fan, fingers), radii inscribed in the
  rest mesh; `proxy_penetration` is the summed overlap of two proxies (metres), smooth
  enough to differentiate.
- Mesh measures (evaluation, statistics): a point is inside a hand when it lies behind the
  normal of its nearest vertex; the intersection volume of two hands is estimated from
  points that fill each hand (skinned with the hand, like its vertices).

Frames: a hand posed in a shared frame is (hand_pose, betas, R, wrist): articulation
(...,45) axis-angle with the flat-hand mean, shape (...,10), root rotation (...,3,3) and the
wrist joint's position (...,3). MANO rotates about the wrist joint, so that is the same as
global_orient = log(R), transl = wrist - J_0(betas) (`transl_from_wrist`).
"""
from __future__ import annotations

import dataclasses
import jax
import jax.numpy as jnp
import numpy as np

from hoijax.geometry.math import matmul, safe_norm
from hoijax.geometry.rotations import axis_angle_to_matrix
from hoijax.hand.model import (HIGHEST, ManoModel, _forward_kinematics, _pad_betas,
                               full_hand_pose, mano_forward)

# ---------------------------------------------------------------------------------------
# Skeleton.


def rest_joints(model: ManoModel, betas):
    """(...,S) -> (...,16,3) the shaped rest joints J(betas) (J_regressor @ v_shaped)."""
    betas = _pad_betas(model, betas)
    j_template = matmul(model.J_regressor, model.v_template)
    j_dirs = jnp.einsum("jv,vcs->jcs", model.J_regressor, model.shapedirs, precision=HIGHEST)
    return j_template + jnp.einsum("jcs,...s->...jc", j_dirs, betas, precision=HIGHEST)


def transl_from_wrist(model: ManoModel, betas, wrist):
    """MANO `transl` (...,3) that puts the wrist joint at `wrist` (...,3)."""
    return wrist - rest_joints(model, betas)[..., 0, :]


def skeleton(model: ManoModel, hand_pose, betas):
    """The 21 joints of `mano_forward(model, hand_pose, betas)` (zero root, hand frame).

    hand_pose (...,45) axis-angle, flat-hand mean; betas (...,S) -> (...,21,3) metres. Only
    the five fingertip vertices are skinned (with their shape and pose blend shapes)."""
    pose = full_hand_pose(model, hand_pose)
    betas = _pad_betas(model, betas)
    batch = jnp.broadcast_shapes(pose.shape[:-1], betas.shape[:-1])
    pose, betas = jnp.broadcast_to(pose, batch + (45,)), jnp.broadcast_to(betas, batch + (
        betas.shape[-1],))
    rest = rest_joints(model, betas)
    aa = jnp.concatenate([jnp.zeros(batch + (3,)), pose], -1).reshape(batch + (16, 3))
    rot = axis_angle_to_matrix(aa)
    world_R, world_t = _forward_kinematics(rot, rest, model.parents)
    skin_t = world_t - jnp.einsum("...kij,...kj->...ki", world_R, rest, precision=HIGHEST)
    tips = np.array(model.fingertip_ids)
    feature = (rot[..., 1:, :, :] - jnp.eye(3)).reshape(batch + (135,))
    v = (model.v_template[tips]
         + jnp.einsum("tcs,...s->...tc", model.shapedirs[tips], betas, precision=HIGHEST)
         + jnp.einsum("tcp,...p->...tc", model.posedirs[tips], feature, precision=HIGHEST))
    w = model.weights[tips]  # (5,16)
    blend_R = jnp.einsum("tk,...kij->...tij", w, world_R, precision=HIGHEST)
    blend_t = jnp.einsum("tk,...ki->...ti", w, skin_t, precision=HIGHEST)
    tip_pos = jnp.einsum("...tij,...tj->...ti", blend_R, v, precision=HIGHEST) + blend_t
    return jnp.concatenate([world_t, tip_pos], axis=-2)


def place(points_h, rest_wrist, R, wrist):
    """Hand-frame points (...,N,3) -> shared frame: R (p - J_0) + wrist.

    rest_wrist (...,3) J_0(betas); R (...,3,3); wrist (...,3)."""
    local = points_h - rest_wrist[..., None, :]
    return jnp.einsum("...ij,...nj->...ni", R, local, precision=HIGHEST) + wrist[..., None, :]


def posed_skeleton(model: ManoModel, hand_pose, betas, R, wrist):
    """(...,21,3) joints of a hand posed in the shared frame (module docstring)."""
    joints = skeleton(model, hand_pose, betas)
    return place(joints, joints[..., 0, :], R, wrist)


def posed_mesh(model: ManoModel, hand_pose, betas, R, wrist):
    """(vertices (...,V,3), joints (...,21,3)) of a hand posed in the shared frame."""
    out = mano_forward(model, hand_pose, betas)
    j0 = out.joints[..., 0, :]
    return place(out.vertices, j0, R, wrist), place(out.joints, j0, R, wrist)


# ---------------------------------------------------------------------------------------
# Sphere proxy.

# Bones (a, b) between the 21 joints: the palm fan (wrist to each finger's first joint),
# two palm cross bones, then each finger's three segments, the last to its tip.
BONES = ((0, 1), (0, 4), (0, 7), (0, 10), (0, 13), (1, 4), (4, 10), (10, 7),
         (1, 2), (2, 3), (3, 17), (4, 5), (5, 6), (6, 18), (7, 8), (8, 9), (9, 20),
         (10, 11), (11, 12), (12, 19), (13, 14), (14, 15), (15, 16))
FRACTIONS = (1 / 6, 1 / 2, 5 / 6)  # sphere centres along each bone
PALM_BONES = 5  # the first BONES are the palm fan (index, middle, pinky, ring, thumb)


@dataclasses.dataclass(frozen=True)
class SphereProxy:
    """Spheres along bones: centre = J[a] + f (J[b] - J[a]); radius (at mean shape)."""

    a: np.ndarray  # (K,) int joint index
    b: np.ndarray  # (K,) int
    f: np.ndarray  # (K,) float fraction along the bone
    radius: np.ndarray  # (K,) metres
    finger: np.ndarray  # (K,) 0 palm, 1 thumb .. 5 pinky (for contact groups)
    palm_length: float  # wrist to middle knuckle (m) at mean shape, where radii were taken


_BONE_FINGER = {1: 2, 2: 2, 3: 2, 17: 2, 4: 3, 5: 3, 6: 3, 18: 3, 7: 5, 8: 5, 9: 5, 20: 5,
                10: 4, 11: 4, 12: 4, 19: 4, 13: 1, 14: 1, 15: 1, 16: 1}


def sphere_proxy(model: ManoModel, fractions=FRACTIONS) -> SphereProxy:
    """The proxy of `model` (flat rest pose, mean shape), spheres at `fractions` along
    every bone."""
    joints = np.asarray(skeleton(model, jnp.zeros(45), jnp.zeros(10)))
    verts = np.asarray(mano_forward(model, jnp.zeros(45), jnp.zeros(10)).vertices)
    a, b, f, fingers = [], [], [], []
    for i, (ja, jb) in enumerate(BONES):
        for frac in fractions:
            a.append(ja), b.append(jb), f.append(frac)
            fingers.append(0 if i < PALM_BONES + 3 else _BONE_FINGER[jb])
    a, b, f = np.array(a), np.array(b), np.array(f, np.float32)
    centres = joints[a] + f[:, None] * (joints[b] - joints[a])
    # Radius: the median distance of the vertices nearest to each centre (the local
    # cross-section), not the smallest one: inscribed spheres left the mesh bulging
    # several millimetres past the proxy between the spheres.
    d = np.linalg.norm(centres[:, None] - verts[None], axis=-1)  # (K,V)
    owner = d.argmin(0)
    dist = np.array([np.median(d[i, owner == i]) if np.any(owner == i) else d[i].min()
                     for i in range(len(centres))])
    palm = float(np.linalg.norm(joints[4] - joints[0]))
    return SphereProxy(a, b, f, dist.astype(np.float32), np.array(fingers), palm)


def proxy_spheres(proxy: SphereProxy, joints):
    """Posed joints (...,21,3) -> (centres (...,K,3), radii (...,K)). Radii scale with the
    wrist-to-middle-knuckle length (shape changes the hand's size)."""
    ja, jb = joints[..., proxy.a, :], joints[..., proxy.b, :]
    centres = ja + proxy.f[:, None] * (jb - ja)
    scale = safe_norm(joints[..., 4, :] - joints[..., 0, :]) / proxy.palm_length
    return centres, proxy.radius * scale[..., None]


def gmof(x, rho):
    """Geman-McClure robustifier x^2 / (x^2 + rho^2) (bounded; rho in x's units)."""
    return x * x / (x * x + rho * rho)


def sphere_gaps(c1, r1, c2, r2):
    """Surface gaps between every sphere pair: (...,K,3),(...,K),(...,L,3),(...,L) ->
    (...,K,L) metres (negative = overlap)."""
    # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b: one batched matmul instead of a (...,K,L,3)
    # difference array (10x faster, forward and backward, on CPU). Floored at (0.1 mm)^2:
    # finite gradients for coincident centres, and the cancellation error is far below.
    d2 = (jnp.sum(c1 * c1, -1)[..., :, None] + jnp.sum(c2 * c2, -1)[..., None, :]
          - 2 * jnp.einsum("...kc,...lc->...kl", c1, c2, precision=HIGHEST))
    d = jnp.sqrt(jnp.maximum(d2, 1e-8))
    return d - r1[..., :, None] - r2[..., None, :]


def proxy_penetration(c1, r1, c2, r2, rho=None):
    """Summed overlap depth of two proxies (...,) metres; with rho the sum of GMoF(depth)."""
    depth = jax.nn.relu(-sphere_gaps(c1, r1, c2, r2))
    if rho is not None:
        depth = gmof(depth, rho)
    return jnp.sum(depth, axis=(-1, -2))


# ---------------------------------------------------------------------------------------
# Mesh-level measures (evaluation and statistics; not differentiated).

def vertex_normals(verts, faces):
    """(...,V,3), (F,3) -> (...,V,3) unit area-weighted vertex normals."""
    a, b, c = (verts[..., faces[:, i], :] for i in range(3))
    fn = jnp.cross(b - a, c - a)
    n = jnp.zeros_like(verts)
    for i in range(3):
        n = n.at[..., faces[:, i], :].add(fn)
    return n / jnp.maximum(jnp.linalg.norm(n, axis=-1, keepdims=True), 1e-12)


def mesh_volume(verts, faces):
    """(...,V,3) closed, outward-oriented mesh -> (...,) enclosed volume (m^3)."""
    a, b, c = (verts[..., faces[:, i], :] for i in range(3))
    return jnp.sum(jnp.sum(a * jnp.cross(b, c), -1), -1) / 6.0


def nearest(points, verts):
    """Nearest vertex of each point: (...,N,3),(...,V,3) -> (index (...,N), distance)."""
    d2 = (jnp.sum(points ** 2, -1)[..., :, None] + jnp.sum(verts ** 2, -1)[..., None, :]
          - 2 * jnp.einsum("...nc,...vc->...nv", points, verts, precision=HIGHEST))
    idx = jnp.argmin(d2, axis=-1)
    near = jnp.take_along_axis(verts, idx[..., None], axis=-2)
    return idx, jnp.linalg.norm(points - near, axis=-1)


def inside_depth(points, verts, normals):
    """How deep each point lies inside a closed mesh, by the normal of its nearest vertex:
    (...,N,3) -> (...,N) metres, 0 outside."""
    idx, dist = nearest(points, verts)
    v = jnp.take_along_axis(verts, idx[..., None], axis=-2)
    n = jnp.take_along_axis(normals, idx[..., None], axis=-2)
    inside = jnp.sum((points - v) * n, -1) < 0
    return jnp.where(inside, dist, 0.0)


def winding_number(points, verts, faces, chunk=256):
    """Generalised winding number (numpy; ~1 inside a closed outward mesh, ~0 outside):
    the summed solid angles of the triangles (Van Oosterom & Strackee) / 4 pi."""
    out = []
    tri = verts[faces]  # (F,3,3)
    for i in range(0, len(points), chunk):
        d = tri[None] - points[i:i + chunk, None, None]  # (P,F,3,3)
        n = np.linalg.norm(d, axis=-1)
        a, b, c = d[:, :, 0], d[:, :, 1], d[:, :, 2]
        det = np.sum(a * np.cross(b, c), -1)
        den = (n[..., 0] * n[..., 1] * n[..., 2] + np.sum(a * b, -1) * n[..., 2]
               + np.sum(b * c, -1) * n[..., 0] + np.sum(c * a, -1) * n[..., 1])
        out.append(np.arctan2(det, den).sum(-1) / (2 * np.pi))
    return np.concatenate(out)


@dataclasses.dataclass(frozen=True)
class InteriorPoints:
    """Points filling a hand's rest mesh, each an affine combination of nearby vertices,
    so that they follow the skinned mesh (like a cage) without a skinning of their own."""

    vertex: np.ndarray  # (N,K) vertex indices
    weight: np.ndarray  # (N,K) affine weights (sum 1): point = sum_k w_k v_k at rest


def interior_points(model: ManoModel, num: int = 512, seed: int = 0, k: int = 16
                    ) -> InteriorPoints:
    """Points uniform inside the flat rest hand (mean shape)."""
    verts = np.asarray(mano_forward(model, jnp.zeros(45), jnp.zeros(10)).vertices, np.float64)
    return mesh_interior_points(verts, np.asarray(model.faces), num, seed, k)


def mesh_interior_points(verts, faces, num: int = 512, seed: int = 0, k: int = 16
                         ) -> InteriorPoints:
    """Points uniform inside a closed mesh (rejection on the winding number), attached to
    their k nearest vertices by minimum-norm affine weights."""
    rng = np.random.default_rng(seed)
    lo, hi = verts.min(0), verts.max(0)
    kept = []
    while sum(len(c) for c in kept) < num:
        p = rng.uniform(lo, hi, size=(4 * num, 3))
        kept.append(p[winding_number(p, verts, faces) > 0.5])
    p = np.concatenate(kept)[:num]
    idx = np.argsort(np.linalg.norm(p[:, None] - verts[None], axis=-1), axis=1)[:, :k]
    A = np.concatenate([np.swapaxes(verts[idx], 1, 2), np.ones((num, 1, k))], 1)  # (N,4,k)
    b = np.concatenate([p, np.ones((num, 1))], 1)[..., None]
    w = (np.linalg.pinv(A) @ b)[..., 0]  # minimum norm (pinv: coplanar neighbours)
    return InteriorPoints(idx, w.astype(np.float32))


def posed_interior(points: InteriorPoints, verts):
    """Interior points of a posed hand: verts (...,V,3) -> (...,N,3)."""
    return jnp.einsum("...nkc,nk->...nc", verts[..., points.vertex, :], points.weight,
                      precision=HIGHEST)


def pair_penetration(verts_a, verts_b, faces_a, faces_b, interior_a, interior_b):
    """Mesh penetration of two posed hands (one pair; vmap for batches).

    verts (V,3) in one frame; interior (N,3) posed interior points of each.
    Returns dict: depth (m, deepest vertex of one hand inside the other), volume (m^3,
    mean of vol_A * share of A's interior inside B and the converse), gap (m, closest
    vertex distance between the hands; 0 when they intersect)."""
    na, nb = vertex_normals(verts_a, faces_a), vertex_normals(verts_b, faces_b)
    depth = jnp.maximum(jnp.max(inside_depth(verts_a, verts_b, nb)),
                        jnp.max(inside_depth(verts_b, verts_a, na)))
    in_b = jnp.mean(inside_depth(interior_a, verts_b, nb) > 0)
    in_a = jnp.mean(inside_depth(interior_b, verts_a, na) > 0)
    volume = 0.5 * (mesh_volume(verts_a, faces_a) * in_b + mesh_volume(verts_b, faces_b) * in_a)
    _, dist = nearest(verts_a, verts_b)
    gap = jnp.where(depth > 0, 0.0, jnp.min(dist))
    return dict(depth=depth, volume=volume, gap=gap)

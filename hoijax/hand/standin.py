"""hoijax's licence-free stand-in hand: a procedural MANO-format model.

The official MANO files may not be redistributed, so hoijax builds its own hand, once per
process, deterministically (about a second):

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
import os
import sys

import numpy as np
import scipy.optimize
import trimesh

from hoijax.geometry.mesh import catmull_clark, neighbor_mean, quads_to_triangles, unique_edges
from hoijax.hand.io import model_from_arrays
from hoijax.hand.model import MANO_PARENTS, ManoModel
from hoijax.hand.poses import pca_basis, sample_natural_poses

# ----------------------------------------------------------------------------------------
# 1. Anatomy, in local coordinates (a: along the fingers, l: toward the thumb, b: toward
#    the back of the hand), metres, wrist joint at the origin.

LOCAL_TO_MANO = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])  # det +1
WRIST_IN_MANO = np.array([0.095, 0.006, 0.006])


def _splay(deg):
    r = np.deg2rad(deg)
    return (np.cos(r), np.sin(r), 0.0)


# name: first MANO joint id, knuckle position, phalanx lengths, bone directions, radii at
# the three joints and at the tip. Fingers listed from the pinky side to the thumb side.
FINGERS = {
    "pinky": dict(joint=7, base=(0.075, -0.032, 0.000), lengths=(0.033, 0.021, 0.020),
                  dirs=[_splay(-10)] * 3, radii=(0.0080, 0.0071, 0.0065, 0.0058)),
    "ring": dict(joint=10, base=(0.085, -0.015, 0.002), lengths=(0.042, 0.027, 0.022),
                 dirs=[_splay(-4)] * 3, radii=(0.0090, 0.0081, 0.0073, 0.0065)),
    "middle": dict(joint=4, base=(0.091, 0.004, 0.003), lengths=(0.045, 0.028, 0.023),
                   dirs=[_splay(1)] * 3, radii=(0.0095, 0.0085, 0.0077, 0.0068)),
    "index": dict(joint=1, base=(0.086, 0.024, 0.002), lengths=(0.040, 0.024, 0.021),
                  dirs=[_splay(5)] * 3, radii=(0.0092, 0.0082, 0.0074, 0.0066)),
    "thumb": dict(joint=13, base=(0.022, 0.020, -0.008), lengths=(0.042, 0.032, 0.028),
                  dirs=[(0.707, 0.707, -0.2), (0.82, 0.57, -0.1), (0.9, 0.42, 0.0)],
                  radii=(0.0125, 0.0105, 0.0095, 0.0085)),
}
FINGER_ORDER = ("pinky", "ring", "middle", "index", "thumb")  # part label = position here
TIP_ORDER = ("thumb", "index", "middle", "ring", "pinky")  # MANO's fingertip output order
PALM = -1  # part label of palm vertices
# Palm: convex polygon in (a, l), extruded to half-thickness PALM_CORE in b, rounded by
# PALM_ROUND; a thenar pad (ellipsoid) at the base of the thumb.
PALM_POLYGON = np.array([[0.0, -0.019], [0.064, -0.031], [0.078, -0.016], [0.084, 0.004],
                         [0.078, 0.024], [0.0, 0.021]])
PALM_CORE, PALM_ROUND = 0.004, 0.010
THENAR_CENTER, THENAR_RADII = np.array([0.030, 0.024, -0.007]), np.array([0.030, 0.016, 0.011])
BLEND_FINGER, BLEND_THUMB = 0.006, 0.010  # smooth-union widths with the palm


def _unit(v):
    return np.asarray(v, float) / np.linalg.norm(v, axis=-1, keepdims=True)


def finger_points(name: str) -> np.ndarray:
    """(4,3) local positions of a finger's three joints and its tip."""
    spec = FINGERS[name]
    pts = [np.array(spec["base"], float)]
    for length, d in zip(spec["lengths"], spec["dirs"]):
        pts.append(pts[-1] + length * _unit(d))
    return np.stack(pts)


def local_joints() -> np.ndarray:
    """(21,3) local rest joints: 16 in MANO order, then tips thumb..pinky."""
    joints = np.zeros((21, 3))
    for name, spec in FINGERS.items():
        pts = finger_points(name)
        joints[spec["joint"]:spec["joint"] + 3] = pts[:3]
        joints[16 + TIP_ORDER.index(name)] = pts[3]
    return joints


# ----------------------------------------------------------------------------------------
# The implicit surface (signed distance, approximately Euclidean near the surface).

def _smin(a, b, k):
    """Polynomial smooth minimum (Quilez) of width k."""
    h = np.maximum(k - np.abs(a - b), 0.0) / k
    return np.minimum(a, b) - h * h * k * 0.25


def _polygon_sdf(p2, poly):
    """Signed distance (N,) of 2D points (N,2) to a convex CCW polygon (M,2)."""
    a, b = poly, np.roll(poly, -1, axis=0)
    ab = b - a
    ap = p2[:, None, :] - a[None]
    t = np.clip((ap * ab).sum(-1) / (ab * ab).sum(-1), 0.0, 1.0)
    dist = np.linalg.norm(ap - t[..., None] * ab, axis=-1).min(axis=1)
    cross = ab[None, :, 0] * ap[..., 1] - ab[None, :, 1] * ap[..., 0]
    inside = np.all(cross >= 0.0, axis=1)
    return np.where(inside, -dist, dist)


def _palm_sdf(p):
    d2 = _polygon_sdf(p[:, :2], PALM_POLYGON)
    q = np.stack([d2, np.abs(p[:, 2]) - PALM_CORE], axis=-1)
    slab = (np.linalg.norm(np.maximum(q, 0.0), axis=-1) + np.minimum(q.max(-1), 0.0)
            - PALM_ROUND)
    scaled = np.linalg.norm((p - THENAR_CENTER) / THENAR_RADII, axis=-1)
    thenar = (scaled - 1.0) * THENAR_RADII.min()
    return _smin(slab, thenar, 0.008)


def _tapered_capsule(p, p0, p1, r0, r1):
    ab = p1 - p0
    t = np.clip(((p - p0) @ ab) / (ab @ ab), 0.0, 1.0)
    return np.linalg.norm(p - (p0 + t[:, None] * ab), axis=-1) - (r0 + t * (r1 - r0))


def _finger_sdf(p, pts, radii, knuckle_dir):
    """A finger as tapered capsules through its joints pts (4,3); the tip surface ends at
    pts[3]; a short knuckle capsule extends from the first joint back along knuckle_dir
    (the rest direction: the metacarpal head stays with the palm when the finger bends)."""
    d = knuckle_dir
    out = _tapered_capsule(p, pts[0] - 0.012 * d, pts[0], radii[0], radii[0])
    for k in range(3):
        end = pts[k + 1] - (radii[3] * _unit(pts[3] - pts[2]) if k == 2 else 0.0)
        out = np.minimum(out, _tapered_capsule(p, pts[k], end, radii[k], radii[k + 1]))
    return out


def part_sdf(p, part, finger_pts=None):
    """Signed distance of points p (N,3) to the palm joined with finger `part`, or to the
    whole hand for `part == PALM`. finger_pts: optional {name: (4,3)} posed fingers."""
    finger_pts = finger_pts or {n: finger_points(n) for n in FINGER_ORDER}
    names = FINGER_ORDER if part == PALM else (FINGER_ORDER[part],)
    fingers = np.full(len(p), np.inf)
    thumb = np.full(len(p), np.inf)
    for name in names:
        rest = finger_points(name)
        d = _finger_sdf(p, finger_pts[name], FINGERS[name]["radii"], _unit(rest[1] - rest[0]))
        if name == "thumb":
            thumb = d
        else:
            fingers = np.minimum(fingers, d)
    palm = _palm_sdf(p)
    out = palm
    if np.isfinite(fingers).any():
        out = _smin(out, fingers, BLEND_FINGER)
    if np.isfinite(thumb).any():
        out = _smin(out, thumb, BLEND_THUMB)
    return out


def _sdf_by_label(p, labels, finger_pts=None):
    out = np.zeros(len(p))
    for part in np.unique(labels):
        sel = labels == part
        out[sel] = part_sdf(p[sel], int(part), finger_pts)
    return out


def _sdf_gradient(p, labels, finger_pts=None, h=1e-5):
    grad = np.zeros_like(p)
    for k in range(3):
        e = np.zeros(3)
        e[k] = h
        grad[:, k] = (_sdf_by_label(p + e, labels, finger_pts)
                      - _sdf_by_label(p - e, labels, finger_pts)) / (2 * h)
    return grad


def project_to_surface(p, labels, finger_pts=None, iters=6):
    """Newton steps p <- p - f(p) grad f / |grad f|^2 onto each vertex's own part."""
    for _ in range(iters):
        f = _sdf_by_label(p, labels, finger_pts)
        g = _sdf_gradient(p, labels, finger_pts)
        p = p - (f / np.maximum((g * g).sum(-1), 1e-6))[:, None] * g
    return p


# ----------------------------------------------------------------------------------------
# 2. The mesh: quad cage -> Catmull-Clark -> projection -> relaxation.

NI, NJ = 8, 4  # palm cage cells across (two per finger) and along the palm


def _cage_palm():
    """Palm block vertices (NI+1, NJ+1, 2, 3) in local coordinates."""
    fingers = [finger_points(n)[0] for n in FINGER_ORDER[:4]]
    radii = [FINGERS[n]["radii"][0] for n in FINGER_ORDER[:4]]
    distal = []
    for i in range(NI + 1):
        f, odd = divmod(i, 2)
        if odd:
            a, l = fingers[f][0], fingers[f][1]
        elif i == 0:
            a, l = fingers[0][0], fingers[0][1] - 0.9 * radii[0]
        elif i == NI:
            a, l = fingers[3][0], fingers[3][1] + 0.9 * radii[3]
        else:
            a, l = (fingers[f - 1][:2] + fingers[f][:2]) / 2
        distal.append((a - 0.006, l))
    distal = np.array(distal)
    wrist = np.stack([np.full(NI + 1, -0.008), np.linspace(-0.024, 0.024, NI + 1)], -1)
    grid = np.zeros((NI + 1, NJ + 1, 2, 3))
    for j in range(NJ + 1):
        al = wrist + (distal - wrist) * j / NJ
        grid[:, j, 0, :2] = grid[:, j, 1, :2] = al
    grid[:, :, 0, 2], grid[:, :, 1, 2] = -0.011, 0.011
    return grid


def _ring(center, axis, across, radius, offsets):
    """Loop vertices around a bone: offsets (6,2) in units of radius along (across, back)."""
    axis = _unit(axis)
    across = _unit(across - (across @ axis) * axis)
    back = np.cross(axis, across)
    if back[2] < 0:  # keep the second direction on the back side, like the palm's k=1
        back = -back
    return center + radius * (offsets[:, :1] * across + offsets[:, 1:] * back)


def _polyline_point(pts, s):
    """Point and unit direction at arc length s along a polyline pts (M,3)."""
    seg = np.diff(pts, axis=0)
    lengths = np.linalg.norm(seg, axis=-1)
    cum = np.concatenate([[0.0], np.cumsum(lengths)])
    k = int(np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg) - 1))
    t = (s - cum[k]) / lengths[k]
    return pts[k] + t * seg[k], seg[k] / lengths[k]


def build_cage():
    """Closed quad cage of the hand: verts (V,3), quads (F,4), part labels (V,)."""
    grid = _cage_palm()
    ids = np.arange(grid[..., 0].size).reshape(grid.shape[:3])
    verts = [grid.reshape(-1, 3)]
    labels = [np.full(ids.size, PALM)]
    quads = []

    def add_quad(a, b, c, d):
        quads.append((a, b, c, d))

    for i in range(NI):
        for j in range(NJ):
            for k in (0, 1):
                add_quad(ids[i, j, k], ids[i + 1, j, k], ids[i + 1, j + 1, k], ids[i, j + 1, k])
    for i in range(NI):  # wrist cap
        add_quad(ids[i, 0, 0], ids[i + 1, 0, 0], ids[i + 1, 0, 1], ids[i, 0, 1])
    thumb_rows = (1, 2)
    for i in (0, NI):
        for j in range(NJ):
            if not (i == NI and j in thumb_rows):
                add_quad(ids[i, j, 0], ids[i, j + 1, 0], ids[i, j + 1, 1], ids[i, j, 1])

    offsets = np.array([[-1, -1], [0, -1], [1, -1], [1, 1], [0, 1], [-1, 1]], float)
    offsets[[1, 4], 1] *= 1.15  # a rounder hexagon
    count = ids.size
    for label, name in enumerate(FINGER_ORDER):
        spec = FINGERS[name]
        pts = finger_points(name)
        total = sum(spec["lengths"])
        l1, l2 = spec["lengths"][:2]
        if name == "thumb":
            j0 = thumb_rows[0]
            loop = [ids[NI, j0, 0], ids[NI, j0 + 1, 0], ids[NI, j0 + 2, 0],
                    ids[NI, j0 + 2, 1], ids[NI, j0 + 1, 1], ids[NI, j0, 1]]
            stations = [0.55 * l1, l1, l1 + 0.5 * l2, l1 + l2,
                        l1 + l2 + 0.5 * spec["lengths"][2], total - 0.6 * spec["radii"][3]]
            across_dir = np.array([1.0, 0.0, 0.0])
        else:
            i0 = 2 * label
            loop = [ids[i0, NJ, 0], ids[i0 + 1, NJ, 0], ids[i0 + 2, NJ, 0],
                    ids[i0 + 2, NJ, 1], ids[i0 + 1, NJ, 1], ids[i0, NJ, 1]]
            stations = [0.45 * l1, l1, l1 + 0.5 * l2, l1 + l2,
                        l1 + l2 + 0.5 * spec["lengths"][2], total - 0.6 * spec["radii"][3]]
            across_dir = np.array([0.0, 1.0, 0.0])
        radius_at = lambda s: np.interp(s, [0, l1, l1 + l2, total], spec["radii"])  # noqa
        current = loop
        for s in stations:
            center, axis = _polyline_point(pts, s)
            ring = _ring(center, axis, across_dir, 0.85 * radius_at(s), offsets)
            new = list(range(count, count + 6))
            count += 6
            verts.append(ring)
            labels.append(np.full(6, label))
            for m in range(6):
                add_quad(current[m], current[(m + 1) % 6], new[(m + 1) % 6], new[m])
            current = new
        add_quad(current[0], current[1], current[4], current[5])  # fingertip cap
        add_quad(current[1], current[2], current[3], current[4])
    return np.concatenate(verts), np.array(quads), np.concatenate(labels)


def _subdivide_labels(labels, quads):
    """Part labels after `catmull_clark`: a new point takes the finger of its parents."""
    edges, _ = unique_edges(quads)
    edge_labels = labels[edges].max(axis=1)
    face_labels = labels[quads].max(axis=1)
    return np.concatenate([labels, edge_labels, face_labels])


def build_mesh(relax_iters=12):
    """The stand-in surface in local coordinates: verts (V,3), faces (F,3), labels (V,)."""
    verts, quads, labels = build_cage()
    verts, quads2 = catmull_clark(verts, quads)
    labels = _subdivide_labels(labels, quads)
    quads = quads2
    edges, _ = unique_edges(quads)
    verts = project_to_surface(verts, labels)
    for _ in range(relax_iters):  # tangential Laplacian relaxation evens the triangles
        g = _unit(_sdf_gradient(verts, labels))
        step = 0.5 * (neighbor_mean(verts, edges) - verts)
        verts = verts + step - (step * g).sum(-1, keepdims=True) * g
        verts = project_to_surface(verts, labels, iters=2)
    faces = quads_to_triangles(verts, quads)
    mesh = trimesh.Trimesh(verts, faces, process=False)
    trimesh.repair.fix_normals(mesh)
    return np.asarray(mesh.vertices), np.asarray(mesh.faces), labels


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
    for j in range(1, 16):
        child = j + 1 if j % 3 else None
        dirs[j] = _unit((joints16[child] if child else joints16[j] + (joints16[j] - joints16[j - 1]))
                        - joints16[j])
    dirs[0] = _unit(joints16[4] - joints16[0])
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


def _rodrigues(aa):
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)[..., None]
    k = aa / np.maximum(theta[..., 0], 1e-12)
    kx = np.zeros(aa.shape[:-1] + (3, 3))
    kx[..., 0, 1], kx[..., 0, 2], kx[..., 1, 2] = -k[..., 2], k[..., 1], -k[..., 0]
    kx = kx - np.swapaxes(kx, -1, -2)
    return np.eye(3) + np.sin(theta) * kx + (1 - np.cos(theta)) * kx @ kx


def _numpy_lbs(rest_joints, weights, pose45):
    """Per-joint world transforms and skinned points for one pose (no blend shapes)."""
    rots = _rodrigues(np.concatenate([np.zeros(3), pose45]).reshape(16, 3))
    world_r, world_t = np.zeros((16, 3, 3)), np.zeros((16, 3))
    for j, p in enumerate(MANO_PARENTS):
        if p < 0:
            world_r[j], world_t[j] = rots[j], rest_joints[j]
        else:
            world_r[j] = world_r[p] @ rots[j]
            world_t[j] = world_t[p] + world_r[p] @ (rest_joints[j] - rest_joints[p])
    skin_t = world_t - np.einsum("kij,kj->ki", world_r, rest_joints)
    return world_r, skin_t


def _to_mano(x):
    return x @ LOCAL_TO_MANO.T + WRIST_IN_MANO


def _to_local(x):
    return (x - WRIST_IN_MANO) @ LOCAL_TO_MANO


def pose_features(pose45):
    """(135,) MANO's pose-blend-shape features vec(R_k - I) of the 15 finger joints."""
    return (_rodrigues(np.asarray(pose45).reshape(15, 3)) - np.eye(3)).reshape(135)


def surface_offsets(verts_m, labels, weights, rest16_m, pose45, posedirs=None):
    """How far the skinned stand-in is from its own posed implicit surface.

    The implicit surface is posed by moving the finger capsules with the joints; each
    skinned vertex takes one Newton step onto its part's surface (palm-only points: none). Returns the offsets in
    the posed frame (V,3) and taken back to the rest frame (V,3), metres.
    """
    world_r, skin_t = _numpy_lbs(rest16_m, weights, pose45)
    blend_r = np.einsum("vk,kij->vij", weights, world_r)
    rest = verts_m if posedirs is None else verts_m + posedirs @ pose_features(pose45)
    posed = np.einsum("vij,vj->vi", blend_r, rest) + weights @ skin_t
    finger_pts = {}
    for name in FINGER_ORDER:  # posed joints and tip, in local coordinates
        j = FINGERS[name]["joint"]
        bones = [j, j, j + 1, j + 2]  # the bone that carries each of the 4 points
        pts = [world_r[b] @ r + skin_t[b] for b, r in zip(bones, _to_mano(finger_points(name)))]
        finger_pts[name] = _to_local(np.stack(pts))
    posed_l = _to_local(posed)
    f = _sdf_by_label(posed_l, labels, finger_pts)
    g = _sdf_gradient(posed_l, labels, finger_pts)
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
    import hashlib
    import inspect

    from hoijax.geometry import mesh
    from hoijax.hand import anatomy, poses

    digest = hashlib.sha256()
    for module in (mesh, anatomy, poses, sys.modules[__name__]):
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
    verts_m, joints21_m = _to_mano(verts_l), _to_mano(joints_l)
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

"""The stand-in hand's shape: anatomy, implicit surface and mesh (numpy, offline).

Local coordinates: a along the fingers, l toward the thumb, b toward the back of the hand,
metres, wrist joint at the origin; `to_mano` maps them to MANO's rest frame (fingers along
-x, thumb toward +z, palm facing -y for the right hand). The surface is an implicit
function (rounded palm slab and thenar pad smoothly joined to tapered finger capsules);
the mesh is a box-modelled quad cage refined by Catmull-Clark, projected onto that
surface and relaxed. See `hoijax.hand.standin` for the rig built on it.
"""
from __future__ import annotations

import numpy as np
import trimesh

from hoijax.geometry.mesh import catmull_clark, neighbor_mean, quads_to_triangles, unique_edges

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


def to_mano(x):
    """Local (a, l, b) points (...,3) -> MANO's rest frame."""
    return x @ LOCAL_TO_MANO.T + WRIST_IN_MANO


def to_local(x):
    """MANO rest-frame points (...,3) -> local (a, l, b)."""
    return (x - WRIST_IN_MANO) @ LOCAL_TO_MANO


def unit(v):
    """v / |v| along the last axis (numpy)."""
    return np.asarray(v, float) / np.linalg.norm(v, axis=-1, keepdims=True)


def finger_points(name: str) -> np.ndarray:
    """(4,3) local positions of a finger's three joints and its tip."""
    spec = FINGERS[name]
    pts = [np.array(spec["base"], float)]
    for length, d in zip(spec["lengths"], spec["dirs"]):
        pts.append(pts[-1] + length * unit(d))
    return np.stack(pts)


# The rest-pose fingers, computed once: the SDF below is evaluated thousands of times.
REST_FINGER_POINTS = {name: finger_points(name) for name in FINGER_ORDER}
KNUCKLE_DIRS = {name: unit(pts[1] - pts[0]) for name, pts in REST_FINGER_POINTS.items()}


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
        end = pts[k + 1] - (radii[3] * unit(pts[3] - pts[2]) if k == 2 else 0.0)
        out = np.minimum(out, _tapered_capsule(p, pts[k], end, radii[k], radii[k + 1]))
    return out


def part_sdf(p, part, finger_pts=None):
    """Signed distance of points p (N,3) to the palm joined with finger `part`, or to the
    whole hand for `part == PALM`. finger_pts: optional {name: (4,3)} posed fingers."""
    finger_pts = finger_pts or REST_FINGER_POINTS
    names = FINGER_ORDER if part == PALM else (FINGER_ORDER[part],)
    fingers = np.full(len(p), np.inf)
    thumb = np.full(len(p), np.inf)
    for name in names:
        d = _finger_sdf(p, finger_pts[name], FINGERS[name]["radii"], KNUCKLE_DIRS[name])
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


def sdf_by_label(p, labels, finger_pts=None):
    out = np.zeros(len(p))
    for part in np.unique(labels):
        sel = labels == part
        out[sel] = part_sdf(p[sel], int(part), finger_pts)
    return out


def sdf_gradient(p, labels, finger_pts=None, h=1e-5):
    grad = np.zeros_like(p)
    for k in range(3):
        e = np.zeros(3)
        e[k] = h
        grad[:, k] = (sdf_by_label(p + e, labels, finger_pts)
                      - sdf_by_label(p - e, labels, finger_pts)) / (2 * h)
    return grad


def project_to_surface(p, labels, finger_pts=None, iters=6):
    """Newton steps p <- p - f(p) grad f / |grad f|^2 onto each vertex's own part."""
    for _ in range(iters):
        f = sdf_by_label(p, labels, finger_pts)
        g = sdf_gradient(p, labels, finger_pts)
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
    axis = unit(axis)
    across = unit(across - (across @ axis) * axis)
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
        g = unit(sdf_gradient(verts, labels))
        step = 0.5 * (neighbor_mean(verts, edges) - verts)
        verts = verts + step - (step * g).sum(-1, keepdims=True) * g
        verts = project_to_surface(verts, labels, iters=2)
    faces = quads_to_triangles(verts, quads)
    mesh = trimesh.Trimesh(verts, faces, process=False)
    trimesh.repair.fix_normals(mesh)
    return np.asarray(mesh.vertices), np.asarray(mesh.faces), labels

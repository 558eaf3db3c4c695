"""Signed distance to a triangle mesh that need not be closed (docs/design.md §11.1).

- Distance: exact, to the nearest triangle (`point_triangle_sq`).
- Sign: the generalised winding number w(p) = sum_f Omega_f(p) / 4 pi (Jacobson, Kavan
  and Sorkine-Hornung, SIGGRAPH 2013), Omega_f the signed solid angle of face f seen from
  p. w is 1 inside a closed, outward-oriented surface and 0 outside, and across a hole it
  varies smoothly between the two, so "inside where w > 1/2" is robust to holes, open
  boundaries, duplicated and non-manifold faces. It needs consistently oriented faces;
  `hoijax.interaction.volume.prepare_mesh` orients a user's mesh first.

Speed (`signed_distance`): the fast winding numbers of Barill et al. (SIGGRAPH 2018) in one
level. Faces are split into compact clusters of at most `cluster_size` (a kd-tree's
leaves); per query the k clusters nearest by their bounding boxes are evaluated
exactly (distances and solid angles), every other cluster enters the winding number by its
dipole term A . (c - p) / |c - p|^3 (A the cluster's area vector). Cost per point ~ C
dipoles + k x cluster_size triangles instead of F triangles. The distance is certain when
the nearest exact triangle is no farther than the (k+1)-th box; the few points where it is
not are queried again with 4x as many exact clusters. The dipoles' error in the winding
number is small beside the 1/2 threshold (tests: against brute force).
"""
from __future__ import annotations

import concurrent.futures
import functools
import os

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

INSIDE = 0.5  # winding number threshold
NEAR_CLUSTERS = 8  # clusters evaluated exactly per query point


def point_triangle_sq(p, a, b, c):
    """Squared distance from p (3,) to triangle (a, b, c) (each (3,)): the closest point
    by the Voronoi regions of Ericson, Real-Time Collision Detection 5.1.5."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = ab @ ap, ac @ ap
    bp = p - b
    d3, d4 = ab @ bp, ac @ bp
    cp = p - c
    d5, d6 = ab @ cp, ac @ cp
    vc = d1 * d4 - d3 * d2
    vb = d5 * d2 - d1 * d6
    va = d3 * d6 - d5 * d4
    safe = lambda x: jnp.where(jnp.abs(x) > 1e-20, x, 1e-20)  # noqa: E731
    denom = safe(va + vb + vc)
    v_in, w_in = vb / denom, vc / denom
    candidates = [
        (d1 <= 0) & (d2 <= 0), a,
        (d3 >= 0) & (d4 <= d3), b,
        (d6 >= 0) & (d5 <= d6), c,
        (vc <= 0) & (d1 >= 0) & (d3 <= 0), a + ab * (d1 / safe(d1 - d3)),
        (vb <= 0) & (d2 >= 0) & (d6 <= 0), a + ac * (d2 / safe(d2 - d6)),
        (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0),
        b + (c - b) * ((d4 - d3) / safe((d4 - d3) + (d5 - d6))),
    ]
    closest = a + ab * v_in + ac * w_in
    for i in range(len(candidates) - 2, -1, -2):  # the first matching region wins
        closest = jnp.where(candidates[i], candidates[i + 1], closest)
    return jnp.sum((p - closest) ** 2)


def solid_angle(p, a, b, c):
    """Signed solid angle (sr) of triangle (a, b, c) seen from p: positive when p is
    behind it (on the side its counter-clockwise normal points away from). Van Oosterom
    and Strackee's formula; 0 for a degenerate triangle."""
    x, y, z = a - p, b - p, c - p
    lx, ly, lz = (jnp.sqrt(jnp.sum(v ** 2) + 1e-30) for v in (x, y, z))
    num = x @ jnp.cross(y, z)
    den = lx * ly * lz + (x @ y) * lz + (y @ z) * lx + (z @ x) * ly
    return 2.0 * jnp.arctan2(num, den)


def brute_force(p, tri):
    """The reference: p (3,), tri (F,3,3) -> (squared distance to the nearest triangle,
    winding number), O(F)."""
    d2 = jax.vmap(lambda t: point_triangle_sq(p, t[0], t[1], t[2]))(tri)
    omega = jax.vmap(lambda t: solid_angle(p, t[0], t[1], t[2]))(tri)
    return jnp.min(d2), jnp.sum(omega) / (4 * jnp.pi)


@flax.struct.dataclass
class MeshClusters:
    """A triangle mesh cut into C clusters of M faces (padding: copies of a real face with
    valid False, so they never win the distance nor add solid angle)."""

    tris: jax.Array  # (C,M,3,3) metres
    valid: jax.Array  # (C,M) bool
    centre: jax.Array  # (C,3) the cluster's area-weighted centroid
    area_vector: jax.Array  # (C,3) sum of 0.5 (b - a) x (c - a)
    lo: jax.Array  # (C,3) the cluster's bounding box
    hi: jax.Array  # (C,3)


def _median_split(centroids: np.ndarray, leaf: int) -> list[np.ndarray]:
    """Face ids grouped into compact clusters of at most `leaf`: recursive halving of
    the centroids (F,3) at the median of the longest axis (a kd-tree's leaves)."""
    groups, stack = [], [np.arange(len(centroids))]
    while stack:
        ids = stack.pop()
        if len(ids) <= leaf:
            groups.append(ids)
            continue
        pts = centroids[ids]
        axis = int(np.argmax(pts.max(0) - pts.min(0)))
        order = ids[np.argsort(pts[:, axis], kind="stable")]
        half = len(order) // 2
        stack += [order[:half], order[half:]]
    return groups


def build_clusters(verts, faces, cluster_size: int | None = None,
                   max_edge: float | None = None) -> MeshClusters:
    """verts (V,3), faces (F,3) -> MeshClusters (numpy work, once per mesh); cluster_size
    by default from `cluster_size_for`. Triangles with an edge longer than `max_edge` (by
    default 1/32 of the box diagonal) are subdivided first: the same surface, but clusters
    small enough for their dipoles (a 12-triangle box would be one cluster as large as
    the box)."""
    # trimesh takes ~0.7 s to import; only mesh files need it.
    import trimesh
    verts, faces = np.asarray(verts, np.float64), np.asarray(faces, np.int64)
    if len(faces) == 0:
        raise ValueError("a mesh without triangles has no signed distance")
    if max_edge is None:
        max_edge = float(np.linalg.norm(np.ptp(verts[faces.ravel()], axis=0))) / 32
    edges = np.linalg.norm(verts[faces] - verts[np.roll(faces, 1, axis=1)], axis=-1)
    if edges.max() > max_edge:
        verts, faces = trimesh.remesh.subdivide_to_size(verts, faces, max_edge, max_iter=12)
    tri = verts[faces]
    cluster_size = cluster_size or cluster_size_for(len(tri))
    groups = _median_split(tri.mean(1), cluster_size)
    ids = np.stack([np.concatenate([g, np.repeat(g[-1:], cluster_size - len(g))])
                    for g in groups])
    valid = np.stack([np.arange(cluster_size) < len(g) for g in groups])
    tri = tri[ids]
    area = 0.5 * np.cross(tri[..., 1, :] - tri[..., 0, :], tri[..., 2, :] - tri[..., 0, :])
    weight = np.linalg.norm(area, axis=-1) * valid
    centroid = tri.mean(2)
    centre = np.where(weight.sum(1, keepdims=True) > 0,
                      (weight[..., None] * centroid).sum(1)
                      / np.maximum(weight.sum(1), 1e-30)[:, None],
                      centroid.mean(1))
    area_vector = (area * valid[..., None]).sum(1)
    lo, hi = tri.min((1, 2)), tri.max((1, 2))
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    return MeshClusters(f32(tri), jnp.asarray(valid), f32(centre), f32(area_vector), f32(lo),
                        f32(hi))


@functools.partial(jax.jit, static_argnames="k")
def query(clusters: MeshClusters, points, k: int = 8):
    """points (N,3) -> (squared distance to the nearest triangle of the exact clusters
    (N,), winding number (N,), certain (N,) bool). The k clusters with the smallest lower
    bound (the distance to the cluster's bounding box) are exact, every other cluster
    enters by its dipole; `certain`: the nearest exact triangle is no farther than the
    next lower bound, so it is the mesh's nearest triangle."""
    diff = clusters.centre[None] - points[:, None]  # (N,C,3)
    dist = jnp.sqrt(jnp.sum(diff ** 2, -1) + 1e-30)
    num = clusters.centre.shape[0]
    gap = jnp.maximum(jnp.maximum(clusters.lo[None] - points[:, None],
                                  points[:, None] - clusters.hi[None]), 0.0)
    lower = jnp.sqrt(jnp.sum(gap ** 2, -1))  # distance to the cluster's box
    neg_lower, near = jax.lax.top_k(-lower, min(k + 1, num))
    near = near[:, :k]
    # No triangle beyond the exact clusters is nearer than the next lower bound.
    bound = -neg_lower[:, -1] if k < num else jnp.full(points.shape[0], jnp.inf)

    def exact(p, ids):
        tri = clusters.tris[ids].reshape(-1, 3, 3)
        valid = clusters.valid[ids].reshape(-1)
        d2 = jax.vmap(lambda t: point_triangle_sq(p, t[0], t[1], t[2]))(tri)
        omega = jax.vmap(lambda t: solid_angle(p, t[0], t[1], t[2]))(tri)
        return jnp.min(jnp.where(valid, d2, jnp.inf)), jnp.sum(jnp.where(valid, omega, 0.0))

    d2, omega_near = jax.vmap(exact)(points, near)
    dipole = jnp.sum(diff * clusters.area_vector[None], -1) / jnp.maximum(dist, 1e-9) ** 3
    # Masked, not subtracted: a near cluster's dipole term is huge and would cancel badly.
    chosen = jnp.zeros(dipole.shape, bool).at[jnp.arange(points.shape[0])[:, None],
                                               near].set(True)
    omega_far = jnp.sum(jnp.where(chosen, 0.0, dipole), -1)
    return d2, (omega_near + omega_far) / (4 * jnp.pi), jnp.sqrt(d2) <= bound


def cluster_size_for(num_faces: int, k: int = NEAR_CLUSTERS) -> int:
    """Faces per cluster balancing the dipoles (F / M per point) against the exact tests
    (k M per point): M ~ sqrt(F / k), between 16 and 256."""
    return int(np.clip(np.sqrt(num_faces / k), 16, 256))


def _query_blocks(clusters, points, k, chunk):
    """`query` over points (N,3) in padded blocks, one block per core at a time (XLA runs
    each block's program on one thread) -> numpy (d2, winding, certain)."""
    def block(i):
        part = points[i:i + chunk]
        padded = np.concatenate([part, np.repeat(part[-1:], chunk - len(part), 0)])
        return [np.asarray(o)[:len(part)] for o in query(clusters, jnp.asarray(padded), k=k)]

    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        outs = list(pool.map(block, range(0, len(points), chunk)))
    return [np.concatenate(o) for o in zip(*outs)]


def signed_distance(clusters: MeshClusters, points, k: int = NEAR_CLUSTERS,
                    chunk: int = 512, exact_distance: bool = True):
    """points (N,3) -> (signed distance (N,) m, negative where the winding number exceeds
    1/2; winding number (N,)), host-side in blocks (one compilation per mesh and k).
    With exact_distance, points whose nearest triangle may lie beyond the k exact
    clusters are queried again with 4x as many until certain; without it (signs only)
    the distance may be that of a farther triangle."""
    points = np.asarray(points, np.float32).reshape(-1, 3)
    if len(points) == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    k = min(k, clusters.centre.shape[0])
    d2, w, certain = _query_blocks(clusters, points, k, chunk)
    while exact_distance and not certain.all():
        k = min(4 * k, clusters.centre.shape[0])
        redo = np.flatnonzero(~certain)
        d2[redo], w[redo], certain[redo] = _query_blocks(clusters, points[redo], k,
                                                         max(16, chunk * 8 // k))
    d = np.sqrt(np.maximum(d2, 0.0))
    return np.where(w > INSIDE, -d, d).astype(np.float32), w.astype(np.float32)

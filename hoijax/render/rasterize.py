"""Soft rasterization of triangle meshes (SoftRas / PyTorch3D style), tiled, in JAX.

Two stages, as in the established renderers:

1. Selection (no gradient): for every pixel, `faces_per_pixel` (K) faces within the blur
   radius: those covering the pixel, nearest in depth first, then those that only blur onto
   it, nearest in 2D first. The image is cut into 8x8 tiles (binning); the faces whose
   blurred bounding box touches a tile are listed compactly, and each tile scans its own
   list a chunk at a time with a running per-pixel top-K. Work follows the real number of
   tile-face overlaps; memory is a batch of tiles x pixels-per-tile x chunk, never
   pixels x faces.
2. Shading (differentiable w.r.t. vertices and K): for the selected faces, screen-space
   barycentrics, the signed 2D distance d to the triangle (negative inside), coverage
   p = sigmoid(-d / sigma), the soft silhouette 1 - prod_k (1 - p_k), and softmax depth
   blending with `gamma` (SoftRas) for depth, normals and per-vertex attributes, which are
   interpolated with perspective-correct barycentrics.

Conventions: vertices are in the camera frame (OpenCV: x right, y down, z forward, metres),
K in pixels, the centre of pixel (row i, column j) at (u, v) = (j, i); `sigma` is in pixels.
`sigma=0` is the hard mode: coverage is the inside test and, with `faces_per_pixel=1`, the
output equals a plain z-buffer. Faces with a vertex closer than `znear` (behind the camera)
and degenerate faces are never selected, so they cannot produce NaN or Inf.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from hoijax.geometry.camera import project
from hoijax.geometry.math import safe_normalize, safe_sqrt

TINY_AREA = 1e-8  # px^2; faces with a smaller screen area are skipped
# Coverage below this counts as no coverage: sets the blur radius for a given sigma.
MIN_COVERAGE = 1e-3


def blur_radius(sigma: float) -> float:
    """Distance (px) beyond which sigmoid(-d / sigma) < MIN_COVERAGE; 0 in hard mode."""
    return sigma * math.log(1.0 / MIN_COVERAGE - 1.0) if sigma > 0 else 0.0


def pad_faces(faces: np.ndarray, minimum: int = 4096) -> np.ndarray:
    """(F,3) -> (F',3): padded with degenerate faces (never selected) to a power of two
    >= minimum, so meshes of any size share a few compiled programs (the face count is a
    static shape)."""
    count = max(minimum, 1 << int(np.ceil(np.log2(max(len(faces), 1)))))
    return np.concatenate([faces, np.zeros((count - len(faces), 3), faces.dtype)])


def vertex_normals(verts, faces):
    """Area-weighted unit vertex normals (V,3) of a mesh (outward for CCW faces)."""
    tri = verts[faces]
    face_n = jnp.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = jnp.zeros_like(verts).at[faces.reshape(-1)].add(jnp.repeat(face_n, 3, axis=0))
    return safe_normalize(normals)


def _cross2(a, b):
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def triangle_coordinates(tri, p):
    """Screen-space barycentrics and squared edge distance of points to triangles.

    tri (...,3,2) pixel coordinates, p (...,2) -> bary (...,3), inside (...) bool,
    dist2 (...) squared distance to the nearest edge (px^2). Triangles must have a
    non-degenerate area (callers substitute a dummy triangle where there is none).
    """
    a, b, c = tri[..., 0, :], tri[..., 1, :], tri[..., 2, :]
    area = _cross2(b - a, c - a)
    area = jnp.where(jnp.abs(area) < TINY_AREA, TINY_AREA, area)
    w0 = _cross2(c - b, p - b) / area
    w1 = _cross2(a - c, p - c) / area
    bary = jnp.stack([w0, w1, 1.0 - w0 - w1], axis=-1)
    inside = jnp.all(bary >= 0.0, axis=-1)
    dist2 = jnp.full(p.shape[:-1], jnp.inf)
    for s, e in ((a, b), (b, c), (c, a)):
        edge = e - s
        t = jnp.clip(jnp.sum((p - s) * edge, -1) / jnp.maximum(jnp.sum(edge * edge, -1), 1e-12),
                     0.0, 1.0)
        closest = s + t[..., None] * edge
        dist2 = jnp.minimum(dist2, jnp.sum((p - closest) ** 2, -1))
    return bary, inside, dist2


def perspective_barycentrics(bary, tri_z):
    """Clipped screen barycentrics -> perspective-correct ones and the depth there.

    bary (...,3) (may be negative outside the triangle: clipped to the triangle first),
    tri_z (...,3) > 0 -> (bary_3d (...,3), z (...)).
    """
    clipped = jnp.clip(bary, 0.0, 1.0)
    clipped = clipped / jnp.maximum(jnp.sum(clipped, -1, keepdims=True), 1e-12)
    inv = clipped / tri_z
    inv_z = jnp.sum(inv, -1)
    return inv / inv_z[..., None], 1.0 / inv_z


def _face_screen_data(verts, faces, K, znear):
    """Projected triangles (F,3,2), their vertex depths (F,3) and a validity flag (F,)."""
    uv, z = project(verts[None], K)
    tri_uv, tri_z = uv[0][faces], z[0][faces]
    area = _cross2(tri_uv[:, 1] - tri_uv[:, 0], tri_uv[:, 2] - tri_uv[:, 0])
    valid = jnp.all(tri_z > znear, axis=-1) & (jnp.abs(area) > TINY_AREA)
    valid &= jnp.all(jnp.isfinite(tri_uv), axis=(-1, -2))
    return tri_uv, tri_z, valid


def _tile_pairs(tri_uv, valid, image_size, tile, radius, max_pairs):
    """Which faces touch which tiles, as a compact list.

    Returns pair_faces (max_pairs,) face ids grouped by tile (tile-major), starts (T,) and
    counts (T,) of each tile's group, tile origins (T,2) in pixels (u,v), and the number of
    (tile, face) pairs dropped because there were more than max_pairs.
    """
    h, w = image_size
    ty, tx = np.meshgrid(np.arange(-(-h // tile)), np.arange(-(-w // tile)), indexing="ij")
    lo = np.stack([tx.ravel() * tile, ty.ravel() * tile], -1).astype(np.float32)  # (T,2)
    hi = lo + tile - 1
    fmin = tri_uv.min(axis=1) - radius  # (F,2)
    fmax = tri_uv.max(axis=1) + radius
    touch = (jnp.all(fmax[None] >= lo[:, None], -1) & jnp.all(fmin[None] <= hi[:, None], -1)
             & valid[None])  # (T,F)
    counts = jnp.sum(touch, axis=1)
    starts = jnp.cumsum(counts) - counts
    _, pair_faces = jnp.nonzero(touch, size=max_pairs, fill_value=0)
    counts = jnp.clip(max_pairs - starts, 0, counts)  # tiles past the cap lose their pairs
    dropped = jnp.maximum(jnp.sum(touch) - max_pairs, 0)
    return pair_faces, starts, counts, lo, dropped


def _pixel_face_scores(pix, fid, tri_uv, tri_z, radius, zfar):
    """Selection score (P,C) of faces fid (C,) at pixel centres pix (P,2); -inf: not near.

    Faces that cover the pixel come first, nearest in depth first; then faces that only
    blur onto it, nearest in 2D first. (Ranking all by depth, as PyTorch3D does, lets a
    slanted surface's nearer neighbours crowd out the face that covers the pixel when the
    blur radius spans several faces.)
    """
    bary, inside, dist2 = triangle_coordinates(tri_uv[fid][None], pix[:, None, :])
    _, z = perspective_barycentrics(bary, tri_z[fid][None])
    score = jnp.where(inside, -z, -zfar - dist2)  # covering faces have z < zfar
    return jnp.where(inside | (dist2 <= radius * radius), score, -jnp.inf)


def _select_in_tile(start, count, origin, pair_faces, tri_uv, tri_z, *, tile, radius, k, zfar,
                    chunk):
    """Per pixel of one tile, the k best faces of the tile's `count` candidates.

    Candidates are scanned `chunk` at a time with a running top-k, so the work follows the
    tile's real number of faces. Returns (tile*tile, k) face ids, -1 where none.
    """
    offs = np.stack(np.meshgrid(np.arange(tile), np.arange(tile), indexing="xy"), -1)
    pix = origin + offs.reshape(-1, 2).astype(np.float32)  # (P,2), rows then columns
    num_pix = tile * tile

    def scan_chunk(c, best):
        best_score, best_id = best
        j = c * chunk + jnp.arange(chunk)
        ok = j < count
        fid = jnp.where(ok, pair_faces[jnp.clip(start + j, 0, pair_faces.shape[0] - 1)], 0)
        score = jnp.where(ok[None], _pixel_face_scores(pix, fid, tri_uv, tri_z, radius, zfar),
                          -jnp.inf)
        scores = jnp.concatenate([best_score, score], axis=1)
        ids = jnp.concatenate([best_id, jnp.broadcast_to(fid, (num_pix, chunk))], axis=1)
        top, idx = jax.lax.top_k(scores, k)
        return top, jnp.take_along_axis(ids, idx, axis=1)

    init = (jnp.full((num_pix, k), -jnp.inf), jnp.full((num_pix, k), -1, jnp.int32))
    best_score, best_id = jax.lax.fori_loop(0, (count + chunk - 1) // chunk, scan_chunk, init)
    return jnp.where(jnp.isfinite(best_score), best_id, -1)


def select_faces(tri_uv, tri_z, valid, image_size, *, radius, faces_per_pixel, zfar, tile=8,
                 max_pairs=None, chunk=64, tile_batch=16):
    """Stage 1: (H,W,K) ids of the best faces at each pixel (-1: none), and the number of
    dropped (tile, face) pairs (0 unless max_pairs is too small). No gradient flows here.

    max_pairs: static cap on (tile, face) overlaps; default max(16 F, 64 tiles).
    """
    tri_uv, tri_z = jax.lax.stop_gradient(tri_uv), jax.lax.stop_gradient(tri_z)
    h, w = image_size
    ny, nx = -(-h // tile), -(-w // tile)
    num_faces = tri_uv.shape[0]
    max_pairs = max_pairs or max(16 * num_faces, 64 * ny * nx)
    pair_faces, starts, counts, origins, dropped = _tile_pairs(
        tri_uv, valid, image_size, tile, radius, max_pairs)
    select = functools.partial(_select_in_tile, pair_faces=pair_faces, tri_uv=tri_uv,
                               tri_z=tri_z, tile=tile, radius=radius, k=faces_per_pixel,
                               zfar=zfar, chunk=chunk)
    ids = jax.lax.map(lambda args: select(*args), (starts, counts, jnp.asarray(origins)),
                      batch_size=tile_batch)  # (T, tile*tile, K)
    ids = ids.reshape(ny, nx, tile, tile, faces_per_pixel).transpose(0, 2, 1, 3, 4)
    return ids.reshape(ny * tile, nx * tile, faces_per_pixel)[:h, :w], dropped


_DUMMY_TRI = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], np.float32)


def shade(face_ids, tri_uv, tri_z, faces, vertex_values, image_size, *, sigma, gamma,
          znear, zfar):
    """Stage 2: differentiable soft silhouette and blended depth / vertex values.

    face_ids (H,W,K); tri_uv (F,3,2); tri_z (F,3); faces (F,3); vertex_values (V,C) to be
    interpolated (normals, attributes). Returns mask (H,W), depth (H,W) (0 where no face),
    values (H,W,C) (0 where no face), weights (H,W,K) and perspective-correct
    barycentrics (H,W,K,3).
    """
    h, w = image_size
    has = face_ids >= 0
    fid = jnp.maximum(face_ids, 0)
    # Empty slots get a harmless dummy triangle so no division ever sees a bad face.
    tri = jnp.where(has[..., None, None], tri_uv[fid], _DUMMY_TRI)
    tz = jnp.where(has[..., None], tri_z[fid], 1.0)
    v, u = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                        indexing="ij")
    pix = jnp.stack([u, v], -1)[:, :, None, :]  # (H,W,1,2)
    bary, inside, dist2 = triangle_coordinates(tri, pix)
    if sigma > 0:
        signed = jnp.where(inside, -1.0, 1.0) * safe_sqrt(dist2)
        prob = jax.nn.sigmoid(-signed / sigma)
    else:
        prob = inside.astype(jnp.float32)
    prob = jnp.where(has, prob, 0.0)
    mask = 1.0 - jnp.prod(1.0 - prob, axis=-1)

    bary3d, z = perspective_barycentrics(bary, tz)
    # SoftRas depth softmax on normalised inverse depth; the max is only a stabiliser.
    z_inv = jnp.where(has, (zfar - z) / (zfar - znear), -jnp.inf)
    z_inv_max = jax.lax.stop_gradient(jnp.max(z_inv, axis=-1, keepdims=True))
    z_inv_max = jnp.where(jnp.isfinite(z_inv_max), z_inv_max, 0.0)
    expo = jnp.exp(jnp.where(has, (z_inv - z_inv_max) / gamma, -jnp.inf))
    raw = prob * expo
    total = jnp.sum(raw, axis=-1, keepdims=True)
    weights = raw / jnp.where(total > 0, total, 1.0)
    depth = jnp.sum(weights * z, axis=-1)

    corner_values = vertex_values[faces[fid]]  # (H,W,K,3,C)
    values = jnp.sum(bary3d[..., None] * corner_values, axis=-2)  # (H,W,K,C)
    blended = jnp.sum(weights[..., None] * values, axis=-2)
    return dict(mask=mask, depth=depth, values=blended, weights=weights, bary=bary3d)


def rasterize(verts, faces, K, image_size, *, sigma=0.5, gamma=1e-4, faces_per_pixel=10,
              attributes=None, znear=1e-2, zfar=10.0, tile_size=8, max_pairs=None,
              tile_batch=16):
    """Soft-rasterizes a triangle mesh given in the camera frame.

    Args:
      verts: (V,3) camera-frame vertices (metres). faces: (F,3) int.
      K: (3,3) pixel intrinsics. image_size: (H, W), static.
      sigma: silhouette sharpness in pixels (0: hard mode). gamma: depth softmax
        temperature on normalised inverse depth (SoftRas). faces_per_pixel: K.
      attributes: optional (V,C) per-vertex values, interpolated and blended.
      znear, zfar: depth range (metres) for selection and the depth softmax; the softmax
        temperature in metres is gamma * (zfar - znear), 1 mm with the defaults, so faces
        of the same surface blend and a surface 1 cm behind gets weight e^-10.
      tile_size, max_pairs, tile_batch: memory / speed knobs of the selection (see
        `select_faces`).
    Returns dict: mask (H,W) soft silhouette; depth (H,W) camera z (0 where no face);
      normal (H,W,3) camera-frame unit normals from interpolated vertex normals (0 where no
      face); attributes (H,W,C) when given; face_ids (H,W,K); dropped_pairs (scalar: tile-face
      overlaps beyond max_pairs that were ignored; raise max_pairs if nonzero).
    """
    verts = jnp.asarray(verts, jnp.float32)
    faces = jnp.asarray(faces, jnp.int32)
    K = jnp.asarray(K, jnp.float32)
    tri_uv, tri_z, valid = _face_screen_data(verts, faces, K, znear)
    face_ids, dropped = select_faces(
        tri_uv, tri_z, valid, image_size, radius=blur_radius(sigma),
        faces_per_pixel=faces_per_pixel, zfar=zfar, tile=tile_size, max_pairs=max_pairs,
        tile_batch=tile_batch)
    values = vertex_normals(verts, faces)
    if attributes is not None:
        values = jnp.concatenate([values, jnp.asarray(attributes, jnp.float32)], axis=-1)
    out = shade(face_ids, tri_uv, tri_z, faces, values, image_size, sigma=sigma, gamma=gamma,
                znear=znear, zfar=zfar)
    covered = jnp.any(face_ids >= 0, axis=-1)
    normal = jnp.where(covered[..., None], safe_normalize(out["values"][..., :3]), 0.0)
    result = dict(mask=out["mask"], depth=out["depth"], normal=normal, face_ids=face_ids,
                  dropped_pairs=dropped)
    if attributes is not None:
        result["attributes"] = out["values"][..., 3:]
    return result

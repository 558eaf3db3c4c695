"""Soft rasterization of triangle meshes (SoftRas / PyTorch3D style) in JAX.

Two stages, as in the established renderers:

1. Selection (no gradient): for every pixel, `faces_per_pixel` (K) faces within the blur
   radius: those covering the pixel, nearest in depth first, then those that only blur onto
   it, nearest in 2D first (ties: lower face id). Two implementations choose the same
   faces:
   - `selection="splat"` (`splat_select_faces`, for small faces: meshes like the hand at
     the fitting sizes): every face is tested at the pixels of a fixed window around its
     blurred box (a large face takes several windows from a fixed pool), and K rounds of
     scatter-min keep the K best fragments per pixel. No loops, no sorting: 64 px of the
     hand, K = 4, forward+backward, runs in ~10-20 ms on the 2-core CPU (the tiles: ~100).
   - `selection="tiles"` (`select_faces`, the default, for any mesh and size): the image
     is cut into 8x8 tiles; the faces whose blurred bounding box touches a tile are
     listed compactly and each tile scans its list a chunk at a time with a running
     per-pixel top-K. Memory is a batch of tiles x pixels-per-tile x chunk, never
     pixels x faces.
   `cull_backfaces` drops faces seen from behind first: exact for the silhouette and depth
   of a closed mesh (the stand-in hand is one), half the work, and a less dilated soft
   silhouette (the back faces along a contour add their blur to the front faces').
2. Shading (differentiable w.r.t. vertices and K): for the selected faces, screen-space
   barycentrics, the signed 2D distance d to the triangle (negative inside), coverage
   p = sigmoid(-d / sigma), the soft silhouette 1 - prod_k (1 - p_k), and softmax depth
   blending with `gamma` (SoftRas) for depth, normals and per-vertex attributes, which are
   interpolated with perspective-correct barycentrics.

Conventions: vertices are in the camera frame (OpenCV: x right, y down, z forward, metres),
K in pixels, the centre of pixel (row i, column j) at (u, v) = (j, i); `sigma` is in pixels.
`sigma=0` is the hard mode: coverage is the inside test and, with `faces_per_pixel=1`, the
output equals a plain z-buffer (`zbuffer`: that render from the host, for ground-truth
masks and evaluation, the splat selection's pool sized per view). Faces with a vertex
closer than `znear` (behind the camera) and degenerate faces are never selected, so they
cannot produce NaN or Inf.
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


def sigma_schedule(step, num_steps, start=0.5, end=0.1):
    """Rasterizer sigma (px) at `step` of `num_steps`: geometric from start to end.

    Large sigma early gives gradients to pixels a few px from the hand's outline; small
    sigma late leaves the soft silhouette within a fraction of a pixel of the exact one
    (at 64 px, K 4, culled: IoU 0.84 at 0.5 px, 0.98 at 0.1 px; see
    experiments/results/history/2026-12-01_a4e3674_rasterizer_speed.md). step may be
    traced: pass the result as `sigma` with `max_sigma=start` so one compiled program
    serves the whole schedule.
    """
    frac = jnp.clip(jnp.asarray(step, jnp.float32) / max(num_steps - 1, 1), 0.0, 1.0)
    return start * (end / start) ** frac


def is_closed(faces) -> bool:
    """Whether a mesh (F,3) (numpy, on the host) is closed: every edge shared by exactly two
    faces. Back-face culling is exact for a closed mesh seen from outside (the stand-in
    hand); an open one (official MANO, open at the wrist) can show back faces through its
    holes."""
    faces = np.asarray(faces)
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    return bool(np.all(counts == 2))


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


def _face_screen_data(verts, faces, K, znear, cull_backfaces=False):
    """Projected triangles (F,3,2), their vertex depths (F,3) and a validity flag (F,);
    with cull_backfaces, faces seen from behind (clockwise on screen for outward CCW faces:
    positive area with v pointing down) are invalid too."""
    uv, z = project(verts[None], K)
    tri_uv, tri_z = uv[0][faces], z[0][faces]
    area = _cross2(tri_uv[:, 1] - tri_uv[:, 0], tri_uv[:, 2] - tri_uv[:, 0])
    valid = jnp.all(tri_z > znear, axis=-1) & (jnp.abs(area) > TINY_AREA)
    valid &= jnp.all(jnp.isfinite(tri_uv), axis=(-1, -2))
    if cull_backfaces:
        valid &= area < 0
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


def splat_window(radius: float, image_size, face_px=None) -> int:
    """Default side (px) of a splat window: the blur diameter plus `face_px`, a face's
    expected screen extent (default max(2, size / 32): the stand-in hand's faces are 1-3 px
    at 64 px and scale with the image; larger faces take several windows)."""
    face_px = max(2, max(image_size) // 32) if face_px is None else face_px
    return int(math.ceil(2 * radius)) + 1 + int(face_px)


def _window_grids(tri_uv, valid, image_size, radius, window):
    """Each face's blurred, image-clipped pixel box: its first pixel centre lo (F,2) (u,v)
    and how many window x window squares cover it along u and v (F,2) int (0: off screen
    or invalid)."""
    h, w = image_size
    top = jnp.array([w - 1, h - 1], jnp.float32)
    lo = jnp.clip(jnp.ceil(tri_uv.min(axis=1) - radius), 0.0, top)  # (F,2) pixel centres
    hi = jnp.clip(jnp.floor(tri_uv.max(axis=1) + radius), -1.0, top)
    onscreen = valid & jnp.all(hi >= lo, axis=-1) & jnp.all(tri_uv.max(1) + radius >= 0, -1)
    onscreen &= jnp.all(tri_uv.min(axis=1) - radius <= top, axis=-1)
    grid = jnp.where(onscreen[:, None], jnp.ceil((hi - lo + 1) / window), 0).astype(jnp.int32)
    return lo, grid


def _face_windows(tri_uv, valid, image_size, radius, window, num_windows):
    """Cuts every face's blurred, image-clipped pixel box into window x window squares.

    A face whose box fits one window (nearly all at the intended sizes) gets one; a larger
    face gets a grid of them, taken from the same fixed pool of num_windows (a static
    shape). Returns per window its face id (num_windows,), origin (num_windows,2) (u,v) in
    pixels, a flag for windows in use, and the number of windows beyond the pool (dropped).
    """
    lo, grid = _window_grids(tri_uv, valid, image_size, radius, window)
    count = grid[:, 0] * grid[:, 1]  # (F,) windows per face
    starts = jnp.cumsum(count) - count
    fid = jnp.repeat(jnp.arange(tri_uv.shape[0]), count, total_repeat_length=num_windows)
    j = jnp.arange(num_windows) - starts[fid]  # index of the window within its face's grid
    used = jnp.arange(num_windows) < jnp.sum(count)
    cols = jnp.maximum(grid[fid, 0], 1)
    origin = lo[fid] + window * jnp.stack([j % cols, j // cols], -1).astype(jnp.float32)
    dropped = jnp.maximum(jnp.sum(count) - num_windows, 0)
    return fid, origin, used, dropped


def _topk_by_scatter(pixel, score, fid, num_pixels, k, num_faces):
    """Per pixel, the k fragments of lowest (score, face id), by k rounds of scatter-min.

    pixel (N,) int (-1: unused fragment), score (N,), fid (N,) -> (num_pixels, k) face
    ids, -1 where fewer. Scatter-min is cheap on the CPU where sorting N fragments or a
    while-loop per tile is not (0.2 ms vs 50 ms for 200k fragments).
    """
    used = pixel >= 0
    slot = jnp.where(used, pixel, num_pixels)  # unused fragments go to a spare slot
    last_score = jnp.full(num_pixels + 1, -jnp.inf)
    last_id = jnp.full(num_pixels + 1, -1)
    ids = []
    for _ in range(k):
        # Fragments after the last pick in (score, id) order; a test on small per-pixel
        # arrays rather than a running flag per fragment, which XLA would recompute.
        s_last, i_last = last_score[slot], last_id[slot]
        alive = used & ((score > s_last) | ((score == s_last) & (fid > i_last)))
        best = jnp.full(num_pixels + 1, jnp.inf).at[slot].min(jnp.where(alive, score, jnp.inf))
        tied = alive & (score == best[slot])
        first = jnp.full(num_pixels + 1, num_faces).at[slot].min(jnp.where(tied, fid, num_faces))
        last_score, last_id = best, first
        ids.append(jnp.where(first[:num_pixels] < num_faces, first[:num_pixels], -1))
    return jnp.stack(ids, axis=-1)


def _fragment_tests(ax, ay, bx, by, cx, cy, za, zb, zc, pu, pv):
    """Inside test, squared distance (px^2) to the triangle and perspective-correct depth
    at pixel centres (pu, pv) of triangles with corners a, b, c and depths za, zb, zc (all
    broadcastable). The same arithmetic as `triangle_coordinates` and
    `perspective_barycentrics`, written on separate u and v arrays: XLA's CPU code is
    several times faster without the minor axis of size 2 or 3."""
    area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    area = jnp.where(jnp.abs(area) < TINY_AREA, TINY_AREA, area)
    w0 = ((cx - bx) * (pv - by) - (cy - by) * (pu - bx)) / area
    w1 = ((ax - cx) * (pv - cy) - (ay - cy) * (pu - cx)) / area
    w2 = 1.0 - w0 - w1
    inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
    dist2 = None
    for sx, sy, ex, ey in ((ax, ay, bx, by), (bx, by, cx, cy), (cx, cy, ax, ay)):
        ux, uy = ex - sx, ey - sy
        t = jnp.clip(((pu - sx) * ux + (pv - sy) * uy) / jnp.maximum(ux * ux + uy * uy, 1e-12),
                     0.0, 1.0)
        d2 = (pu - sx - t * ux) ** 2 + (pv - sy - t * uy) ** 2
        dist2 = d2 if dist2 is None else jnp.minimum(dist2, d2)
    # Depth only matters where the pixel is inside (then the barycentrics need no clip).
    z = 1.0 / (jnp.maximum(w0, 0) / za + jnp.maximum(w1, 0) / zb + jnp.maximum(w2, 0) / zc
               + 1e-20)
    return inside, dist2, z


def _compact(pixel, score, fid, size):
    """The fragments with pixel >= 0 moved to the front of arrays of static `size`
    (unused: pixel -1), and how many did not fit. Besides shrinking the K scatter rounds,
    this materialises the fragments: without it XLA fuses their tests into every round
    and recomputes them K times."""
    keep = pixel >= 0
    pos = jnp.where(keep, jnp.cumsum(keep) - 1, size)  # size: out of range, dropped
    out = lambda fill, x: jnp.full(size, fill, x.dtype).at[pos].set(x, mode="drop")  # noqa
    return out(-1, pixel), out(jnp.inf, score), out(0, fid), jnp.maximum(jnp.sum(keep) - size, 0)


def _splat_batch(tri_uv, tri_z, valid, *, image_size, radius, k, zfar, window, num_windows,
                 max_fragments):
    """`splat_select_faces` on a batch: tri_uv (B,F,3,2), tri_z (B,F,3), valid (B,F) ->
    ids (B,H,W,K), dropped (B,) (the batch shares its pools: each entry gets the total).

    The batch is folded into the face and pixel axes (pixel index b*H*W + v*W + u), so the
    scatters stay one-dimensional: XLA's CPU scatters and gathers with a batch dimension,
    as a plain vmap would make them, run several times slower."""
    num_batch, num_faces = valid.shape
    h, w = image_size
    fid, origin, used, dropped = _face_windows(
        tri_uv.reshape(-1, 3, 2), valid.reshape(-1), image_size, radius, window,
        num_batch * num_windows)
    offs = np.stack(np.meshgrid(np.arange(window), np.arange(window), indexing="xy"), -1)
    offs = offs.reshape(-1, 2).astype(np.float32)
    pu = origin[:, 0:1] + offs[:, 0]  # (N,W*W) pixel centres
    pv = origin[:, 1:2] + offs[:, 1]
    tri, tz = tri_uv.reshape(-1, 3, 2)[fid], tri_z.reshape(-1, 3)[fid]
    inside, dist2, z = _fragment_tests(*(tri[:, i, j, None] for i in range(3) for j in range(2)),
                                       *(tz[:, i, None] for i in range(3)), pu, pv)
    score = jnp.where(inside, z, zfar + dist2)  # lower is better; covering faces z < zfar
    keep = (used[:, None] & (inside | (dist2 <= radius * radius))
            & (pu <= w - 1) & (pv <= h - 1))
    batch = (fid // num_faces)[:, None]
    pixel = jnp.where(keep, (batch * h + pv.astype(jnp.int32)) * w + pu.astype(jnp.int32), -1)
    fids = jnp.broadcast_to((fid % num_faces)[:, None], pixel.shape)
    pixel, score, fids, lost = _compact(pixel.reshape(-1), score.reshape(-1), fids.reshape(-1),
                                        num_batch * max_fragments)
    ids = _topk_by_scatter(pixel, score, fids, num_batch * h * w, k, num_faces)
    total = jnp.broadcast_to(dropped + lost, (num_batch,))
    return ids.reshape(num_batch, h, w, k), total


def splat_select_faces(tri_uv, tri_z, valid, image_size, *, radius, faces_per_pixel, zfar,
                       window=None, num_windows=None, max_fragments=None, culled=False):
    """Stage 1 without tiles or loops: (...,H,W,K) face ids (-1: none) and the number of
    dropped windows / fragments (...,) (0: exact). No gradient flows here.

    Same choice as `select_faces` (covering faces nearest in depth first, then blurring
    ones nearest in 2D; ties to the lower face id): every face is evaluated at the pixels
    of its window(s) (`_face_windows`), fragments within the blur radius are kept
    (`_compact`), and the K best per pixel are picked by `_topk_by_scatter`. Work is
    num_windows x window^2 fragment tests plus K scatter rounds on the kept ones.

    tri_uv (...,F,3,2), tri_z (...,F,3), valid (...,F): leading dims, and any vmap over
    this function, become one folded batch (`_splat_batch`).
    window: static side in px (default `splat_window`); num_windows: static pool size per
    image (default 9F/8 + 64, or 5F/8 + 64 when `culled`: the caller culled back faces);
    max_fragments: kept fragments per image (default half the tested ones).
    """
    tri_uv, tri_z = jax.lax.stop_gradient(tri_uv), jax.lax.stop_gradient(tri_z)
    num_faces = valid.shape[-1]
    window = window or splat_window(radius, image_size)
    # Nearly every face needs one window at the intended sizes; about half of a closed
    # mesh faces the camera (at most 53 % over 192 views of the hand).
    num_windows = num_windows or (5 * num_faces // 8 if culled else 9 * num_faces // 8) + 64
    run = functools.partial(
        _splat_batch, image_size=tuple(image_size), radius=radius, k=faces_per_pixel,
        zfar=zfar, window=window, num_windows=num_windows,
        max_fragments=max_fragments or num_windows * window * window // 2)

    @jax.custom_batching.custom_vmap
    def select(tri_uv, tri_z, valid):
        lead = valid.shape[:-1]
        ids, dropped = run(tri_uv.reshape((-1,) + tri_uv.shape[-3:]),
                           tri_z.reshape((-1,) + tri_z.shape[-2:]),
                           valid.reshape((-1,) + valid.shape[-1:]))
        return ids.reshape(lead + ids.shape[1:]), dropped.reshape(lead)

    @select.def_vmap
    def _(axis_size, in_batched, *args):  # a vmap adds a leading dim: fold it in
        args = [a if b else jnp.broadcast_to(a, (axis_size,) + a.shape)
                for a, b in zip(args, in_batched)]
        return select(*args), (True, True)

    return select(tri_uv, tri_z, valid)


_DUMMY_TRI = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], np.float32)


def shade(face_ids, tri_uv, tri_z, faces, vertex_values, image_size, *, sigma, gamma,
          znear, zfar, soft=None):
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
    if (sigma > 0 if soft is None else soft):  # soft: static, for a traced sigma
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
              attributes=None, znear=1e-2, zfar=10.0, selection="tiles", window=None,
              num_windows=None, max_sigma=None, cull_backfaces=False, tile_size=8,
              max_pairs=None, tile_batch=16):
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
      selection: "tiles" (any mesh) or "splat" (small faces, ~5-10x faster; see the
        module docstring); both choose the same faces.
      window, num_windows: static knobs of the splat selection (`splat_select_faces`).
      max_sigma: static upper bound of sigma; when given, sigma may be a traced scalar
        (> 0), e.g. a schedule inside one compiled fit step; the selection radius is that
        of max_sigma.
      cull_backfaces: ignore faces seen from behind (exact for closed meshes).
      tile_size, max_pairs, tile_batch: memory / speed knobs of the tile selection (see
        `select_faces`).
    Returns dict: mask (H,W) soft silhouette; depth (H,W) camera z (0 where no face);
      normal (H,W,3) camera-frame unit normals from interpolated vertex normals (0 where no
      face); attributes (H,W,C) when given; face_ids (H,W,K); dropped_pairs (scalar: tile-face
      overlaps beyond max_pairs, or splat windows / fragments beyond their pools, that
      were ignored; 0 means the selection is exact: raise the knob if not).
    """
    verts = jnp.asarray(verts, jnp.float32)
    faces = jnp.asarray(faces, jnp.int32)
    K = jnp.asarray(K, jnp.float32)
    tri_uv, tri_z, valid = _face_screen_data(verts, faces, K, znear, cull_backfaces)
    radius = blur_radius(sigma if max_sigma is None else max_sigma)
    if selection == "splat":
        face_ids, dropped = splat_select_faces(
            tri_uv, tri_z, valid, image_size, radius=radius, faces_per_pixel=faces_per_pixel,
            zfar=zfar, window=window, num_windows=num_windows, culled=cull_backfaces)
    elif selection == "tiles":
        face_ids, dropped = select_faces(
            tri_uv, tri_z, valid, image_size, radius=radius, faces_per_pixel=faces_per_pixel,
            zfar=zfar, tile=tile_size, max_pairs=max_pairs, tile_batch=tile_batch)
    else:
        raise ValueError(f"selection must be 'splat' or 'tiles', not {selection!r}")
    values = vertex_normals(verts, faces)
    if attributes is not None:
        values = jnp.concatenate([values, jnp.asarray(attributes, jnp.float32)], axis=-1)
    out = shade(face_ids, tri_uv, tri_z, faces, values, image_size, sigma=sigma, gamma=gamma,
                znear=znear, zfar=zfar, soft=radius > 0)
    covered = jnp.any(face_ids >= 0, axis=-1)
    normal = jnp.where(covered[..., None], safe_normalize(out["values"][..., :3]), 0.0)
    result = dict(mask=out["mask"], depth=out["depth"], normal=normal, face_ids=face_ids,
                  dropped_pairs=dropped)
    if attributes is not None:
        result["attributes"] = out["values"][..., 3:]
    return result


@functools.partial(jax.jit, static_argnames=("image_size", "selection", "cull_backfaces",
                                             "num_windows"))
def _hard_render(verts, faces, K, *, image_size, selection, cull_backfaces, num_windows=None):
    return rasterize(verts, faces, K, image_size, sigma=0.0, faces_per_pixel=1,
                     selection=selection, cull_backfaces=cull_backfaces,
                     num_windows=num_windows)


@functools.partial(jax.jit, static_argnames=("image_size", "cull_backfaces"))
def _windows_needed(verts, faces, K, *, image_size, cull_backfaces, znear=1e-2):
    """The splat windows a hard render of this mesh needs (as `_face_windows` cuts them)."""
    tri_uv, _, valid = _face_screen_data(verts, faces, K, znear, cull_backfaces)
    _, grid = _window_grids(tri_uv, valid, image_size, 0.0, splat_window(0.0, image_size))
    return jnp.sum(grid[:, 0] * grid[:, 1])


def _splat_pool(verts, faces, K, image_size, cull_backfaces) -> int:
    """`_windows_needed`, rounded up to a power of two so that a mesh seen from several
    cameras shares one compiled program."""
    needed = int(_windows_needed(verts, faces, K, image_size=image_size,
                                 cull_backfaces=cull_backfaces))
    return 1 << int(np.ceil(np.log2(max(needed + 64, 256))))


def zbuffer(verts, faces, K, image_size, *, closed=None) -> dict:
    """A plain z-buffer render (hard mode, one face per pixel), exact for any mesh, on the
    host: the splat selection with a window pool sized for this view (`_splat_pool`;
    ~10x faster than the tiles on a 58k-face object at 128 px), redone with the tiles in
    the unlikely case that its fragment pool overflowed (`dropped_pairs` > 0).

    verts (V,3) camera frame, faces (F,3), K (3,3), image_size (H,W). closed: whether back
    faces may be culled (exact for a closed mesh seen from outside, ~1.6x faster); None:
    `is_closed(faces)` (pass it when rendering one mesh many times). Returns
    `rasterize`'s dict (mask, depth, normal, face_ids, dropped_pairs) of device arrays.
    """
    cull = is_closed(faces) if closed is None else bool(closed)
    size = tuple(int(s) for s in image_size)
    pool = _splat_pool(verts, faces, K, size, cull)
    out = _hard_render(verts, faces, K, image_size=size, selection="splat",
                       cull_backfaces=cull, num_windows=pool)
    if int(out["dropped_pairs"]) > 0:
        out = _hard_render(verts, faces, K, image_size=size, selection="tiles",
                           cull_backfaces=cull)
    return out

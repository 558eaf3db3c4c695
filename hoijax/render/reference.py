"""Brute-force numpy references for the renderers (tests and benchmarks, not speed)."""
from __future__ import annotations

import numpy as np


def pixel_directions(K: np.ndarray, image_size) -> np.ndarray:
    """(H,W,3) camera-frame ray directions (z = 1) through the pixel centres (u,v) = (j,i)."""
    h, w = image_size
    v, u = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    pix = np.stack([u, v, np.ones_like(u)], -1).astype(np.float64)
    return pix @ np.linalg.inv(np.asarray(K, np.float64)).T


def raycast_mesh(verts, faces, K, image_size, chunk=256):
    """Nearest ray-triangle hits (Moller-Trumbore) for every pixel of a pinhole camera.

    verts (V,3) camera frame, faces (F,3). Returns depth (H,W) camera z (inf: no hit),
    face (H,W) hit face id (-1: none) and bary (H,W,3) barycentrics of the hit.
    """
    dirs = pixel_directions(K, image_size).reshape(-1, 3)
    tri = np.asarray(verts, np.float64)[np.asarray(faces)]
    e1, e2, v0 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], tri[:, 0]
    depth = np.full(len(dirs), np.inf)
    face = np.full(len(dirs), -1)
    bary = np.zeros((len(dirs), 3))
    for s in range(0, len(dirs), chunk):
        d = dirs[s:s + chunk, None, :]
        p = np.cross(d, e2[None])
        det = np.sum(p * e1[None], -1)
        ok = np.abs(det) > 1e-15
        inv = 1.0 / np.where(ok, det, 1.0)
        tvec = -v0[None]  # ray origin is the camera centre
        b1 = np.sum(tvec * p, -1) * inv
        q = np.cross(tvec, e1[None])
        b2 = np.sum(d * q, -1) * inv
        t = np.sum(e2[None] * q, -1) * inv
        hit = ok & (b1 >= 0) & (b2 >= 0) & (b1 + b2 <= 1) & (t > 0)
        z = np.where(hit, t * d[..., 2], np.inf)
        k = np.argmin(z, axis=1)
        rows = np.arange(len(k))
        depth[s:s + chunk] = z[rows, k]
        face[s:s + chunk] = np.where(np.isfinite(z[rows, k]), k, -1)
        bary[s:s + chunk] = np.stack([1 - b1[rows, k] - b2[rows, k], b1[rows, k], b2[rows, k]], -1)
    h, w = image_size
    return depth.reshape(h, w), face.reshape(h, w), bary.reshape(h, w, 3)

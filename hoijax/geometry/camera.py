"""OpenCV pinhole cameras: x right, y down, z forward; intrinsics K in pixels.

- K has shape (..., 3, 3) only (a (4, 4) K_pix from a clip must be cropped to its
  top-left 3x3 first): [[fx, s, cx], [0, fy, cy], [0, 0, 1]]; the skew s is honoured.
- Pixel-centre convention (OpenCV's): the centre of pixel (row i, col j) is at
  (u, v) = (j, i); the image covers [-0.5, W - 0.5] x [-0.5, H - 0.5].
- `image_size` is always (H, W), static Python ints.
- `depth` is the camera-frame z coordinate (not the distance along the ray).
"""
import jax.numpy as jnp

from hoijax.geometry.math import clamp_away_from_zero, matmul, safe_normalize, transpose


def intrinsics(fx, fy, cx, cy):
    """K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] from broadcastable (...) arrays -> (..., 3, 3)."""
    fx, fy, cx, cy = jnp.broadcast_arrays(*(jnp.asarray(a, jnp.float32) for a in (fx, fy, cx, cy)))
    o, one = jnp.zeros_like(fx), jnp.ones_like(fx)
    rows = [jnp.stack([fx, o, cx], -1), jnp.stack([o, fy, cy], -1), jnp.stack([o, o, one], -1)]
    return jnp.stack(rows, -2)


def project(points_c, K, eps=1e-6):
    """Pixel coordinates and depth of camera-frame points.

    points_c (..., N, 3), K (..., 3, 3) -> (uv (..., N, 2), depth (..., N)).
    |z| is clamped to >= eps (keeping its sign) before dividing, so values and gradients
    stay finite at z = 0; points behind the camera (z < 0) project mirrored, as in OpenCV.
    """
    z = points_c[..., 2:]
    xy = points_c[..., :2] / clamp_away_from_zero(z, eps)
    xy1 = jnp.concatenate([xy, jnp.ones_like(z)], axis=-1)
    uv = matmul(xy1, transpose(K))[..., :2]
    return uv, points_c[..., 2]


def unproject(uv, depth, K):
    """Camera-frame points at z = depth through pixels uv.

    uv (..., N, 2), depth (..., N), K (..., 3, 3) -> (..., N, 3). Inverts `project`.
    """
    fx, fy = K[..., 0, 0, None], K[..., 1, 1, None]
    s, cx, cy = K[..., 0, 1, None], K[..., 0, 2, None], K[..., 1, 2, None]
    y = (uv[..., 1] - cy) / fy
    x = (uv[..., 0] - cx - s * y) / fx
    x, y = jnp.broadcast_arrays(x, y)
    return jnp.stack([x, y, jnp.ones_like(x)], axis=-1) * depth[..., None]


def pixel_grid(image_size):
    """(u, v) of all pixel centres, grid[i, j] = (j, i). (H, W) -> (H, W, 2) float32."""
    h, w = image_size
    u, v = jnp.meshgrid(jnp.arange(w, dtype=jnp.float32), jnp.arange(h, dtype=jnp.float32))
    return jnp.stack([u, v], axis=-1)


def pixel_rays(K, image_size, *, normalize=True):
    """Camera-frame rays through every pixel centre.

    K (..., 3, 3), image_size (H, W) -> (origins (..., H, W, 3) all zero,
    directions (..., H, W, 3)): unit length if `normalize`, else scaled to z = 1.
    """
    h, w = image_size
    uv = pixel_grid(image_size).reshape(h * w, 2)
    dirs = unproject(uv, jnp.ones((h * w,), jnp.float32), K)
    dirs = dirs.reshape(dirs.shape[:-2] + (h, w, 3))
    if normalize:
        dirs = safe_normalize(dirs)
    return jnp.zeros_like(dirs), dirs


def rays_to_frame(aTc, origins, directions, ray_ndim=2):
    """Moves camera-frame rays into frame a (e.g. pass wTc = invert_rigid(cTw)).

    aTc (..., 4, 4), origins / directions (..., *S, 3) where S holds the last `ray_ndim`
    dims before the 3 (default 2: (H, W) as from `pixel_rays`); batch dims broadcast.
    Returns (origins_a, directions_a), each (..., *S, 3); direction lengths are kept.
    """
    tf = aTc.reshape(aTc.shape[:-2] + (1,) * ray_ndim + (4, 4))
    r, t = tf[..., :3, :3], tf[..., :3, 3]
    return matmul(r, origins[..., None])[..., 0] + t, matmul(r, directions[..., None])[..., 0]


def rescale_intrinsics(K, old_size, new_size):
    """K for the same camera after resizing the image from old_size to new_size (H, W).

    With the pixel-centre convention, u' = s_x (u + 0.5) - 0.5, so fx' = s_x fx,
    s' = s_x s, cx' = s_x (cx + 0.5) - 0.5, and likewise fy', cy' with s_y = H' / H.
    K (..., 3, 3) -> (..., 3, 3).
    """
    sy, sx = new_size[0] / old_size[0], new_size[1] / old_size[1]
    scale = jnp.array([[sx, 0.0, 0.5 * sx - 0.5],
                       [0.0, sy, 0.5 * sy - 0.5],
                       [0.0, 0.0, 1.0]], dtype=K.dtype)
    return matmul(scale, K)

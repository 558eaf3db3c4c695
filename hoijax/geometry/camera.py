"""OpenCV pinhole cameras: x right, y down, z forward; intrinsics K in pixels.

- K has shape (..., 3, 3) only (a (4, 4) K_pix from a clip must be cropped to its
  top-left 3x3 first): [[fx, s, cx], [0, fy, cy], [0, 0, 1]]; the skew s is honoured.
- Pixel-centre convention (OpenCV's): the centre of pixel (row i, col j) is at
  (u, v) = (j, i); the image covers [-0.5, W - 0.5] x [-0.5, H - 0.5].
- `image_size` is always (H, W), static Python ints.
- `depth` is the camera-frame z coordinate (not the distance along the ray).

Everything is jax.numpy (jit / vmap / grad safe) except `look_at` and `orbit_camera`:
those place cameras in offline scene setup (synthetic clips, previews, figures), take
numpy or Python input, branch on the data and return numpy float64 (4, 4), so generated
data keeps its float64 precision.
"""
import jax.numpy as jnp
import numpy as np

from hoijax.geometry.math import clamp_away_from_zero, matmul, safe_normalize, transpose
from hoijax.geometry.transforms import make_transform


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


def look_at(eye, target, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """cTw (4, 4) numpy float64 of a camera at `eye` looking at `target` (world frame).

    eye, target, up (3,) -> (4, 4): camera z points from eye to target, x = z cross up
    (right), y = z cross x (down, so `up` appears up in the image). If z is parallel to
    `up`, the world z axis (then y) stands in for it. Raises ValueError if eye == target.
    """
    eye, target, up = (np.asarray(x, float) for x in (eye, target, up))
    z = target - eye
    length = np.linalg.norm(z)
    if not length > 0:
        raise ValueError(f"look_at: eye {eye} and target {target} coincide")
    z = z / length
    for axis in (up, np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0])):
        x = np.cross(z, axis)  # right = forward x up (OpenCV: x right, y down, z forward)
        if np.linalg.norm(x) >= 1e-8:
            break
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    cam = np.eye(4)
    cam[:3, :3] = np.stack([x, y, z])
    cam[:3, 3] = -cam[:3, :3] @ eye
    return cam


def orbit_camera(center, radius, azimuth_deg, elevation_deg,
                 up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """cTw (4, 4) numpy float64 of a camera on a sphere about `center` looking at it.

    center (3,); radius (metres); azimuth about `up` and elevation above the plane
    orthogonal to `up`, in degrees (azimuth 0 lies along up x (1, 0, 0), or up x (0, 0, 1)
    when `up` is close to the x axis).
    """
    az, el = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
    up = np.asarray(up, float)
    # An orthonormal frame with `up` as the pole.
    a = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 0.0, 1.0])
    a /= np.linalg.norm(a)
    b = np.cross(up, a)
    offset = radius * (np.cos(el) * (np.cos(az) * a + np.sin(az) * b) + np.sin(el) * up)
    return look_at(np.asarray(center) + offset, center, up)


def novel_view_camera(rotation, center, distance, focal_factor, size):
    """The prior's view of a hand: the cameras of its training data and of SDS.

    The hand frame is turned by `rotation` about `center` (hand frame), which then sits
    `distance` metres straight ahead: x_c = R (x_h - center) + (0, 0, distance). The square
    image is `size` pixels with focal `focal_factor * size` and its principal point at the
    image centre ((size - 1) / 2, pixel-centre convention).

    rotation (..., 3, 3), center (..., 3) (batch dims broadcast), distance and
    focal_factor scalars, size a Python int -> (cTh (..., 4, 4), K (3, 3)) float32.
    jit / vmap / grad safe (differentiable in rotation, center and distance).
    """
    rotation, center = jnp.asarray(rotation, jnp.float32), jnp.asarray(center, jnp.float32)
    ahead = jnp.asarray(distance, jnp.float32) * jnp.array([0.0, 0.0, 1.0], jnp.float32)
    cTh = make_transform(rotation, ahead - matmul(rotation, center[..., None])[..., 0])
    f = focal_factor * size
    c = (size - 1) / 2
    return cTh, intrinsics(f, f, c, c)

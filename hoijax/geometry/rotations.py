"""Rotation representations: axis-angle, 3x3 matrices, unit quaternions, 6D.

Conventions:
- Rotation matrices act on column vectors: x' = R @ x.
- Axis-angle `aa` (..., 3) is the rotation vector angle * unit_axis (radians).
- Quaternions are SCALAR-FIRST (w, x, y, z), Hamilton product; canonical form w >= 0.
- 6D (Zhou et al. 2019, "On the Continuity of Rotation Representations") is the first
  two COLUMNS of R concatenated: [R[:, 0], R[:, 1]] (note: pytorch3d uses rows).

All functions broadcast over leading dims and are jit / vmap / grad safe: small-angle
cases use the double-`jnp.where` trick with Taylor series, so values and gradients are
finite and accurate at and near zero angle.
"""
import jax
import jax.numpy as jnp

from hoijax.geometry.math import matmul, safe_normalize, safe_sqrt

# Squared-angle threshold below which Taylor series replace the closed forms in
# axis_angle_to_matrix / axis_angle_to_quaternion (t < ~0.032 rad). Series are kept to
# t^4, so their truncation error is ~t^6 / 5040 < 1e-13 in value and ~t^4 / 2520 < 4e-10
# in the derivative, far below float32 resolution. Above it the closed forms (written
# with half angles, so there is no 1 - cos cancellation) lose at most ~3 eps / t^2 < 2e-4
# relative accuracy in the derivative of the O(t^2) correction terms only.
_SMALL_ANGLE_SQ = 1e-3
# Squared |vector part| threshold in quaternion_to_axis_angle; the series of
# atan(n / w) / n is kept to n^2, truncation error ~n^4 / 5 < 2e-9.
_SMALL_VEC_SQ = 1e-4


def skew(v):
    """Cross-product matrix: skew(v) @ u == cross(v, u). (..., 3) -> (..., 3, 3)."""
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    o = jnp.zeros_like(x)
    rows = [jnp.stack([o, -z, y], -1), jnp.stack([z, o, -x], -1), jnp.stack([-y, x, o], -1)]
    return jnp.stack(rows, -2)


def _small_angle_split(t2):
    """(is_small, angle) with the angle computed from a safe t2 (1 where small)."""
    small = t2 < _SMALL_ANGLE_SQ
    return small, jnp.sqrt(jnp.where(small, 1.0, t2))


def axis_angle_to_matrix(aa):
    """Rodrigues' formula R = I + a K + b K^2, K = skew(aa). (..., 3) -> (..., 3, 3).

    a = sin(t) / t and b = (1 - cos t) / t^2 = (sin(t/2) / t)^2 * 2, with Taylor series
    below a small angle, so d R / d aa at 0 is exactly d skew.
    """
    t2 = jnp.sum(aa * aa, axis=-1)
    small, t = _small_angle_split(t2)
    a = jnp.where(small, 1.0 - t2 / 6.0 + t2 * t2 / 120.0, jnp.sin(t) / t)
    half = jnp.sin(0.5 * t) / t
    b = jnp.where(small, 0.5 - t2 / 24.0 + t2 * t2 / 720.0, 2.0 * half * half)
    k = skew(aa)
    eye = jnp.eye(3, dtype=k.dtype)
    return eye + a[..., None, None] * k + b[..., None, None] * matmul(k, k)


def axis_angle_to_quaternion(aa):
    """(w, x, y, z) = (cos(t/2), sin(t/2) aa / t). (..., 3) -> (..., 4)."""
    t2 = jnp.sum(aa * aa, axis=-1)
    small, t = _small_angle_split(t2)
    s = jnp.where(small, 0.5 - t2 / 48.0 + t2 * t2 / 3840.0, jnp.sin(0.5 * t) / t)
    w = jnp.where(small, 1.0 - t2 / 8.0 + t2 * t2 / 384.0, jnp.cos(0.5 * t))
    return jnp.concatenate([w[..., None], s[..., None] * aa], axis=-1)


def quaternion_canonical(q):
    """Flips q to the w >= 0 hemisphere (same rotation). (..., 4) -> (..., 4)."""
    return jnp.where(q[..., :1] < 0, -q, q)


def quaternion_to_axis_angle(q):
    """Unit-normalises q, then aa = 2 atan2(|v|, w) v / |v| with angle in [0, pi].

    (..., 4) -> (..., 3). A series is used for small |v| (no division by ~0).
    """
    q = quaternion_canonical(safe_normalize(q))
    w, v = q[..., 0], q[..., 1:]
    n2 = jnp.sum(v * v, axis=-1)
    small = n2 < _SMALL_VEC_SQ
    n = jnp.sqrt(jnp.where(small, 1.0, n2))
    # Small |v| implies w ~ 1 after normalisation; atan(n/w)/n = (1 - n^2/(3 w^2)) / w.
    # The 0.5 floor only matters for q = 0 (w = 0), which then maps to aa = 0.
    w_safe = jnp.where(small, jnp.maximum(w, 0.5), 1.0)
    series = 2.0 / w_safe * (1.0 - n2 / (3.0 * w_safe * w_safe))
    scale = jnp.where(small, series, 2.0 * jnp.arctan2(n, w) / n)
    return scale[..., None] * v


def quaternion_to_matrix(q):
    """Rotation matrix of q / |q|. (..., 4) -> (..., 3, 3)."""
    w, x, y, z = jnp.moveaxis(safe_normalize(q), -1, 0)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return jnp.stack([jnp.stack(r, -1) for r in rows], -2)


def matrix_to_quaternion(r):
    """Shepperd's method: branch on the largest of 4|w|^2, 4|x|^2, 4|y|^2, 4|z|^2.

    (..., 3, 3) -> (..., 4), unit norm, canonical w >= 0. All four candidates are
    computed with safe divisions and one is selected, so gradients stay finite.
    """
    m = [[r[..., i, j] for j in range(3)] for i in range(3)]
    d0, d1, d2 = m[0][0], m[1][1], m[2][2]
    q_abs = safe_sqrt(jnp.stack([1 + d0 + d1 + d2, 1 + d0 - d1 - d2,
                                 1 - d0 + d1 - d2, 1 - d0 - d1 + d2], -1))  # 2|w|, 2|x|...
    sq = q_abs * q_abs
    rows = jnp.stack([
        jnp.stack([sq[..., 0], m[2][1] - m[1][2], m[0][2] - m[2][0], m[1][0] - m[0][1]], -1),
        jnp.stack([m[2][1] - m[1][2], sq[..., 1], m[1][0] + m[0][1], m[0][2] + m[2][0]], -1),
        jnp.stack([m[0][2] - m[2][0], m[1][0] + m[0][1], sq[..., 2], m[1][2] + m[2][1]], -1),
        jnp.stack([m[1][0] - m[0][1], m[2][0] + m[0][2], m[2][1] + m[1][2], sq[..., 3]], -1),
    ], -2)  # (..., 4 candidates, 4)
    # The largest q_abs is >= 1 for a rotation, so the 0.1 floor only guards the others.
    candidates = rows / (2.0 * jnp.maximum(q_abs, 0.1))[..., None]
    best = jnp.argmax(q_abs, axis=-1)
    onehot = jnp.arange(4) == best[..., None]
    q = jnp.sum(jnp.where(onehot[..., None], candidates, 0.0), axis=-2)
    return safe_normalize(quaternion_canonical(q))


def matrix_to_axis_angle(r):
    """Rotation vector of R, angle in [0, pi], via the quaternion. (..., 3, 3) -> (..., 3).

    At angle pi both +aa and -aa are valid; the sign is whichever the quaternion gives.
    """
    return quaternion_to_axis_angle(matrix_to_quaternion(r))


def quaternion_multiply(p, q):
    """Hamilton product p * q (rotation q first, then p). (..., 4), (..., 4) -> (..., 4)."""
    pw, px, py, pz = jnp.moveaxis(p, -1, 0)
    qw, qx, qy, qz = jnp.moveaxis(q, -1, 0)
    return jnp.stack([
        pw * qw - px * qx - py * qy - pz * qz,
        pw * qx + px * qw + py * qz - pz * qy,
        pw * qy - px * qz + py * qw + pz * qx,
        pw * qz + px * qy - py * qx + pz * qw,
    ], -1)


def quaternion_conjugate(q):
    """(w, -x, -y, -z); the inverse rotation for unit q. (..., 4) -> (..., 4)."""
    return q * jnp.array([1.0, -1.0, -1.0, -1.0], dtype=q.dtype)


def rot6d_to_matrix(x):
    """Gram-Schmidt of the two 6D columns; R = [b1, b2, b1 x b2]. (..., 6) -> (..., 3, 3)."""
    a1, a2 = x[..., :3], x[..., 3:]
    b1 = safe_normalize(a1)
    b2 = safe_normalize(a2 - jnp.sum(b1 * a2, axis=-1, keepdims=True) * b1)
    b3 = jnp.cross(b1, b2)
    return jnp.stack([b1, b2, b3], axis=-1)


def matrix_to_rot6d(r):
    """First two columns of R, concatenated [c0, c1]. (..., 3, 3) -> (..., 6)."""
    return jnp.concatenate([r[..., :, 0], r[..., :, 1]], axis=-1)


def random_rotation(key, shape=()):
    """Rotation matrices uniform over SO(3): normalised standard-Gaussian quaternions.

    key a jax PRNG key, shape a tuple of batch dims -> (*shape, 3, 3) float32.
    """
    q = jax.random.normal(key, tuple(shape) + (4,))
    return quaternion_to_matrix(safe_normalize(q))

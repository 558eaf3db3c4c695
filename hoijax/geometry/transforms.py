"""4x4 homogeneous rigid transforms.

Naming: `aTb` maps points in frame b to frame a, x_a = aTb @ x_b, so
compose(aTb, bTc) = aTc and invert_rigid(aTb) = bTa. Leading dims broadcast.

All functions are jax.numpy, except that `apply_to_points` / `apply_to_directions` given
only numpy (or Python) inputs compute in numpy float64 and return numpy float64: data
generation is float64 numpy, and a detour through float32 would change generated data.
"""
import jax
import jax.numpy as jnp
import numpy as np

from hoijax.geometry.math import matmul, transpose


def make_transform(r, t):
    """[[R, t], [0, 1]]. R (..., 3, 3), t (..., 3) -> (..., 4, 4); batch dims broadcast."""
    batch = jnp.broadcast_shapes(r.shape[:-2], t.shape[:-1])
    dtype = jnp.result_type(r, t)
    r = jnp.broadcast_to(r, batch + (3, 3)).astype(dtype)
    t = jnp.broadcast_to(t, batch + (3,)).astype(dtype)
    top = jnp.concatenate([r, t[..., None]], axis=-1)
    bottom = jnp.broadcast_to(jnp.array([0, 0, 0, 1], dtype), batch + (1, 4))
    return jnp.concatenate([top, bottom], axis=-2)


def split_transform(tf):
    """(R (..., 3, 3), t (..., 3)) of a transform (..., 4, 4)."""
    return tf[..., :3, :3], tf[..., :3, 3]


def compose(aTb, bTc):
    """aTc = aTb @ bTc. (..., 4, 4), (..., 4, 4) -> (..., 4, 4)."""
    return matmul(aTb, bTc)


def invert_rigid(aTb):
    """bTa = [[R^T, -R^T t], [0, 1]] (assumes a rigid input). (..., 4, 4) -> (..., 4, 4)."""
    r, t = split_transform(aTb)
    r_inv = transpose(r)
    return make_transform(r_inv, -matmul(r_inv, t[..., None])[..., 0])


def _all_numpy(*arrays):
    """True if no argument is a jax array (or tracer): then numpy float64 is used."""
    return not any(isinstance(a, jax.Array) for a in arrays)


def apply_to_points(aTb, x_b):
    """x_a = R x_b + t. aTb (..., 4, 4), x_b (..., N, 3) -> (..., N, 3); batch dims
    broadcast (e.g. (T, 4, 4) with (V, 3) or (T, V, 3) -> (T, V, 3)).

    jax inputs: jnp at HIGHEST precision; numpy-only inputs: numpy float64.
    """
    if _all_numpy(aTb, x_b):
        aTb, x_b = np.asarray(aTb, np.float64), np.asarray(x_b, np.float64)
        return x_b @ np.swapaxes(aTb[..., :3, :3], -1, -2) + aTb[..., None, :3, 3]
    r, t = split_transform(aTb)
    return matmul(x_b, transpose(r)) + t[..., None, :]


def apply_to_directions(aTb, d_b):
    """d_a = R d_b (rotation only). aTb (..., 4, 4), d_b (..., N, 3) -> (..., N, 3).

    jax inputs: jnp at HIGHEST precision; numpy-only inputs: numpy float64.
    """
    if _all_numpy(aTb, d_b):
        aTb, d_b = np.asarray(aTb, np.float64), np.asarray(d_b, np.float64)
        return d_b @ np.swapaxes(aTb[..., :3, :3], -1, -2)
    r, _ = split_transform(aTb)
    return matmul(d_b, transpose(r))


def is_rigid(tf, atol=1e-5):
    """Whether tf (..., 4, 4) is rigid: R^T R = I, det R = +1, last row [0, 0, 0, 1].

    Returns a bool array of shape (...). Works on numpy or jax inputs.
    """
    tf = jnp.asarray(tf)
    r = tf[..., :3, :3]
    eye = jnp.eye(3, dtype=r.dtype)
    ortho = jnp.all(jnp.abs(matmul(transpose(r), r) - eye) <= atol, axis=(-2, -1))
    det = jnp.abs(jnp.linalg.det(r) - 1.0) <= atol
    last = jnp.array([0, 0, 0, 1], dtype=tf.dtype)
    bottom = jnp.all(jnp.abs(tf[..., 3, :] - last) <= atol, axis=-1)
    return ortho & det & bottom

"""Small numeric helpers with finite values and gradients everywhere.

All functions are pure `jax.numpy`, broadcast over leading dims, and are safe under
`jit`, `vmap` and `grad`.
"""
import functools

import jax
import jax.numpy as jnp

HIGHEST = jax.lax.Precision.HIGHEST
TINY = float(jnp.finfo(jnp.float32).tiny)  # ~1.2e-38, smallest normal float32.
EPS = float(jnp.finfo(jnp.float32).eps)  # ~1.2e-7, float32 machine epsilon.


def matmul(a, b):
    """`a @ b` at full float32 precision (jnp.matmul may use bf16 passes on TPU/GPU)."""
    return jnp.matmul(a, b, precision=HIGHEST)


def transpose(m):
    """Swaps the last two axes: (..., n, m) -> (..., m, n)."""
    return jnp.swapaxes(m, -1, -2)


@jax.custom_jvp
def safe_sqrt(x):
    """sqrt(max(x, 0)) whose derivative is finite everywhere (zero for x <= 0)."""
    return jnp.sqrt(jnp.maximum(x, 0.0))


@safe_sqrt.defjvp
def _safe_sqrt_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    y = safe_sqrt(x)
    scale = jnp.where(x > 0, 0.5 / jnp.sqrt(jnp.maximum(x, TINY)), 0.0)
    return y, scale * x_dot


def safe_norm(v, axis=-1, keepdims=False):
    """Euclidean norm along `axis`; value and gradient finite at v = 0 (gradient 0)."""
    return safe_sqrt(jnp.sum(v * v, axis=axis, keepdims=keepdims))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def safe_normalize(v, axis=-1, eps=EPS):
    """v / |v| along `axis`; 0 for v = 0. (..., n) -> (..., n).

    The value is exact down to |v|^2 ~ 1e-38. The derivative is the exact tangent-space
    projection (I - n n^T) / |v|, with |v|^2 floored at `eps` so it stays finite (at most
    1 / sqrt(eps) ~ 3e3 in size) for tiny or zero vectors.
    """
    sq = jnp.sum(v * v, axis=axis, keepdims=True)
    return v / jnp.sqrt(jnp.maximum(sq, TINY))


@safe_normalize.defjvp
def _safe_normalize_jvp(axis, eps, primals, tangents):
    (v,), (v_dot,) = primals, tangents
    n = safe_normalize(v, axis, eps)
    sq = jnp.sum(v * v, axis=axis, keepdims=True)
    radial = jnp.sum(n * v_dot, axis=axis, keepdims=True)
    return n, (v_dot - n * radial) / jnp.sqrt(jnp.maximum(sq, eps))


def clamp_away_from_zero(x, eps):
    """Moves x into |x| >= eps keeping its sign (0 counts as positive)."""
    return jnp.where(x >= 0, jnp.maximum(x, eps), jnp.minimum(x, -eps))

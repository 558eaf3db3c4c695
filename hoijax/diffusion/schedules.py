"""DDPM noise schedules and the forward (noising) process.

x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t in {0 .. T-1}, abar_t = prod_{s<=t} (1 - b_s).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import struct


@struct.dataclass
class Schedule:
    """betas (T,), alphas_cumprod (T,) float32; `num_steps` T is static."""

    betas: jnp.ndarray
    alphas_cumprod: jnp.ndarray
    num_steps: int = struct.field(pytree_node=False, default=1000)


def make_schedule(kind: str = "linear", num_steps: int = 1000) -> Schedule:
    """"linear" (DDPM: beta 1e-4 .. 0.02 scaled to T steps) or "cosine" (Nichol & Dhariwal)."""
    if kind == "linear":
        scale = 1000.0 / num_steps
        betas = np.linspace(scale * 1e-4, scale * 0.02, num_steps, dtype=np.float64)
    elif kind == "cosine":
        s = 0.008
        steps = np.arange(num_steps + 1, dtype=np.float64) / num_steps
        f = np.cos((steps + s) / (1 + s) * np.pi / 2) ** 2
        betas = np.clip(1 - f[1:] / f[:-1], 0.0, 0.999)
    else:
        raise ValueError(f"schedule {kind!r}: use 'linear' or 'cosine'")
    abar = np.cumprod(1.0 - betas)
    return Schedule(jnp.asarray(betas, jnp.float32), jnp.asarray(abar, jnp.float32), num_steps)


def linear_schedule(beta_start: float, beta_end: float, num_steps: int) -> Schedule:
    """Linear betas beta_start .. beta_end over num_steps, as given (not rescaled to T)."""
    betas = np.linspace(beta_start, beta_end, num_steps)
    return Schedule(jnp.asarray(betas, jnp.float32),
                    jnp.asarray(np.cumprod(1 - betas), jnp.float32), num_steps)


def _per_sample(values, t, ndim):
    """values (T,) gathered at t (B,) -> (B, 1, ..., 1) broadcastable to an ndim batch."""
    return values[t].reshape(t.shape + (1,) * (ndim - t.ndim))


def q_sample(schedule: Schedule, x0, t, noise):
    """x_t for clean x0 (B,...), integer t (B,), noise like x0."""
    abar = _per_sample(schedule.alphas_cumprod, t, x0.ndim)
    return jnp.sqrt(abar) * x0 + jnp.sqrt(1.0 - abar) * noise


def predict_x0_eps(schedule: Schedule, x_t, t, output, prediction: str):
    """Network output -> (x0, eps) estimates, for `prediction` "epsilon" or "x0"."""
    abar = _per_sample(schedule.alphas_cumprod, t, x_t.ndim)
    if prediction == "epsilon":
        eps = output
        x0 = (x_t - jnp.sqrt(1.0 - abar) * eps) / jnp.sqrt(abar)
    elif prediction == "x0":
        x0 = output
        eps = (x_t - jnp.sqrt(abar) * x0) / jnp.sqrt(1.0 - abar)
    else:
        raise ValueError(f"prediction {prediction!r}: use 'epsilon' or 'x0'")
    return x0, eps

"""The denoising training loss."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from hoijax.diffusion.schedules import Schedule, q_sample


def denoising_loss(denoise, params, schedule: Schedule, x0, cond, key, *,
                   prediction="epsilon", t=None):
    """Mean squared error of the denoiser's epsilon (or x0) prediction.

    denoise(params, x_t, t, cond) -> like x0. x0 (B,H,W,C) clean object images; cond the
    conditioning dict; t (B,) optional fixed timesteps (default uniform over the schedule).
    Returns the scalar loss.
    """
    k_t, k_noise = jax.random.split(key)
    if t is None:
        t = jax.random.randint(k_t, x0.shape[:1], 0, schedule.num_steps)
    noise = jax.random.normal(k_noise, x0.shape, x0.dtype)
    x_t = q_sample(schedule, x0, t, noise)
    target = noise if prediction == "epsilon" else x0
    out = denoise(params, x_t, t, cond)
    return jnp.mean((out.astype(jnp.float32) - target) ** 2)

"""DDIM sampling with classifier-free guidance."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hoijax.diffusion.schedules import Schedule, predict_x0_eps


def guided_prediction(denoise, params, schedule, x_t, t, cond, null_tokens, guidance,
                      prediction):
    """(x0, eps) with classifier-free guidance: eps_u + s (eps_c - eps_u), both branches in
    one batched call. null_tokens (L,) the null prompt; guidance s (1 = no guidance)."""
    if guidance == 1.0:
        out = denoise(params, x_t, t, cond)
        return predict_x0_eps(schedule, x_t, t, out, prediction)
    b = x_t.shape[0]
    uncond = dict(cond, tokens=jnp.broadcast_to(null_tokens, cond["tokens"].shape))
    both = jax.tree.map(lambda a, u: jnp.concatenate([a, u]), cond, uncond)
    out = denoise(params, jnp.concatenate([x_t, x_t]), jnp.concatenate([t, t]), both)
    _, eps = predict_x0_eps(schedule, jnp.concatenate([x_t, x_t]), jnp.concatenate([t, t]),
                            out, prediction)
    eps = eps[b:] + guidance * (eps[:b] - eps[b:])
    abar = schedule.alphas_cumprod[t].reshape((b,) + (1,) * (x_t.ndim - 1))
    x0 = (x_t - jnp.sqrt(1.0 - abar) * eps) / jnp.sqrt(abar)
    return x0, eps


def ddim_timesteps(num_train: int, num: int):
    """(t, t_next) int32 arrays (num,): `num` timesteps evenly spaced from T-1 down to 0
    (rounded in float64), each with the next one, -1 after the last."""
    steps = np.linspace(num_train - 1, 0, num).round().astype(np.int32)
    return steps, np.concatenate([steps[1:], [-1]]).astype(np.int32)


def ddim_step(schedule: Schedule, x, x0, t, t_next, sigma=0.0, noise=0.0):
    """x_t -> x_{t_next} given the x0 estimate (any shape): DDIM with eps recomputed from
    (x, x0), so a clipped or guided x0 stays consistent; sigma > 0 adds `noise`. At
    t_next = -1 it returns x0."""
    abar = schedule.alphas_cumprod[t]
    abar_next = jnp.where(t_next >= 0, schedule.alphas_cumprod[jnp.maximum(t_next, 0)], 1.0)
    eps = (x - jnp.sqrt(abar) * x0) / jnp.sqrt(1 - abar)
    return (jnp.sqrt(abar_next) * x0
            + jnp.sqrt(jnp.maximum(1 - abar_next - sigma ** 2, 0.0)) * eps + sigma * noise)


def ddim_sample(denoise, params, schedule: Schedule, cond, null_tokens, key, shape, *,
                num_steps=50, guidance=4.0, eta=0.0, prediction="epsilon", clip_x0=True):
    """Draws samples (shape = (B,H,W,C)) by DDIM over `num_steps` evenly spaced timesteps.

    eta 0 is deterministic given the key's initial noise; clip_x0 clamps the x0 estimate to
    [-1.5, 1.5] (the geometry images' range) at every step. Same key, same samples.
    """
    steps, next_steps = ddim_timesteps(schedule.num_steps, num_steps)
    k_init, k_loop = jax.random.split(key)
    x = jax.random.normal(k_init, shape, jnp.float32)

    def step(x, inputs):
        t, t_next, k = inputs
        tb = jnp.full(shape[:1], t, jnp.int32)
        x0, eps = guided_prediction(denoise, params, schedule, x, tb, cond, null_tokens,
                                    guidance, prediction)
        if clip_x0:
            x0 = jnp.clip(x0, -1.5, 1.5)
        abar = schedule.alphas_cumprod[t]
        abar_next = jnp.where(t_next >= 0, schedule.alphas_cumprod[jnp.maximum(t_next, 0)],
                              1.0)
        sigma = eta * jnp.sqrt((1 - abar_next) / (1 - abar) * (1 - abar / abar_next))
        return ddim_step(schedule, x, x0, t, t_next, sigma, jax.random.normal(k, shape)), None

    keys = jax.random.split(k_loop, num_steps)
    x, _ = jax.lax.scan(step, x, (jnp.asarray(steps), jnp.asarray(next_steps), keys))
    return x

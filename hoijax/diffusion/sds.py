"""Score distillation sampling (SDS): with the 2D geometry-image prior (`sds_loss`) and
on the 3D interaction grid (`latent_sds_loss`).

A rendering x (differentiable w.r.t. the scene) is noised to a random timestep t, the prior
denoises it (classifier-free guidance) to x0_hat, and the loss pulls x toward x0_hat with
the target held fixed (stop-gradient):

  loss = w(t) * sum_m lambda_m * sum_pixels (x_m - sg(x0_hat_m))^2 / 2,

so d loss / d x = w(t) * lambda_m * (x - x0_hat) at every pixel and channel: the rendering
moves toward the denoised target. The sum (not a mean) over pixels is what DreamFusion-
style SDS implementations do (they set each rendered element's gradient directly), so the
weight [0.01] keeps its meaning next to the mean-reduced mask loss [10]; a mean makes the
prior's pull per pixel H*W times weaker (about 1000x at 32x32, where the prior then did nothing).
lambda_m are per-modality weights (mask / normal / depth channels), w(t) the "bell"
weighting sqrt(1 - abar_t) sqrt(abar_t) (or 1), and t is drawn uniformly from
[t_min, t_max] as fractions of the schedule, with t_max annealed by the caller
(`annealed_max_t`).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from hoijax.diffusion.sampler import guided_prediction
from hoijax.diffusion.schedules import Schedule, q_sample
from hoijax.render.geometry_images import DEPTH_SLICE, MASK_SLICE, NORMAL_SLICE


def annealed_max_t(step, total_steps, start=0.98, end=0.5):
    """Linear anneal of the largest SDS timestep fraction from `start` to `end`."""
    frac = jnp.clip(step / jnp.maximum(total_steps, 1), 0.0, 1.0)
    return start + (end - start) * frac


def sds_loss(denoise, params, schedule: Schedule, rendered, cond, null_tokens, key, *,
             t_range=(0.02, 0.98), guidance=4.0, weights=(1.0, 1.0, 1.0), weighting="bell",
             prediction="epsilon"):
    """SDS loss of a rendered object geometry image (B,H,W,5); see the module docstring.

    weights: (mask, normal, depth) multipliers. t_range: fractions of the schedule (may be
    traced). Returns (loss, aux) with aux = dict(t, target).
    """
    x0_hat, t = denoised_target(denoise, params, schedule, rendered, cond, null_tokens, key,
                                t_range=t_range, guidance=guidance, prediction=prediction)
    target = jax.lax.stop_gradient(x0_hat)
    sq = 0.5 * (rendered - target) ** 2
    per_mod = [jnp.sum(sq[..., s], axis=(1, 2, 3)) for s in (MASK_SLICE, NORMAL_SLICE,
                                                                 DEPTH_SLICE)]
    loss = sum(wm * pm for wm, pm in zip(weights, per_mod))
    return jnp.mean(timestep_weight(schedule, t, weighting) * loss), dict(t=t, target=target)


def denoised_target(denoise, params, schedule: Schedule, x, cond, null_tokens, key, *,
                    t_range, guidance, prediction):
    """What SDS pulls toward: x (B,...) with its gradient stopped, noised to t drawn
    uniformly from t_range (fractions of the schedule) and denoised with CFG -> (x0_hat
    (B,...), t (B,)). Every SDS of hoijax (2D, 3D, grasps) draws from here."""
    k_t, k_noise = jax.random.split(key)
    t = draw_timesteps(k_t, schedule, x.shape[0], t_range)
    xs = jax.lax.stop_gradient(x)
    x_t = q_sample(schedule, xs, t, jax.random.normal(k_noise, x.shape))
    x0_hat, _ = guided_prediction(denoise, params, schedule, x_t, t, cond, null_tokens,
                                  guidance, prediction)
    return x0_hat, t


def draw_timesteps(key, schedule: Schedule, batch: int, t_range):
    """(batch,) int timesteps drawn uniformly from t_range (fractions of the schedule)."""
    lo, hi = t_range
    frac = jax.random.uniform(key, (batch,), minval=lo, maxval=hi)
    return jnp.clip((frac * schedule.num_steps).astype(jnp.int32), 0, schedule.num_steps - 1)


def timestep_weight(schedule: Schedule, t, weighting="bell"):
    """w(t): "bell" sqrt(1 - abar_t) sqrt(abar_t), or "uniform" 1."""
    abar = schedule.alphas_cumprod[t]
    return jnp.sqrt(1 - abar) * jnp.sqrt(abar) if weighting == "bell" else jnp.ones_like(abar)


def latent_sds_loss(denoise, params, schedule: Schedule, latent, fixed, cond, null_tokens,
                    key, *, t_range=(0.25, 0.75), guidance=4.0, weighting="bell",
                    prediction="x0"):
    """SDS on the object channels of G-HOP's interaction grid (docs/design.md §11).

    latent (B,r,r,r,D): the object's encoded SDF grid (differentiable w.r.t. the scene);
    fixed (B,r,r,r,C): the hand's skeletal field, held fixed. The prior was trained to
    denoise the whole grid x0 = [latent ; fixed], so the whole grid is noised to t and
    denoised (CFG); only the object channels are pulled toward the estimate:

      loss = w(t) * sum_elements (latent - sg(x0_hat[..., :D]))^2 / 2,

    so d loss / d latent = w(t) (latent - x0_hat_latent), per element (summed, as
    `sds_loss`). Returns (loss, aux) with aux = dict(t, target (B,r,r,r,D))."""
    x0_hat, t = denoised_target(denoise, params, schedule, jnp.concatenate([latent, fixed], -1),
                                cond, null_tokens, key, t_range=t_range, guidance=guidance,
                                prediction=prediction)
    target = jax.lax.stop_gradient(x0_hat[..., :latent.shape[-1]])
    per_sample = jnp.sum(0.5 * (latent - target) ** 2, axis=tuple(range(1, latent.ndim)))
    return jnp.mean(timestep_weight(schedule, t, weighting) * per_sample), dict(t=t,
                                                                                target=target)

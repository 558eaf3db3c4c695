"""Cascaded DDIM sampling of two hands with classifier-free and anti-penetration guidance
(docs/design.md §12).

1. The anchor (left hand) by DDIM with the condition dropped: p(x_a). Its root is then set
   canonical (identity, wrist at 0).
2. The right hand by DDIM conditioned on the anchor, at every step:
   - CFG on the relative rotation and translation only (rep.ROOT):
     x0[root] = x0_u[root] + w (x0_c[root] - x0_u[root]); articulation and shape from x0_c;
   - anti-penetration guidance: x0 <- x0 - lambda_k grad_x0 L_pen, lambda_k = scale *
     decay^(K-1-k) (reference 7 * 0.9^(41-k); at the last step only the translation moves
     at full rate, the rest at a tenth, as in the reference), where L_pen = unit * sum of
     GMoF(depth, rho) over the overlapping sphere pairs of the two hands' proxies
     (hoijax.hand.proxy). The proxies come from the skeletons alone, so the guidance costs
     about as much as the network: it stays on by default.

The non-cascaded baseline (config.mode "joint") denoises both hands at once (no CFG; the
same anti-penetration guidance on both hands' parameters).

Everything is one jitted `lax.scan` per stage, vmapped over the batch; large N runs in
chunks of fixed size (one compilation).
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from hoijax.checks import options_from
from hoijax.diffusion.sampler import ddim_step, ddim_timesteps
from hoijax.hand import proxy as P
from hoijax.twohand import representation as rep


@dataclasses.dataclass(frozen=True)
class Guidance:
    """Sampling options (configs/two_hand_prior.py `sample`)."""

    ddim_steps: int = 42
    guidance: float = 1.1  # CFG weight on the relative root (1: none)
    anti_penetration: bool = True
    ap_scale: float = 7.0
    ap_decay: float = 0.9
    ap_rho: float = 0.05
    ap_unit: float = 1e3


def ap_weights(g: Guidance) -> np.ndarray:
    """(K,) lambda_k = scale * decay^(K-1-k)."""
    k = np.arange(g.ddim_steps)
    return (g.ap_scale * g.ap_decay ** (g.ddim_steps - 1 - k)).astype(np.float32)


def hand_spheres(model, proxy, v, frame=None):
    """Proxy spheres (centres (B,K,3), radii (B,K)) of hands (B,64) (unnormalised) in
    their own frame, or composed with the anchor `frame` (R (B,3,3), wrist (B,3))."""
    R, w = rep.frame_of(v)
    if frame is not None:
        R, w = frame[0] @ R, frame[1] + jnp.einsum("bij,bj->bi", frame[0], w)
    joints = P.posed_skeleton(model, v[:, rep.POSE], v[:, rep.BETAS], R, w)
    return P.proxy_spheres(proxy, joints)


def penetration_loss(models, proxies, anchor, second, rho, unit, anchor_spheres=None):
    """Per pair L_pen (B,) of unnormalised hand vectors (B,64): anchor = left hand (its
    frame), second = right hand relative to it. anchor_spheres: the anchor's proxy spheres
    when already computed (they do not change during the second stage)."""
    (lm, rm), (lp, rp) = models, proxies
    cl, rl = anchor_spheres or hand_spheres(lm, lp, anchor)
    cr, rr = hand_spheres(rm, rp, second, rep.frame_of(anchor))
    return unit * P.proxy_penetration(cl, rl, cr, rr, rho)


def _last_step_mask(dim, hands):
    """At the last step the reference moves only the translation at the full rate."""
    m = np.full(dim, 0.1, np.float32)
    for h in range(hands):
        m[h * rep.HAND_DIM + rep.TRANS.start:h * rep.HAND_DIM + rep.TRANS.stop] = 1.0
    return m


def _root_cfg(prior, x, t, cond, has_cond, obj, scale):
    """x0 with classifier-free guidance on the relative root only (rep.ROOT): both
    branches in one batched call; the rest of the vector from the conditioned branch."""
    n = x.shape[0]
    both = prior.denoise(prior.params, jnp.concatenate([x, x]), jnp.concatenate([t, t]),
                         jnp.concatenate([cond, cond]),
                         jnp.concatenate([has_cond, jnp.zeros_like(has_cond)]),
                         jnp.concatenate([obj, obj]))
    xc, xu = both[:n], both[n:]
    root = np.zeros(rep.HAND_DIM, bool)
    root[rep.ROOT] = True
    return jnp.where(root, xu + scale * (xc - xu), xc)


def _anti_penetration(prior, models, proxies, g: Guidance, x0, k, anchor):
    """x0 (normalised) moved down the penetration loss's gradient by lambda_k (the last
    step only on the dimensions `_last_step_mask` allows); anchor: (unnormalised anchor
    vectors, their spheres), or None in joint mode (both hands in x0)."""
    mean, std = jnp.asarray(prior.mean), jnp.asarray(prior.std)
    joint = prior.config.mode == "joint"

    def loss(x0n):
        if joint:
            a = rep.canonical_anchor(x0n[:, :64] * std + mean)
            return jnp.sum(penetration_loss(models, proxies, a, x0n[:, 64:] * std + mean,
                                            g.ap_rho, g.ap_unit))
        return jnp.sum(penetration_loss(models, proxies, anchor[0], x0n * std + mean,
                                        g.ap_rho, g.ap_unit, anchor[1]))

    last = _last_step_mask(x0.shape[-1], 2 if joint else 1)
    is_last = np.arange(g.ddim_steps) == g.ddim_steps - 1
    scale = jnp.asarray(ap_weights(g))[k] * jnp.where(jnp.asarray(is_last)[k],
                                                      jnp.asarray(last), 1.0)
    return x0 - scale * jax.grad(loss)(x0)


def _stage(prior, models, proxies, g: Guidance, key, cond, has_cond, obj, anchor, guided):
    """One DDIM pass from noise (B, dim) -> x0 (normalised): the anchor hand (condition
    dropped) or the second hand given it; `guided` adds the root CFG (cascaded mode) and
    the anti-penetration steps."""
    joint = prior.config.mode == "joint"
    n, dim = obj.shape[0], rep.vector_dims(prior.config.mode)
    steps, next_steps = ddim_timesteps(prior.schedule.num_steps, g.ddim_steps)

    def body(x, inputs):
        t, t_next, k = inputs
        tb = jnp.full((n,), t)
        if guided and g.guidance != 1.0 and not joint:  # no condition to guide by
            x0 = _root_cfg(prior, x, tb, cond, has_cond, obj, g.guidance)
        else:
            x0 = prior.denoise(prior.params, x, tb, cond, has_cond, obj)
        if guided and g.anti_penetration:
            x0 = _anti_penetration(prior, models, proxies, g, x0, k, anchor)
        return ddim_step(prior.schedule, x, x0, t, t_next), None

    x, _ = jax.lax.scan(body, jax.random.normal(key, (n, dim)),
                        (jnp.asarray(steps), jnp.asarray(next_steps),
                         jnp.arange(g.ddim_steps)))
    return x  # at t = -1 the DDIM update returns x0 itself


def make_sampler(prior, models, proxies, g: Guidance):
    """A jitted fn(key, obj (B,)) -> (a, b) unnormalised (B,64) for the prior's mode:
    cascaded, the anchor drawn unconditionally, then the second hand given it; joint,
    both at once."""
    mean, std = jnp.asarray(prior.mean), jnp.asarray(prior.std)
    stage = functools.partial(_stage, prior, models, proxies, g)

    @jax.jit
    def sample(key, obj):
        n = obj.shape[0]
        k1, k2 = jax.random.split(key)
        no_cond, no_flag = jnp.zeros((n, 64)), jnp.zeros((n,), bool)
        if prior.config.mode == "joint":
            x = stage(k1, no_cond, no_flag, obj, None, True)
            return rep.canonical_anchor(x[:, :64] * std + mean), x[:, 64:] * std + mean
        anchor = rep.canonical_anchor(stage(k1, no_cond, no_flag, obj, None, False) * std
                                      + mean)
        spheres = hand_spheres(models[0], proxies[0], anchor) if g.anti_penetration else None
        xb = stage(k2, (anchor - mean) / std, jnp.ones((n,), bool), obj, (anchor, spheres),
                   True)
        return anchor, xb * std + mean

    return sample


def sample_pairs(prior, models, num: int, *, seed=0, obj_index=0, chunk=2000,
                 guidance: Guidance | None = None):
    """num pairs -> (a, b) numpy (num,64) unnormalised; chunks of fixed size."""
    g = guidance or options_from(Guidance, prior.config.sample)
    proxies = (guidance_proxy(models[0]), guidance_proxy(models[1]))
    fn = make_sampler(prior, models, proxies, g)
    chunk = min(chunk, num)
    a_out, b_out = [], []
    for i, start in enumerate(range(0, num, chunk)):
        obj = jnp.full((chunk,), obj_index, jnp.int32)
        a, b = fn(jax.random.fold_in(jax.random.key(seed), i), obj)
        take = min(chunk, num - start)
        a_out.append(np.asarray(a)[:take]), b_out.append(np.asarray(b)[:take])
    return np.concatenate(a_out), np.concatenate(b_out)


_PROXY = {}
# Two spheres per bone for the guidance (46 per hand, 2116 pairs): the overlaps that matter
# are centimetres deep, and the guidance costs in proportion to the pairs.
GUIDANCE_FRACTIONS = (0.25, 0.75)


def guidance_proxy(model):
    """The sphere proxy the anti-penetration guidance uses (cached per model)."""
    key = (model.name, model.side, model.num_verts)
    if key not in _PROXY:
        _PROXY[key] = P.sphere_proxy(model, GUIDANCE_FRACTIONS)
    return _PROXY[key]



"""Hand-object generation from a category word with the 3D interaction-grid prior (G-HOP;
docs/design.md §11.2): DDIM samples of the whole interaction grid, the object latent
decoded to an SDF grid and meshed, the hand fitted to the sampled skeletal field.

Frames: everything is in the MANO hand frame `h` of the zero-rotation hand (the grid's
frame, x_h = c + s x_n), metres; the hand's MANO parameters have zero global_orient and
transl there.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from hoijax.diffusion.sampler import ddim_sample
from hoijax.interaction.fit import fit_hand_to_field
from hoijax.interaction.frame import HAND_SCALE


@functools.partial(jax.jit, static_argnames=("denoise", "shape", "num_steps", "guidance",
                                             "prediction"))
def _sample(params, schedule, tokens, null, key, *, denoise, shape, num_steps, guidance,
            prediction):
    return ddim_sample(denoise, params, schedule, dict(tokens=tokens), null, key, shape,
                       num_steps=num_steps, guidance=guidance, prediction=prediction,
                       clip_x0=False)


def sample_grids(prior, categories, key, *, num_steps=None, guidance=None) -> np.ndarray:
    """(B, r, r, r, D+20) DDIM samples, one per entry of `categories` (a name, or None /
    an unknown name for the null prompt): [object latent / std ; hand field]."""
    tokens = jnp.asarray(prior.tokens(list(categories)))
    null = jnp.asarray(prior.tokens([None])[0])
    r = prior.config.model.resolution
    shape = (len(categories), r, r, r, prior.config.model.in_channels)
    return np.asarray(_sample(
        prior.params, prior.schedule, tokens, null, key, denoise=prior.denoise, shape=shape,
        num_steps=int(num_steps or prior.config.sample.ddim_steps),
        guidance=float(prior.config.sample.guidance if guidance is None else guidance),
        prediction=prior.config.diffusion.prediction))


def has_hand(prior, x, tol=0.5) -> np.ndarray:
    """(B,) bool: whether each sample's hand field is a hand, not the "no hand" field (all
    zeros: the prior also models objects alone). A real field is +1 almost everywhere
    (mean |value| ~ 0.9); tol on the mean |value|."""
    from hoijax.interaction.hand_field import is_no_hand
    return ~np.asarray(is_no_hand(jnp.asarray(sample_fields(prior, x)), tol))


def sample_with_hands(prior, categories, key, *, rounds=4, num_steps=None, guidance=None):
    """`sample_grids`, with samples whose hand field came out empty redrawn (fresh noise)
    up to `rounds` times in all. Returns (samples, has_hand (B,) bool after the last
    round)."""
    x = np.array(sample_grids(prior, categories, key, num_steps=num_steps, guidance=guidance))
    ok = has_hand(prior, x)
    for r in range(1, rounds):
        if ok.all():
            break
        redo = sample_grids(prior, list(categories), jax.random.fold_in(key, r),
                            num_steps=num_steps, guidance=guidance)  # same shape: no recompile
        fresh = has_hand(prior, redo)
        take = ~ok & fresh
        x[take] = redo[take]
        ok = ok | fresh
    return x, ok


def decode_objects(prior, x, batch=16) -> np.ndarray:
    """(B,r,r,r,D+20) samples -> (B,R,R,R) object SDF grids (the truncated channel)."""
    d = prior.latent_dim
    decode = jax.jit(prior.decode)
    return np.concatenate([np.asarray(decode(jnp.asarray(x[i:i + batch, ..., :d])))
                           for i in range(0, len(x), batch)])


def sample_fields(prior, x) -> np.ndarray:
    """(B,r,r,r,D+20) samples -> (B,r,r,r,20) hand fields clipped to [-1, 1]."""
    return np.clip(x[..., prior.latent_dim:], -1.0, 1.0)


def fit_hands(model, fields, half_extent, *, betas=None, steps=300) -> dict:
    """Fits MANO articulations to (B,r,r,r,20) fields (`fit_hand_to_field`, from the flat
    hand): dict of (B,...) numpy arrays (hand_pose, field_error, ...)."""
    betas = jnp.zeros(10) if betas is None else jnp.asarray(betas, jnp.float32)
    r = fields.shape[1]
    fit = jax.jit(jax.vmap(lambda f: fit_hand_to_field(
        model, f, betas, jnp.zeros(45), resolution=r, half_extent=half_extent, steps=steps)))
    return {k: np.asarray(v) for k, v in fit(jnp.asarray(fields)).items()}


def grid_mesh(grid, half_extent, center, scale=HAND_SCALE):
    """The zero level set of an (R,R,R) grid channel by marching cubes, in the hand frame
    (m): (verts (V,3), faces (F,3)) outward-facing, or None when the grid has no surface."""
    import skimage.measure
    grid = np.array(grid, np.float32)  # a writeable copy (skimage refuses read-only)
    if not (grid.min() < 0 < grid.max()):
        return None
    step = 2 * half_extent * scale / grid.shape[0]
    v, f, _, _ = skimage.measure.marching_cubes(grid, 0.0, spacing=(step,) * 3)
    # skimage orders the triangles outward for a field that is negative inside
    return v + np.asarray(center) - half_extent * scale + step / 2, f

"""Hand-object generation from a category word with the 3D interaction-grid prior (G-HOP;
docs/design.md §11.2): DDIM samples of the whole interaction grid, the object latent
decoded to an SDF grid and meshed, the hand fitted to the sampled skeletal field.

Frames: everything is in the MANO hand frame `h` of the zero-rotation hand (the grid's
frame, x_h = c + s x_n), metres; the hand's MANO parameters have zero global_orient and
transl there.
"""
from __future__ import annotations

import functools
import os
import time

import jax
import jax.numpy as jnp
import mediapy
import numpy as np
import skimage.measure

from hoijax import viz
from hoijax.diffusion.sampler import ddim_sample
from hoijax.geometry.mesh import write_obj
from hoijax.grasp.tools import grasp_picture
from hoijax.hand import mano_forward
from hoijax.interaction.fit import fit_hand_to_field
from hoijax.interaction.frame import HAND_SCALE
from hoijax.interaction.hand_field import hand_frame_center, is_no_hand


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
    grid = np.array(grid, np.float32)  # a writeable copy (skimage refuses read-only)
    if not (grid.min() < 0 < grid.max()):
        return None
    step = 2 * half_extent * scale / grid.shape[0]
    v, f, _, _ = skimage.measure.marching_cubes(grid, 0.0, spacing=(step,) * 3)
    # skimage orders the triangles outward for a field that is negative inside
    return v + np.asarray(center) - half_extent * scale + step / 2, f


def generate(prior, model, category, num, key, *, ddim_steps=None, guidance=None,
             fit_steps=300, log=print) -> dict:
    """`num` hands with objects for a category (None: the null prompt) -> dict(hand_pose
    (N,45), hands (N,V,3) hand-frame vertices, meshes: per sample (verts, faces) or None,
    field_error (N,), has_hand (N,) bool, seconds_sample, seconds)."""
    start = time.time()
    x, has_hand = sample_with_hands(prior, [category] * num, key, num_steps=ddim_steps,
                                    guidance=guidance)
    seconds_sample = time.time() - start
    grids = decode_objects(prior, x)
    fitted = fit_hands(model, sample_fields(prior, x), prior.half_extent, steps=fit_steps)
    center = np.asarray(hand_frame_center(model, jnp.zeros(10)))
    hands = np.asarray(jax.jit(jax.vmap(lambda p: mano_forward(model, p, jnp.zeros(10))
                                        .vertices))(jnp.asarray(fitted["hand_pose"])))
    meshes = [grid_mesh(g, prior.half_extent, center) for g in grids]
    return dict(hand_pose=np.asarray(fitted["hand_pose"], np.float32), hands=hands,
                meshes=meshes, field_error=np.asarray(fitted["field_error"], np.float32),
                has_hand=np.asarray(has_hand), seconds_sample=seconds_sample,
                seconds=time.time() - start)


def write_samples(out, result: dict, faces, category) -> None:
    """OUT/sample_KK/{hand,object}.obj (object.obj absent without a surface), samples.npz
    (MANO parameters in the hand frame, field_error, has_object, has_hand) and samples.png
    (up to 8 samples)."""
    num = len(result["hands"])
    for k in range(num):
        folder = os.path.join(out, f"sample_{k:02d}")
        os.makedirs(folder, exist_ok=True)
        write_obj(os.path.join(folder, "hand.obj"), result["hands"][k], faces)
        mesh, path = result["meshes"][k], os.path.join(folder, "object.obj")
        if mesh is not None:
            write_obj(path, *mesh)
        elif os.path.exists(path):
            os.remove(path)
    zeros = np.zeros((num, 3), np.float32)
    np.savez(os.path.join(out, "samples.npz"), hand_pose=result["hand_pose"],
             betas=np.zeros((num, 10), np.float32), global_orient=zeros, transl=zeros,
             field_error=result["field_error"],
             has_object=np.array([m is not None for m in result["meshes"]]),
             has_hand=result["has_hand"])
    empty = (np.zeros((0, 3)), np.zeros((0, 3), int))
    images = [grasp_picture([result["hands"][k]], faces, *(result["meshes"][k] or empty),
                            [f"{category or 'null prompt'} #{k} " + (
                                f"field rmse {result['field_error'][k]:.2f}"
                                if result["has_hand"][k] else "no hand sampled")],
                            size=160, cols=1)
              for k in range(min(num, 8))]
    mediapy.write_image(os.path.join(out, "samples.png"), viz.grid(images, min(4, num)))

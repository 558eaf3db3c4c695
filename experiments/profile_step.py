"""Profiles one reconstruction step: each part jitted alone (value and gradient, warm),
then the whole step with and without SDS, on the README demo clip (synthetic:mug).

  python experiments/profile_step.py                         # default config
  python experiments/profile_step.py --config=configs/reconstruct.py --tag=after \
      --results=experiments/results/profile_step.json

Parts (per step, as the fit runs them): the hand rasterization of `frames_per_step`
frames at the fitting size, the object volume rendering of `rays_per_frame` rays per frame,
the eikonal term, the 2D SDS branch (novel-view renders + the prior's two UNet calls), the
3D SDS branch (the SDF network on the 32^3 interaction grid, the VQ-VAE encoder, the 3D
UNet's two calls), the Adam update; then the fit's one compiled step (with the config's
SDS weights: `:grid` for the 3D prior, `:both`) with the SDS terms switched off and on.
Each figure is the median of --repeats warm calls (ms). The parts overlap a little with
the step (shared hand skinning), so they need not add up to it exactly.
"""
from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs",
                           "reconstruct.py"), "Reconstruction config.")
_REPEATS = flags.DEFINE_integer("repeats", 10, "Warm calls per part (median).")
_TAG = flags.DEFINE_string("tag", "current", "Name of this profile in the results file.")
_RESULTS = flags.DEFINE_string("results", "experiments/results/profile_step.json",
                               "JSON file the profile is merged into (by --tag).")


def timed(fn, *args, repeats):
    """Median wall ms of fn(*args) over `repeats` warm calls (after one compile call)."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(1e3 * (time.perf_counter() - t0))
    return float(np.median(times))


def _grad_of(loss_fn):
    """jit(grad) of a scalar function of params."""
    return jax.jit(jax.grad(lambda p, *a: loss_fn(p, *a)))


def main(argv):
    del argv
    from hoijax.geometry.transforms import apply_to_points
    from hoijax.hand import load_hand_model
    from hoijax.priors.grid import load_grid_prior
    from hoijax.priors.image import load_prior
    from hoijax.recon import objective as obj_mod
    from hoijax.recon import scene
    from hoijax.recon.data import prepare_clip, prompt_category
    from hoijax.recon.fit import make_step, scene_optimizer
    from hoijax.recon.init import initialise_scene
    from hoijax.recon.priors import Priors
    from hoijax.recon.run import load_jobs
    from hoijax.render.rasterize import rasterize
    from hoijax.runtime import enable_compilation_cache

    enable_compilation_cache()
    config = _CONFIG.value
    model = load_hand_model("right")
    prior = load_prior(config.prior or None)
    priors = Priors(prior, load_grid_prior(config.grid_prior or None))
    job, = load_jobs(["synthetic:mug"], "runs/profile_step", model)
    clip = job.clip
    data, _ = prepare_clip(clip, model, config.render.image_size,
                           prior.tokens(prompt_category(clip.category)), lam=config.init.lam,
                           grid_tokens=priors.grid_tokens(prompt_category(clip.category)))
    params = initialise_scene(data, model, config)
    objective = obj_mod.Objective.from_config(config)
    render, sampling = objective.render, objective.sampling
    faces = jnp.asarray(model.faces)
    key = jax.random.key(0)
    reps = _REPEATS.value
    size = render.image_size
    F = sampling.frames_per_step
    parts = {}

    # Hand rasterization of F frames (fwd + bwd w.r.t. the hand params), drawn as the fit
    # draws it (`objective.hand_layer` where the code has it).
    def draw_hand(verts_c, k):
        if hasattr(obj_mod, "hand_layer"):
            return obj_mod.hand_layer(verts_c, np.asarray(model.faces), k, size,
                                      render.sigma, render.sigma, render.faces_per_pixel)
        return rasterize(verts_c, faces, k, (size, size), sigma=render.sigma,
                         faces_per_pixel=render.faces_per_pixel)

    def hand_loss(p):
        verts_h, _ = scene.hand_vertices(model, p)
        cTh = scene.cTh_matrices(p, data.cTh0)
        K = scene.intrinsics(p, data.K0)
        out = jax.vmap(lambda v, c, k: draw_hand(apply_to_points(c, v), k)["mask"])(
            verts_h[:F], cTh[:F], K[:F])
        return jnp.mean(out)
    parts["hand_raster"] = timed(_grad_of(hand_loss), params, repeats=reps)

    # Object volume rendering of F x rays_per_frame rays.
    def object_loss(p, k):
        hTo = scene.hTo_matrices(p)
        cTh = scene.cTh_matrices(p, data.cTh0)
        dirs = jax.random.normal(k, (F, sampling.rays_per_frame, 3)) * 0.05
        dirs = dirs + jnp.array([0.0, 0.0, 1.0])
        dirs = dirs / jnp.linalg.norm(dirs, axis=-1, keepdims=True)
        out = jax.vmap(lambda c, d, kk: obj_mod.object_layer(p["sdf"], c, d, kk, render))(
            cTh[:F] @ hTo[:F], dirs, jax.random.split(k, F))
        return jnp.mean(out["mask"]) + jnp.mean(out["depth"])
    parts["object_volume"] = timed(_grad_of(object_loss), params, key, repeats=reps)

    # Eikonal at F x eikonal_points points.
    def eik_loss(p, k):
        pts = p["sdf"]["center"] + 0.05 * jax.random.normal(k, (F, 64, 8, 3))
        keys = jax.random.split(k, F)
        return obj_mod.eikonal_on_samples(p["sdf"], pts, keys, sampling, render)
    parts["eikonal"] = timed(_grad_of(eik_loss), params, key, repeats=reps)

    # The SDS branch.
    def sds_loss(p, k, pp):
        verts_h, _ = scene.hand_vertices(model, p)
        return obj_mod.sds_term(p, data, model, verts_h, scene.hTo_matrices(p), prior, pp,
                                k, 300, render, objective.sds)
    parts["sds_branch"] = timed(_grad_of(sds_loss), params, key, prior.params,
                                repeats=reps)

    # The 3D prior's SDS branch (interaction grid: SDF network on the grid, encoder, the
    # 3D UNet's two calls).
    def grid_sds_loss(p, k, pp):
        _, joints = scene.hand_vertices(model, p)
        return obj_mod.grid_sds_term(p, data, model, joints, scene.hTo_matrices(p),
                                     priors.grid, pp, k, objective.grid_sds)
    parts["grid_sds_branch"] = timed(_grad_of(grid_sds_loss), params, key,
                                     priors.params()["grid"], repeats=reps)

    # The optimizer update alone.
    tx = scene_optimizer(config.optim.lr)
    opt_state = tx.init(params)
    update = jax.jit(lambda g, s, p: tx.update(g, s, p))
    parts["adam_update"] = timed(update, params, opt_state, params, repeats=reps)

    # Whole steps, as fit_clips runs them (one clip, stacked).
    stack = lambda t: jax.tree.map(lambda x: jnp.asarray(x)[None], t)  # noqa: E731
    sdata = stack(data)
    step = make_step(model, priors, objective, tx, with_sds=True)
    prior_params = priors.params()
    for flag in (False, True):
        state = dict(params=stack(params), opt_state=jax.vmap(tx.init)(stack(params)))
        state, _, _ = step(state, sdata, prior_params, key, 0, flag)  # compile
        jax.block_until_ready(state)
        times = []
        for i in range(reps):
            t0 = time.perf_counter()
            state, terms, _ = step(state, sdata, prior_params, key, i + 1, flag)
            jax.block_until_ready(terms)
            times.append(1e3 * (time.perf_counter() - t0))
        parts["step_sds" if flag else "step_plain"] = float(np.median(times))

    every = config.sds.every
    frac = (config.num_steps - config.sds.warmup) / max(config.num_steps, 1) / every
    mean_step = (1 - frac) * parts["step_plain"] + frac * parts["step_sds"]
    parts["mean_step_estimate"] = mean_step
    parts["fit_seconds_estimate"] = mean_step * config.num_steps / 1e3
    record = dict(config=dict(image_size=size, frames_per_step=F,
                              rays_per_frame=sampling.rays_per_frame,
                              samples=render.num_samples + render.num_importance,
                              num_steps=config.num_steps, sds=config.loss.sds,
                              sds_grid=config.loss.sds_grid),
                  ms=parts, date=time.strftime("%Y-%m-%d %H:%M"),
                  devices=str(jax.devices()))
    print(f"{'part':22s} ms")
    for k, v in parts.items():
        print(f"{k:22s} {v:9.1f}")
    results = {}
    if os.path.exists(_RESULTS.value):
        with open(_RESULTS.value) as f:
            results = json.load(f)
    results[_TAG.value] = record
    os.makedirs(os.path.dirname(_RESULTS.value) or ".", exist_ok=True)
    with open(_RESULTS.value, "w") as f:
        json.dump(results, f, indent=1)
    print(f"wrote {_RESULTS.value} [{_TAG.value}]")


if __name__ == "__main__":
    app.run(main)

"""Figures of the 3D interaction-grid prior (G-HOP; docs/design.md §11).

  python experiments/bench_grid_prior.py --parts=autoencoder,denoiser,samples \
      [--prior hoijax/assets/grid_prior] [--ae_data runs/grid_ae/data] [--data runs/grid_data]

- autoencoder: occupancy IoU (sdf < 0 on the 32^3 grid) and mean |SDF error| (mm) at grid
  points within 2 cm of the surface, per category, on held-out objects (index % 8 == 0,
  never trained on) of the autoencoder's data (random placements) and of the grasp data
  (the hand-held grids the prior sees);
- denoiser: held-out denoising loss of the EMA parameters at t = 250 / 500 / 750 with the
  right prompt and the null prompt, next to an untrained network of the same config
  (fixed noise, the training loss: object-latent MSE + hand-field MSE);
- samples: per category, 8 DDIM samples from noise with the prompt (50 steps, guidance 4):
  the object latent decoded to an SDF grid, the hand fitted to the sampled skeletal field
  (`interaction.fit_hand_to_field`), and the penetration depth of the fitted hand's
  vertices into the decoded object (trilinear on the grid; deepest vertex per sample,
  mean over the 8), beside the same measure for held-out ground-truth grasps; a picture
  (experiments/results/grid_prior_samples.png: per category a held-out ground-truth grasp,
  then two samples: object meshed by marching cubes, hand fitted to the sampled field).
Writes experiments/results/grid_prior.json (merged per part).
"""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from benchlib import RESULTS_DIR, default_path, write_results

from hoijax.runtime import enable_compilation_cache

_PARTS = flags.DEFINE_list("parts", ["autoencoder", "denoiser", "samples"], "What to run.")
_PRIOR = flags.DEFINE_string("prior", None, "Grid prior folder (default: the shipped one).")
_AUTOENCODER = flags.DEFINE_string("autoencoder", None, "An autoencoder folder alone "
                                   "(--parts=autoencoder before a prior exists).")
_AE_DATA = flags.DEFINE_string("ae_data", "runs/grid_ae/data", "Autoencoder grid data.")
_DATA = flags.DEFINE_string("data", "runs/grid_data", "Grasp grid data (with hands).")
_PER_CATEGORY = flags.DEFINE_integer("per_category", 8, "Generated samples per category.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")
_OUT = flags.DEFINE_string("out", default_path("grid_prior"), "Results JSON.")
HELD_OUT_EVERY = 8


def held_out(data, every=HELD_OUT_EVERY):
    mask = data["grasp"] % every == 0
    return {k: v[mask] for k, v in data.items() if k != "manifest"}


def autoencoder_part(prior) -> dict:
    from hoijax.data.grid_data import load_grid_data
    from hoijax.priors.grid import load_autoencoder
    from hoijax.priors.grid_autoencoder_train import held_out_figures
    ae = load_autoencoder(_AUTOENCODER.value) if _AUTOENCODER.value else prior.autoencoder
    out = {}
    for name, path in (("placements", _AE_DATA.value), ("grasps", _DATA.value)):
        data = load_grid_data(path)
        held = held_out(data)
        t = time.time()
        figures = held_out_figures(ae.vq, ae.params, held, data["manifest"]["categories"])
        out[name] = dict(num_grids=int(len(held["grasp"])), **figures,
                         seconds=time.time() - t)
        print(name, {k: round(v, 3) for k, v in figures.items() if "/" not in k})
    return out


def denoiser_part(prior) -> dict:
    from hoijax.data.grid_data import load_grid_data
    from hoijax.models.text import NULL_PROMPT, category_tokens, tokenize
    from hoijax.priors import grid_train
    data = load_grid_data(_DATA.value)
    held = held_out(data)
    x0 = grid_train.prior_targets(prior.autoencoder, held)
    right = category_tokens(prior.categories)[held["category"]]
    null = np.broadcast_to(tokenize(NULL_PROMPT), right.shape)
    _, untrained = grid_train.init_model(prior.config)
    out = dict(num_samples=int(len(x0)))
    for name, params in (("trained", prior.params), ("untrained", untrained)):
        for prompt, tokens in (("prompt", right), ("null", null)):
            losses = grid_train.held_out_losses(
                prior.denoise, params, prior.schedule, x0, tokens, prior.latent_dim,
                prior.config.diffusion.prediction)
            out[f"{name}/{prompt}"] = {str(t): v for t, v in losses.items()}
            print(name, prompt, {t: round(v, 4) for t, v in losses.items()})
    return out


def sample_latents(prior, categories, per_category, key):
    """(C*n, r, r, r, D+20) DDIM samples with the prompt, C*n tokens in category order."""
    from hoijax.grasp.generate import sample_grids
    return sample_grids(prior, [c for c in categories for _ in range(per_category)], key)


def penetration_m(model, sdf_grid, hand_pose, betas, half_extent):
    """Deepest penetration (m, >= 0) of a MANO hand's vertices into an SDF grid (R,R,R)
    in the normalised frame (trilinear, clamped at the border)."""
    from hoijax.hand.model import mano_forward
    from hoijax.interaction.frame import grid_coordinates, to_normalised
    from hoijax.interaction.hand_field import hand_frame_center
    from hoijax.interaction.object_grid import denormalise_sdf
    verts = mano_forward(model, hand_pose, betas).vertices
    x_n = to_normalised(verts, hand_frame_center(model, betas))
    coords = grid_coordinates(x_n, sdf_grid.shape[0], half_extent)
    values = jax.scipy.ndimage.map_coordinates(sdf_grid, list(coords.T), order=1,
                                               mode="nearest")
    return jnp.maximum(-denormalise_sdf(jnp.min(values)), 0.0)


def hand_meshes(model, poses):
    from hoijax.hand.model import mano_forward
    return np.asarray(jax.jit(jax.vmap(lambda p: mano_forward(model, p, jnp.zeros(10))
                                       .vertices))(jnp.asarray(poses)))


def samples_part(prior) -> dict:
    from hoijax.data.grid_data import load_grid_data
    from hoijax.grasp.generate import decode_objects, fit_hands, sample_fields
    from hoijax.hand import load_hand_model
    from hoijax.interaction.hand_field import is_no_hand
    model = load_hand_model("right")
    half = prior.half_extent
    categories = prior.categories
    n = _PER_CATEGORY.value
    t = time.time()
    x = sample_latents(prior, categories, n, jax.random.key(_SEED.value))
    t_sample = time.time() - t
    grids = decode_objects(prior, x)
    fields = jnp.asarray(sample_fields(prior, x))
    betas = jnp.zeros(10)
    t = time.time()
    fitted = fit_hands(model, fields, half, steps=300)
    t_fit = time.time() - t
    pen = jax.jit(jax.vmap(lambda g, p: penetration_m(model, g, p, betas, half)))
    depth = np.asarray(pen(jnp.asarray(grids), fitted["hand_pose"]))
    no_hand = np.asarray(jax.vmap(is_no_hand)(fields))
    # Reference: held-out ground-truth grasps, same measure on their true grids.
    data = load_grid_data(_DATA.value)
    held = held_out(data)
    gt_depth = np.asarray(pen(jnp.asarray(held["object"]), jnp.asarray(held["hand_pose"])))
    out = dict(per_category={}, sample_seconds=t_sample, fit_seconds=t_fit)
    for c, name in enumerate(categories):
        s = slice(c * n, (c + 1) * n)
        gt = gt_depth[held["category"] == c]
        occupied = (grids[s] < 0).mean(axis=(1, 2, 3))
        out["per_category"][name] = dict(
            penetration_mm=float(depth[s].mean() * 1e3),
            penetrating_fraction=float((depth[s] > 0.002).mean()),
            gt_penetration_mm=float(gt.mean() * 1e3) if gt.size else None,
            field_fit_rmse=float(np.asarray(fitted["field_error"])[s].mean()),
            no_hand_fraction=float(no_hand[s].mean()),
            object_occupancy=float(occupied.mean()))
    per = out["per_category"].values()
    out["mean_penetration_mm"] = float(np.mean([p["penetration_mm"] for p in per]))
    out["mean_gt_penetration_mm"] = float(np.mean([p["gt_penetration_mm"] for p in per
                                                   if p["gt_penetration_mm"] is not None]))
    print("penetration mm", round(out["mean_penetration_mm"], 2), "gt",
          round(out["mean_gt_penetration_mm"], 2))
    picture(model, grids, np.asarray(fitted["hand_pose"]), categories, n, half, held)
    return out


def _cell(model, faces, hand, grid, half, center, cam, size):
    """One render: the grid's zero level set (marching cubes) and a hand mesh."""
    from hoijax import viz
    from hoijax.grasp.generate import grid_mesh
    verts, tris = [hand], [faces]
    colors = [np.tile([0.93, 0.72, 0.58], (len(hand), 1))]
    mesh = grid_mesh(grid, half, center)
    if mesh is not None:
        v, f = mesh
        verts.append(v)
        tris.append(f + len(hand))
        colors.append(np.tile([0.35, 0.55, 0.85], (len(v), 1)))
    return viz.render_mesh(np.concatenate(verts), np.concatenate(tris), cam, size=size,
                           focal=1.7 * size, colors=np.concatenate(colors))


def picture(model, grids, poses, categories, n, half, held, per_cell=2, size=150):
    """Per category: a held-out ground-truth grasp (its grid meshed, its hand), then
    `per_cell` generated samples (decoded object meshed, hand fitted to the field)."""
    import mediapy

    from hoijax import viz
    from hoijax.interaction.hand_field import hand_frame_center
    center = np.asarray(hand_frame_center(model, jnp.zeros(10)))
    cam = viz.look_at(center + np.array([0.0, -0.45, 0.15]), center, up=(0.0, 0.0, 1.0))
    faces = np.asarray(model.faces)
    pick = [i for c in range(len(categories)) for i in range(c * n, c * n + per_cell)]
    hands = hand_meshes(model, poses[pick])
    gt_index = [int(np.flatnonzero(held["category"] == c)[0]) if np.any(
        held["category"] == c) else None for c in range(len(categories))]
    gt_hands = hand_meshes(model, held["hand_pose"][[i or 0 for i in gt_index]])
    cells = []
    for c, name in enumerate(categories):
        if gt_index[c] is not None:
            cells.append((f"{name}: data", _cell(model, faces, gt_hands[c],
                                                 held["object"][gt_index[c]], half, center,
                                                 cam, size)))
        else:
            cells.append((f"{name}: data", np.full((size, size, 3), 255, np.uint8)))
        for j in range(per_cell):
            k = c * per_cell + j
            cells.append(("generated", _cell(model, faces, hands[k], grids[pick[k]], half,
                                             center, cam, size)))
    path = f"{RESULTS_DIR}/grid_prior_samples.png"
    mediapy.write_image(path, viz.titled_grid(cells, 2 * (1 + per_cell), size, top=0.98,
                                              hspace=0.1))
    print(f"wrote {path}")


def main(argv):
    del argv
    from hoijax.priors.grid import load_grid_prior
    enable_compilation_cache()
    only_ae = _AUTOENCODER.value and _PARTS.value == ["autoencoder"]
    prior = None if only_ae else load_grid_prior(_PRIOR.value)
    results = dict(prior=_PRIOR.value or "hoijax/assets/grid_prior")
    if only_ae:
        results["autoencoder_folder"] = _AUTOENCODER.value
    for part, fn in (("autoencoder", autoencoder_part), ("denoiser", denoiser_part),
                     ("samples", samples_part)):
        if part in _PARTS.value:
            t = time.time()
            results[part] = fn(prior)
            results[part]["part_seconds"] = time.time() - t
            write_results(results, _OUT.value, merge=True)


if __name__ == "__main__":
    app.run(main)

"""Training the interaction grid's 3D VQ-VAE (hoijax.models.vqvae; docs/design.md §11):
`python -m hoijax.train_prior --config=configs/grid_autoencoder.py` calls `run`, which
trains on the harness (`hoijax.priors.loop`) and exports an autoencoder folder that
`hoijax.priors.grid.load_autoencoder` reads.

Loss: L1 between the reconstructed and the true truncated SDF grid, weighted 1 +
surface_weight inside the truncation band (the surface is what matters; the saturated
+-1 region is most of the volume), plus the codebook and commitment losses. The train
state is {step, params, opt_state, usage}: `usage` is the EMA of each code's share of the
latent vectors, and every model.reinit_every steps the codes below
dead_code_threshold / K are re-initialised to encoder outputs of the batch.

Held-out figures (grasps index % data.held_out_every == 0: objects never trained on):
occupancy IoU (sdf < 0 on the grid), the IoU with the surface thickened by half a voxel
(`grid_metrics`), and the mean |SDF error| in mm at grid points within 2 cm of the true
surface, overall and per category.
"""
from __future__ import annotations

import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hoijax.checks import FRACTION, NON_NEGATIVE, POSITIVE_INT, check_fields, int_at_least, one_of
from hoijax.data.grid_data import load_grid_data, write_grid_data
from hoijax.interaction.object_grid import denormalise_sdf
from hoijax.models.vqvae import code_usage, create_vqvae, make_vqvae_fns, reinit_dead_codes
from hoijax.parallel import check_batch_size
from hoijax.priors import folder, loop
from hoijax.priors.grid import LATENT_FILE
from hoijax.runtime import repo_config

CONFIG_RULES = {
    **loop.TRAINING_RULES,
    "surface_weight": NON_NEGATIVE,
    "data.held_out_every": int_at_least(2),
    "model.resolution": int_at_least(8),
    "model.channels": POSITIVE_INT,
    "model.num_res_blocks": POSITIVE_INT,
    "model.stem_stride": one_of(1, 2),
    "model.latent_dim": POSITIVE_INT,
    "model.codebook_size": int_at_least(2),
    "model.commitment": NON_NEGATIVE,
    "model.dead_code_threshold": FRACTION,
    "model.reinit_every": POSITIVE_INT,
    "model.usage_decay": FRACTION,
}
NEAR_SURFACE = 0.5  # grid value |v| < 0.5: within 2 cm of the surface (T s / 2)
SHELL = 0.117  # grid value of 4.7 mm (half the CPU grid's 9.4 mm voxel): the shell IoU
GRID_KEYS = ("object", "category", "grasp")
MAX_STD_SAMPLES = 512  # training grids encoded to measure the latent's std


def check_config(config) -> None:
    """Raises ValueError naming the first bad field of a grid autoencoder config."""
    check_fields(config, CONFIG_RULES)
    factor = downsampling(config.model)
    if config.model.resolution % factor:
        raise ValueError(f"config.model.resolution={config.model.resolution}: must divide "
                         f"by the downsampling factor {factor}")


def downsampling(model_config) -> int:
    """Grid resolution / latent resolution."""
    return model_config.stem_stride * 2 ** (len(model_config.channel_mult) - 1)


def init_state(config, tx) -> tuple:
    """-> (vq fns, state dict)."""
    graphdef, params = create_vqvae(config.model, jax.random.key(config.seed))
    vq = make_vqvae_fns(graphdef, config.model.commitment)
    k = config.model.codebook_size
    return vq, dict(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=loop.init_optimizer(params, tx),
                    usage=jnp.full((k,), 1.0 / k, jnp.float32))


def reconstruction_loss(x_hat, x, surface_weight):
    """Band-weighted L1 between grids (B,R,R,R)."""
    w = 1.0 + surface_weight * (jnp.abs(x) < 0.999)
    return jnp.mean(w * jnp.abs(x_hat - x))


def make_train_step(vq, tx, config):
    """(state, batch, key) -> (state, metrics); batch["object"] (B,R,R,R)."""
    k = config.model.codebook_size
    threshold = config.model.dead_code_threshold / k
    decay = config.model.usage_decay

    def step(state, batch, key):
        x = batch["object"]

        def loss_fn(params):
            x_hat, aux = vq.forward(params, x)
            rec = reconstruction_loss(x_hat, x, config.surface_weight)
            return rec + aux["codebook_loss"] + aux["commitment_loss"], (rec, aux)

        (loss, (rec, aux)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state["params"])
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        usage = decay * state["usage"] + (1 - decay) * code_usage(aux["indices"], k)
        key = jax.random.fold_in(key, state["step"])
        codebook, new_usage, dead = reinit_dead_codes(params["codebook"], usage, aux["z"],
                                                      key, threshold)
        now = (state["step"] + 1) % config.model.reinit_every == 0
        params = dict(params, codebook=jnp.where(now, codebook, params["codebook"]))
        usage = jnp.where(now, new_usage, usage)
        active = jnp.sum(code_usage(aux["indices"], k) > 0)
        metrics = dict(loss=loss, reconstruction=rec, codebook=aux["codebook_loss"],
                       commitment=aux["commitment_loss"], active_codes=active,
                       dead_codes=jnp.where(now, dead, 0), grad_norm=optax.tree.norm(grads))
        return dict(step=state["step"] + 1, params=params, opt_state=opt_state,
                    usage=usage), metrics

    return step


# ---------------------------------------------------------------------------------------
# Held-out figures.

@functools.lru_cache(maxsize=4)
def _jit_reconstruct(vq):
    return jax.jit(lambda p, x: vq.forward(p, x)[0])


def _in_batches(fn, params, grids, batch) -> np.ndarray:
    """fn(params, x) over grids (N,...) in fixed-size batches (the last padded with copies
    of its final grid, so one compiled shape serves every batch)."""
    out = []
    for i in range(0, len(grids), batch):
        chunk = grids[i:i + batch]
        pad = batch - len(chunk)
        x = np.concatenate([chunk, np.repeat(chunk[-1:], pad, 0)]) if pad else chunk
        out.append(np.asarray(fn(params, jnp.asarray(x)))[:len(chunk)])
    return np.concatenate(out)


def reconstruct(vq, params, grids, batch=8) -> np.ndarray:
    """(N,R,R,R) grids -> their reconstructions (quantised), in batches."""
    return _in_batches(_jit_reconstruct(vq), params, grids, batch)


def _iou(a, b) -> float:
    union = np.sum(a | b)
    return float(np.sum(a & b) / union) if union else 1.0


def grid_metrics(pred, true, shell=SHELL) -> dict:
    """Figures of (N,R,R,R) reconstructed vs true grids, pooled over the grids: occupancy
    IoU (sdf < 0), the same with the surface thickened by `shell` (grid units: sdf <
    shell; a 3-5 mm mug wall leaves few grid points inside at 9.4 mm voxels, so plain
    occupancy of thin-walled objects is mostly aliasing), and the mean |SDF error| (mm)
    at grid points within 2 cm of the true surface."""
    near = np.abs(true) < NEAR_SURFACE
    err = np.abs(denormalise_sdf(pred) - denormalise_sdf(true))[near]
    return dict(iou=_iou(pred < 0, true < 0), iou_shell=_iou(pred < shell, true < shell),
                sdf_error_mm=float(err.mean() * 1e3) if err.size else 0.0)


def held_out_figures(vq, params, held_out, categories) -> dict:
    """{"iou", "sdf_error_mm", "iou/<category>", ...} on the held-out grids."""
    pred = reconstruct(vq, params, held_out["object"])
    out = grid_metrics(pred, held_out["object"])
    for c, name in enumerate(categories):
        mask = held_out["category"] == c
        if mask.any():
            per = grid_metrics(pred[mask], held_out["object"][mask])
            out.update({f"{k}/{name}": v for k, v in per.items()})
    return out


@functools.lru_cache(maxsize=4)
def _jit_encode(vq):
    return jax.jit(vq.encode)


def encode_all(vq, params, grids, batch=8) -> np.ndarray:
    """(N,R,R,R) -> (N,r,r,r,D) pre-quantisation latents, in batches."""
    return _in_batches(_jit_encode(vq), params, grids, batch)


# ---------------------------------------------------------------------------------------
# The entry point.

def load_data(config, progress=True) -> dict:
    """The grid data of config.data.path; with an empty path workdir/data, generated first
    (configs/grid_data.py variant config.data.generate) when missing."""
    path = config.data.path or os.path.join(config.workdir, "data")
    if not config.data.path and not os.path.exists(path):
        print(f"generating grid data into {path}")
        write_grid_data(repo_config("grid_data.py", config.data.generate or None), path,
                        progress=progress)
    data = load_grid_data(path)
    if data["manifest"]["resolution"] != config.model.resolution:
        raise ValueError(f"{path}: grids are {data['manifest']['resolution']}^3 but "
                         f"config.model.resolution is {config.model.resolution}")
    return data


def train(config, data, progress=True) -> tuple:
    """Trains (or resumes) in config.workdir -> (vq fns, final host state)."""
    loop.write_config(config)
    train_data, held_out = loop.split_by_grasp(data, config.data.held_out_every, GRID_KEYS)
    tx, _ = loop.make_optimizer(config.optim, config.num_steps)
    vq, state = init_state(config, tx)
    categories = data["manifest"]["categories"]

    def evaluate(state, step):
        if len(held_out["grasp"]) == 0:
            return {}
        figures = held_out_figures(vq, jax.device_get(state["params"]), held_out, categories)
        return {f"held_out/{k}": v for k, v in figures.items()}

    state = loop.run_loop(config, state, make_train_step(vq, tx, config),
                          {"object": train_data["object"]}, evaluate=evaluate,
                          name="train grid autoencoder", progress=progress)
    return vq, state, train_data


def export_autoencoder(workdir, out_dir, vq, params, train_grids, manifest, step) -> float:
    """Writes an autoencoder folder (`hoijax.priors.folder`, plus latent.json: the latent's
    std and mean measured on up to 512 of the training grids). Returns the std."""
    pick = np.linspace(0, len(train_grids) - 1, min(MAX_STD_SAMPLES, len(train_grids)))
    z = encode_all(vq, params, train_grids[pick.round().astype(int)])
    std = float(np.std(z))
    folder.write_prior_folder(workdir, out_dir, params, grid_record(manifest, step,
                                                                    "grid autoencoder"),
                              plot=lambda m: folder.loss_plot(m, title="autoencoder loss"))
    with open(os.path.join(out_dir, LATENT_FILE), "w") as f:
        json.dump(dict(latent_std=std, latent_mean=float(np.mean(z)),
                       latent_shape=list(z.shape[1:]), half_extent=manifest["half_extent"],
                       resolution=manifest["resolution"]), f)
    return std


def grid_record(manifest, step, what) -> dict:
    """training.json's fields of a grid model: step, what, the grid data's facts."""
    return dict(step=step, what=what,
                data={k: manifest[k] for k in ("num_samples", "resolution", "half_extent",
                                               "field_resolution", "seconds")
                      if k in manifest}, data_config=manifest.get("config"))


def run(config, export: str | None) -> None:
    """`python -m hoijax.train_prior` with a grid autoencoder config: train, then export
    the autoencoder folder (default WORKDIR/autoencoder)."""
    check_config(config)
    check_batch_size(config.batch_size, "--config.batch_size")
    data = load_data(config)
    vq, state, train_data = train(config, data)
    if jax.process_index() == 0:
        out = export or os.path.join(config.workdir, "autoencoder")
        export_autoencoder(config.workdir, out, vq, state["params"], train_data["object"],
                           data["manifest"], int(state["step"]))
        print(f"exported the grid autoencoder (step {int(state['step'])}) to {out}")

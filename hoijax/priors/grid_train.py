"""Training the 3D interaction-grid diffusion prior (hoijax.models.unet3d; docs/design.md
§11): `python -m hoijax.train_prior --config=configs/grid_prior.py` calls `run`.

The diffused variable is the whole latent grid x0 = [z / latent_std ; hand field]
(B,r,r,r,D+20): the object's pre-quantisation VQ-VAE latent scaled to unit std and the
hand's skeletal distance field at the latent resolution. Training draws t uniformly,
noises x0 and regresses x0 (or epsilon); the loss averages the object and hand channel
groups separately and adds them with equal weight (otherwise the 20 hand channels
outweigh the 3 latent channels 7:1). The prompt is dropped with p = prompt_dropout (CFG)
and the hand field replaced by the "no hand" zeros with p = hand_dropout (the prior also
models objects alone). State {step, params, opt_state, ema} and the harness's loop
(`hoijax.priors.loop`: data parallel, Orbax resume, metrics.jsonl + TensorBoard,
fail-fast); the export writes the folder that `hoijax.priors.grid.load_grid_prior` reads.
Held-out losses (grasps index % data.held_out_every == 0: unseen objects) at t = 250 /
500 / 750, with the right prompt and with the null prompt, fixed noise.
"""
from __future__ import annotations

import functools
import json
import os
import shutil

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from hoijax.checks import (FRACTION, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE_INT, check_fields,
                           int_at_least, one_of)
from hoijax.data.grid_data import MANIFEST, load_grid_data, write_grid_data
from hoijax.diffusion.schedules import make_schedule, q_sample
from hoijax.interaction.hand_field import NUM_FIELD_JOINTS
from hoijax.models.text import NULL_PROMPT, category_tokens, drop_prompts, tokenize
from hoijax.models.unet3d import create_denoiser, make_denoise_fn
from hoijax.parallel import check_batch_size
from hoijax.priors import folder, grid_autoencoder_train, loop
from hoijax.priors.grid import load_autoencoder
from hoijax.priors.image_train import EVAL_TIMESTEPS
from hoijax.runtime import repo_config

CONFIG_RULES = {
    **loop.TRAINING_RULES, **loop.EMA_RULES,
    "prompt_dropout": FRACTION,
    "hand_dropout": FRACTION,
    "data.held_out_every": int_at_least(2),
    "model.resolution": int_at_least(2),
    "model.in_channels": int_at_least(NUM_FIELD_JOINTS + 1),
    "model.channels": POSITIVE_INT,
    "model.num_res_blocks": POSITIVE_INT,
    "model.num_heads": POSITIVE_INT,
    "model.text_width": POSITIVE_INT,
    "model.text_depth": NON_NEGATIVE_INT,
    "diffusion.schedule": one_of("linear", "cosine"),
    "diffusion.num_steps": int_at_least(2),
    "diffusion.prediction": one_of("x0", "epsilon"),
    "sample.ddim_steps": POSITIVE_INT,
    "sample.guidance": NON_NEGATIVE,
}
PRIOR_KEYS = ("x0", "category", "grasp")


def check_config(config) -> None:
    """Raises ValueError naming the first bad field of a grid prior config."""
    check_fields(config, CONFIG_RULES)
    loop.check_halvings(config.model.resolution, "model.resolution",
                        config.model.channel_mult)


def grouped_loss(out, target, latent_dim):
    """Mean squared error of the object-latent channels plus that of the hand channels."""
    sq = (out.astype(jnp.float32) - target) ** 2
    return jnp.mean(sq[..., :latent_dim]) + jnp.mean(sq[..., latent_dim:])


def denoising_loss(denoise, params, schedule, x0, tokens, key, latent_dim, prediction,
                   t=None):
    """The grouped loss of one noised batch (t uniform unless given)."""
    k_t, k_noise = jax.random.split(key)
    if t is None:
        t = jax.random.randint(k_t, x0.shape[:1], 0, schedule.num_steps)
    noise = jax.random.normal(k_noise, x0.shape, x0.dtype)
    out = denoise(params, q_sample(schedule, x0, t, noise), t, dict(tokens=tokens))
    return grouped_loss(out, noise if prediction == "epsilon" else x0, latent_dim)


def drop_hands(key, x0, latent_dim, rate):
    """x0 (B,...,D+20) with each sample's hand channels zeroed ("no hand") w.p. rate."""
    drop = jax.random.bernoulli(key, rate, x0.shape[:1])
    mask = drop.reshape((-1,) + (1,) * (x0.ndim - 1)) & (jnp.arange(x0.shape[-1])
                                                           >= latent_dim)
    return jnp.where(mask, 0.0, x0)


def make_train_step(denoise, tx, schedule, token_table, latent_dim, config):
    """(state, batch, key) -> (state, metrics); batch x0 (B,r,r,r,C), category (B,)."""
    token_table = jnp.asarray(token_table)
    decay = config.optim.ema_decay

    def step(state, batch, key):
        k_drop, k_hand, k_noise = jax.random.split(jax.random.fold_in(key, state["step"]), 3)
        tokens = drop_prompts(k_drop, token_table[batch["category"]], config.prompt_dropout)
        x0 = drop_hands(k_hand, batch["x0"], latent_dim, config.hand_dropout)

        def loss_fn(params):
            return denoising_loss(denoise, params, schedule, x0, tokens, k_noise,
                                  latent_dim, config.diffusion.prediction)

        loss, grads = jax.value_and_grad(loss_fn)(state["params"])
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        ema = loop.ema_update(state["ema"], params, decay)
        return dict(step=state["step"] + 1, params=params, opt_state=opt_state, ema=ema), \
            dict(loss=loss, grad_norm=optax.tree.norm(grads))

    return step


@functools.lru_cache(maxsize=8)
def _jit_loss(denoise, latent_dim, prediction):
    return jax.jit(lambda p, s, x0, tok, k, t: denoising_loss(denoise, p, s, x0, tok, k,
                                                              latent_dim, prediction, t))


def held_out_losses(denoise, params, schedule, x0, tokens, latent_dim, prediction, *,
                    timesteps=EVAL_TIMESTEPS, seed=1234, batch=32) -> dict:
    """{t: mean grouped loss} over x0 (N,...) with tokens (N,L), fixed noise per t."""
    fn = _jit_loss(denoise, latent_dim, prediction)
    out = {}
    for t in timesteps:
        losses, weights = [], []
        for i in range(0, len(x0), batch):
            xb, tb = jnp.asarray(x0[i:i + batch]), jnp.asarray(tokens[i:i + batch])
            key = jax.random.fold_in(jax.random.key(seed + t), i)
            losses.append(float(fn(params, schedule, xb, tb, key,
                                   jnp.full((len(xb),), t))))
            weights.append(len(xb))
        out[int(t)] = float(np.average(losses, weights=weights))
    return out


# ---------------------------------------------------------------------------------------
# Data: grids -> diffusion targets.

def prior_targets(autoencoder, data) -> np.ndarray:
    """(N,r,r,r,D+20) x0 = [encoded object / latent_std ; hand field] of grid data."""
    z = grid_autoencoder_train.encode_all(autoencoder.vq, autoencoder.params, data["object"])
    z = z / autoencoder.latent_std
    if z.shape[1:4] != data["hand"].shape[1:4]:
        raise ValueError(f"latent resolution {z.shape[1:4]} differs from the data's hand "
                         f"field resolution {data['hand'].shape[1:4]}")
    return np.concatenate([z, data["hand"]], -1).astype(np.float32)


def autoencoder_dir(config, data_path) -> str:
    """config.autoencoder.path, or one trained now (grid_autoencoder variant
    autoencoder.train_variant) into workdir/autoencoder_run on the same data."""
    if config.autoencoder.path:
        return config.autoencoder.path
    ae_config = repo_config("grid_autoencoder.py", config.autoencoder.train_variant or None)
    ae_config.workdir = os.path.join(config.workdir, "autoencoder_run")
    ae_config.data.path = data_path
    out = os.path.join(ae_config.workdir, "autoencoder")
    if not os.path.isfile(os.path.join(out, "latent.json")):
        grid_autoencoder_train.run(ae_config, out)
    return out


def data_path(config, progress=True) -> str:
    """The grid data folder (generated into workdir/data when data.path is empty)."""
    path = config.data.path or os.path.join(config.workdir, "data")
    if not config.data.path and not os.path.exists(path):
        print(f"generating grid data into {path}")
        write_grid_data(repo_config("grid_data.py", config.data.generate or None), path,
                        progress=progress)
    return path


def init_model(config):
    """-> (denoise fn, initial params)."""
    graphdef, params = create_denoiser(config.model, jax.random.key(config.seed))
    return make_denoise_fn(graphdef), params


def run(config, export: str | None, progress=True) -> None:
    """`python -m hoijax.train_prior` with a grid prior config: (autoencoder,) train,
    export the grid prior folder (default WORKDIR/grid_prior)."""
    check_config(config)
    check_batch_size(config.batch_size, "--config.batch_size")
    path = data_path(config, progress)
    ae_dir = autoencoder_dir(config, path)
    autoencoder = load_autoencoder(ae_dir)
    latent_dim = autoencoder.config.model.latent_dim
    if config.model.in_channels != latent_dim + NUM_FIELD_JOINTS:
        raise ValueError(f"config.model.in_channels={config.model.in_channels}: must be the "
                         f"autoencoder's latent_dim {latent_dim} + {NUM_FIELD_JOINTS}")
    data = load_grid_data(path)
    data["x0"] = prior_targets(autoencoder, data)
    if data["x0"].shape[1] != config.model.resolution:
        raise ValueError(f"config.model.resolution={config.model.resolution}: the latent is "
                         f"{data['x0'].shape[1]}^3")
    state = train(config, data, latent_dim, progress)
    if jax.process_index() == 0:
        out = export or os.path.join(config.workdir, "grid_prior")
        export_grid_prior(config.workdir, out, state["ema"], data["manifest"],
                          int(state["step"]), ae_dir)
        print(f"exported the grid prior (EMA parameters at step {int(state['step'])}) to "
              f"{out}; load it with hoijax.priors.grid.load_grid_prior({out!r})")


def initial_state(config, tx) -> tuple:
    """-> (denoise fn, the fresh train state {step, params, opt_state, ema})."""
    denoise, params = init_model(config)
    return denoise, loop.init_state(params, tx)


def export_grid_prior(workdir, out_dir, params, manifest, step, autoencoder_dir) -> None:
    """Writes a grid prior folder: the denoiser's (EMA) params, config, categories and
    training record, and a copy of its autoencoder folder in out_dir/autoencoder."""
    folder.write_prior_folder(workdir, out_dir, params,
                              grid_autoencoder_train.grid_record(manifest, step,
                                                                 "grid prior denoiser"),
                              categories=manifest["categories"],
                              plot=lambda m: folder.loss_plot(m, EVAL_TIMESTEPS))
    target = os.path.join(out_dir, "autoencoder")
    if os.path.abspath(autoencoder_dir) != os.path.abspath(target):
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(autoencoder_dir, target)


def export_latest(workdir: str, out_dir: str | None = None) -> int:
    """Exports the EMA parameters of a run's latest checkpoint as a grid prior folder
    (default WORKDIR/grid_prior), e.g. of a run stopped early; returns the step."""


    with open(os.path.join(workdir, "config.json")) as f:
        config = ml_collections.ConfigDict(json.load(f))
    tx, _ = loop.make_optimizer(config.optim, config.num_steps)
    _, state = initial_state(config, tx)
    state, step = loop.restore_latest(workdir, state)
    path = config.data.path or os.path.join(workdir, "data")
    with open(os.path.join(path, MANIFEST)) as f:
        manifest = json.load(f)
    ae_dir = config.autoencoder.path or os.path.join(workdir, "autoencoder_run",
                                                     "autoencoder")
    export_grid_prior(workdir, out_dir or os.path.join(workdir, "grid_prior"), state["ema"],
                      manifest, step, ae_dir)
    return step


def train(config, data, latent_dim, progress=True) -> dict:
    """Trains (or resumes) the denoiser in config.workdir; returns the final host state."""
    loop.write_config(config)
    train_data, held_out = loop.split_by_grasp(data, config.data.held_out_every, PRIOR_KEYS)
    token_table = category_tokens(data["manifest"]["categories"])
    schedule = make_schedule(config.diffusion.schedule, config.diffusion.num_steps)
    tx, _ = loop.make_optimizer(config.optim, config.num_steps)
    denoise, state = initial_state(config, tx)

    def evaluate(state, step):
        if len(held_out["grasp"]) == 0:
            return {}
        ema = jax.device_get(state["ema"])
        right = token_table[held_out["category"]]
        null = np.broadcast_to(tokenize(NULL_PROMPT), right.shape)
        values = {}
        for name, tokens in (("held_out", right), ("held_out_null", null)):
            losses = held_out_losses(denoise, ema, schedule, held_out["x0"], tokens,
                                     latent_dim, config.diffusion.prediction)
            values.update({f"{name}/t{t}": v for t, v in losses.items()})
        return values

    return loop.run_loop(
        config, state, make_train_step(denoise, tx, schedule, token_table, latent_dim,
                                       config),
        {k: train_data[k] for k in ("x0", "category")}, evaluate=evaluate,
        name="train grid prior", progress=progress)

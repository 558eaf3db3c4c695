"""Training the geometry-image prior (DiffHOI's 2D prior; docs/design.md §7): the spec that
`python -m hoijax.train_prior --config=configs/prior.py` runs on the harness
(`hoijax.priors.loop.run_loop`): model init, the denoising step, data, held-out losses and
sample grids, and the export of a prior folder (`hoijax.priors.folder`) that
`hoijax.priors.image.load_prior` reads.
"""
from __future__ import annotations

import functools
import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from hoijax import parallel
from hoijax.checks import (FRACTION, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE_INT, check_fields,
                           int_at_least, one_of)
from hoijax.data.prior_data import load_prior_data, write_prior_data
from hoijax.diffusion.loss import denoising_loss
from hoijax.diffusion.sampler import ddim_sample
from hoijax.diffusion.schedules import make_schedule
from hoijax.models.text import NULL_PROMPT, category_tokens, drop_prompts, tokenize
from hoijax.models.unet import create_denoiser, make_denoise_fn
from hoijax.priors import folder, loop
from hoijax.render.geometry_images import to_rgb
from hoijax.runtime import repo_config

EVAL_TIMESTEPS = (250, 500, 750)


# ---------------------------------------------------------------------------------------
# State and step.

# configs/prior.py fields checked before any work (`check_config`).
CONFIG_RULES = {
    **loop.TRAINING_RULES, **loop.EMA_RULES,
    "prompt_dropout": FRACTION,
    "data.held_out_every": int_at_least(2),
    "model.image_size": int_at_least(8),
    "model.channels": POSITIVE_INT,
    "model.num_res_blocks": POSITIVE_INT,
    "model.num_heads": POSITIVE_INT,
    "model.text_width": POSITIVE_INT,
    "model.text_depth": NON_NEGATIVE_INT,
    "model.dtype": one_of("float32", "bfloat16"),
    "diffusion.schedule": one_of("linear", "cosine"),
    "diffusion.num_steps": int_at_least(2),
    "diffusion.prediction": one_of("x0", "epsilon"),
    "sample.num": POSITIVE_INT,
    "sample.ddim_steps": POSITIVE_INT,
    "sample.guidance": NON_NEGATIVE,
}


def check_config(config) -> None:
    """Raises ValueError naming the first bad field of a configs/prior.py config."""
    check_fields(config, CONFIG_RULES)
    loop.check_halvings(config.model.image_size, "model.image_size",
                        config.model.channel_mult)


def init_model(config):
    """-> (denoise fn, initial pure-dict params)."""
    graphdef, params = create_denoiser(config.model, jax.random.key(config.seed))
    return make_denoise_fn(graphdef), params


def make_train_step(denoise, tx, schedule, token_table, config):
    """The jittable step (state, batch, key) -> (state, metrics). batch: object (B,H,W,5),
    hand (B,H,W,7), category (B,) int32 (len(categories) = unknown)."""
    token_table = jnp.asarray(token_table)
    decay = config.optim.ema_decay

    def step(state, batch, key):
        k_drop, k_noise = jax.random.split(jax.random.fold_in(key, state["step"]))
        tokens = drop_prompts(k_drop, token_table[batch["category"]], config.prompt_dropout)
        cond = dict(hand=batch["hand"], tokens=tokens)

        def loss_fn(params):
            return denoising_loss(denoise, params, schedule, batch["object"], cond, k_noise,
                                  prediction=config.diffusion.prediction)

        loss, grads = jax.value_and_grad(loss_fn)(state["params"])
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        ema = loop.ema_update(state["ema"], params, decay)
        metrics = dict(loss=loss, grad_norm=optax.tree.norm(grads),
                       param_norm=optax.tree.norm(params))
        return dict(step=state["step"] + 1, params=params, opt_state=opt_state,
                    ema=ema), metrics

    return step


# ---------------------------------------------------------------------------------------
# Data.

def split_held_out(data: dict, every: int) -> tuple[dict, dict]:
    """Training and held-out parts: grasps with index % every == 0 are held out."""
    held = data["grasp"] % every == 0
    pick = lambda mask: {k: data[k][mask] for k in ("object", "hand", "category")}  # noqa
    return pick(~held), pick(held)


# ---------------------------------------------------------------------------------------
# Evaluation and samples.

def held_out_losses(denoise, params, schedule, data, tokens, prediction, *, max_samples=256,
                    timesteps=EVAL_TIMESTEPS, seed=1234) -> dict:
    """Mean denoising loss at fixed timesteps with fixed noise: {t: loss}, in the
    network's parameterisation (MSE on x0 or on epsilon).

    tokens: (L,) one prompt for all (e.g. the null prompt) or (N,L) per sample. Uses
    `max_samples` samples evenly spaced over the data (so every category is in)."""
    total = len(data["object"])
    n = min(max_samples, total)
    pick = np.linspace(0, total - 1, n).round().astype(int)  # spread over all categories
    x0 = jnp.asarray(data["object"][pick])
    tokens = np.asarray(tokens)
    tokens = jnp.asarray(np.broadcast_to(tokens, (n,) + tokens.shape[-1:]) if tokens.ndim == 1
                         else tokens[pick])
    cond = dict(hand=jnp.asarray(data["hand"][pick]), tokens=tokens)
    out = {}
    for t in timesteps:
        key = jax.random.key(seed + t)
        loss = _jit_eval(denoise, prediction)(params, schedule, x0, cond, key,
                                              jnp.full((n,), t))
        out[int(t)] = float(loss)
    return out


@functools.lru_cache(maxsize=8)
def _jit_eval(denoise, prediction):
    """The jitted held-out loss of a denoiser (cached: one compilation per denoiser)."""
    return jax.jit(lambda p, s, x0, c, k, t: denoising_loss(denoise, p, s, x0, c, k, t=t,
                                                            prediction=prediction))


def sample_grid(denoise, params, schedule, data, token_table, config, key) -> np.ndarray:
    """(rows, cols, 3) uint8: for held-out hands, the hand condition (normals), the ground
    truth object (mask, normals, depth) and a DDIM sample (mask, normals, depth)."""
    n = min(config.sample.num, len(data["object"]))
    cond = dict(hand=jnp.asarray(data["hand"][:n]),
                tokens=jnp.asarray(token_table)[jnp.asarray(data["category"][:n])])
    size = config.model.image_size
    samples = ddim_sample(denoise, params, schedule, cond, jnp.asarray(tokenize(NULL_PROMPT)),
                          key, (n, size, size, 5), num_steps=config.sample.ddim_steps,
                          guidance=config.sample.guidance,
                          prediction=config.diffusion.prediction)
    rows = []
    for i in range(n):
        hand = to_rgb(jnp.asarray(data["hand"][i]))
        gt = to_rgb(jnp.asarray(data["object"][i]))
        gen = to_rgb(samples[i])
        panels = [hand["mask"], hand["normal"], gt["mask"], gt["normal"], gt["depth"],
                  gen["mask"], gen["normal"], gen["depth"]]
        rows.append(np.concatenate([np.asarray(p) for p in panels], axis=1))
    grid = np.clip(np.concatenate(rows, axis=0), 0, 1)
    scale = max(1, 96 // size)
    grid = np.repeat(np.repeat(grid, scale, 0), scale, 1)
    return (grid * 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------
# The loop.

def load_training_data(config, progress=True) -> dict:
    """The prior-data folder of the config; with an empty data.path, workdir/data, rendered
    first (configs/prior_data.py with the variant config.data.generate) if missing."""
    path = config.data.path
    if not path:
        path = os.path.join(config.workdir, "data")
        if not os.path.exists(path):
            data_config = repo_config("prior_data.py", config.data.generate or None)
            data_config.image_size = config.model.image_size
            print(f"rendering training data into {path}")
            write_prior_data(data_config, path, progress=progress)
    data = load_prior_data(path)
    size = data["manifest"]["image_size"]
    if size != config.model.image_size:
        raise ValueError(f"{path}: images are {size}x{size} but config.model.image_size is "
                         f"{config.model.image_size}")
    return data


def train(config, data: dict, *, progress=True, mesh=None) -> dict:
    """Trains (or resumes) the prior in config.workdir; returns the final state (host)."""
    loop.write_config(config)
    train_data, held_out = split_held_out(data, config.data.held_out_every)
    token_table = category_tokens(data["manifest"]["categories"])
    schedule = make_schedule(config.diffusion.schedule, config.diffusion.num_steps)
    denoise, params = init_model(config)
    tx, lr_schedule = loop.make_optimizer(config.optim, config.num_steps)

    def evaluate_state(state, step):
        return evaluate(config, denoise, state["ema"], schedule, held_out, token_table, step)

    return loop.run_loop(
        config, loop.init_state(params, tx),
        make_train_step(denoise, tx, schedule, token_table, config), train_data,
        evaluate=evaluate_state, name="train prior", progress=progress, mesh=mesh,
        log_values=lambda metrics, step: dict(lr=float(lr_schedule(step))),
        rate_name="images_per_s")


def evaluate(config, denoise, params, schedule, held_out, token_table, step) -> dict:
    """Held-out losses (right prompt, null prompt) -> logged values; writes a sample grid
    PNG into workdir/samples."""
    # mediapy takes ~0.7 s to import; only the pictures need it.
    import mediapy
    if len(held_out["category"]) == 0:
        return {}
    tokens = np.asarray(token_table)[held_out["category"]]
    right = held_out_losses(denoise, params, schedule, held_out, tokens,
                            config.diffusion.prediction)
    null = held_out_losses(denoise, params, schedule, held_out, tokenize(NULL_PROMPT),
                           config.diffusion.prediction)
    values = {f"held_out/t{t}": v for t, v in right.items()}
    values.update({f"held_out_null/t{t}": v for t, v in null.items()})
    grid = sample_grid(denoise, params, schedule, held_out, token_table, config,
                       jax.random.key(config.seed + 7))
    os.makedirs(os.path.join(config.workdir, "samples"), exist_ok=True)
    mediapy.write_image(os.path.join(config.workdir, "samples", f"step_{step:07d}.png"), grid)
    return values



# ---------------------------------------------------------------------------------------
# Export and the entry point.

def export_prior(workdir: str, out_dir: str, params: dict, manifest: dict, step: int) -> None:
    """Writes a prior folder from a training run (`hoijax.priors.folder`).

    workdir: the run's folder (its config.json, metrics.jsonl and last sample grid are
    copied); params: the (EMA) parameters to ship; manifest: the training data's manifest
    (its `categories`; num_samples / image_size / seconds / config, where present, go into
    training.json); step: the training step of `params`."""
    record = dict(step=step, data={k: manifest[k] for k in ("num_samples", "image_size",
                                                            "seconds") if k in manifest},
                  data_config=manifest.get("config"))
    folder.write_prior_folder(workdir, out_dir, params, record,
                              categories=manifest["categories"],
                              plot=lambda m: folder.loss_plot(m, EVAL_TIMESTEPS))


def export_latest(workdir: str, out_dir: str, manifest: dict | None = None) -> int:
    """Writes the EMA parameters of a run's latest checkpoint as a prior folder; returns the
    step exported. manifest: the training data's manifest; None reads it from the run's
    data folder (config.data.path, or workdir/data)."""

    with open(os.path.join(workdir, "config.json")) as f:
        config = ml_collections.ConfigDict(json.load(f))
    _, params = init_model(config)
    tx, _ = loop.make_optimizer(config.optim, config.num_steps)
    state, step = loop.restore_latest(workdir, loop.init_state(params, tx))
    if manifest is None:
        path = os.path.join(config.data.path or os.path.join(workdir, "data"), "manifest.json")
        with open(path) as f:
            manifest = json.load(f)
    export_prior(workdir, out_dir, state["ema"], manifest, step)
    return step


def run(config, export: str | None) -> None:
    """`python -m hoijax.train_prior` with a geometry-image prior config: check, train,
    export the prior folder (default WORKDIR/prior) and print how to use it."""
    check_config(config)
    parallel.check_batch_size(config.batch_size, "--config.batch_size")
    data = load_training_data(config)
    state = train(config, data)
    step = int(state["step"])
    print(f"trained to step {step}; workdir {config.workdir}")
    if jax.process_index() == 0:  # one writer on a multi-host job
        out = export or os.path.join(config.workdir, "prior")
        export_prior(config.workdir, out, state["ema"], data["manifest"], step)
        print(f"exported the prior (EMA parameters at step {step}) to {out}; use it with\n"
              f"  python -m hoijax.reconstruct --clip=CLIP --out=OUT --config.prior={out}")

"""Training the geometry-image prior: state, the data-parallel step, held-out evaluation,
sample grids, and the resumable loop behind `python -m hoijax.train_prior`. Writing a
trained prior folder (and loading it) is hoijax.diffusion.export, which builds on this
module; this module imports nothing of it.

The train state is a plain dict pytree {step, params, opt_state, ema}; parameters are a
pure dict of arrays (`nnx.to_pure_dict`) that `make_denoise_fn(graphdef)` merges inside
the jitted step, so the hot path has no Python graph walking. Batches are split over the
`data` mesh axis, the state is replicated; the same code runs on 1 or N devices and gives
the same numbers (up to float summation order).

Data order: step s reads the permutation of epoch s // steps_per_epoch (seeded by
(seed, epoch)), so a resumed run sees exactly the batches the killed run would have seen.
"""
from __future__ import annotations

import functools
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hoijax import parallel
from hoijax.checks import (FRACTION, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE,
                           POSITIVE_INT, check_fields, int_at_least, one_of)
from hoijax.diffusion.loss import denoising_loss
from hoijax.diffusion.sampler import ddim_sample
from hoijax.diffusion.schedules import make_schedule
from hoijax.models.text import NULL_PROMPT, category_tokens, drop_prompts, tokenize
from hoijax.models.unet import create_denoiser, make_denoise_fn

EVAL_TIMESTEPS = (250, 500, 750)


# ---------------------------------------------------------------------------------------
# State and step.

# configs/prior.py fields checked before any work (`check_config`).
CONFIG_RULES = {
    "workdir": (lambda v: isinstance(v, str) and v != "", "a folder path"),
    "batch_size": POSITIVE_INT, "num_steps": POSITIVE_INT, "log_every": POSITIVE_INT,
    "checkpoint_every": POSITIVE_INT, "eval_every": NON_NEGATIVE_INT,
    "prompt_dropout": FRACTION, "data.held_out_every": int_at_least(2),
    "model.image_size": int_at_least(8), "model.channels": POSITIVE_INT,
    "model.num_res_blocks": POSITIVE_INT, "model.num_heads": POSITIVE_INT,
    "model.text_width": POSITIVE_INT, "model.text_depth": NON_NEGATIVE_INT,
    "model.dtype": one_of("float32", "bfloat16"),
    "diffusion.schedule": one_of("linear", "cosine"),
    "diffusion.num_steps": int_at_least(2), "diffusion.prediction": one_of("x0", "epsilon"),
    "optim.lr": POSITIVE, "optim.warmup_steps": NON_NEGATIVE_INT,
    "optim.final_lr_fraction": FRACTION, "optim.weight_decay": NON_NEGATIVE,
    "optim.grad_clip": POSITIVE, "optim.ema_decay": FRACTION,
    "sample.num": POSITIVE_INT, "sample.ddim_steps": POSITIVE_INT,
    "sample.guidance": NON_NEGATIVE,
}


def check_config(config) -> None:
    """Raises ValueError naming the first bad field of a configs/prior.py config."""
    check_fields(config, CONFIG_RULES)
    size = config.model.image_size
    if size % 2 ** (len(config.model.channel_mult) - 1):
        raise ValueError(f"config.model.image_size={size}: must divide by 2^(levels - 1) "
                         f"for config.model.channel_mult={tuple(config.model.channel_mult)}")


def make_optimizer(optim, num_steps):
    """AdamW with linear warm-up and cosine decay, after global-norm clipping."""
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, optim.lr, max(optim.warmup_steps, 1), max(num_steps, optim.warmup_steps + 1),
        end_value=optim.lr * optim.final_lr_fraction)
    return optax.chain(optax.clip_by_global_norm(optim.grad_clip),
                       optax.adamw(schedule, weight_decay=optim.weight_decay)), schedule


def init_model(config):
    """-> (denoise fn, initial pure-dict params)."""
    graphdef, params = create_denoiser(config.model, jax.random.key(config.seed))
    return make_denoise_fn(graphdef), params


def init_optimizer(params, tx):
    """tx.init(params) as one jitted program: eagerly, the optimiser's zero moments
    compile one small XLA program per leaf shape (dozens: seconds on a CPU)."""
    return jax.jit(tx.init)(params)


def init_state(params, tx) -> dict:
    """The fresh train state {step, params, opt_state, ema} (ema a copy of params)."""
    return dict(step=jnp.zeros((), jnp.int32), params=params,
                opt_state=init_optimizer(params, tx), ema=jax.tree.map(np.copy, params))


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
        ema = jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, state["ema"], params)
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


def batch_indices(step: int, num_samples: int, batch_size: int, seed: int) -> np.ndarray:
    """The sample indices of `step` (drop-last epochs of seeded permutations)."""
    per_epoch = num_samples // batch_size
    if per_epoch < 1:
        raise ValueError(f"batch_size={batch_size} is larger than the {num_samples} "
                         "training samples")
    epoch, i = divmod(step, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(num_samples)
    return order[i * batch_size:(i + 1) * batch_size]


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
    from hoijax.render.geometry_images import to_rgb
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
# Logging.

class MetricLog:
    """metrics.jsonl (one JSON object per line) and TensorBoard events in workdir."""

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, "metrics.jsonl")
        try:
            from tensorboardX import SummaryWriter
            self.tb = SummaryWriter(os.path.join(workdir, "tensorboard"))
        except ImportError:  # pragma: no cover - tensorboardX is an install requirement
            self.tb = None

    def write(self, step: int, values: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(dict(step=int(step), **values)) + "\n")
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(k, v, step)
            self.tb.flush()

    def close(self):
        if self.tb is not None:
            self.tb.close()


def read_metrics(workdir: str) -> list:
    """The records of workdir/metrics.jsonl in order ([] when there is none yet)."""
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------------------------------
# The loop.

def load_training_data(config, progress=True) -> dict:
    """The prior-data folder of the config; with an empty data.path, workdir/data, rendered
    first (configs/prior_data.py with the variant config.data.generate) if missing."""
    from hoijax.data.prior_data import load_prior_data, write_prior_data
    from hoijax.runtime import repo_config
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


def _restore(config, state):
    """(Orbax manager of config.workdir/checkpoints, state, start step): the latest
    checkpoint's state when there is one (a killed run resumes), else `state` and 0."""
    import orbax.checkpoint as ocp
    manager = ocp.CheckpointManager(
        os.path.abspath(os.path.join(config.workdir, "checkpoints")),
        options=ocp.CheckpointManagerOptions(max_to_keep=2,
                                             save_interval_steps=config.checkpoint_every))
    start = manager.latest_step() or 0
    if start:
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
        state = manager.restore(start, args=ocp.args.StandardRestore(abstract))
        print(f"resumed from {config.workdir}/checkpoints at step {start}")
    return manager, state, start


def train(config, data: dict, *, progress=True, mesh=None) -> dict:
    """Trains (or resumes) the prior in config.workdir; returns the final state (host)."""
    import orbax.checkpoint as ocp
    from tqdm import tqdm
    mesh = mesh or parallel.data_mesh()
    parallel.check_batch_size(config.batch_size, "config.batch_size", mesh)
    os.makedirs(config.workdir, exist_ok=True)
    with open(os.path.join(config.workdir, "config.json"), "w") as f:
        f.write(config.to_json_best_effort(indent=1))
    train_data, held_out = split_held_out(data, config.data.held_out_every)
    categories = data["manifest"]["categories"]
    token_table = category_tokens(categories)
    schedule = make_schedule(config.diffusion.schedule, config.diffusion.num_steps)
    denoise, params = init_model(config)
    tx, lr_schedule = make_optimizer(config.optim, config.num_steps)
    state = parallel.replicate(init_state(params, tx), mesh)
    step_fn = jax.jit(make_train_step(denoise, tx, schedule, token_table, config),
                      donate_argnums=0)

    manager, state, start = _restore(config, state)
    log = MetricLog(config.workdir)
    key = jax.random.key(config.seed)
    bar = tqdm(total=config.num_steps, initial=start, disable=not progress, unit="step",
               desc="train prior")
    tick, tick_step = time.time(), start
    n_train = len(train_data["category"])
    for step in range(start, config.num_steps):
        idx = batch_indices(step, n_train, config.batch_size, config.seed)
        batch = parallel.shard_batch({k: v[idx] for k, v in train_data.items()}, mesh)
        state, metrics = step_fn(state, batch, key)
        loss = float(metrics["loss"])
        if not np.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss {loss} at step {step + 1}; "
                                     f"last checkpoint: step {manager.latest_step()}")
        done = step + 1
        if done % config.log_every == 0 or done == config.num_steps:
            now = time.time()
            rate = (done - tick_step) * config.batch_size / max(now - tick, 1e-9)
            values = dict(loss=loss, grad_norm=float(metrics["grad_norm"]),
                          param_norm=float(metrics["param_norm"]),
                          lr=float(lr_schedule(step)), images_per_s=rate)
            log.write(done, values)
            bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{rate:.0f}")
            tick, tick_step = now, done
        if config.eval_every > 0 and (done % config.eval_every == 0
                                      or done == config.num_steps):
            evaluate(config, denoise, state["ema"], schedule, held_out, token_table, log,
                     done)
        manager.save(done, args=ocp.args.StandardSave(state),
                     force=done == config.num_steps)
        bar.update(1)
    manager.wait_until_finished()
    bar.close()
    log.close()
    return jax.device_get(state)


def evaluate(config, denoise, params, schedule, held_out, token_table, log, step):
    """Held-out losses (right prompt, null prompt) and a sample grid PNG."""
    import mediapy
    if len(held_out["category"]) == 0:
        return
    tokens = np.asarray(token_table)[held_out["category"]]
    right = held_out_losses(denoise, params, schedule, held_out, tokens,
                            config.diffusion.prediction)
    null = held_out_losses(denoise, params, schedule, held_out, tokenize(NULL_PROMPT),
                           config.diffusion.prediction)
    values = {f"held_out/t{t}": v for t, v in right.items()}
    values.update({f"held_out_null/t{t}": v for t, v in null.items()})
    log.write(step, values)
    grid = sample_grid(denoise, params, schedule, held_out, token_table, config,
                       jax.random.key(config.seed + 7))
    os.makedirs(os.path.join(config.workdir, "samples"), exist_ok=True)
    mediapy.write_image(os.path.join(config.workdir, "samples", f"step_{step:07d}.png"), grid)


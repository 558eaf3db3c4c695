"""The one training loop of every prior (docs/design.md §7, §9).

The train state is a plain dict pytree {step, params, opt_state, ema} (`init_state`);
parameters are a pure dict of arrays that the spec's step merges with its graphdef inside
the jitted step, so the hot path has no Python graph walking. Batches are split over the
`data` mesh axis, the state is replicated; the same code runs on 1 or N devices and gives
the same numbers (up to float summation order).

`run_loop` runs a spec's step from the latest Orbax checkpoint of config.workdir to
config.num_steps: data order from `batch_indices` (step s reads the permutation of epoch
s // steps_per_epoch, seeded by (seed, epoch)), so a killed run resumes with exactly the
batches it would have seen; metrics.jsonl + TensorBoard (`MetricLog`); held-out
evaluation every config.eval_every steps and at the end; a tqdm bar; and a
FloatingPointError on a non-finite loss before it reaches a checkpoint.
"""
from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from tensorboardX import SummaryWriter
from tqdm import tqdm

from hoijax import parallel
from hoijax.checks import FRACTION, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT

# The harness's fields of every prior config, checked (with the spec's own) before any work.
TRAINING_RULES = {
    "workdir": (lambda v: isinstance(v, str) and v != "", "a folder path"),
    "batch_size": POSITIVE_INT, "num_steps": POSITIVE_INT, "log_every": POSITIVE_INT,
    "checkpoint_every": POSITIVE_INT, "eval_every": NON_NEGATIVE_INT,
    "optim.lr": POSITIVE, "optim.warmup_steps": NON_NEGATIVE_INT,
    "optim.final_lr_fraction": FRACTION, "optim.weight_decay": NON_NEGATIVE,
    "optim.grad_clip": POSITIVE,
}
EMA_RULES = {"optim.ema_decay": FRACTION}


def check_halvings(size: int, field: str, channel_mult) -> None:
    """ValueError unless `size` (config field `field`) halves once per level after the
    first of a UNet with `channel_mult` levels."""
    if size % 2 ** (len(channel_mult) - 1):
        raise ValueError(f"config.{field}={size}: must divide by 2^(levels - 1) for "
                         f"config.model.channel_mult={tuple(channel_mult)}")


def make_optimizer(optim, num_steps):
    """AdamW with linear warm-up and cosine decay, after global-norm clipping -> (tx, lr
    schedule)."""
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, optim.lr, max(optim.warmup_steps, 1), max(num_steps, optim.warmup_steps + 1),
        end_value=optim.lr * optim.final_lr_fraction)
    return optax.chain(optax.clip_by_global_norm(optim.grad_clip),
                       optax.adamw(schedule, weight_decay=optim.weight_decay)), schedule


def init_optimizer(params, tx):
    """tx.init(params) as one jitted program: eagerly, the optimiser's zero moments
    compile one small XLA program per leaf shape (dozens: seconds on a CPU)."""
    return jax.jit(tx.init)(params)


def init_state(params, tx) -> dict:
    """The fresh train state {step, params, opt_state, ema} (ema a copy of params)."""
    return dict(step=jnp.zeros((), jnp.int32), params=params,
                opt_state=init_optimizer(params, tx), ema=jax.tree.map(np.copy, params))


def ema_update(ema, params, decay):
    """decay * ema + (1 - decay) * params, leaf by leaf."""
    return jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, ema, params)


def batch_indices(step: int, num_samples: int, batch_size: int, seed: int) -> np.ndarray:
    """The sample indices of `step` (drop-last epochs of seeded permutations)."""
    per_epoch = num_samples // batch_size
    if per_epoch < 1:
        raise ValueError(f"batch_size={batch_size} is larger than the {num_samples} "
                         "training samples")
    epoch, i = divmod(step, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(num_samples)
    return order[i * batch_size:(i + 1) * batch_size]


def split_by_grasp(data: dict, every: int, keys) -> tuple[dict, dict]:
    """(train, held-out): samples whose grasp index % every == 0 are held out (whole
    objects, so held-out figures are on unseen objects)."""
    held = data["grasp"] % every == 0
    pick = lambda mask: {k: data[k][mask] for k in keys}  # noqa: E731
    return pick(~held), pick(held)


def write_config(config) -> None:
    """Creates config.workdir and writes the run's config.json there."""
    os.makedirs(config.workdir, exist_ok=True)
    with open(os.path.join(config.workdir, "config.json"), "w") as f:
        f.write(config.to_json_best_effort(indent=1))


class MetricLog:
    """metrics.jsonl (one JSON object per line) and TensorBoard events in workdir."""

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, "metrics.jsonl")
        try:
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


def checkpoint_manager(workdir: str, save_every: int | None = None):
    """The Orbax CheckpointManager of workdir/checkpoints (keeps the last two)."""
    options = ocp.CheckpointManagerOptions(
        max_to_keep=2, **({} if save_every is None else dict(save_interval_steps=save_every)))
    return ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")),
                                 options=options)


def restore(manager, state, step=None):
    """The checkpoint of `step` (default: the latest) restored into the structure, shapes
    and shardings of `state` (an abstract state suffices)."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
    step = manager.latest_step() if step is None else step
    return manager.restore(step, args=ocp.args.StandardRestore(abstract))


def restore_latest(workdir: str, state) -> tuple:
    """(host state, step) of a run's latest checkpoint, restored into `state`'s structure;
    FileNotFoundError when the run has none (for exporting a stopped run)."""
    manager = checkpoint_manager(workdir)
    step = manager.latest_step()
    if step is None:
        raise FileNotFoundError(f"{workdir}/checkpoints: no checkpoint to export")
    state = restore(manager, state, step)
    manager.close()
    return jax.device_get(state), int(step)


def run_loop(config, state, step_fn, train_data: dict, *, evaluate=None, name="train",
             progress=True, mesh=None, log_values=None, batch_extra=None,
             rate_name="samples_per_s") -> dict:
    """Runs `step_fn(state, batch, key) -> (state, metrics)` (jitted here, state donated)
    from the latest checkpoint in config.workdir to config.num_steps; returns the final
    state (host).

    train_data: {key: (N,...) numpy}, batched by `batch_indices`; batch_extra: arrays
    added to every batch unsplit (replicated; e.g. normalisation statistics); metrics
    must hold `loss`; evaluate(state, step) -> dict of held-out figures, every
    config.eval_every steps and at the end; log_values(metrics, step) -> dict of extra
    logged floats; `rate_name`: the logged throughput's name (samples per second)."""
    mesh = mesh or parallel.data_mesh()
    parallel.check_batch_size(config.batch_size, "config.batch_size", mesh)
    state = parallel.replicate(state, mesh)
    extra = parallel.replicate(batch_extra, mesh) if batch_extra else {}
    step = jax.jit(step_fn, donate_argnums=0)
    manager = checkpoint_manager(config.workdir, config.checkpoint_every)
    start = manager.latest_step() or 0
    if start:
        state = restore(manager, state, start)
        print(f"resumed from {config.workdir}/checkpoints at step {start}")
    log = MetricLog(config.workdir)
    key = jax.random.key(config.seed)
    n_train = len(next(iter(train_data.values())))
    bar = tqdm(total=config.num_steps, initial=start, disable=not progress, unit="step",
               desc=name)
    tick, tick_step = time.time(), start
    for i in range(start, config.num_steps):
        idx = batch_indices(i, n_train, config.batch_size, config.seed)
        batch = parallel.shard_batch({k: v[idx] for k, v in train_data.items()}, mesh)
        state, metrics = step(state, dict(batch, **extra), key)
        loss = float(metrics["loss"])
        if not np.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss {loss} at step {i + 1}; "
                                     f"last checkpoint: step {manager.latest_step()}")
        done = i + 1
        if done % config.log_every == 0 or done == config.num_steps:
            now = time.time()
            values = {k: float(v) for k, v in metrics.items()}
            if log_values is not None:
                values.update(log_values(metrics, i))
            values[rate_name] = (done - tick_step) * config.batch_size / max(now - tick, 1e-9)
            log.write(done, values)
            bar.set_postfix(loss=f"{loss:.4f}")
            tick, tick_step = now, done
        if evaluate is not None and config.eval_every > 0 and (
                done % config.eval_every == 0 or done == config.num_steps):
            figures = evaluate(state, done)
            if figures:
                log.write(done, figures)
        manager.save(done, args=ocp.args.StandardSave(state), force=done == config.num_steps)
        bar.update(1)
    manager.wait_until_finished()
    bar.close()
    log.close()
    return jax.device_get(state)

"""The resumable training loop shared by the grid autoencoder and the grid prior
(docs/design.md §11): the 2D prior's guarantees (hoijax.diffusion.trainer) for any state
and step. Data parallel over the `data` mesh axis (state replicated, batch split), Orbax
checkpoints in workdir/checkpoints (a killed run resumes with the same data order),
metrics.jsonl + TensorBoard, periodic held-out evaluation, a tqdm bar, and a
FloatingPointError on a non-finite loss before it reaches a checkpoint.
"""
from __future__ import annotations

import time

import jax
import numpy as np

from hoijax import parallel
from hoijax.diffusion.trainer import MetricLog, _restore, batch_indices


def split_by_grasp(data: dict, every: int, keys) -> tuple[dict, dict]:
    """(train, held-out): samples whose grasp index % every == 0 are held out (whole
    objects, so held-out figures are on unseen objects)."""
    held = data["grasp"] % every == 0
    pick = lambda mask: {k: data[k][mask] for k in keys}  # noqa: E731
    return pick(~held), pick(held)


def run_loop(config, state, step_fn, train_data: dict, *, evaluate=None, name="train",
             progress=True, mesh=None, log_values=None) -> dict:
    """Runs `step_fn(state, batch, key) -> (state, metrics)` (jitted here, state donated)
    from the latest checkpoint to config.num_steps; returns the final state (host).

    train_data: {key: (N,...) numpy}; metrics must hold `loss`; evaluate(state, step) ->
    dict of held-out figures, called every config.eval_every steps and at the end;
    log_values(metrics) -> dict of extra logged floats."""
    import orbax.checkpoint as ocp
    from tqdm import tqdm
    mesh = mesh or parallel.data_mesh()
    parallel.check_batch_size(config.batch_size, "config.batch_size", mesh)
    state = parallel.replicate(state, mesh)
    step = jax.jit(step_fn, donate_argnums=0)
    manager, state, start = _restore(config, state)
    log = MetricLog(config.workdir)
    key = jax.random.key(config.seed)
    n_train = len(next(iter(train_data.values())))
    bar = tqdm(total=config.num_steps, initial=start, disable=not progress, unit="step",
               desc=name)
    tick, tick_step = time.time(), start
    for i in range(start, config.num_steps):
        idx = batch_indices(i, n_train, config.batch_size, config.seed)
        batch = parallel.shard_batch({k: v[idx] for k, v in train_data.items()}, mesh)
        state, metrics = step(state, batch, key)
        loss = float(metrics["loss"])
        if not np.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss {loss} at step {i + 1}; "
                                     f"last checkpoint: step {manager.latest_step()}")
        done = i + 1
        if done % config.log_every == 0 or done == config.num_steps:
            now = time.time()
            values = {k: float(v) for k, v in metrics.items()}
            values["samples_per_s"] = (done - tick_step) * config.batch_size / max(
                now - tick, 1e-9)
            if log_values is not None:
                values.update(log_values(metrics))
            log.write(done, values)
            bar.set_postfix(loss=f"{loss:.4f}")
            tick, tick_step = now, done
        if evaluate is not None and config.eval_every > 0 and (
                done % config.eval_every == 0 or done == config.num_steps):
            log.write(done, evaluate(state, done))
        manager.save(done, args=ocp.args.StandardSave(state), force=done == config.num_steps)
        bar.update(1)
    manager.wait_until_finished()
    bar.close()
    log.close()
    return jax.device_get(state)

"""Orbax checkpoints of a fit, so a killed fit resumes where it stopped.

`workdir/checkpoints` holds the stacked fit state (params, optimiser state) every
`every` steps; `workdir/history.json` the loss history and the seconds spent so far;
`workdir/clips.json` which clips the fit is of and with which config (a folder of
another fit is refused; only `num_steps`, `log_every` and `checkpoint_every` may change
between runs, so a finished fit can be extended).
"""
from __future__ import annotations

import json
import os

import jax
import orbax.checkpoint as ocp


def latest_step(workdir: str) -> int | None:
    """The step of the newest checkpoint in workdir, None when there is none."""
    folder = os.path.join(workdir, "checkpoints")
    if not os.path.isdir(folder):
        return None
    steps = [int(n) for n in os.listdir(folder) if n.isdigit()]
    return max(steps) if steps else None


def check_resumable(workdir: str, num_steps: int) -> None:
    """Raises ValueError when workdir holds a fit already past `num_steps` (it would be
    reused as if it had stopped there)."""
    step = latest_step(workdir)
    if step is not None and step > num_steps:
        raise ValueError(f"{workdir} holds a fit saved at step {step}, past the requested "
                         f"num_steps={num_steps}; delete {workdir} (or write to another "
                         "--out) to fit again, or ask for at least that many steps")


class Checkpoints:
    """The checkpoints of one fit of `clips` in workdir (see the module docstring)."""

    def __init__(self, workdir, clips, config):
        self.ocp, self.workdir = ocp, workdir
        os.makedirs(workdir, exist_ok=True)
        settings = {k: v for k, v in config.to_dict().items()
                    if k not in ("num_steps", "log_every", "checkpoint_every", "bench")}
        identity = json.loads(json.dumps(dict(
            clips=[os.path.abspath(c.path) for c in clips], config=settings)))
        path = os.path.join(workdir, "clips.json")
        if os.path.isfile(path):
            with open(path) as f:
                saved = json.load(f)
            for what in ("clips", "config"):
                if saved.get(what) != identity[what]:
                    raise ValueError(f"{workdir} holds the checkpoints of a fit of other "
                                     f"{what}; delete it or write to another folder")
        with open(path, "w") as f:
            json.dump(identity, f)
        self.manager = ocp.CheckpointManager(
            os.path.abspath(os.path.join(workdir, "checkpoints")),
            options=ocp.CheckpointManagerOptions(max_to_keep=1,
                                                 save_interval_steps=config.checkpoint_every))

    def restore(self, state):
        """(state, start step, history, seconds spent before) from the latest checkpoint,
        or (state, 0, [], 0.0). `state` gives the structure, shapes and shardings."""
        step = self.manager.latest_step()
        if step is None:
            return state, 0, [], 0.0
        abstract = jax.tree.map(self.ocp.utils.to_shape_dtype_struct, state)
        state = self.manager.restore(step, args=self.ocp.args.StandardRestore(abstract))
        with open(os.path.join(self.workdir, "history.json")) as f:
            saved = json.load(f)
        history = [h for h in saved["history"] if h[0]["step"] <= step]
        print(f"resumed from {self.workdir}/checkpoints at step {step}")
        return state, step, history, saved["seconds"]

    def save(self, step, state, history, seconds, force=False):
        """Saves at every `every`-th step (or when forced), the history beside it."""
        if self.manager.save(step, args=self.ocp.args.StandardSave(state), force=force):
            self.manager.wait_until_finished()
            tmp = os.path.join(self.workdir, "history.json.tmp")
            with open(tmp, "w") as f:
                json.dump(dict(history=history, seconds=seconds), f)
            os.replace(tmp, os.path.join(self.workdir, "history.json"))

"""A trained prior on disk: export it from a training run, load it for sampling and SDS.

A prior folder holds
- `params.npz`: the EMA parameters, one array per '/'-joined key path ('down/0/conv/kernel'),
- `config.json`: the training config (rebuilds the network and the noise schedule),
- `categories.json`: the training categories, in prompt-table order,
and, as the training record beside them, `metrics.jsonl`, `training.json` (step, data),
`loss.png` and `samples.png`. hoijax ships one in hoijax/assets/prior; `load_prior()` with
no argument loads it.

  python -m hoijax.train_prior ...   # exports WORKDIR/prior at the end of training
  python -c "from hoijax.diffusion.export import export_latest; export_latest('RUN', 'OUT')"

Dependencies go one way: this module uses the trainer (model init, checkpoints, metrics);
the trainer knows nothing of export.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import traverse_util

from hoijax.diffusion import trainer
from hoijax.diffusion.schedules import Schedule, make_schedule
from hoijax.models.text import category_tokens
from hoijax.models.unet import denoiser_graphdef, make_denoise_fn

DEFAULT_PRIOR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "assets", "prior")
REQUIRED_FILES = ("params.npz", "config.json", "categories.json")


@dataclasses.dataclass
class Prior:
    """A loaded prior: `denoise(params, x_t, t, cond)` with its params, config, categories
    and noise schedule."""
    config: ml_collections.ConfigDict
    denoise: object  # denoise(params, x_t, t, cond)
    params: dict
    categories: list
    schedule: Schedule

    def tokens(self, category: str | None) -> np.ndarray:
        """(L,) prompt tokens for a category (unknown or None -> the null prompt)."""
        table = category_tokens(self.categories)
        index = self.categories.index(category) if category in self.categories else -1
        return table[index]


# ---------------------------------------------------------------------------------------
# Parameters <-> params.npz.

def flatten_params(params: dict) -> dict:
    """{'a/b/0/c': np.ndarray} of a nested params dict (int keys, e.g. of NNX lists, become
    their digits)."""
    flat = traverse_util.flatten_dict(params)
    return {"/".join(str(k) for k in path): np.asarray(v) for path, v in flat.items()}


def unflatten_params(flat: dict) -> dict:
    """The nested params dict of `flatten_params`' output, leaves as jnp arrays; all-digit
    key parts become int keys (as `nnx.to_pure_dict` has them for lists of modules)."""
    paths = {tuple(int(p) if p.isdigit() else p for p in key.split("/")): jnp.asarray(v)
             for key, v in flat.items()}
    return traverse_util.unflatten_dict(paths)


# ---------------------------------------------------------------------------------------
# Export.

def loss_plot(metrics: list, size=(240, 480)) -> np.ndarray:
    """(H,W,3) uint8 log-scale plot against the step: the training loss smoothed over 9
    log points, and the held-out loss at t = 250 / 500 / 750. metrics: the records of
    `trainer.read_metrics`."""
    from hoijax import viz
    train = [(m["step"], m["loss"]) for m in metrics if "loss" in m]
    steps = np.array([s for s, _ in train], float)
    losses = np.array([v for _, v in train], float)
    if len(losses) > 9:  # running geometric mean over 9 log points
        losses = np.exp(np.convolve(np.log(losses), np.ones(9) / 9, mode="valid"))
        steps = steps[4:-4]
    series = {"train": (steps, losses)}
    for t in trainer.EVAL_TIMESTEPS:
        held = [(m["step"], m[f"held_out/t{t}"]) for m in metrics if f"held_out/t{t}" in m]
        series[f"t{t}"] = ([s for s, _ in held], [v for _, v in held])
    return viz.plot_curves(series, size, title="prior training loss")


def export_prior(workdir: str, out_dir: str, params: dict, manifest: dict, step: int) -> None:
    """Writes a prior folder from a training run.

    workdir: the run's folder (its config.json, metrics.jsonl and samples/ are copied);
    params: the (EMA) parameters to ship; manifest: the training data's manifest (its
    `categories`; num_samples / image_size / seconds / config, where present, go into
    training.json); step: the training step of `params`."""
    import mediapy
    if not os.path.isfile(os.path.join(workdir, "config.json")):
        raise FileNotFoundError(f"{workdir}/config.json: missing; export_prior needs the "
                                "workdir of a training run")
    os.makedirs(out_dir, exist_ok=True)
    np.savez(os.path.join(out_dir, "params.npz"), **flatten_params(params))
    shutil.copy(os.path.join(workdir, "config.json"), os.path.join(out_dir, "config.json"))
    with open(os.path.join(out_dir, "categories.json"), "w") as f:
        json.dump(list(manifest["categories"]), f)
    metrics = trainer.read_metrics(workdir)
    if metrics:
        shutil.copy(os.path.join(workdir, "metrics.jsonl"),
                    os.path.join(out_dir, "metrics.jsonl"))
    samples_dir = os.path.join(workdir, "samples")
    samples = sorted(os.listdir(samples_dir)) if os.path.isdir(samples_dir) else []
    if samples:
        shutil.copy(os.path.join(samples_dir, samples[-1]), os.path.join(out_dir, "samples.png"))
    mediapy.write_image(os.path.join(out_dir, "loss.png"), loss_plot(metrics))
    with open(os.path.join(workdir, "config.json")) as f:
        planned = json.load(f)["num_steps"]
    record = dict(step=int(step), planned_steps=planned,
                  data={k: manifest[k] for k in ("num_samples", "image_size", "seconds")
                        if k in manifest},
                  data_config=manifest.get("config"))
    with open(os.path.join(out_dir, "training.json"), "w") as f:
        json.dump(record, f, indent=1)


def export_latest(workdir: str, out_dir: str, manifest: dict | None = None) -> int:
    """Writes the EMA parameters of a run's latest checkpoint as a prior folder; returns the
    step exported. manifest: the training data's manifest; None reads it from the run's
    data folder (config.data.path, or workdir/data)."""
    import orbax.checkpoint as ocp
    with open(os.path.join(workdir, "config.json")) as f:
        config = ml_collections.ConfigDict(json.load(f))
    _, params = trainer.init_model(config)
    tx, _ = trainer.make_optimizer(config.optim, config.num_steps)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, trainer.init_state(params, tx))
    manager = ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")))
    step = manager.latest_step()
    if step is None:
        raise FileNotFoundError(f"{workdir}/checkpoints: no checkpoint to export")
    state = manager.restore(step, args=ocp.args.StandardRestore(abstract))
    manager.close()
    if manifest is None:
        path = os.path.join(config.data.path or os.path.join(workdir, "data"), "manifest.json")
        with open(path) as f:
            manifest = json.load(f)
    export_prior(workdir, out_dir, jax.device_get(state["ema"]), manifest, int(step))
    return int(step)


# ---------------------------------------------------------------------------------------
# Load.

def read_prior_folder(path: str, required, writer: str) -> tuple:
    """(config ConfigDict, params dict, categories list or None) of a trained-prior folder
    (config.json, params.npz, and categories.json when present). Raises
    FileNotFoundError naming the first of `required` that is missing and `writer`, what
    writes such a folder. Shared by every prior's loader."""
    for name in required:
        if not os.path.isfile(os.path.join(path, name)):
            raise FileNotFoundError(f"{os.path.join(path, name)}: missing; {writer}")
    with open(os.path.join(path, "config.json")) as f:
        config = ml_collections.ConfigDict(json.load(f))
    with np.load(os.path.join(path, "params.npz")) as data:
        params = unflatten_params(dict(data))
    categories = None
    if os.path.isfile(os.path.join(path, "categories.json")):
        with open(os.path.join(path, "categories.json")) as f:
            categories = json.load(f)
    return config, params, categories


def load_prior(path: str | None = None) -> Prior:
    """Loads a prior folder (default: the shipped hoijax/assets/prior). Raises
    FileNotFoundError naming the missing file."""
    config, params, categories = read_prior_folder(
        path or DEFAULT_PRIOR, REQUIRED_FILES, "a prior folder is written by "
        "hoijax.diffusion.export (python -m hoijax.train_prior exports WORKDIR/prior)")
    graphdef = denoiser_graphdef(config.model)
    schedule = make_schedule(config.diffusion.schedule, config.diffusion.num_steps)
    return Prior(config, make_denoise_fn(graphdef), params, categories, schedule)

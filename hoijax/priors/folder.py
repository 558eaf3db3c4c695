"""A trained prior on disk, the same for every prior.

A prior folder holds
- `params.npz`: the (EMA) parameters, one array per '/'-joined key path
  ('down/0/conv/kernel'),
- `config.json`: the training config (rebuilds the network and the noise schedule),
- what the prior needs besides (`categories.json`: the prompt table's categories;
  `normalizer.npz`, `latent.json`, an `autoencoder/` folder),
and its training record: `metrics.jsonl`, `training.json` (step, planned steps, data),
`loss.png` and, where the run drew some, `samples.png`.

Reading needs numpy and ml_collections only: no model, no training code.
"""
from __future__ import annotations

import json
import os
import shutil

import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import traverse_util

from hoijax import viz


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


def read_metrics(workdir: str) -> list:
    """The records of workdir/metrics.jsonl in order ([] when there is none yet)."""
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def loss_plot(metrics: list, timesteps=(), title="prior training loss", held_out_label="t",
              size=(240, 480)) -> np.ndarray:
    """(H,W,3) uint8 log-scale plot against the step: the training loss (smoothed over 9
    log points when there are more) and the held-out losses `held_out/t{t}` of each of
    `timesteps`. metrics: the records of `read_metrics`."""
    train = [(m["step"], m["loss"]) for m in metrics if "loss" in m]
    steps = np.array([s for s, _ in train], float)
    losses = np.array([v for _, v in train], float)
    if len(losses) > 9:  # running geometric mean over 9 log points
        losses = np.exp(np.convolve(np.log(losses), np.ones(9) / 9, mode="valid"))
        steps = steps[4:-4]
    series = {"train": (steps, losses)}
    for t in timesteps:
        key = f"held_out/t{t}"
        series[f"{held_out_label}{t}"] = ([m["step"] for m in metrics if key in m],
                                          [m[key] for m in metrics if key in m])
    return viz.plot_curves(series, size, title=title)


def write_prior_folder(workdir: str, out_dir: str, params: dict, record: dict, *,
                       copy=("config.json", "metrics.jsonl"), categories=None,
                       plot=None) -> None:
    """Writes a prior folder from a training run's workdir: params.npz, the files `copy`
    names (when the run has them), categories.json (when given), the run's last sample
    grid as samples.png, loss.png (plot(metrics) -> image, when given and there are
    training losses) and training.json = {step, planned_steps (the run's config)} |
    record."""
    # mediapy takes ~0.7 s to import; only the pictures need it.
    import mediapy
    if not os.path.isfile(os.path.join(workdir, "config.json")):
        raise FileNotFoundError(f"{workdir}/config.json: missing; exporting a prior needs "
                                "the workdir of a training run")
    os.makedirs(out_dir, exist_ok=True)
    np.savez(os.path.join(out_dir, "params.npz"), **flatten_params(params))
    for name in copy:
        src, dst = os.path.join(workdir, name), os.path.join(out_dir, name)
        if os.path.isfile(src) and os.path.abspath(src) != os.path.abspath(dst):
            shutil.copy(src, dst)
    if categories is not None:
        with open(os.path.join(out_dir, "categories.json"), "w") as f:
            json.dump(list(categories), f)
    samples = os.path.join(workdir, "samples")
    if os.path.isdir(samples) and os.listdir(samples):
        shutil.copy(os.path.join(samples, sorted(os.listdir(samples))[-1]),
                    os.path.join(out_dir, "samples.png"))
    metrics = read_metrics(workdir)
    if plot is not None and any("loss" in m for m in metrics):
        mediapy.write_image(os.path.join(out_dir, "loss.png"), plot(metrics))
    with open(os.path.join(workdir, "config.json")) as f:
        planned = json.load(f)["num_steps"]
    record = dict(record)
    with open(os.path.join(out_dir, "training.json"), "w") as f:
        json.dump(dict(step=int(record.pop("step")), planned_steps=planned, **record), f,
                  indent=1)


def read_prior_folder(path: str, required, writer: str) -> tuple:
    """(config ConfigDict, params dict, categories list or None) of a prior folder
    (config.json, params.npz, and categories.json when present). Raises
    FileNotFoundError naming the first of `required` that is missing and `writer`, what
    writes such a folder."""
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

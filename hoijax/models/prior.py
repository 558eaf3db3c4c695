"""A trained prior on disk: export from a training run, load for sampling and SDS.

A prior folder holds `params.npz` (the EMA parameters, flattened 'a/b/c' keys),
`config.json` (the training config), `categories.json`, and the training record beside
them (`metrics.jsonl`, `loss.png`, `samples.png`). hoijax ships one in hoijax/assets/prior;
`load_prior()` with no argument loads it.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil

import jax.numpy as jnp
import ml_collections
import numpy as np

from hoijax.diffusion.schedules import Schedule, make_schedule
from hoijax.models.text import category_tokens

DEFAULT_PRIOR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "assets", "prior")


@dataclasses.dataclass
class Prior:
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


def _flatten(tree, prefix=""):
    out = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "/"))
        else:
            out[key] = np.asarray(v)
    return out


def _unflatten(flat):
    tree = {}
    for key, value in flat.items():
        node = tree
        parts = key.split("/")
        for p in parts[:-1]:
            node = node.setdefault(int(p) if p.isdigit() else p, {})
        last = parts[-1]
        node[int(last) if last.isdigit() else last] = jnp.asarray(value)
    return tree


def export_prior(workdir: str, out_dir: str, params, categories) -> None:
    """Writes a prior folder from a training run's workdir and its (EMA) params."""
    import mediapy

    from hoijax.diffusion.trainer import read_metrics
    os.makedirs(out_dir, exist_ok=True)
    np.savez(os.path.join(out_dir, "params.npz"), **_flatten(params))
    shutil.copy(os.path.join(workdir, "config.json"), os.path.join(out_dir, "config.json"))
    shutil.copy(os.path.join(workdir, "metrics.jsonl"), os.path.join(out_dir, "metrics.jsonl"))
    with open(os.path.join(out_dir, "categories.json"), "w") as f:
        json.dump(list(categories), f)
    samples_dir = os.path.join(workdir, "samples")
    samples = sorted(os.listdir(samples_dir)) if os.path.isdir(samples_dir) else []
    if samples:
        shutil.copy(os.path.join(workdir, "samples", samples[-1]),
                    os.path.join(out_dir, "samples.png"))
    mediapy.write_image(os.path.join(out_dir, "loss.png"), loss_plot(read_metrics(workdir)))


def loss_plot(metrics, size=(240, 480)) -> np.ndarray:
    """(H,W,3) uint8 log-scale plot against the step: the training loss smoothed over 9
    log points, and the held-out loss at t = 250 / 500 / 750."""
    from hoijax import viz
    train = [(m["step"], m["loss"]) for m in metrics if "loss" in m]
    steps = np.array([s for s, _ in train], float)
    losses = np.array([v for _, v in train], float)
    if len(losses) > 9:  # running geometric mean over 9 log points
        losses = np.exp(np.convolve(np.log(losses), np.ones(9) / 9, mode="valid"))
        steps = steps[4:-4]
    series = {"train": (steps, losses)}
    for t in (250, 500, 750):
        held = [(m["step"], m[f"held_out/t{t}"]) for m in metrics if f"held_out/t{t}" in m]
        series[f"t{t}"] = ([s for s, _ in held], [v for _, v in held])
    return viz.plot_curves(series, size, title="prior training loss")


def load_prior(path: str | None = None) -> Prior:
    """Loads a prior folder (default: the shipped one). Raises FileNotFoundError naming the
    missing file."""
    from hoijax.models.unet import create_denoiser, make_denoise_fn
    path = path or DEFAULT_PRIOR
    for name in ("params.npz", "config.json", "categories.json"):
        if not os.path.isfile(os.path.join(path, name)):
            raise FileNotFoundError(f"{os.path.join(path, name)}: missing; a prior folder "
                                    "is written by hoijax.models.prior.export_prior")
    with open(os.path.join(path, "config.json")) as f:
        config = ml_collections.ConfigDict(json.load(f))
    with open(os.path.join(path, "categories.json")) as f:
        categories = json.load(f)
    with np.load(os.path.join(path, "params.npz")) as data:
        params = _unflatten(dict(data))
    import jax
    graphdef, _ = jax.eval_shape(lambda: create_denoiser(config.model, jax.random.key(0)))
    schedule = make_schedule(config.diffusion.schedule, config.diffusion.num_steps)
    return Prior(config, make_denoise_fn(graphdef), params, categories, schedule)

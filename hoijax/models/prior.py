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
    """(H,W,3) uint8 plot of the training loss (grey, smoothed black) and held-out loss at
    t=500 (red dots) against the step, log-scaled loss axis."""
    import skimage.draw
    h, w = size
    img = np.full((h, w, 3), 255, np.uint8)
    train = [(m["step"], m["loss"]) for m in metrics if "loss" in m]
    held = [(m["step"], m["held_out/t500"]) for m in metrics if "held_out/t500" in m]
    if not train:
        return img
    steps = np.array([s for s, _ in train], float)
    losses = np.log10(np.array([v for _, v in train]))
    lo, hi = losses.min() - 0.05, losses.max() + 0.05
    sx = lambda s: 10 + (w - 20) * s / max(steps.max(), 1)  # noqa: E731
    sy = lambda v: h - 10 - (h - 20) * (v - lo) / (hi - lo)  # noqa: E731
    smooth = np.convolve(losses, np.ones(9) / 9, mode="same") if len(losses) > 9 else losses
    for series, color in ((losses, (180, 180, 180)), (smooth, (0, 0, 0))):
        for a in range(len(steps) - 1):
            rr, cc = skimage.draw.line(int(sy(series[a])), int(sx(steps[a])),
                                       int(sy(series[a + 1])), int(sx(steps[a + 1])))
            ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
            img[rr[ok], cc[ok]] = color
    for s, v in held:
        rr, cc = skimage.draw.disk((sy(np.log10(v)), sx(s)), 3, shape=(h, w))
        img[rr, cc] = (220, 30, 30)
    return img


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

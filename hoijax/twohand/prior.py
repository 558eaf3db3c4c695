"""A trained two-hand prior on disk (docs/design.md §12). A folder holds `params.npz` (EMA
parameters, '/'-joined key paths), `config.json` (configs/two_hand_prior.py as trained),
`normalizer.npz` (per-dimension mean and std of the hand vectors), and the training
record: `metrics.jsonl`, `training.json`, `loss.png`. hoijax ships one in
hoijax/assets/two_hand_prior; `load_two_hand_prior()` without a path loads it.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil

import jax
import ml_collections
import numpy as np

from hoijax.diffusion.export import flatten_params, read_prior_folder
from hoijax.diffusion.schedules import Schedule

DEFAULT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets",
                       "two_hand_prior")
REQUIRED_FILES = ("params.npz", "config.json", "normalizer.npz")


@dataclasses.dataclass
class TwoHandPrior:
    """denoise(params, x_t, t, cond, has_cond, obj) with its params, config, normaliser
    (mean, std (64,)) and noise schedule."""

    config: ml_collections.ConfigDict
    denoise: object
    params: dict
    mean: np.ndarray
    std: np.ndarray
    schedule: Schedule


def loss_plot(metrics: list, size=(240, 480)) -> np.ndarray:
    """(H,W,3) uint8 log plot of the training loss and the held-out losses."""
    from hoijax import viz
    from hoijax.twohand.train import EVAL_TIMESTEPS
    series = {"train": ([m["step"] for m in metrics if "loss" in m],
                        [m["loss"] for m in metrics if "loss" in m])}
    for t in EVAL_TIMESTEPS:
        key = f"held_out/t{t}"
        series[f"held-out t{t}"] = ([m["step"] for m in metrics if key in m],
                                    [m[key] for m in metrics if key in m])
    return viz.plot_curves(series, size, title="two-hand prior loss")


def export_prior(workdir: str, out_dir: str, params: dict, step: int) -> None:
    """Writes a prior folder from a training run's workdir and its (EMA) params."""
    import mediapy

    from hoijax.diffusion.trainer import read_metrics
    os.makedirs(out_dir, exist_ok=True)
    np.savez(os.path.join(out_dir, "params.npz"), **flatten_params(jax.device_get(params)))
    for name in ("config.json", "normalizer.npz", "metrics.jsonl"):
        src = os.path.join(workdir, name)
        if os.path.isfile(src) and os.path.abspath(src) != os.path.abspath(
                os.path.join(out_dir, name)):
            shutil.copy(src, os.path.join(out_dir, name))
    metrics = read_metrics(workdir)
    if metrics:
        mediapy.write_image(os.path.join(out_dir, "loss.png"), loss_plot(metrics))
    with open(os.path.join(workdir, "config.json")) as f:
        config = json.load(f)
    rates = [m["pairs_per_s"] for m in metrics if "pairs_per_s" in m]
    record = dict(step=int(step), planned_steps=config["num_steps"], mode=config["mode"],
                  data=config["data"], mean_pairs_per_s=float(np.mean(rates)) if rates
                  else None, last=metrics[-1] if metrics else None)
    with open(os.path.join(out_dir, "training.json"), "w") as f:
        json.dump(record, f, indent=1)


def load_two_hand_prior(path: str | None = None) -> TwoHandPrior:
    """Loads a prior folder (default: the shipped hoijax/assets/two_hand_prior)."""
    from hoijax.twohand.model import denoiser_graphdef, make_denoise_fn
    from hoijax.twohand.train import OBJECTS, dims, make_schedule
    path = path or DEFAULT
    config, params, _ = read_prior_folder(
        path, REQUIRED_FILES, "a two-hand prior folder is written by python -m "
        "hoijax.train_prior --config=configs/two_hand_prior.py")
    with np.load(os.path.join(path, "normalizer.npz")) as f:
        mean, std = f["mean"], f["std"]
    graphdef = denoiser_graphdef(config.model, dims(config.mode), 64, len(OBJECTS) - 1)
    return TwoHandPrior(config, make_denoise_fn(graphdef), params, mean, std,
                        make_schedule(config.diffusion))

"""A trained two-hand prior on disk (docs/design.md §12). A folder holds `params.npz` (EMA
parameters, '/'-joined key paths), `config.json` (configs/two_hand_prior.py as trained),
`normalizer.npz` (per-dimension mean and std of the hand vectors), and the training
record: `metrics.jsonl`, `training.json`, `loss.png` (`hoijax.priors.folder`; written by
`hoijax.twohand.train.export_prior`). hoijax ships one in hoijax/assets/two_hand_prior;
`load_two_hand_prior()` without a path loads it. Imports no training code.
"""
from __future__ import annotations

import dataclasses
import os

import ml_collections
import numpy as np

from hoijax.diffusion.schedules import Schedule, linear_schedule
from hoijax.priors.folder import read_prior_folder
from hoijax.twohand.model import denoiser_graphdef, make_denoise_fn
from hoijax.twohand.representation import HAND_DIM, OBJECTS, vector_dims

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


def load_two_hand_prior(path: str | None = None) -> TwoHandPrior:
    """Loads a prior folder (default: the shipped hoijax/assets/two_hand_prior)."""
    path = path or DEFAULT
    config, params, _ = read_prior_folder(
        path, REQUIRED_FILES, "a two-hand prior folder is written by python -m "
        "hoijax.train_prior --config=configs/two_hand_prior.py")
    with np.load(os.path.join(path, "normalizer.npz")) as f:
        mean, std = f["mean"], f["std"]
    graphdef = denoiser_graphdef(config.model, vector_dims(config.mode), HAND_DIM,
                                 len(OBJECTS) - 1)
    d = config.diffusion
    return TwoHandPrior(config, make_denoise_fn(graphdef), params, mean, std,
                        linear_schedule(d.beta_start, d.beta_end, d.num_steps))

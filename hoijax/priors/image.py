"""The geometry-image prior (DiffHOI's 2D prior) loaded for sampling and SDS: a prior
folder (`hoijax.priors.folder`) with `categories.json`, the training categories in
prompt-table order. hoijax ships one in hoijax/assets/prior; `load_prior()` with no
argument loads it. Imports no training code.

  python -m hoijax.train_prior ...   # exports WORKDIR/prior at the end of training
  python -c "from hoijax.priors.image_train import export_latest; export_latest('RUN', 'OUT')"
"""
from __future__ import annotations

import dataclasses
import os

import ml_collections
import numpy as np

from hoijax.diffusion.schedules import Schedule, make_schedule
from hoijax.models.text import category_tokens
from hoijax.models.unet import denoiser_graphdef, make_denoise_fn
from hoijax.priors.folder import read_prior_folder

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


def load_prior(path: str | None = None) -> Prior:
    """Loads a prior folder (default: the shipped hoijax/assets/prior). Raises
    FileNotFoundError naming the missing file."""
    config, params, categories = read_prior_folder(
        path or DEFAULT_PRIOR, REQUIRED_FILES, "a prior folder is written by "
        "python -m hoijax.train_prior --config=configs/prior.py (into WORKDIR/prior)")
    graphdef = denoiser_graphdef(config.model)
    schedule = make_schedule(config.diffusion.schedule, config.diffusion.num_steps)
    return Prior(config, make_denoise_fn(graphdef), params, categories, schedule)

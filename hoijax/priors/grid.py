"""The 3D interaction-grid prior (G-HOP; docs/design.md §11) loaded: its autoencoder and
its denoiser, in one call. Imports no training code.

    from hoijax.priors.grid import load_grid_prior
    prior = load_grid_prior()            # the shipped hoijax/assets/grid_prior
    z = prior.encode(sdf_grid)           # (B,R,R,R) -> (B,r,r,r,D) unit-std latent
    grid = prior.decode(z)               # -> (B,R,R,R) truncated SDF in [-1, 1]
    x0 = prior.denoise(prior.params, x_t, t, dict(tokens=prior.tokens(["mug"])))

A grid prior folder holds the denoiser (`params.npz`, `config.json`, `categories.json`)
and its autoencoder in `autoencoder/` (`params.npz`, `config.json`, `latent.json`: the
latent's standard deviation on the training set), with the training records
(`metrics.jsonl`, `training.json`, `loss.png`) beside each (`hoijax.priors.folder`). An
autoencoder folder alone loads with `load_autoencoder`. The specs that train and export
them: `hoijax.priors.grid_autoencoder_train`, `hoijax.priors.grid_train`.
"""
from __future__ import annotations

import dataclasses
import json
import os

import ml_collections
import numpy as np

from hoijax.diffusion.schedules import Schedule, make_schedule
from hoijax.models.build import module_graphdef
from hoijax.models.text import category_tokens
from hoijax.models.unet3d import UNet3D, make_denoise_fn
from hoijax.models.vqvae import VQVAE, make_vqvae_fns
from hoijax.priors.folder import read_prior_folder, unflatten_params

DEFAULT_GRID_PRIOR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets", "grid_prior")
LATENT_FILE = "latent.json"


@dataclasses.dataclass
class Autoencoder:
    """A loaded grid VQ-VAE: pure fns `vq` (encode / decode / forward), params, config and
    the latent's training-set std (the diffusion model sees latent / latent_std)."""
    config: ml_collections.ConfigDict
    vq: object
    params: dict
    latent_std: float
    half_extent: float  # the grid's box [-L, L]^3, normalised units (from its data)

    def encode(self, grids):
        """(B,R,R,R) -> (B,r,r,r,D) pre-quantisation latent / latent_std (differentiable)."""
        return self.vq.encode(self.params, grids) / self.latent_std

    def decode(self, z, quantize=True):
        """(B,r,r,r,D) scaled latent -> (B,R,R,R) grid."""
        return self.vq.decode(self.params, z * self.latent_std, quantize)


def load_autoencoder(path: str) -> Autoencoder:
    """Loads an autoencoder folder (raises FileNotFoundError naming a missing file)."""
    for name in ("params.npz", "config.json", LATENT_FILE):
        if not os.path.isfile(os.path.join(path, name)):
            raise FileNotFoundError(f"{os.path.join(path, name)}: missing; an autoencoder "
                                    "folder is written by python -m hoijax.train_prior "
                                    "--config=configs/grid_autoencoder.py")
    with open(os.path.join(path, "config.json")) as f:
        config = ml_collections.ConfigDict(json.load(f))
    with open(os.path.join(path, LATENT_FILE)) as f:
        latent = json.load(f)
    with np.load(os.path.join(path, "params.npz")) as data:
        params = unflatten_params(dict(data))
    graphdef = module_graphdef(lambda rngs: VQVAE(config.model, rngs=rngs))
    half_extent = latent.get("half_extent")
    if half_extent is None:  # folders exported before latent.json carried it
        with open(os.path.join(path, "training.json")) as f:
            half_extent = json.load(f)["data"]["half_extent"]
    return Autoencoder(config, make_vqvae_fns(graphdef, config.model.commitment), params,
                       float(latent["latent_std"]), float(half_extent))


# ---------------------------------------------------------------------------------------
# The grid prior (denoiser + autoencoder).

@dataclasses.dataclass
class GridPrior:
    """A loaded grid prior: `denoise(params, x_t, t, cond)` over (B,r,r,r,D+20) with
    cond = {"tokens": (B,L)}, its params, config, categories, schedule, and the
    autoencoder."""
    config: ml_collections.ConfigDict
    denoise: object
    params: dict
    categories: list
    schedule: Schedule
    autoencoder: Autoencoder

    def tokens(self, categories) -> np.ndarray:
        """(B,L) prompt tokens of category names (unknown or None -> the null prompt)."""
        table = category_tokens(self.categories)
        return table[[self.categories.index(c) if c in self.categories else -1
                      for c in categories]]

    def encode(self, grids):
        return self.autoencoder.encode(grids)

    def decode(self, z):
        return self.autoencoder.decode(z)

    @property
    def latent_dim(self) -> int:
        return self.autoencoder.config.model.latent_dim

    @property
    def half_extent(self) -> float:
        """The grid's box [-L, L]^3 in normalised hand-frame units."""
        return self.autoencoder.half_extent


def load_grid_prior(path: str | None = None) -> GridPrior:
    """Loads a grid prior folder (default: the shipped hoijax/assets/grid_prior). Raises
    FileNotFoundError naming the missing file."""
    path = path or DEFAULT_GRID_PRIOR
    config, params, categories = read_prior_folder(
        path, ("params.npz", "config.json", "categories.json"), "a grid prior folder is "
        "written by python -m hoijax.train_prior --config=configs/grid_prior.py")
    graphdef = module_graphdef(lambda rngs: UNet3D(config.model, rngs=rngs))
    schedule = make_schedule(config.diffusion.schedule, config.diffusion.num_steps)
    return GridPrior(config, make_denoise_fn(graphdef), params, categories, schedule,
                     load_autoencoder(os.path.join(path, "autoencoder")))

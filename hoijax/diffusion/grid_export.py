"""The trained 3D interaction-grid prior on disk (docs/design.md §11): export and the
one-call loader.

    from hoijax.diffusion.grid_export import load_grid_prior
    prior = load_grid_prior()            # the shipped hoijax/assets/grid_prior
    z = prior.encode(sdf_grid)           # (B,R,R,R) -> (B,r,r,r,D) unit-std latent
    grid = prior.decode(z)               # -> (B,R,R,R) truncated SDF in [-1, 1]
    x0 = prior.denoise(prior.params, x_t, t, dict(tokens=prior.tokens(["mug"])))

A grid prior folder holds the denoiser (`params.npz`, `config.json`, `categories.json`)
and its autoencoder in `autoencoder/` (`params.npz`, `config.json`, `latent.json`: the
latent's standard deviation on the training set), with the training records
(`metrics.jsonl`, `training.json`, `loss.png`) beside each. An autoencoder folder alone
loads with `load_autoencoder`.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil



import ml_collections
import numpy as np

from hoijax.diffusion.export import (flatten_params, loss_plot, read_prior_folder,
                                     unflatten_params)
from hoijax.diffusion.schedules import Schedule, make_schedule
from hoijax.diffusion.trainer import read_metrics
from hoijax.models.text import category_tokens

DEFAULT_GRID_PRIOR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets", "grid_prior")
LATENT_FILE = "latent.json"
MAX_STD_SAMPLES = 512


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


def _write_record(workdir, out_dir, step, manifest, title):
    metrics = read_metrics(workdir)
    if metrics:
        shutil.copy(os.path.join(workdir, "metrics.jsonl"),
                    os.path.join(out_dir, "metrics.jsonl"))
    shutil.copy(os.path.join(workdir, "config.json"), os.path.join(out_dir, "config.json"))
    with open(os.path.join(workdir, "config.json")) as f:
        planned = json.load(f)["num_steps"]
    record = dict(step=int(step), planned_steps=planned, what=title,
                  data={k: manifest[k] for k in ("num_samples", "resolution", "half_extent",
                                                 "field_resolution", "seconds")
                        if k in manifest}, data_config=manifest.get("config"))
    with open(os.path.join(out_dir, "training.json"), "w") as f:
        json.dump(record, f, indent=1)
    if any("loss" in m for m in metrics):
        import mediapy
        mediapy.write_image(os.path.join(out_dir, "loss.png"), loss_plot(metrics))


def export_autoencoder(workdir, out_dir, vq, params, train_grids, manifest, step) -> float:
    """Writes an autoencoder folder; measures the latent std on (up to 512 of) the
    training grids. Returns the std."""
    from hoijax.diffusion.vqvae_trainer import encode_all
    os.makedirs(out_dir, exist_ok=True)
    pick = np.linspace(0, len(train_grids) - 1, min(MAX_STD_SAMPLES, len(train_grids)))
    z = encode_all(vq, params, train_grids[pick.round().astype(int)])
    std = float(np.std(z))
    np.savez(os.path.join(out_dir, "params.npz"), **flatten_params(params))
    with open(os.path.join(out_dir, LATENT_FILE), "w") as f:
        json.dump(dict(latent_std=std, latent_mean=float(np.mean(z)),
                       latent_shape=list(z.shape[1:]), half_extent=manifest["half_extent"],
                       resolution=manifest["resolution"]), f)
    _write_record(workdir, out_dir, step, manifest, "grid autoencoder")
    return std


def load_autoencoder(path: str) -> Autoencoder:
    """Loads an autoencoder folder (raises FileNotFoundError naming a missing file)."""
    from hoijax.models.build import module_graphdef
    from hoijax.models.vqvae import VQVAE, make_vqvae_fns
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


def export_grid_prior(workdir, out_dir, params, manifest, step, autoencoder_dir) -> None:
    """Writes a grid prior folder: the denoiser's (EMA) params, config, categories and
    training record, and a copy of its autoencoder folder in out_dir/autoencoder."""
    os.makedirs(out_dir, exist_ok=True)
    np.savez(os.path.join(out_dir, "params.npz"), **flatten_params(params))
    with open(os.path.join(out_dir, "categories.json"), "w") as f:
        json.dump(list(manifest["categories"]), f)
    _write_record(workdir, out_dir, step, manifest, "grid prior denoiser")
    samples = os.path.join(workdir, "samples")
    if os.path.isdir(samples) and os.listdir(samples):
        shutil.copy(os.path.join(samples, sorted(os.listdir(samples))[-1]),
                    os.path.join(out_dir, "samples.png"))
    target = os.path.join(out_dir, "autoencoder")
    if os.path.abspath(autoencoder_dir) != os.path.abspath(target):
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(autoencoder_dir, target)


def load_grid_prior(path: str | None = None) -> GridPrior:
    """Loads a grid prior folder (default: the shipped hoijax/assets/grid_prior). Raises
    FileNotFoundError naming the missing file."""
    from hoijax.models.build import module_graphdef
    from hoijax.models.unet3d import UNet3D, make_denoise_fn
    path = path or DEFAULT_GRID_PRIOR
    config, params, categories = read_prior_folder(
        path, ("params.npz", "config.json", "categories.json"), "a grid prior folder is "
        "written by python -m hoijax.train_prior --config=configs/grid_prior.py")
    graphdef = module_graphdef(lambda rngs: UNet3D(config.model, rngs=rngs))
    schedule = make_schedule(config.diffusion.schedule, config.diffusion.num_steps)
    return GridPrior(config, make_denoise_fn(graphdef), params, categories, schedule,
                     load_autoencoder(os.path.join(path, "autoencoder")))



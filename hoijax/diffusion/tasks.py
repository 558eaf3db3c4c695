"""Which module trains which prior: `python -m hoijax.train_prior` hands a config whose
`task` field names one of TASKS to that module's `run(config, export)` (the geometry-image
prior, a config without `task`, trains in hoijax.diffusion.trainer). A library module, so
that tests and notebooks dispatch without importing the entry point (whose absl flags
would clash with another entry point's in one process)."""
from __future__ import annotations

import importlib

# config.task -> the module whose `run(config, export: str | None)` trains that prior and
# raises ValueError for a bad config before any work.
TASKS = {
    "grid_autoencoder": "hoijax.diffusion.vqvae_trainer",
    "grid_prior": "hoijax.diffusion.grid_trainer",
    "two_hand_prior": "hoijax.twohand.train",
}


def run_task(config, export: str | None) -> None:
    """Trains a non-image prior: hands `config` to the module TASKS names."""
    task = config.task
    if task not in TASKS:
        raise ValueError(f"config.task={task!r}: must be one of {sorted(TASKS)} "
                         "(or absent for the geometry-image prior)")
    importlib.import_module(TASKS[task]).run(config, export)

"""Which spec trains which prior: `python -m hoijax.train_prior` hands a config to the
`run(config, export)` of the module its `task` field names (a config without `task` is
the geometry-image prior's). A library module, so that tests and notebooks dispatch
without importing the entry point (whose absl flags would clash with another entry
point's in one process). The modules are named, not imported, so that the harness stays
below the specs that use it (the two-hand spec lives in hoijax.twohand)."""
from __future__ import annotations

import importlib

# config.task -> the module whose `run(config, export: str | None)` trains that prior and
# raises ValueError for a bad config before any work.
TASKS = {
    "image_prior": "hoijax.priors.image_train",
    "grid_autoencoder": "hoijax.priors.grid_autoencoder_train",
    "grid_prior": "hoijax.priors.grid_train",
    "two_hand_prior": "hoijax.twohand.train",
}


def run_task(config, export: str | None) -> None:
    """Trains the prior of config.task (absent: "image_prior") with that spec's `run`."""
    task = config.get("task", "image_prior")
    if task not in TASKS:
        raise ValueError(f"config.task={task!r}: must be one of {sorted(TASKS)} "
                         "(or absent for the geometry-image prior)")
    importlib.import_module(TASKS[task]).run(config, export)

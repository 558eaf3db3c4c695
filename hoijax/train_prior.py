"""Trains the geometry-image diffusion prior and exports it as a prior folder.

  python -m hoijax.train_prior --config=configs/prior.py:tiny
  python -m hoijax.train_prior --config=configs/prior.py --config.workdir=runs/prior \
      --config.data.path=prior_data_32 --config.optim.lr=1e-4
  python -m hoijax.reconstruct --clip=CLIP --out=OUT --config.prior=runs/prior/prior

At the end the EMA parameters are exported (a prior folder, hoijax.priors.folder) into
WORKDIR/prior, or --export=DIR, and the command that reconstructs with them is printed.
Data parallel over every device (all hosts: started as one process per host of a
multi-host job it calls jax.distributed.initialize()). A killed run restarted with the
same command resumes from its last checkpoint with the same data order; a finished run
restarted only exports again.
See configs/prior.py and hoijax/priors/image_train.py.

Every prior trains through this entry point on the one harness (hoijax.priors.loop): a
config whose `task` field names one of hoijax.priors.tasks.TASKS (configs/
grid_autoencoder.py, configs/grid_prior.py, configs/two_hand_prior.py; none: the image
prior) is handed to that spec's `run(config, export: str | None) -> None`, which raises
ValueError for a bad config before any work.
"""
from __future__ import annotations

from absl import flags, logging

from hoijax import cli

_CONFIG = cli.define_config("config", "prior.py",
                            "Prior training configuration (configs/prior.py[:tiny|:paper]).")
_EXPORT = flags.DEFINE_string(
    "export", None, "Folder for the trained prior (default: WORKDIR/prior); "
    "use it with `python -m hoijax.reconstruct --config.prior=DIR`.")


def main(argv):
    del argv
    # Imported here so that `--help` and flag errors answer without loading JAX.
    from hoijax import parallel
    from hoijax.priors.tasks import run_task
    from hoijax.runtime import enable_compilation_cache
    parallel.initialize_distributed()
    enable_compilation_cache()
    logging.set_verbosity(logging.WARNING)  # Orbax logs every checkpoint file at INFO
    try:
        run_task(_CONFIG.value, _EXPORT.value)
    except ValueError as e:
        raise cli.CliError(str(e)) from None


if __name__ == "__main__":
    from hoijax import cli
    cli.run(main)

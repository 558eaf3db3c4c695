"""Trains the geometry-image diffusion prior and exports it as a prior folder.

  python -m hoijax.train_prior --config=configs/prior.py:tiny
  python -m hoijax.train_prior --config=configs/prior.py --config.workdir=runs/prior \
      --config.data.path=prior_data_32 --config.optim.lr=1e-4
  python -m hoijax.reconstruct --clip=CLIP --out=OUT --config.prior=runs/prior/prior

At the end the EMA parameters are exported (hoijax.diffusion.export) into WORKDIR/prior, or
--export=DIR, and the command that reconstructs with them is printed. Data parallel over
every device (all hosts: started as one process per host of a multi-host job it calls
jax.distributed.initialize()). A killed run restarted with the same command resumes from
its last checkpoint with the same data order; a finished run restarted only exports again.
See configs/prior.py and hoijax/diffusion/trainer.py.

Other priors train through this same entry point: a config whose `task` field names one of
hoijax.diffusion.tasks.TASKS (configs/grid_autoencoder.py, configs/grid_prior.py,
configs/two_hand_prior.py) is handed to that task's module, which provides
`run(config, export: str | None) -> None` and raises ValueError for a bad config before
any work.
"""
from __future__ import annotations

import os

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(__file__), "..", "configs", "prior.py"),
    "Prior training configuration (configs/prior.py[:tiny|:paper]).")
_EXPORT = flags.DEFINE_string(
    "export", None, "Folder for the trained prior (default: WORKDIR/prior); "
    "use it with `python -m hoijax.reconstruct --config.prior=DIR`.")


def export_dir(workdir: str, export: str | None) -> str:
    """The prior folder of a run: --export, or WORKDIR/prior."""
    return export or os.path.join(workdir, "prior")


def usage_line(prior_dir: str) -> str:
    """The command that reconstructs a clip with the prior folder `prior_dir`."""
    return f"python -m hoijax.reconstruct --clip=CLIP --out=OUT --config.prior={prior_dir}"


def main(argv):
    del argv
    import jax

    from hoijax import parallel
    from hoijax.diffusion import export, trainer
    from hoijax.runtime import enable_compilation_cache
    parallel.initialize_distributed()
    enable_compilation_cache()
    logging.set_verbosity(logging.WARNING)  # Orbax logs every checkpoint file at INFO
    config = _CONFIG.value
    if config.get("task", "image_prior") != "image_prior":
        from hoijax.diffusion.tasks import run_task
        try:
            run_task(config, _EXPORT.value)
        except ValueError as e:
            raise app.UsageError(str(e)) from None
        return
    try:
        trainer.check_config(config)
        parallel.check_batch_size(config.batch_size, "--config.batch_size")
        data = trainer.load_training_data(config)
    except ValueError as e:
        raise app.UsageError(str(e)) from None
    state = trainer.train(config, data)
    step = int(state["step"])
    print(f"trained to step {step}; workdir {config.workdir}")
    if jax.process_index() == 0:  # one writer on a multi-host job
        out = export_dir(config.workdir, _EXPORT.value)
        export.export_prior(config.workdir, out, state["ema"], data["manifest"], step)
        print(f"exported the prior (EMA parameters at step {step}) to {out}; use it with\n"
              f"  {usage_line(out)}")


if __name__ == "__main__":
    app.run(main)

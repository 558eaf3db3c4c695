"""Trains the geometry-image diffusion prior.

  python -m hoijax.train_prior --config=configs/prior.py:tiny
  python -m hoijax.train_prior --config=configs/prior.py --config.workdir=runs/prior \
      --config.data.path=prior_data_32 --config.optim.lr=1e-4

Data parallel over every device (all hosts: started as one process per host of a multi-host
job it calls jax.distributed.initialize()). A killed run restarted with the same command
resumes from its last checkpoint with the same data order. See configs/prior.py and
hoijax/diffusion/trainer.py.
"""
from __future__ import annotations

import os

from absl import app, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(__file__), "..", "configs", "prior.py"),
    "Prior training configuration (configs/prior.py[:tiny|:paper]).")


def main(argv):
    del argv
    from hoijax import parallel
    from hoijax.diffusion import trainer
    from hoijax.runtime import enable_compilation_cache
    parallel.initialize_distributed()
    enable_compilation_cache()
    logging.set_verbosity(logging.WARNING)  # Orbax logs every checkpoint file at INFO
    config = _CONFIG.value
    try:
        parallel.check_batch_size(config.batch_size, "--config.batch_size")
        data = trainer.load_training_data(config)
    except ValueError as e:
        raise app.UsageError(str(e)) from None
    state = trainer.train(config, data)
    print(f"trained to step {int(state['step'])}; workdir {config.workdir}")


if __name__ == "__main__":
    app.run(main)

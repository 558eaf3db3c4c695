"""Fits one benchmark clip, with the tracker's estimates (as `python -m hoijax.reconstruct`
does) or, with --oracle, with the ground-truth hand and cameras in their place: the oracle
separates what the shape-from-masks-and-prior can reach from what the pose noise costs.
(Fitting never reads ground truth otherwise; --oracle is a diagnostic only.)

  python experiments/fit_one.py --clip=mug_0                       # full prior, tracker
  python experiments/fit_one.py --clip=mug_0 --oracle \
      --config=configs/reconstruct.py:no_prior --config.num_steps=200 --config.optim.lr.hTo=0

Writes the usual outputs into --out (default runs/fit_one/<clip>[_oracle]) and prints the
metrics.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time

from absl import app, flags
from benchlib import benchmark_clip_names, benchmark_jobs
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs",
                           "reconstruct.py"), "Reconstruction config (variant, overrides).")
_CLIP = flags.DEFINE_string("clip", "mug_0", "Benchmark clip name (CATEGORY_SEED).")
_ORACLE = flags.DEFINE_bool("oracle", False, "Start from the ground-truth hand and cameras "
                            "instead of the tracker's estimates.")
_CLIPS_DIR = flags.DEFINE_string("clips_dir", "runs/benchmark/clips",
                                 "Where benchmark clips are generated / found.")
_OUT = flags.DEFINE_string("out", None, "Output folder (default runs/fit_one/...).")


def main(argv):
    del argv
    from hoijax.hand import load_hand_model
    from hoijax.priors.image import load_prior
    from hoijax.recon.checks import check_config
    from hoijax.recon.run import reconstruct
    from hoijax.runtime import enable_compilation_cache
    config = _CONFIG.value
    try:
        check_config(config)
    except ValueError as e:
        raise app.UsageError(str(e)) from None
    names = benchmark_clip_names([_CLIP.value])
    enable_compilation_cache()
    model = load_hand_model("right")
    out = _OUT.value or os.path.join(
        "runs", "fit_one", names[0][0] + ("_oracle" if _ORACLE.value else ""))
    job, = benchmark_jobs(names, model, _CLIPS_DIR.value, out="", true_track=_ORACLE.value)
    job = dataclasses.replace(job, out=out)  # not out/<name>: --out is the clip's folder
    start = time.time()
    metrics = reconstruct([job], model, load_prior(config.prior or None), config,
                          workdir=out)[job.name]
    print(f"{out}: {time.time() - start:.0f} s, "
          + json.dumps({k: round(v, 3) if isinstance(v, float) else v
                        for k, v in metrics.items()}))


if __name__ == "__main__":
    app.run(main)

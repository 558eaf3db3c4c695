"""Fits one benchmark clip, with the tracker's estimates (as `python -m hoijax.reconstruct`
does) or, with --oracle, with the ground-truth hand and cameras in their place: the oracle
separates what the shape-from-masks-and-prior can reach from what the pose noise costs.
(Fitting never reads ground truth otherwise; --oracle is a diagnostic only.)

  python experiments/fit_one.py --clip=mug_0                       # full prior, tracker
  python experiments/fit_one.py --clip=mug_0 --oracle --variant=no_prior \
      --set num_steps=200 --set optim.lr.hTo=0

Writes the usual outputs into --out (default runs/fit_one/<clip>_<setting>) and prints
the metrics.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import VARIANTS, benchmark_clip_names, variant_config  # noqa: E402

_CLIP = flags.DEFINE_string("clip", "mug_0", "Benchmark clip name (CATEGORY_SEED).")
_ORACLE = flags.DEFINE_bool("oracle", False, "Start from the ground-truth hand and cameras "
                            "instead of the tracker's estimates.")
_VARIANT = flags.DEFINE_string("variant", "full", "full, no_prior, text_only or hand_only.")
_SET = flags.DEFINE_multi_string("set", [], "Config override key=value.")
_CLIPS_DIR = flags.DEFINE_string("clips_dir", "runs/benchmark/clips",
                                 "Where benchmark clips are generated / found.")
_OUT = flags.DEFINE_string("out", None, "Output folder (default runs/fit_one/...).")


def with_ground_truth_hand(clip):
    """The clip with its ground-truth cameras, articulation and shape as the estimates."""
    gt = clip.gt
    return dataclasses.replace(clip, cTh=gt["cTh"], hA=gt["hA"],
                               beta=np.broadcast_to(gt["beta"], clip.beta.shape).copy())


def main(argv):
    del argv
    from hoijax.data.clip import load_clip
    from hoijax.data.synthetic.split import BENCHMARK_NUM_FRAMES
    from hoijax.hand import load_hand_model
    from hoijax.models.prior import load_prior
    from hoijax.recon.fit import fit_clip
    from hoijax.recon.outputs import write_outputs
    from hoijax.recon.sources import synthetic_clip_folder
    from hoijax.runtime import enable_compilation_cache
    if _VARIANT.value not in VARIANTS or _VARIANT.value == "init":
        raise app.UsageError(f"--variant={_VARIANT.value}: choose one of "
                             f"{', '.join(v for v in VARIANTS if v != 'init')}")
    config = variant_config(_VARIANT.value, _SET.value)
    (name, category, seed), = benchmark_clip_names([_CLIP.value])
    enable_compilation_cache()
    model = load_hand_model("right")
    clip = load_clip(synthetic_clip_folder(model, os.path.join(_CLIPS_DIR.value, name),
                                           category, seed, BENCHMARK_NUM_FRAMES))
    if _ORACLE.value:
        clip = with_ground_truth_hand(clip)
    setting = "_".join([_VARIANT.value] + (["oracle"] if _ORACLE.value else [])
                       + [s.replace("=", "") for s in _SET.value])
    out = _OUT.value or os.path.join("runs", "fit_one", f"{name}_{setting}")
    start = time.time()
    result = fit_clip(clip, model, load_prior(None), config)
    metrics = write_outputs(out, result, clip, model, config)
    print(f"{out}: {time.time() - start:.0f} s, "
          + json.dumps({k: round(v, 3) if isinstance(v, float) else v
                        for k, v in metrics.items()}))


if __name__ == "__main__":
    app.run(main)

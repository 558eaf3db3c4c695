"""Every (category, seed) of the synthetic world gives a grasped object: all 16 categories
for seeds 0..N-1 through `data.synthetic.clips.grasp_object` (the grasp that every clip,
prior sample and benchmark object starts from).

  nice -n 10 python experiments/check_synthetic_world.py [--seeds 20]

Prints and writes experiments/results/synthetic_world.json: per pair whether the first
object draw fitted a grasp or a re-drawn one did, the grasp's penetration and nearest
distance (mm), and the seconds. Too long for the test suite (~8 min on the 2-core CPU);
the suite runs the pairs that need the fallback (tests/data/synthetic/test_clips.py).
"""
from __future__ import annotations

import time

import numpy as np
from absl import app, flags
from benchlib import default_path, write_results

_SEEDS = flags.DEFINE_integer("seeds", 20, "Seeds 0..N-1 per category.")


def main(argv):
    del argv
    from hoijax.data.synthetic.clips import grasp_object
    from hoijax.data.synthetic.objects import CATEGORIES, sample_params
    from hoijax.hand import load_hand_model
    from hoijax.runtime import enable_compilation_cache
    enable_compilation_cache()
    model = load_hand_model("right")
    rows, start = [], time.time()
    for category in CATEGORIES:
        for seed in range(_SEEDS.value):
            t = time.time()
            try:
                params, grasp = grasp_object(model, category, seed)
            except RuntimeError as e:
                rows.append(dict(category=category, seed=seed, error=str(e)))
                print(f"FAILED {e}", flush=True)
                continue
            redrawn = params != sample_params(category, np.random.default_rng(seed))
            rows.append(dict(category=category, seed=seed, redrawn=bool(redrawn),
                             penetration_mm=grasp.penetration_mm,
                             min_distance_mm=grasp.min_distance_mm,
                             seconds=time.time() - t))
            if redrawn:
                print(f"{category} {seed}: re-drawn object", flush=True)
    failed = [r for r in rows if "error" in r]
    summary = dict(pairs=len(rows), failed=len(failed),
                   redrawn=[(r["category"], r["seed"]) for r in rows if r.get("redrawn")],
                   seconds=time.time() - start)
    print(summary)
    write_results(dict(summary=summary, pairs=rows), default_path("synthetic_world"))


if __name__ == "__main__":
    app.run(main)

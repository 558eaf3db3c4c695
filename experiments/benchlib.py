"""Shared by the benchmark scripts: timing, recording figures in experiments/results/, and
the reconstruction benchmark's variants and clips."""
import json
import os
import time

import numpy as np
from absl import app

# Reconstruction benchmark variants -> configs/reconstruct.py variant (init: no fitting).
VARIANTS = {"init": None, "full": None, "no_prior": "no_prior", "text_only": "text_only",
            "hand_only": "hand_only"}

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def default_path(name: str) -> str:
    return os.path.join(RESULTS_DIR, f"{name}.json")


def write_results(results: dict, path: str, merge: bool = False) -> None:
    """Writes `results` as indented JSON (creating the folder) and says where. With merge,
    keys already in the file that `results` does not have are kept."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if merge and os.path.isfile(path):
        with open(path) as f:
            results = {**json.load(f), **results}
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    print(f"wrote {path}")


def best_seconds(fn, min_seconds=2.0, min_calls=3, max_calls=500):
    """Seconds per call of fn() (which must block on its result): the fastest call after a
    warm-up, over at least min_seconds. This machine is shared and noisy; the fastest call
    is the most repeatable measure of what the code can do (medians varied by 2x)."""
    fn()
    times, start = [], time.perf_counter()
    while ((time.perf_counter() - start < min_seconds or len(times) < min_calls)
           and len(times) < max_calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.min(times))


def variant_config(variant: str, overrides: list):
    """configs/reconstruct.py[:variant] with the --set overrides applied."""
    from hoijax.runtime import repo_config
    config = repo_config("reconstruct.py", VARIANTS[variant])
    for item in overrides:
        key, _, value = item.partition("=")
        node, *path = key.split(".")[::-1]
        parent = config
        for name in reversed(path):
            parent = parent[name]
        if node not in parent:
            raise app.UsageError(f"--set {item}: the config has no key {key!r}")
        parent[node] = type(parent[node])(json.loads(value))
    if variant == "init":  # no optimisation, whatever the overrides say
        config.num_steps = 0
    return config


def benchmark_clip_names(selected) -> list:
    """[(name, category, seed)] of the requested benchmark clips, checked."""
    from hoijax.data.synthetic.split import benchmark_clips
    clips = [(f"{c.replace(' ', '_')}_{s}", c, s) for c, s in benchmark_clips()]
    if selected:
        known = {name for name, _, _ in clips}
        unknown = [n for n in selected if n not in known]
        if unknown:
            raise app.UsageError(f"--clips: {', '.join(unknown)} not in the benchmark split "
                                 f"({', '.join(sorted(known))})")
        clips = [c for c in clips if c[0] in selected]
    return clips

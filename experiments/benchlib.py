"""Shared by the benchmark scripts: timing, and recording figures in experiments/results/."""
import json
import os
import time

import numpy as np

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

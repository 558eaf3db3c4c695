"""Shared by the benchmark scripts: timing, recording figures in experiments/results/ with
their provenance (command, date, commit, machine), and the reconstruction benchmark's
variants and clips."""
import datetime
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
from absl import app

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def default_path(name: str) -> str:
    return os.path.join(RESULTS_DIR, f"{name}.json")


def provenance() -> dict:
    """What produced a figure: the command, the UTC date, the commit (with "+changes" when
    tracked files differ from it) and the machine."""
    root = os.path.dirname(RESULTS_DIR)

    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True,
                              text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += "+changes"
    import jax
    machine = (f"{os.cpu_count()} CPU cores ({platform.machine()}), JAX {jax.__version__} "
               f"on {jax.default_backend()} ({jax.device_count()} device(s))")
    script = os.path.relpath(os.path.abspath(sys.argv[0]), root)  # from the checkout's root
    return dict(command="python " + " ".join([script] + sys.argv[1:]),
                date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
                commit=commit, machine=machine)


def provenance_line(record: dict) -> str:
    """One markdown sentence from `provenance()`."""
    return (f"Produced by `{record['command']}` on {record['date']} at commit "
            f"{record['commit']}; {record['machine']}.")


def write_results(results: dict, path: str, merge: bool = False) -> None:
    """Writes `results` as indented JSON (creating the folder), with `provenance()` under
    "provenance", and says where. With merge, keys already in the file that `results`
    does not have are kept."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if merge and os.path.isfile(path):
        with open(path) as f:
            results = {**json.load(f), **results}
    results = {**results, "provenance": provenance()}
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    print(f"wrote {path}")


def write_markdown(text: str, path: str) -> None:
    """Writes a results table to `path` under the `provenance_line` of this run."""
    with open(path, "w") as f:
        f.write(provenance_line(provenance()) + "\n\n" + text)
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


def variant_configs(config_flag, names):
    """{variant: config}: the loaded --config (with its command-line overrides), each
    variant of its config file (`apply_variant`) applied after the overrides."""
    import copy

    from ml_collections import config_flags

    from hoijax.runtime import config_module
    path = config_flags.get_config_filename(config_flag).split(":")[0]
    module = config_module(path)
    out = {}
    for name in names:
        try:
            out[name] = module.apply_variant(copy.deepcopy(config_flag.value), name)
        except ValueError as e:
            raise app.UsageError(str(e)) from None
    return out


def benchmark_clip_names(selected, split: str = "benchmark") -> list:
    """[(name, category, seed)] of the requested clips of a split of
    `hoijax.data.synthetic.split.SPLITS` (all when `selected` is empty), checked."""
    from hoijax.data.synthetic.objects import clip_name
    from hoijax.data.synthetic.split import SPLITS
    if split not in SPLITS:
        raise app.UsageError(f"split {split!r}: choose from {', '.join(SPLITS)}")
    clips = [(clip_name(c, s), c, s) for c, s in SPLITS[split]()]
    if selected:
        known = {name for name, _, _ in clips}
        unknown = [n for n in selected if n not in known]
        if unknown:
            raise app.UsageError(f"clips: {', '.join(unknown)} not in the {split} split "
                                 f"({', '.join(sorted(known))})")
        clips = [c for c in clips if c[0] in selected]
    return clips


def benchmark_jobs(names, model, clips_dir, out, true_track=False):
    """`hoijax.recon.run.Job`s of benchmark clips [(name, category, seed)], generated into
    clips_dir/<name> on first use, writing into out/<name>. true_track: fit from the
    ground-truth hand track instead of the tracker's (`Clip.with_true_track`)."""
    from hoijax.data.clip import load_clip
    from hoijax.data.synthetic.split import BENCHMARK_NUM_FRAMES
    from hoijax.recon.run import Job
    from hoijax.recon.sources import synthetic_clip_folder
    jobs = []
    for name, c, s in names:
        clip = load_clip(synthetic_clip_folder(model, os.path.join(clips_dir, name), c, s,
                                               BENCHMARK_NUM_FRAMES))
        jobs.append(Job(name, clip.with_true_track() if true_track else clip,
                        os.path.join(out, name)))
    return jobs

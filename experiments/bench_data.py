"""Synthetic-world figures: time to generate an 8-frame clip and the prior's training data.

  python experiments/bench_data.py [--prior_data DIR]

Clip: `python -m hoijax.data.synthetic` timed end to end in a fresh process (imports, JIT
compilation with the persistent cache warm, grasp synthesis, rendering, writing), and the
second and third clips generated in one process (what batch mode costs per clip).
Prior data: the wall time recorded in the manifest of a folder written by
`python -m hoijax.data.prior_data --config=configs/prior_data.py` (default config: 9984
images at 32x32). Writes experiments/results/data.json (merged with earlier keys).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags
from benchlib import default_path, write_results

_PRIOR_DATA = flags.DEFINE_string(
    "prior_data", "", "Folder written by hoijax.data.prior_data whose manifest's wall time "
    "to report (empty: skip).")
_OUT = flags.DEFINE_string("out", default_path("data"),
                           "Results JSON (merged with its earlier keys).")


def cli_clip_seconds(tmp):
    start = time.time()
    subprocess.run([sys.executable, "-m", "hoijax.data.synthetic", "--category", "mug",
                    "--seed", "0", "--num_frames", "8", "--out", os.path.join(tmp, "cli")],
                   check=True, capture_output=True)
    return time.time() - start


def in_process_seconds(tmp):
    from hoijax.data.clip import save_clip
    from hoijax.data.synthetic.clips import ClipSpec, generate_clip
    from hoijax.hand import load_standin
    from hoijax.runtime import enable_compilation_cache
    enable_compilation_cache()
    model = load_standin("right")
    times = []
    for seed in (1, 2, 3):
        start = time.time()
        clip = generate_clip(model, ClipSpec(category="mug", seed=seed, num_frames=8))
        clip.pop("stats")
        save_clip(os.path.join(tmp, f"mug_{seed}"), **clip)
        times.append(time.time() - start)
    return times


def main(argv):
    del argv
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["clip_8_frames_cli_s"] = cli_clip_seconds(tmp)
        times = in_process_seconds(tmp)
        results["clip_8_frames_first_in_process_s"] = times[0]
        results["clip_8_frames_warm_s"] = min(times[1:])
    print(f"8-frame 128x128 mug clip: {results['clip_8_frames_cli_s']:.1f} s from the command "
          f"line, {results['clip_8_frames_warm_s']:.1f} s per further clip in one process")
    if _PRIOR_DATA.value:
        with open(os.path.join(_PRIOR_DATA.value, "manifest.json")) as f:
            manifest = json.load(f)
        results["prior_data"] = dict(samples=manifest["num_samples"],
                                     image_size=manifest["image_size"],
                                     seconds=manifest["seconds"])
        print(f"prior data: {manifest['num_samples']} images of {manifest['image_size']}px "
              f"in {manifest['seconds']:.0f} s")
    write_results(results, _OUT.value, merge=True)


if __name__ == "__main__":
    app.run(main)

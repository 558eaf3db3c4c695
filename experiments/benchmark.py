"""The reconstruction benchmark: the 12-clip synthetic test split, in the shape of DiffHOI's
Tables 1-3 (per category F@5, F@10, CD, CD_h and the mean), one row block per variant.

  python experiments/benchmark.py                          # all variants, default config
  python experiments/benchmark.py --variants=full,no_prior --set num_steps=300
  python experiments/benchmark.py --clips=mug_0,bowl_1 --out=runs/bench_small

Variants: `init` (the mask-fitted initial sphere, no optimisation: the floor any fit has to
beat), `full` (the prior with text and hand), `no_prior` (SDS weight 0), `text_only` (the
prior sees no hand), `hand_only` (the null prompt). `--set key=value` overrides the
reconstruction config for every variant (e.g. num_steps, render.image_size).

Every variant fits all its clips together (one vmapped step, the clips split over all
devices; `--group` fits fewer at a time). Per clip, the usual outputs land in
OUT/<variant>/<clip>/; a finished clip is not refitted (`--reevaluate` recomputes its
metrics from its outputs), and a killed group resumes from its checkpoint. The table goes
to experiments/results/benchmark.{json,md} (`--results`); wall time is per clip (a group's
time divided by its clips). A fit whose object vanished (no zero level set) counts F = 0;
its distances are left out of the CD means, and the table says how many.
`experiments/benchmark_figure.py` draws the fitted meshes side by side.
"""
from __future__ import annotations

import json
import os
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (RESULTS_DIR, VARIANTS, benchmark_clip_names,  # noqa: E402
                      variant_config, write_results)

METRICS = ("F@5", "F@10", "CD", "CD_h")

_VARIANTS = flags.DEFINE_list("variants", "init,full,no_prior,text_only,hand_only",
                              f"Variants to run, from {', '.join(VARIANTS)}.")
_CLIPS = flags.DEFINE_list("clips", None, "Clip names (CATEGORY_SEED, e.g. mug_0); "
                           "default: the 12-clip benchmark split.")
_OUT = flags.DEFINE_string("out", "runs/benchmark", "Working folder (clips, fits, outputs).")
_SET = flags.DEFINE_multi_string("set", [], "Config override key=value, for every variant.")
_GROUP = flags.DEFINE_integer("group", 0, "Clips fitted together (0: all of a variant).")
_REEVALUATE = flags.DEFINE_bool("reevaluate", False, "Recompute the metrics of finished "
                                "clips from their outputs (after an evaluation change).")
_RESULTS = flags.DEFINE_string("results", os.path.join(RESULTS_DIR, "benchmark"),
                               "Table path without extension (.json and .md are written).")


def run_variant(variant, config, clips, model, prior, group, reevaluate):
    """Fits (or reuses) every clip of a variant; returns {name: metrics}. The clips are cut
    into fixed groups of `group` (0: one group); a group with every clip finished is
    skipped, any other is fitted whole (resuming its checkpoint after a kill)."""
    from hoijax.recon.fit import fit_clips
    from hoijax.recon.outputs import evaluate_outputs, write_outputs
    out = os.path.join(_OUT.value, variant)
    done = {}
    for name, clip in clips:
        path = os.path.join(out, name, "metrics.json")
        if os.path.isfile(path):
            with open(path) as f:
                done[name] = json.load(f)
            if reevaluate:
                done[name] = evaluate_outputs(os.path.dirname(path), clip,
                                              done[name]["seconds"])
    group = group or len(clips)
    for first in range(0, len(clips), group):
        part = clips[first:first + group]
        if all(name in done for name, _ in part):
            continue
        print(f"[{variant}] fitting {', '.join(n for n, _ in part)}")
        workdir = os.path.join(out, "fit_" + "_".join(n for n, _ in part))
        results = fit_clips([c for _, c in part], model, prior, config, workdir=workdir)
        for (name, clip), result in zip(part, results):
            done[name] = write_outputs(os.path.join(out, name), result, clip, model, config)
    return done


def summarise(per_clip: dict, categories: dict) -> dict:
    """{category or 'mean': {metric: mean}} from {name: metrics} (mean over all clips)."""
    import numpy as np
    def mean(values):  # distances of a vanished object are NaN: averaged over the rest
        values = [v for v in values if np.isfinite(v)]
        return float(np.mean(values)) if values else float("nan")

    rows = {}
    for category in dict.fromkeys(categories.values()):
        names = [n for n, c in categories.items() if c == category and n in per_clip]
        rows[category] = {m: mean([per_clip[n][m] for n in names]) for m in METRICS}
    rows["mean"] = {m: mean([v[m] for v in per_clip.values()])
                    for m in METRICS + ("seconds",)}
    rows["mean"]["vanished"] = sum(bool(v.get("vanished")) for v in per_clip.values())
    return rows


def markdown(table: dict, categories: list) -> str:
    """One line per variant and metric, one column per category plus the mean."""
    head = "| variant | metric | " + " | ".join(categories) + " | mean |"
    lines = [head, "|" + "---|" * (len(categories) + 3)]
    for variant, rows in table.items():
        for m in METRICS:
            cells = [f"{rows[c][m]:.2f}" if m.startswith("F") else f"{rows[c][m]:.1f}"
                     for c in categories + ["mean"]]
            lines.append(f"| {variant} | {m}{' (mm)' if m.startswith('CD') else ''} | "
                         + " | ".join(cells) + " |")
        lines.append(f"| {variant} | s / clip | " + " | ".join("" for _ in categories)
                     + f" | {rows['mean']['seconds']:.0f} |")
        if rows["mean"]["vanished"]:
            lines.append(f"| {variant} | vanished objects | "
                         + " | ".join("" for _ in categories)
                         + f" | {rows['mean']['vanished']} |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    from absl import logging
    from hoijax.data.clip import load_clip
    from hoijax.data.synthetic.split import BENCHMARK_NUM_FRAMES
    from hoijax.hand import load_hand_model
    from hoijax.models.prior import load_prior
    from hoijax.recon.sources import synthetic_clip_folder
    from hoijax.runtime import enable_compilation_cache
    unknown = [v for v in _VARIANTS.value if v not in VARIANTS]
    if unknown:
        raise app.UsageError(f"--variants: unknown {', '.join(unknown)}; choose from "
                             f"{', '.join(VARIANTS)}")
    configs = {v: variant_config(v, _SET.value) for v in _VARIANTS.value}  # fail early
    names = benchmark_clip_names(_CLIPS.value)
    enable_compilation_cache()
    logging.set_verbosity(logging.WARNING)
    model = load_hand_model("right")
    prior = load_prior(None)
    clips = [(name, load_clip(synthetic_clip_folder(
        model, os.path.join(_OUT.value, "clips", name), c, s, BENCHMARK_NUM_FRAMES)))
        for name, c, s in names]
    categories = {name: c for name, c, _ in names}
    table, per_clip = {}, {}
    for variant, config in configs.items():
        start = time.time()
        per_clip[variant] = run_variant(variant, config, clips, model, prior, _GROUP.value,
                                        _REEVALUATE.value)
        table[variant] = summarise(per_clip[variant], categories)
        print(f"[{variant}] {time.time() - start:.0f} s; mean "
              + ", ".join(f"{m} {table[variant]['mean'][m]:.3f}" for m in METRICS))
    text = markdown(table, list(dict.fromkeys(categories.values())))
    print(text)
    record = dict(table=table, per_clip=per_clip, overrides=_SET.value,
                  clips=[n for n, _, _ in names], command=" ".join(sys.argv))
    write_results(record, _RESULTS.value + ".json")
    with open(_RESULTS.value + ".md", "w") as f:
        f.write(text)


if __name__ == "__main__":
    app.run(main)

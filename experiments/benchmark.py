"""The reconstruction benchmark: the 12-clip synthetic test split, in the shape of DiffHOI's
Tables 1-3 (per category F@5, F@10, CD, CD_h and the mean), one row block per variant.

  python experiments/benchmark.py --config=configs/reconstruct.py:bench           # published
  python experiments/benchmark.py --config=configs/reconstruct.py:bench_ablation  # published
  python experiments/benchmark.py --config=configs/reconstruct.py:bench \
      --config.bench.variants=full --config.bench.clips=mug_0,bowl_1 --config.num_steps=50 \
      --config.bench.out=runs/bench_small --config.bench.results=runs/bench_small/table

The config's `bench` section says which variants (of configs/reconstruct.py: `init`,
`full`, `no_prior`, `text_only`, `hand_only`, `fill`, ...), which split
(`hoijax.data.synthetic.split.SPLITS`; `unseen` adds the real meshes of
`scanned_meshes.py`), which clips, from which hand track (`tracker`, or `truth`: the
ground truth's, which shows what the shape alone costs) and where; the docstring of
configs/reconstruct.py gives the expected figures and times. Every `--config.X=...`
override applies to every variant, before the variant's own change.

Every variant fits its clips in fixed groups of `bench.group` (one vmapped step, the clips
split over all devices) through `hoijax.recon.run.reconstruct`. Per clip, the usual outputs
land in OUT/<variant>/<clip>/; a finished clip is not refitted (`--reevaluate` recomputes
its metrics from its outputs), and a killed group resumes from its checkpoint. The table
goes to `bench.results`.{json,md}; wall time is per clip (a group's time divided by its
clips). A fit whose object vanished (no zero level set) counts F = 0; its distances are
left out of the CD means, and the table says how many.
Two bias diagnostics follow the paper's metrics: `volume_ratio` (fitted volume over
the truth's) and `mask_iou` (the fitted object's visible silhouette against the input
masks). `experiments/benchmark_figure.py` draws the fitted meshes side by side.
"""
from __future__ import annotations

import os
import sys
import time

from absl import app, flags
from benchlib import (benchmark_clip_names, benchmark_jobs, variant_configs, write_markdown,
                      write_results)
from ml_collections import config_flags

METRICS = ("F@5", "F@10", "CD", "CD_h")
# Bias diagnostics (hoijax.recon.outputs.evaluate_outputs): the fitted object's volume over
# the truth's, and its visible silhouette's IoU with the input masks.
DIAGNOSTICS = ("volume_ratio", "mask_iou")

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs",
                           "reconstruct.py:bench"),
    "configs/reconstruct.py with a `bench` section (the :bench or :bench_ablation variant).")
_REEVALUATE = flags.DEFINE_bool("reevaluate", False, "Recompute the metrics of finished "
                                "clips from their outputs (after an evaluation change).")


def summarise(per_clip: dict, categories: dict) -> dict:
    """{category or 'mean': {metric: mean}} from {name: metrics} (mean over all clips)."""
    import numpy as np
    def mean(values):  # distances of a vanished object are NaN: averaged over the rest
        values = [v for v in values if np.isfinite(v)]
        return float(np.mean(values)) if values else float("nan")

    rows = {}
    for category in dict.fromkeys(categories.values()):
        names = [n for n, c in categories.items() if c == category and n in per_clip]
        rows[category] = {m: mean([per_clip[n].get(m, np.nan) for n in names])
                          for m in METRICS + DIAGNOSTICS}
    rows["mean"] = {m: mean([v.get(m, np.nan) for v in per_clip.values()])
                    for m in METRICS + DIAGNOSTICS + ("seconds",)}
    rows["mean"]["vanished"] = sum(bool(v.get("vanished")) for v in per_clip.values())
    return rows


def markdown(table: dict, categories: list) -> str:
    """One line per variant and metric, one column per category plus the mean."""
    head = "| variant | metric | " + " | ".join(categories) + " | mean |"
    lines = [head, "|" + "---|" * (len(categories) + 3)]
    for variant, rows in table.items():
        for m in METRICS + DIAGNOSTICS:
            if m not in rows["mean"]:  # a table written before the diagnostics existed
                continue
            cells = [f"{rows[c][m]:.1f}" if m.startswith("CD") else f"{rows[c][m]:.2f}"
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


def _split(text):
    return [x.strip() for x in text.split(",") if x.strip()]


def main(argv):
    del argv
    from absl import logging

    from hoijax.hand import load_hand_model
    from hoijax.priors.image import load_prior
    from hoijax.recon.checks import check_config
    from hoijax.recon.run import reconstruct
    from hoijax.runtime import enable_compilation_cache
    bench = _CONFIG.value.get("bench")
    if bench is None:
        raise app.UsageError("--config: needs a `bench` section (configs/reconstruct.py:bench)")
    configs = variant_configs(flags.FLAGS["config"], _split(bench.variants))
    for name, config in configs.items():  # fail early
        try:
            check_config(config)
        except ValueError as e:
            raise app.UsageError(f"variant {name}: {e}") from None
    split = bench.get("split", "benchmark")
    if bench.get("track", "tracker") not in ("tracker", "truth"):
        raise app.UsageError(f"bench.track={bench.track!r}: 'tracker' or 'truth'")
    if split == "unseen":  # real meshes beside the procedural held-out shapes
        import scanned_meshes
        scanned_meshes.register()
    names = benchmark_clip_names(_split(bench.clips), split)
    enable_compilation_cache()
    logging.set_verbosity(logging.WARNING)
    model = load_hand_model("right")
    prior = load_prior(_CONFIG.value.prior or None)
    categories = {name: c for name, c, _ in names}
    table, per_clip = {}, {}
    for variant, config in configs.items():
        start = time.time()
        out = os.path.join(bench.out, variant)
        jobs = benchmark_jobs(names, model, os.path.join(bench.out, "clips"), out,
                              true_track=bench.get("track", "tracker") == "truth")
        per_clip[variant] = reconstruct(jobs, model, prior, config, workdir=out,
                                        group=bench.group, skip_finished=True,
                                        reevaluate=_REEVALUATE.value)
        table[variant] = summarise(per_clip[variant], categories)
        print(f"[{variant}] {time.time() - start:.0f} s; mean "
              + ", ".join(f"{m} {table[variant]['mean'][m]:.3f}" for m in METRICS))
    text = markdown(table, list(dict.fromkeys(categories.values())))
    print(text)
    record = dict(table=table, per_clip=per_clip, config=_CONFIG.value.to_dict(),
                  clips=[n for n, _, _ in names], command=" ".join(sys.argv))
    write_results(record, bench.results + ".json")
    write_markdown(text, bench.results + ".md")


if __name__ == "__main__":
    app.run(main)

"""One orchestration of reconstruction: clips in, outputs and metrics out.

`reconstruct(jobs, model, prior, config, workdir=...)` is what `python -m
hoijax.reconstruct`, experiments/benchmark.py and experiments/fit_one.py all call:
every job (a loaded clip and its output folder) is grouped with the others of the same
frame count, in fixed groups of `group` clips (0: one group), each group fitted together
(`hoijax.recon.fit.fit_clips`, one vmapped step, checkpointed into its own folder under
`workdir` so a killed run resumes), and each clip's outputs written
(`hoijax.recon.outputs`). `load_jobs` turns `--clip` arguments into jobs, validating every
clip (and generating the synthetic ones) before any fitting starts.
"""
from __future__ import annotations

import dataclasses
import json
import os

from hoijax.data.clip import load_clip
from hoijax.recon.checkpoints import check_resumable
from hoijax.recon.checks import check_config
from hoijax.recon.fit import fit_clips
from hoijax.recon.outputs import evaluate_outputs, write_outputs
from hoijax.recon.sources import resolve_clips, synthetic_clip_folder


@dataclasses.dataclass
class Job:
    name: str  # the clip's name (folder name, or CATEGORY_SEED for synthetic clips)
    clip: object  # a loaded `hoijax.data.clip.Clip`
    out: str  # where its outputs go


def load_jobs(specs, out, model) -> list[Job]:
    """Jobs for `--clip` specs (folders, globs, synthetic:CATEGORY[:SEED]): one clip writes
    into `out`, several into out/<name>; a synthetic clip is first generated into its
    output folder's `clip/`. Raises ValueError (or `ClipError`, a ValueError) naming the
    bad argument or file, before anything is fitted."""
    sources = resolve_clips(specs)
    names = [name for name, _ in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"--clip: two clips share a name ({', '.join(names)}); their "
                         "outputs would overwrite each other")
    jobs = []
    for name, source in sources:
        folder = out if len(sources) == 1 else os.path.join(out, name)
        if isinstance(source, tuple):
            _, category, seed = source
            source = synthetic_clip_folder(model, os.path.join(folder, "clip"), category,
                                           seed)
        jobs.append(Job(name, load_clip(source), folder))
    return jobs


def fit_groups(jobs, group: int) -> list[list[Job]]:
    """Jobs with the same frame count, cut in order into groups of `group` (0: whole)."""
    by_frames = {}
    for job in jobs:
        by_frames.setdefault(job.clip.num_frames, []).append(job)
    out = []
    for same in by_frames.values():
        size = group or len(same)
        out += [same[i:i + size] for i in range(0, len(same), size)]
    return out


def group_workdir(workdir, part, single) -> str:
    """The checkpoint folder of one group: workdir/fit for a lone clip, else named by its
    first and last clip."""
    if single:
        return os.path.join(workdir, "fit")
    names = part[0].name if len(part) == 1 else f"{part[0].name}..{part[-1].name}"
    return os.path.join(workdir, f"fit_{names}")


def _finished(job, reevaluate, hand_faces):
    """The metrics of a job whose outputs are complete (metrics.json written), else None."""
    path = os.path.join(job.out, "metrics.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        metrics = json.load(f)
    if reevaluate:
        metrics = evaluate_outputs(job.out, job.clip, metrics["seconds"], hand_faces)
    return metrics


def reconstruct(jobs, model, prior, config, *, workdir, group=0, category=None,
                skip_finished=False, reevaluate=False, progress=True) -> dict:
    """Fits every job and writes its outputs; returns {name: metrics} ({} without ground
    truth). config: configs/reconstruct.py; category: overrides every clip's text.txt.
    skip_finished: clips that have metrics.json are not refitted (reevaluate: their metrics
    are recomputed from the outputs); the others are grouped among themselves. Config and
    checkpoint folders are checked before anything is fitted."""
    check_config(config)
    done = {}
    if skip_finished:
        done = {job.name: _finished(job, reevaluate, model.faces) for job in jobs}
        done = {name: metrics for name, metrics in done.items() if metrics is not None}
    groups = fit_groups([job for job in jobs if job.name not in done], group)
    single = len(jobs) == 1
    for part in groups:
        check_resumable(group_workdir(workdir, part, single), config.num_steps)
    results = dict(done)
    for part in groups:
        if len(part) > 1:
            print(f"fitting {len(part)} clips together: {', '.join(j.name for j in part)}")
        fits = fit_clips([j.clip for j in part], model, prior, config,
                         categories=[category] * len(part),
                         workdir=group_workdir(workdir, part, single), progress=progress)
        for job, fit in zip(part, fits):
            results[job.name] = write_outputs(job.out, fit, job.clip, model,
                                              config.render)
            summary = ", ".join(f"{k} {v:.3f}" for k, v in results[job.name].items()
                                if k not in ("seconds", "vanished"))
            print(f"{job.out}: {fit.seconds:.0f} s" + (f"; {summary}" if summary else ""))
    return {job.name: results[job.name] for job in jobs if job.name in results}

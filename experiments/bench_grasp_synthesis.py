"""Grasp synthesis with the grid prior (G-HOP; `python -m hoijax.grasp`) on held-out
synthetic objects, against a no-prior baseline.

  nice -n 10 python experiments/bench_grasp_synthesis.py [--per_category 1] \
      [--config configs/grasp.py] [--categories mug,can]

Objects: every category of the synthetic world, seeds 500, 501, ... (`objects.sample_params`):
never in the prior's training data (seeds >= 1000, `data.grid_data`) nor in the
reconstruction benchmark / generalisation splits (seeds 0, 1). Each object is grasped
through its exact SDF (an `SdfVolume` of `object_sdf`, as the CLI's volume of a mesh), with
the prompt of its category, `configs/grasp.py` (seeds_per_grasp candidates, SDS, ranking,
refinement); the best-ranked grasp is measured (hoijax.eval.physics): penetration depth
(mm) and volume (cm^3), contact of the five fingers and the palm (2 mm), whether the thumb
and at least two other fingers touch, and the simulation displacement (cm; MuJoCo, hand
fixed, 1 s of gravity along the object's -z: the synthetic objects stand on z = 0).
Baseline ("no prior"): the same starts (same key: same rotations, offsets, mean pose),
refined by the contact/penetration energy alone for sds.steps + refine.steps steps, the
best by that energy. Seconds per grasp: wall time of the optimisation per object (the
first object, which compiles, reported apart). Writes experiments/results/
grasp_synthesis.{json,md,png}.
"""
from __future__ import annotations

import os
import time

import jax
import mediapy
import numpy as np
from absl import app, flags
from benchlib import default_path, write_results

from hoijax.runtime import enable_compilation_cache, repo_config

_PER = flags.DEFINE_integer("per_category", 1, "Objects per category.")
_FIRST_SEED = flags.DEFINE_integer("first_seed", 500, "First object seed (held out).")
_CATEGORIES = flags.DEFINE_list("categories", None, "Categories (default: all).")
_VARIANT = flags.DEFINE_string("variant", "", "configs/grasp.py variant.")
_OUT = flags.DEFINE_string("out", default_path("grasp_synthesis"), "Results JSON.")
_SQUEEZE = flags.DEFINE_float("squeeze", None, "Override config.refine.squeeze (m).")
_SUMMARISE = flags.DEFINE_bool("summarise_only", False, "Rebuild the tables (json, md) from "
                               "the objects already in --out (no runs, no picture).")
METHODS = ("prior", "no_prior")
KEYS = ("penetration_depth_mm", "penetration_volume_cm3", "fingers_in_contact",
        "thumb_and_two", "simulation_displacement_cm", "held")
HELD_CM = 2.0  # a grasp "holds" when the object moves less than this in the simulation


def run_object(fns, prior, model, config, category, seed, opts, hand_interior):
    from hoijax.data.synthetic import objects as O
    from hoijax.interaction.grasp_tools import grasp_metrics
    from hoijax.interaction import grasp as G
    from hoijax.interaction import volume as V
    from hoijax.eval.physics import interior_samples
    params = O.sample_params(category, np.random.default_rng(seed))
    lo, hi = O.object_bounds(category, params)
    volume = V.volume_from_function(lambda x: O.sdf_on_points(category, params, x), lo, hi,
                                    config.volume_size)
    mesh = O.object_mesh(category, params, 0.003)
    surface = np.asarray(mesh.vertices)
    if len(surface) > 4000:
        surface = surface[np.random.default_rng(0).choice(len(surface), 4000, replace=False)]
    interior = interior_samples(lambda x: O.object_sdf(category, params, x), lo, hi,
                                max(0.002, float(np.max(hi - lo)) / 40))
    setup = G.make_setup(prior, model, volume, category, np.asarray(config.betas))
    parts = [np.asarray(p) for p in setup.hand_parts]
    out = dict(category=category, seed=seed)
    hands = {}
    for method in METHODS:
        t = time.time()
        res = G.synthesize(fns, setup, jax.random.key(config.seed + seed), num=1,
                           seeds_per_grasp=config.seeds_per_grasp, jitter=config.jitter,
                           use_prior=method == "prior", chunk=config.sds.chunk, sds=opts["sds"],
                           score=opts["score"],
                           refinement=opts["refinement" if method == "prior" else "base"])
        seconds = time.time() - t
        p = G.mano_in_object_frame(model, res["hand_pose"][0], config.betas, res["hTo"][0])
        m = grasp_metrics(model, volume, p, surface, interior, config, hand_interior, parts)
        out[method] = dict(seconds=seconds, score=float(res["score"][0]), **m)
        hands[method] = G.posed_in_object_frame(model, p)
        print(f"{category} {seed} {method}: {seconds:.1f} s, pen "
              f"{m['penetration_depth_mm']:.1f} mm {m['penetration_volume_cm3']:.2f} cm3, "
              f"fingers {m['fingers_in_contact']} thumb+2 {m['thumb_and_two']}, sim "
              f"{m['simulation_displacement_cm']}", flush=True)
    return out, hands, mesh


def summarise(records, categories):
    for r in records:
        for method in METHODS:
            d = r[method]["simulation_displacement_cm"]
            r[method]["held"] = None if d is None else bool(d < HELD_CM)
    table = {}
    for method in METHODS:
        rows = {}
        for c in categories:
            rs = [r[method] for r in records if r["category"] == c]
            if rs:
                rows[c] = {k: float(np.mean([float(r[k]) for r in rs if r[k] is not None]))
                           if any(r[k] is not None for r in rs) else None for k in KEYS}
                rows[c]["seconds"] = float(np.mean([r["seconds"] for r in rs]))
        warm = [r[method]["seconds"] for r in records[1:]] or [records[0][method]["seconds"]]
        mean = {k: float(np.mean([v[k] for v in rows.values() if v[k] is not None]))
                for k in KEYS if any(v[k] is not None for v in rows.values())}
        sims = [r[method]["simulation_displacement_cm"] for r in records
                if r[method]["simulation_displacement_cm"] is not None]
        if sims:
            mean["median_displacement_cm"] = float(np.median(sims))
        mean["seconds_per_grasp"] = float(np.mean(warm))
        mean["first_object_seconds"] = float(records[0][method]["seconds"])
        table[method] = dict(per_category=rows, mean=mean)
    return table


def markdown(table, config) -> str:
    lines = ["| category | method | pen. depth mm | pen. volume cm^3 | fingers in contact | "
             "thumb + 2 | sim. displacement cm | held (< 2 cm) |",
             "|---|---|---|---|---|---|---|---|"]
    fmt = lambda v, d=2: "-" if v is None else f"{v:.{d}f}"  # noqa: E731
    cats = list(table["prior"]["per_category"])
    for c in cats + ["**mean**"]:
        for method in METHODS:
            row = (table[method]["mean"] if c == "**mean**"
                   else table[method]["per_category"][c])
            lines.append(f"| {c} | {method} | {fmt(row.get('penetration_depth_mm'), 1)} | "
                         f"{fmt(row.get('penetration_volume_cm3'))} | "
                         f"{fmt(row.get('fingers_in_contact'), 1)} | "
                         f"{fmt(row.get('thumb_and_two'))} | "
                         f"{fmt(row.get('simulation_displacement_cm'))} | "
                         f"{fmt(row.get('held'))} |")
    lines.append("")
    for method in METHODS:
        m = table[method]["mean"]
        med = m.get("median_displacement_cm")
        lines.append(f"{method}: {m['seconds_per_grasp']:.1f} s per grasp (warm; the first "
                     f"object, compiling, {m['first_object_seconds']:.1f} s); median "
                     f"displacement {'-' if med is None else f'{med:.2f} cm'}")
    lines.append(f"config: {config.seeds_per_grasp} seeds per grasp, {config.sds.steps} SDS "
                 f"steps, {config.refine.steps} refinement steps")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    from hoijax.data.synthetic.objects import CATEGORIES
    from hoijax.diffusion.grid_export import load_grid_prior
    from hoijax.eval.physics import INSTALL_HINT, have_mujoco
    from hoijax.interaction.grasp_tools import grasp_picture, options
    from hoijax.hand import load_hand_model
    from hoijax.hand.proxy import interior_points
    from hoijax.interaction import grasp as G
    enable_compilation_cache()
    if _SUMMARISE.value:
        import json
        with open(_OUT.value) as f:
            results = json.load(f)
        config = repo_config("grasp.py", _VARIANT.value or None)
        cats = list(dict.fromkeys(r["category"] for r in results["objects"]))
        table = summarise(results["objects"], cats)
        results.update(table)
        write_results(results, _OUT.value)
        md = markdown(table, config)
        with open(os.path.splitext(_OUT.value)[0] + ".md", "w") as f:
            f.write(md)
        print(md)
        return
    if not have_mujoco():
        print(f"MuJoCo missing: no simulation displacement. Enable it with {INSTALL_HINT}")
    config = repo_config("grasp.py", _VARIANT.value or None)
    if _SQUEEZE.value is not None:
        config.refine.squeeze = _SQUEEZE.value
    categories = _CATEGORIES.value or list(CATEGORIES)
    prior = load_grid_prior(config.prior or None)
    model = load_hand_model("right")
    fns = G.PriorFns(prior)
    opts = options(config)
    base = dict(opts["refinement"])
    base["steps"] = config.sds.steps + config.refine.steps
    opts["base"] = G.Static(**base)
    hand_interior = interior_points(model, 1024)
    records, cells = [], []
    start = time.time()
    for c in categories:
        for i in range(_PER.value):
            rec, hands, mesh = run_object(fns, prior, model, config, c, _FIRST_SEED.value + i,
                                          opts, hand_interior)
            records.append(rec)
            if i == 0:
                for method in METHODS:
                    r = rec[method]
                    sim = r["simulation_displacement_cm"]
                    cells.append(grasp_picture(
                        [hands[method]], np.asarray(model.faces), np.asarray(mesh.vertices),
                        np.asarray(mesh.faces),
                        [f"{c} {method}: {r['penetration_depth_mm']:.1f} mm, "
                         f"{r['fingers_in_contact']} fingers, "
                         f"{'-' if sim is None else f'{sim:.1f} cm'}"], size=150, cols=1))
    table = summarise(records, categories)
    results = dict(config=config.to_dict(), objects=records, **table,
                   total_seconds=time.time() - start,
                   simulation="MuJoCo" if have_mujoco() else "missing")
    write_results(results, _OUT.value)
    md = markdown(table, config)
    with open(os.path.splitext(_OUT.value)[0] + ".md", "w") as f:
        f.write(md)
    print(md)
    from hoijax import viz
    base = os.path.splitext(_OUT.value)[0]
    mediapy.write_image(base + ".png", viz.grid(cells, 4))
    print(f"wrote {base}.md, {base}.png")


if __name__ == "__main__":
    app.run(main)

"""Grasp synthesis with the grid prior (G-HOP; `python -m hoijax.grasp`) on held-out
synthetic objects, against a no-prior baseline.

  nice -n 10 python experiments/bench_grasp_synthesis.py [--per_category 1] \
      [--config configs/grasp.py] [--categories mug,can] [--source mesh]

Objects: every category of the synthetic world, seeds 500, 501, ... (`objects.sample_params`):
never in the prior's training data (seeds >= 1000, `data.grid_data`) nor in the
reconstruction benchmark / generalisation splits (seeds 0, 1). Each object is grasped
through its exact SDF (an `SdfVolume` of `object_sdf`, as the CLI's volume of a mesh), with
the prompt of its category, `configs/grasp.py` (seeds_per_grasp candidates, SDS, ranking,
refinement); the best-ranked grasp is measured (hoijax.eval.physics): penetration depth
(mm) and volume (cm^3), contact of the five fingers and the palm (2 mm), whether the thumb
and at least two other fingers touch, and the simulation displacement (cm; MuJoCo, hand
fixed, 1 s of gravity along the object's -z: the synthetic objects stand on z = 0).
With `--source mesh` each object is instead grasped through the CLI's path for a user's
mesh: its marching-cubes mesh damaged as users' meshes are (`data.synthetic.damage`: 4
holes of 6 mm, 30 % of the faces flipped, 40 duplicated, split into a 2-part GLB under
node transforms), read back by `volume.load_object_mesh` and sampled by
`volume.volume_from_mesh`; the metrics still use the exact SDF, and each object records
the mesh volume's agreement with it (sign agreement beyond one voxel, median |error|
within 1 cm of the surface) and the seconds to build it.
Baseline ("no prior"): the same starts (same key: same rotations, offsets, mean pose),
refined by the contact/penetration energy alone for sds.steps + refine.steps steps, the
best by that energy. Seconds per grasp: wall time of the optimisation per object (the
first object, which compiles, reported apart). Writes experiments/results/
grasp_synthesis.{json,md,png}.
"""
from __future__ import annotations

import dataclasses
import os
import time

import jax
import mediapy
import numpy as np
from absl import app, flags
from benchlib import default_path, write_markdown, write_results

from hoijax.runtime import enable_compilation_cache, repo_config

_PER = flags.DEFINE_integer("per_category", 1, "Objects per category.")
_FIRST_SEED = flags.DEFINE_integer("first_seed", 500, "First object seed (held out).")
_CATEGORIES = flags.DEFINE_list("categories", None, "Categories (default: all).")
_VARIANT = flags.DEFINE_string("variant", "", "configs/grasp.py variant.")
_OUT = flags.DEFINE_string("out", default_path("grasp_synthesis"), "Results JSON.")
_SQUEEZE = flags.DEFINE_float("squeeze", None, "Override config.refine.squeeze (m).")
_SOURCE = flags.DEFINE_enum("source", "exact", ["exact", "mesh"], "The SDF volume the "
                            "grasps are optimised against: the object's exact SDF, or its "
                            "damaged multi-part mesh through load_object_mesh.")
_SUMMARISE = flags.DEFINE_bool("summarise_only", False, "Rebuild the tables (json, md) from "
                               "the objects already in --out (no runs, no picture).")
METHODS = ("prior", "no_prior")
KEYS = ("penetration_depth_mm", "penetration_volume_cm3", "fingers_in_contact",
        "thumb_and_two", "simulation_displacement_cm", "held")
HELD_CM = 2.0  # a grasp "holds" when the object moves less than this in the simulation


def run_object(fns, prior, model, config, category, seed, opts, hand_interior):
    from hoijax.data.synthetic import objects as O
    from hoijax.eval.physics import interior_samples
    from hoijax.grasp import synthesis as G
    from hoijax.grasp.tools import grasp_metrics
    from hoijax.interaction import volume as V
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
    out = dict(category=category, seed=seed)
    optimised = volume
    if _SOURCE.value == "mesh":
        optimised, out["mesh_volume"] = mesh_path_volume(category, params, seed, volume, config)
    setup = G.make_setup(prior, model, optimised, category, np.asarray(config.betas))
    parts = [np.asarray(p) for p in setup.hand_parts]
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


def mesh_path_volume(category, params, seed, exact, config):
    """The object's damaged 2-part GLB through the CLI's loader -> (SdfVolume, its
    agreement with the exact volume: dict)."""
    import tempfile

    import jax.numpy as jnp

    from hoijax.data.synthetic import damage
    from hoijax.data.synthetic import objects as O
    from hoijax.interaction import volume as V
    rng = np.random.default_rng(seed)
    broken, _ = damage.damage(O.object_mesh(category, params, 0.003), rng)
    t = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "object.glb")
        damage.split_scene(broken, rng).export(path)
        mesh = V.load_object_mesh(path)
    volume = V.volume_from_mesh(mesh, config.volume_size)
    seconds = time.time() - t
    x = jnp.asarray(rng.uniform(mesh.bounds[0] - 0.02, mesh.bounds[1] + 0.02, (20000, 3)),
                    jnp.float32)
    got, want = np.asarray(V.sample(volume, x)), np.asarray(O.sdf_on_points(category, params, x))
    clear = np.abs(want) > float(exact.spacing)
    band = np.abs(want) < 0.01
    return volume, dict(faces=int(len(mesh.faces)), seconds=seconds,
                        sign_agreement=float(np.mean((got < 0)[clear] == (want < 0)[clear])),
                        median_error_mm=float(np.median(np.abs(got - want)[band]) * 1e3))


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
    if "mesh_volume" in records[0]:
        table["mesh_volume"] = {k: float(np.mean([r["mesh_volume"][k] for r in records]))
                                for k in records[0]["mesh_volume"]}
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
    if "mesh_volume" in table:
        m = table["mesh_volume"]
        lines.append(f"source: damaged 2-part GLB meshes through load_object_mesh "
                     f"(mean {m['faces']:.0f} faces): sign agreement with the exact SDF "
                     f"{m['sign_agreement']:.4f}, median |error| within 1 cm "
                     f"{m['median_error_mm']:.2f} mm, {m['seconds']:.1f} s to load and sample")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    from hoijax.data.synthetic.objects import CATEGORIES
    from hoijax.eval.physics import INSTALL_HINT, have_mujoco
    from hoijax.grasp import synthesis as G
    from hoijax.grasp.tools import grasp_picture, options
    from hoijax.hand import load_hand_model
    from hoijax.hand.proxy import interior_points
    from hoijax.priors.grid import load_grid_prior
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
        write_markdown(md, os.path.splitext(_OUT.value)[0] + ".md")
        print(md)
        return
    if not have_mujoco():
        print(f"MuJoCo missing: no simulation displacement. Enable it with {INSTALL_HINT}")
    config = repo_config("grasp.py", _VARIANT.value or None)
    out_path = _OUT.value
    if _SOURCE.value == "mesh" and out_path == default_path("grasp_synthesis"):
        out_path = default_path("grasp_synthesis_mesh")
    if _SQUEEZE.value is not None:
        config.refine.squeeze = _SQUEEZE.value
    categories = _CATEGORIES.value or list(CATEGORIES)
    prior = load_grid_prior(config.prior or None)
    model = load_hand_model("right")
    fns = G.PriorFns(prior)
    opts = options(config)
    opts["base"] = dataclasses.replace(opts["refinement"],
                                       steps=config.sds.steps + config.refine.steps)
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
    results = dict(config=config.to_dict(), objects=records, **table, source=_SOURCE.value,
                   total_seconds=time.time() - start,
                   simulation="MuJoCo" if have_mujoco() else "missing")
    write_results(results, out_path)
    md = markdown(table, config)
    write_markdown(md, os.path.splitext(out_path)[0] + ".md")
    print(md)
    from hoijax import viz
    base = os.path.splitext(out_path)[0]
    mediapy.write_image(base + ".png", viz.grid(cells, 4))
    print(f"wrote {base}.md, {base}.png")


if __name__ == "__main__":
    app.run(main)

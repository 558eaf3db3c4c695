"""Grasps for one object mesh, end to end, as `python -m hoijax.grasp` runs them
(docs/design.md §11.1): synthesis, the physical measures of each grasp, and the output
folder (grasps.npz, grasp_KK/hand.obj, grasps.json, grasps.png). A library, so notebooks
and benchmarks run what the CLI runs."""
from __future__ import annotations

import json
import os
import time

import jax
import mediapy
import numpy as np

from hoijax import cli
from hoijax.eval import physics as P
from hoijax.geometry.mesh import write_obj
from hoijax.grasp import synthesis as G
from hoijax.grasp.tools import grasp_metrics, grasp_picture, object_points, options
from hoijax.hand import load_hand_model
from hoijax.hand.proxy import interior_points
from hoijax.interaction import volume as V
from hoijax.priors.grid import load_grid_prior


def load_for_cli(prior_path, category_word, mano_dir, flag="--category"):
    """(grid prior, its category for the word (None: no word), right hand model) for the
    grasp and generation CLIs; CliError for an unknown word, ValueError/FileNotFoundError
    for a bad prior folder or MANO folder."""
    prior = load_grid_prior(prior_path)
    category = cli.category(category_word, prior.categories, flag)
    return prior, category, load_hand_model("right", mano_dir)


def grasp_mesh(config, mesh, model, prior, category, num, log=print) -> dict:
    """Synthesises `num` grasps of a checked mesh (`volume.load_object_mesh`) -> dict(
    params: list of smplx-convention MANO dicts in the mesh's frame, best first; score
    (num,); volume; setup; seconds)."""
    start = time.time()
    volume = V.volume_from_mesh(mesh, config.volume_size)
    setup = G.make_setup(prior, model, volume, category, np.asarray(config.betas))

    def progress(done):
        if done == "scored":
            log(f"  ranked {num * config.seeds_per_grasp} candidates "
                f"({time.time() - start:.0f} s)")
        else:
            log(f"  SDS step {done}/{config.sds.steps} ({time.time() - start:.0f} s)")

    log(f"{num} grasp(s) x {config.seeds_per_grasp} seeds "
        f"({'prompt ' + repr(category) if category else 'null prompt'}), "
        f"{config.sds.steps} SDS + {config.refine.steps} refinement steps")
    result = G.synthesize(G.PriorFns(prior), setup, jax.random.key(config.seed), num=num,
                          seeds_per_grasp=config.seeds_per_grasp, jitter=config.jitter,
                          chunk=config.sds.chunk, progress=progress, **options(config))
    seconds = time.time() - start
    log(f"optimised in {seconds:.1f} s ({seconds / num:.1f} s per grasp)")
    params = [G.mano_in_object_frame(model, result["hand_pose"][k], config.betas,
                                     result["hTo"][k]) for k in range(num)]
    return dict(params=params, score=np.asarray(result["score"]), volume=volume,
                setup=setup, seconds=seconds)


def measure(config, model, mesh, run: dict, simulate: bool) -> list:
    """Per grasp: rank, score and `tools.grasp_metrics` (penetration, contacts, and the
    simulation displacement when `simulate`)."""
    surface, interior = object_points(mesh, run["volume"]) if simulate else (None, None)
    hand_interior = interior_points(model, 1024)
    parts = [np.asarray(p) for p in run["setup"].hand_parts]
    return [dict(rank=k, score=float(run["score"][k]),
                 **grasp_metrics(model, run["volume"], p, surface, interior, config,
                                 hand_interior, parts))
            for k, p in enumerate(run["params"])]


def write_grasps(out, object_path, model, mesh, run: dict, records: list, category,
                 simulation: str) -> None:
    """The output folder: grasps.npz (hand_pose, betas, global_orient, transl, score),
    grasp_KK/hand.obj (object frame), grasps.json (the records) and grasps.png."""
    params = run["params"]
    arrays = {key: np.stack([p[key] for p in params]) for key in params[0]}
    arrays["score"] = run["score"].astype(np.float32)
    np.savez(os.path.join(out, "grasps.npz"), **arrays)
    faces = np.asarray(model.faces)
    hands = [G.posed_in_object_frame(model, p) for p in params]
    for k, verts in enumerate(hands):
        os.makedirs(os.path.join(out, f"grasp_{k:02d}"), exist_ok=True)
        write_obj(os.path.join(out, f"grasp_{k:02d}", "hand.obj"), verts, faces)
    with open(os.path.join(out, "grasps.json"), "w") as f:
        json.dump(dict(object=os.path.abspath(object_path), category=category,
                       seconds=run["seconds"], seconds_per_grasp=run["seconds"] / len(params),
                       simulation=simulation, grasps=records), f, indent=1)
    titles = [f"#{r['rank']} score {r['score']:.4f} pen {r['penetration_depth_mm']:.1f} mm "
              f"fingers {r['fingers_in_contact']}" for r in records]
    mediapy.write_image(os.path.join(out, "grasps.png"), grasp_picture(
        hands, faces, np.asarray(mesh.vertices), np.asarray(mesh.faces), titles))


def summary_line(r: dict) -> str:
    """One printed line per grasp record."""
    sim = r["simulation_displacement_cm"]
    return (f"grasp {r['rank']}: score {r['score']:.4f}, penetration "
            f"{r['penetration_depth_mm']:.1f} mm / {r['penetration_volume_cm3']:.2f} cm^3, "
            f"contact {[n for n, c in r['contact'].items() if c]}, displacement "
            f"{'-' if sim is None else f'{sim:.2f} cm'}")


def simulation_note(config) -> tuple[bool, str]:
    """(whether the grasps are simulated, the note grasps.json keeps about it)."""
    simulate = bool(config.metrics.simulate and P.have_mujoco())
    if simulate:
        return True, "MuJoCo, gravity " + ",".join(config.metrics.gravity)
    return False, f"not run ({P.INSTALL_HINT})"

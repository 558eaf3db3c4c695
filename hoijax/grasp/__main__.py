"""Synthesises right-hand grasps of an object mesh with the 3D interaction-grid prior
(G-HOP; docs/design.md §11.1).

  python -m hoijax.grasp --object=MESH --category=WORD --num=N --out=OUT
  python -m hoijax.grasp --object=mug.obj --num=2 --out=OUT --config=configs/grasp.py:tiny

MESH is any file trimesh reads (OBJ, PLY, STL, OFF, GLB/GLTF; a scene's parts are merged
with their node transforms), in metres (--scale=0.001 for millimetres), in any pose; it
may be open, non-manifold or inconsistently wound (the SDF's sign is the generalised
winding number's); only a mesh with no inside (a single sheet) is refused. --category is
optional (absent or unknown to the prior: the null prompt). The mesh becomes an SDF
volume in its own frame; num x seeds_per_grasp candidates are optimised by SDS on the
interaction grid, ranked by the prior's mean denoising error, and the best num refined
with contact and penetration terms. Writes, best first:
- OUT/grasps.npz: hand_pose (N,45) axis-angle with the flat-hand mean, betas (N,10),
  global_orient (N,3), transl (N,3): right-hand MANO parameters that pose the hand in the
  object mesh's own frame (metres) as smplx/manopth apply them with the same model file,
  and score (N,) (lower = more likely under the prior);
- OUT/grasp_KK/hand.obj (object frame, metres);
- OUT/grasps.png (each grasp from two views with the object);
- OUT/grasps.json: per grasp its score and physical metrics (penetration depth mm and
  volume cm^3, contact per finger and palm, simulation displacement cm with MuJoCo).
"""
from __future__ import annotations

import json
import os
import time

from absl import app, flags
from ml_collections import config_flags

# The repository's configs/ (hoijax/grasp/__main__.py -> ../../configs); no hoijax import,
# so --help stays fast.
CONFIGS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "configs")

_OBJECT = flags.DEFINE_string("object", None, "Object mesh file (metres, any pose).")
_SCALE = flags.DEFINE_float("scale", 1.0, "Multiplies the mesh's coordinates into metres "
                            "(0.001 for millimetres); outputs are in the scaled frame.")
_CATEGORY = flags.DEFINE_string("category", None, "Object category word (optional).")
_NUM = flags.DEFINE_integer("num", 4, "Number of grasps.")
_OUT = flags.DEFINE_string("out", None, "Output folder.")
_MANO_DIR = flags.DEFINE_string("mano_dir", None, "Folder with the official MANO_RIGHT.pkl "
                                "(default: $HOIJAX_MANO_DIR or the stand-in hand).")
_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(CONFIGS_DIR, "grasp.py"), "Grasp config (configs/grasp.py[:variant]).")


def main(argv):
    del argv
    import jax
    import mediapy
    import numpy as np

    from hoijax.priors.grid import load_grid_prior
    from hoijax.eval import physics as P
    from hoijax.geometry.mesh import write_obj
    from hoijax.hand import load_hand_model
    from hoijax.hand.proxy import interior_points
    from hoijax.grasp import synthesis as G
    from hoijax.interaction import volume as V
    from hoijax.grasp.tools import (check_config, grasp_metrics, grasp_picture,
                                                object_points, options, prompt_category)
    from hoijax.runtime import enable_compilation_cache
    enable_compilation_cache()
    config = _CONFIG.value
    if not _OUT.value:
        raise app.UsageError("--out is required")
    if not _OBJECT.value:
        raise app.UsageError("--object is required (a mesh file in metres)")
    if _NUM.value < 1:
        raise app.UsageError(f"--num={_NUM.value}: must be at least 1")
    try:
        check_config(config)
        mesh = V.load_object_mesh(_OBJECT.value, _SCALE.value)
        model = load_hand_model("right", _MANO_DIR.value)
        prior = load_grid_prior(config.prior or None)
    except (ValueError, FileNotFoundError) as e:
        raise app.UsageError(str(e)) from None
    category = prompt_category(_CATEGORY.value, prior)
    simulate = config.metrics.simulate and P.have_mujoco()
    if config.metrics.simulate and not simulate:
        print(f"MuJoCo is not installed: no simulation displacement. Enable it with "
              f"{P.INSTALL_HINT}")
    os.makedirs(_OUT.value, exist_ok=True)
    start = time.time()
    volume = V.volume_from_mesh(mesh, config.volume_size)
    setup = G.make_setup(prior, model, volume, category, np.asarray(config.betas))
    fns = G.PriorFns(prior)
    total = config.sds.steps

    def progress(done):
        if done == "scored":
            print(f"  ranked {_NUM.value * config.seeds_per_grasp} candidates "
                  f"({time.time() - start:.0f} s)", flush=True)
        else:
            print(f"  SDS step {done}/{total} ({time.time() - start:.0f} s)", flush=True)

    print(f"{_NUM.value} grasp(s) x {config.seeds_per_grasp} seeds of {_OBJECT.value} "
          f"({'prompt ' + repr(category) if category else 'null prompt'}), "
          f"{config.sds.steps} SDS + {config.refine.steps} refinement steps", flush=True)
    result = G.synthesize(fns, setup, jax.random.key(config.seed), num=_NUM.value,
                          seeds_per_grasp=config.seeds_per_grasp, jitter=config.jitter,
                          chunk=config.sds.chunk, progress=progress, **options(config))
    seconds = time.time() - start
    print(f"optimised in {seconds:.1f} s ({seconds / _NUM.value:.1f} s per grasp)")
    params = [G.mano_in_object_frame(model, result["hand_pose"][k], config.betas,
                                     result["hTo"][k]) for k in range(_NUM.value)]
    arrays = {key: np.stack([p[key] for p in params]) for key in params[0]}
    arrays["score"] = result["score"].astype(np.float32)
    np.savez(os.path.join(_OUT.value, "grasps.npz"), **arrays)
    faces = np.asarray(model.faces)
    hands = []
    for k, p in enumerate(params):
        verts = G.posed_in_object_frame(model, p)
        hands.append(verts)
        folder = os.path.join(_OUT.value, f"grasp_{k:02d}")
        os.makedirs(folder, exist_ok=True)
        write_obj(os.path.join(folder, "hand.obj"), verts, faces)
    surface, interior = object_points(mesh, volume) if simulate else (None, None)
    hand_interior = interior_points(model, 1024)
    parts = [np.asarray(p) for p in setup.hand_parts]
    records = []
    for k, p in enumerate(params):
        m = grasp_metrics(model, volume, p, surface, interior, config, hand_interior, parts)
        records.append(dict(rank=k, score=float(result["score"][k]), **m))
    with open(os.path.join(_OUT.value, "grasps.json"), "w") as f:
        json.dump(dict(object=os.path.abspath(_OBJECT.value), category=category,
                       seconds=seconds, seconds_per_grasp=seconds / _NUM.value,
                       simulation=("MuJoCo, gravity " + ",".join(config.metrics.gravity)
                                   if simulate else f"not run ({P.INSTALL_HINT})"),
                       grasps=records), f, indent=1)
    titles = [f"#{r['rank']} score {r['score']:.4f} pen {r['penetration_depth_mm']:.1f} mm "
              f"fingers {r['fingers_in_contact']}" for r in records]
    image = grasp_picture(hands, faces, np.asarray(mesh.vertices), np.asarray(mesh.faces),
                          titles)
    mediapy.write_image(os.path.join(_OUT.value, "grasps.png"), image)
    for r in records:
        sim = r["simulation_displacement_cm"]
        print(f"grasp {r['rank']}: score {r['score']:.4f}, penetration "
              f"{r['penetration_depth_mm']:.1f} mm / {r['penetration_volume_cm3']:.2f} cm^3, "
              f"contact {[n for n, c in r['contact'].items() if c]}, displacement "
              f"{'-' if sim is None else f'{sim:.2f} cm'}")
    print(f"wrote {_OUT.value}/grasps.npz, grasps.json, grasps.png, grasp_KK/hand.obj")


if __name__ == "__main__":
    app.run(main)

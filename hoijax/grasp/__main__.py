"""Synthesises right-hand grasps of an object mesh with the 3D interaction-grid prior
(G-HOP; docs/design.md §11.1).

  python -m hoijax.grasp --object=MESH --category=WORD --num=N --out=OUT
  python -m hoijax.grasp --object=mug.obj --num=2 --out=OUT --config=configs/grasp.py:tiny

MESH is any file trimesh reads (OBJ, PLY, STL, OFF, GLB/GLTF; a scene's parts are merged
with their node transforms), in metres (--scale=0.001 for millimetres), in any pose; it
may be open, non-manifold or inconsistently wound (the SDF's sign is the generalised
winding number's); only a mesh with no inside (a single sheet) is refused. --category is
optional (absent: the null prompt; a word the prior does not know is refused with the
nearest names). The mesh becomes an SDF volume in its own frame; num x seeds_per_grasp
candidates are optimised by SDS on the interaction grid, ranked by the prior's mean
denoising error, and the best num refined with contact and penetration terms (the library:
hoijax.grasp.run). Writes, best first:
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

from absl import flags

from hoijax import cli

_OBJECT = flags.DEFINE_string("object", None, "Object mesh file (metres, any pose).")
_SCALE = flags.DEFINE_float("scale", 1.0, "Multiplies the mesh's coordinates into metres "
                            "(0.001 for millimetres); outputs are in the scaled frame.")
_CATEGORY = flags.DEFINE_string("category", None, "Object category word (optional).")
_NUM = flags.DEFINE_integer("num", 4, "Number of grasps.")
_OUT = flags.DEFINE_string("out", None, "Output folder.")
_MANO_DIR = flags.DEFINE_string("mano_dir", None, "Folder with the official MANO_RIGHT.pkl "
                                "(default: $HOIJAX_MANO_DIR or the stand-in hand).")
_CONFIG = cli.define_config("config", "grasp.py",
                            "Grasp config (configs/grasp.py[:variant]).")


MAX_GRASPS = 64  # --num above this is refused (each grasp is seeds_per_grasp candidates)


def main(argv):
    del argv
    # Imported here so that `--help` and flag errors answer without loading JAX.
    from hoijax import cli
    from hoijax.grasp import run
    from hoijax.grasp.tools import check_config
    from hoijax.interaction import volume as V
    from hoijax.runtime import enable_compilation_cache
    config = _CONFIG.value
    if not _OBJECT.value:
        raise cli.CliError("--object is required (a mesh file in metres)")
    num = cli.count(_NUM.value, "--num", MAX_GRASPS)
    cli.output_folder(_OUT.value, create=False)
    try:
        check_config(config)
        mesh = V.load_object_mesh(_OBJECT.value, _SCALE.value)
        prior, category, model = run.load_for_cli(config.prior or None, _CATEGORY.value,
                                                  _MANO_DIR.value)
    except (ValueError, FileNotFoundError) as e:
        raise cli.CliError(str(e)) from None
    out = cli.output_folder(_OUT.value)
    enable_compilation_cache()
    simulate, simulation = run.simulation_note(config)
    if config.metrics.simulate and not simulate:
        print(f"MuJoCo is not installed: no simulation displacement ({simulation})")
    print(f"object {_OBJECT.value}", flush=True)
    result = run.grasp_mesh(config, mesh, model, prior, category, num,
                            log=lambda line: print(line, flush=True))
    records = run.measure(config, model, mesh, result, simulate)
    run.write_grasps(out, _OBJECT.value, model, mesh, result, records, category, simulation)
    for r in records:
        print(run.summary_line(r))
    print(f"wrote {out}/grasps.npz, grasps.json, grasps.png, grasp_KK/hand.obj")


if __name__ == "__main__":
    from hoijax import cli
    cli.run(main)

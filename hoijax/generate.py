"""Generates hands with objects from a category word with the 3D interaction-grid prior
(G-HOP; docs/design.md §11.2).

  python -m hoijax.generate --category=mug --num=8 --out=OUT
  python -m hoijax.generate --num=2 --out=OUT --ddim_steps=2 --fit_steps=2   # a smoke run

DDIM samples of the whole interaction grid (object latent + hand skeletal field) with the
prompt (CFG); each object latent decoded to an SDF grid and meshed by marching cubes; the
hand's articulation fitted to the sampled field. Writes, in the zero-rotation MANO hand
frame (metres; the grid's frame):
- OUT/sample_KK/object.obj (absent when a sample's object channel has no surface) and
  OUT/sample_KK/hand.obj;
- OUT/samples.npz: hand_pose (N,45) axis-angle with the flat-hand mean, betas (N,10),
  global_orient (N,3) and transl (N,3) (zeros: the hand frame), field_error (N,) the fitted
  hand's field RMSE against the sample, has_object (N,) bool;
- OUT/samples.png: the samples rendered (hand and object, two views each).
"""
from __future__ import annotations

from absl import flags

_CATEGORY = flags.DEFINE_string("category", None, "Object category word (absent: the null "
                                "prompt; a word the prior does not know is refused).")
_NUM = flags.DEFINE_integer("num", 8, "Number of samples.")
_OUT = flags.DEFINE_string("out", None, "Output folder.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")
_DDIM = flags.DEFINE_integer("ddim_steps", None, "DDIM steps (default: the prior's, 50).")
_GUIDANCE = flags.DEFINE_float("guidance", None, "CFG scale (default: the prior's, 4).")
_FIT = flags.DEFINE_integer("fit_steps", 300, "Adam steps fitting MANO to each field.")
_PRIOR = flags.DEFINE_string("prior", None, "Grid prior folder (default: the shipped one).")
_MANO_DIR = flags.DEFINE_string("mano_dir", None, "Folder with the official MANO_RIGHT.pkl.")


MAX_SAMPLES = 1024  # --num above this is refused


def main(argv):
    del argv
    # Imported here so that `--help` and flag errors answer without loading JAX.
    import jax
    import numpy as np

    from hoijax import cli
    from hoijax.grasp import generate as GEN
    from hoijax.grasp.run import load_for_cli
    from hoijax.runtime import enable_compilation_cache
    num = cli.count(_NUM.value, "--num", MAX_SAMPLES)
    cli.output_folder(_OUT.value, create=False)
    for name, flag in (("ddim_steps", _DDIM), ("fit_steps", _FIT)):
        if flag.value is not None:
            cli.count(flag.value, f"--{name}", 10_000)
    try:
        prior, category, model = load_for_cli(_PRIOR.value, _CATEGORY.value, _MANO_DIR.value)
    except (ValueError, FileNotFoundError) as e:
        raise cli.CliError(str(e)) from None
    out = cli.output_folder(_OUT.value)
    enable_compilation_cache()
    result = GEN.generate(prior, model, category, num, jax.random.key(_SEED.value),
                          ddim_steps=_DDIM.value, guidance=_GUIDANCE.value,
                          fit_steps=_FIT.value)
    GEN.write_samples(out, result, np.asarray(model.faces), category)
    objects = sum(m is not None for m in result["meshes"])
    print(f"sampled {num} grids in {result['seconds_sample']:.1f} s, fitted hands in "
          f"{result['seconds'] - result['seconds_sample']:.1f} s "
          f"({result['seconds'] / num:.1f} s per sample); {objects} with an object surface, "
          f"{int(result['has_hand'].sum())} with a hand (\"no hand\" fields redrawn up to 3 "
          f"times); wrote {out}/samples.npz, samples.png, sample_KK/{{object,hand}}.obj")


if __name__ == "__main__":
    from hoijax import cli
    cli.run(main)

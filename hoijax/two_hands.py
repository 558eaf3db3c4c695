"""Samples interacting hand pairs from the two-hand prior (InterHandGen, docs/design.md §12).

  python -m hoijax.two_hands --num=16 --out=OUT
  python -m hoijax.two_hands --num=10000 --out=OUT --guidance=1.1 --anti_penetration=on
  python -m hoijax.two_hands --num=16 --out=OUT --with_object=box --prior=RUN/prior

Cascaded DDIM (42 steps): the left hand, then the right conditioned on it, with CFG on the
relative rotation/translation and anti-penetration guidance (on by default). Writes
- OUT/samples.npz: `left_` and `right_` hand_pose (N,45) axis-angle with the flat-hand
  mean, betas (N,10), global_orient (N,3), transl (N,3): both hands in one frame (the left
  wrist's), metres, as smplx/manopth apply them with the left and right model files;
- OUT/sample_KK/left.obj, right.obj for the first --num_obj pairs (posed with the stand-in
  hands, or the official MANO with --mano_dir);
- OUT/samples.png: the first pairs rendered.
"""
from __future__ import annotations

import os
import time

from absl import flags

_NUM = flags.DEFINE_integer("num", 16, "Number of hand pairs.")
_OUT = flags.DEFINE_string("out", None, "Output folder.")
_GUIDANCE = flags.DEFINE_float("guidance", None, "CFG weight on the relative root "
                               "(default: the prior's config, 1.1; 1 = none).")
_AP = flags.DEFINE_enum("anti_penetration", "on", ["on", "off"],
                        "Anti-penetration guidance.")
_OBJECT = flags.DEFINE_string("with_object", None, "Condition on holding an object of this "
                              "category (box, can, fruit, bottle).")
_PRIOR = flags.DEFINE_string("prior", None, "Prior folder (default: the shipped one).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed.")
_NUM_OBJ = flags.DEFINE_integer("num_obj", 8, "How many pairs to write as OBJ files.")
_MANO_DIR = flags.DEFINE_string("mano_dir", None, "Folder with the official MANO_*.pkl.")


MAX_PAIRS = 100_000  # --num above this is refused (10k is the evaluation protocol's count)


def main(argv):
    del argv
    # Imported here so that `--help` and flag errors answer without loading JAX.
    import mediapy
    import numpy as np

    from hoijax import cli, viz
    from hoijax.checks import options_from
    from hoijax.data.synthetic.two_hands import hand_meshes, pair_image
    from hoijax.geometry.mesh import write_obj
    from hoijax.hand import load_hand_model
    from hoijax.runtime import enable_compilation_cache
    from hoijax.twohand import representation as rep
    from hoijax.twohand.prior import load_two_hand_prior
    from hoijax.twohand.sample import Guidance, sample_pairs
    num = cli.count(_NUM.value, "--num", MAX_PAIRS)
    cli.output_folder(_OUT.value, create=False)
    cli.count(_NUM_OBJ.value, "--num_obj", MAX_PAIRS, low=0)
    held = cli.category(_OBJECT.value, rep.OBJECTS[1:], "--with_object")
    try:
        prior = load_two_hand_prior(_PRIOR.value)
        models = (load_hand_model("left", _MANO_DIR.value),
                  load_hand_model("right", _MANO_DIR.value))
    except (ValueError, FileNotFoundError) as e:
        raise cli.CliError(str(e)) from None
    out = cli.output_folder(_OUT.value)
    enable_compilation_cache()
    obj = rep.held_object_index(held)
    g = options_from(Guidance, prior.config.sample, guidance=_GUIDANCE.value,
                             anti_penetration=_AP.value == "on")
    start = time.time()
    a, b = sample_pairs(prior, models, num, seed=_SEED.value, obj_index=obj,
                        guidance=g)
    seconds = time.time() - start
    mano = rep.decode(models, a, b)
    np.savez(os.path.join(out, "samples.npz"), **mano)
    show = min(num, max(_NUM_OBJ.value, 16))
    lv, rv = hand_meshes(models, mano, np.arange(show))
    fl, fr = np.asarray(models[0].faces), np.asarray(models[1].faces)
    for k in range(min(_NUM_OBJ.value, num)):
        folder = os.path.join(out, f"sample_{k:02d}")
        os.makedirs(folder, exist_ok=True)
        write_obj(os.path.join(folder, "left.obj"), lv[k], fl)
        write_obj(os.path.join(folder, "right.obj"), rv[k], fr)
    tiles = [pair_image(lv[k], rv[k], fl, fr, 192) for k in range(min(show, 16))]
    mediapy.write_image(os.path.join(out, "samples.png"), viz.grid(tiles, 4))
    print(f"sampled {num} pairs in {seconds:.1f} s (guidance {g.guidance}, "
          f"anti-penetration {_AP.value}); wrote {out}/samples.npz, samples.png")


if __name__ == "__main__":
    from hoijax import cli
    cli.run(main)

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

import os
import time

from absl import app, flags

_CATEGORY = flags.DEFINE_string("category", None, "Object category word (absent or unknown "
                                "to the prior: the null prompt).")
_NUM = flags.DEFINE_integer("num", 8, "Number of samples.")
_OUT = flags.DEFINE_string("out", None, "Output folder.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")
_DDIM = flags.DEFINE_integer("ddim_steps", None, "DDIM steps (default: the prior's, 50).")
_GUIDANCE = flags.DEFINE_float("guidance", None, "CFG scale (default: the prior's, 4).")
_FIT = flags.DEFINE_integer("fit_steps", 300, "Adam steps fitting MANO to each field.")
_PRIOR = flags.DEFINE_string("prior", None, "Grid prior folder (default: the shipped one).")
_MANO_DIR = flags.DEFINE_string("mano_dir", None, "Folder with the official MANO_RIGHT.pkl.")


def main(argv):
    del argv
    import jax
    import jax.numpy as jnp
    import mediapy
    import numpy as np

    from hoijax.priors.grid import load_grid_prior
    from hoijax.geometry.mesh import write_obj
    from hoijax.grasp.tools import grasp_picture, prompt_category
    from hoijax.hand import load_hand_model, mano_forward
    from hoijax.grasp import generate as GEN
    from hoijax.interaction.hand_field import hand_frame_center
    from hoijax.runtime import enable_compilation_cache
    enable_compilation_cache()
    if not _OUT.value:
        raise app.UsageError("--out is required")
    if _NUM.value < 1:
        raise app.UsageError(f"--num={_NUM.value}: must be at least 1")
    for name, flag in (("ddim_steps", _DDIM), ("fit_steps", _FIT)):
        if flag.value is not None and flag.value < 1:
            raise app.UsageError(f"--{name}={flag.value}: must be at least 1")
    try:
        model = load_hand_model("right", _MANO_DIR.value)
        prior = load_grid_prior(_PRIOR.value)
    except (ValueError, FileNotFoundError) as e:
        raise app.UsageError(str(e)) from None
    category = prompt_category(_CATEGORY.value, prior)
    start = time.time()
    x, hand_ok = GEN.sample_with_hands(prior, [category] * _NUM.value,
                                       jax.random.key(_SEED.value), num_steps=_DDIM.value,
                                       guidance=_GUIDANCE.value)
    t_sample = time.time() - start
    grids = GEN.decode_objects(prior, x)
    fitted = GEN.fit_hands(model, GEN.sample_fields(prior, x), prior.half_extent,
                           steps=_FIT.value)
    seconds = time.time() - start
    betas = np.zeros((_NUM.value, 10), np.float32)
    center = np.asarray(hand_frame_center(model, jnp.zeros(10)))
    faces = np.asarray(model.faces)
    hands = np.asarray(jax.jit(jax.vmap(lambda p: mano_forward(model, p, jnp.zeros(10))
                                        .vertices))(jnp.asarray(fitted["hand_pose"])))
    os.makedirs(_OUT.value, exist_ok=True)
    has_object, tiles = [], []
    for k in range(_NUM.value):
        folder = os.path.join(_OUT.value, f"sample_{k:02d}")
        os.makedirs(folder, exist_ok=True)
        write_obj(os.path.join(folder, "hand.obj"), hands[k], faces)
        mesh = GEN.grid_mesh(grids[k], prior.half_extent, center)
        has_object.append(mesh is not None)
        if mesh is not None:
            write_obj(os.path.join(folder, "object.obj"), *mesh)
        elif os.path.exists(os.path.join(folder, "object.obj")):
            os.remove(os.path.join(folder, "object.obj"))
        tiles.append(mesh if mesh is not None else (np.zeros((0, 3)), np.zeros((0, 3), int)))
    np.savez(os.path.join(_OUT.value, "samples.npz"),
             hand_pose=fitted["hand_pose"].astype(np.float32), betas=betas,
             global_orient=np.zeros((_NUM.value, 3), np.float32),
             transl=np.zeros((_NUM.value, 3), np.float32),
             field_error=fitted["field_error"].astype(np.float32),
             has_object=np.asarray(has_object), has_hand=hand_ok)
    show = min(_NUM.value, 8)
    images = [grasp_picture([hands[k]], faces, tiles[k][0], tiles[k][1],
                            [f"{category or 'null prompt'} #{k} " + (
                                f"field rmse {fitted['field_error'][k]:.2f}" if hand_ok[k]
                                else "no hand sampled")], size=160, cols=1)
              for k in range(show)]
    from hoijax import viz
    mediapy.write_image(os.path.join(_OUT.value, "samples.png"),
                        viz.grid(images, min(4, show)))
    print(f"sampled {_NUM.value} grids in {t_sample:.1f} s, fitted hands in "
          f"{seconds - t_sample:.1f} s ({seconds / _NUM.value:.1f} s per sample); "
          f"{sum(has_object)} with an object surface, {int(hand_ok.sum())} with a hand "
          f"(\"no hand\" fields redrawn up to 3 times); wrote {_OUT.value}/samples.npz, "
          "samples.png, sample_KK/{object,hand}.obj")


if __name__ == "__main__":
    app.run(main)

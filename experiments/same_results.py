"""Same seeds, same results across a refactor: one grasp synthesis (the exact SDF of a
6 x 4 x 8 cm box, configs/grasp.py:tiny, 2 grasps), one generation (2 mug grids, 4 DDIM
steps) and 4 two-hand samples, written to OUT.npz; run it from the root of each checkout
and compare the files (experiments/results/history/2026-12-07_a244bf6_same_results.md).

  python experiments/same_results.py OUT.npz

It imports the library from the working folder, with the module paths of either layout
(before and after hoijax.priors / hoijax.grasp).
"""
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np


def main(path):
    """Runs the three samplers and writes their outputs to `path`."""
    sys.path.insert(0, os.getcwd())
    out = {}
    from hoijax.hand import load_hand_model
    from hoijax.runtime import repo_config
    try:
        from hoijax.grasp import synthesis as G
        from hoijax.grasp.tools import options
        from hoijax.priors.grid import load_grid_prior
    except ImportError:
        from hoijax.diffusion.grid_export import load_grid_prior
        from hoijax.interaction.grasp_tools import options

        from hoijax.interaction import grasp as G
    from hoijax.geometry import sdf as S
    from hoijax.interaction import volume as V
    model = load_hand_model("right")
    prior = load_grid_prior()
    config = repo_config("grasp.py", "tiny")
    half = np.array([0.03, 0.02, 0.04])
    vol = V.volume_from_function(lambda x: S.box(x, jnp.asarray(half)), -half, half,
                                 config.volume_size)
    setup = G.make_setup(prior, model, vol, "box")
    res = G.synthesize(G.PriorFns(prior), setup, jax.random.key(config.seed), num=2,
                       seeds_per_grasp=config.seeds_per_grasp, jitter=config.jitter,
                       chunk=config.sds.chunk, **options(config))
    out.update(grasp_pose=np.asarray(res["hand_pose"]), grasp_hTo=np.asarray(res["hTo"]),
               grasp_score=np.asarray(res["score"]))
    try:
        from hoijax.grasp import generate as GEN
    except ImportError:
        from hoijax.interaction import generate as GEN
    x, ok = GEN.sample_with_hands(prior, ["mug"] * 2, jax.random.key(0), num_steps=4)
    out["generate_x"] = np.asarray(x)
    from hoijax.twohand.prior import load_two_hand_prior
    from hoijax.twohand.sample import Guidance, sample_pairs
    p2 = load_two_hand_prior()
    models = (load_hand_model("left"), model)
    try:
        from hoijax.checks import options_from
        g = options_from(Guidance, p2.config.sample)
    except ImportError:
        g = Guidance.from_config(p2.config.sample)
    a, b = sample_pairs(p2, models, 4, seed=0, guidance=g)
    out.update(twohand_a=np.asarray(a), twohand_b=np.asarray(b))
    np.savez(path, **out)
    print("saved", {k: v.shape for k, v in out.items()})


if __name__ == "__main__":
    main(sys.argv[1])

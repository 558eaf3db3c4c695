"""The synthetic world's fixed splits: benchmark clips, generalisation clips and the prior's
training objects.

An object is fully determined by (category, seed) (`objects.sample_params`), and its grasp,
motion, camera and tracker noise by the same seed.

- The benchmark split uses seeds 0 and 1 of the six HOI4D categories (12 clips, comparable
  with the paper); `configs/reconstruct.py:bench` names these clips.
- The generalisation split uses seed 0 of each of the other categories (`NEW_CATEGORIES`,
  one clip each): objects whose kinds HOI4D does not have (cans, boxes, fruit, tools...).
- The unseen-shape split uses seed 0 of each held-out shape (`held_out.names()`: the
  built-in shapes and the meshes registered in this process): shapes outside every
  category, which no prior is trained on.
- The prior's training data uses seeds from `TRAIN_FIRST_SEED` up in every category, so no
  benchmark or generalisation object or grasp is ever seen in training
  (`prior_data.check_config` enforces it).
"""
from __future__ import annotations

from hoijax.data.synthetic import held_out
from hoijax.data.synthetic.objects import HOI4D_CATEGORIES, NEW_CATEGORIES

BENCHMARK_SEEDS = {category: (0, 1) for category in HOI4D_CATEGORIES}
GENERALISATION_SEEDS = {category: (0,) for category in NEW_CATEGORIES}
UNSEEN_SEED = 0
BENCHMARK_NUM_FRAMES = 8
TRAIN_FIRST_SEED = 1000  # training objects: seeds 1000, 1001, ...


def benchmark_clips() -> list:
    """[(category, seed)] of the 12 benchmark clips (HOI4D categories), in a fixed order."""
    return [(c, s) for c in HOI4D_CATEGORIES for s in BENCHMARK_SEEDS[c]]


def generalisation_clips() -> list:
    """[(category, seed)] of the generalisation clips: one per new category, fixed order."""
    return [(c, s) for c in NEW_CATEGORIES for s in GENERALISATION_SEEDS[c]]


def unseen_clips() -> list:
    """[(shape, seed)] of the unseen-shape clips: one per held-out shape (the built-in ones,
    then the registered meshes in the order of registration)."""
    return [(shape, UNSEEN_SEED) for shape in held_out.names()]


SPLITS = {"benchmark": benchmark_clips, "generalisation": generalisation_clips,
          "unseen": unseen_clips}


def held_out_seeds() -> set:
    """Every seed the benchmark or the generalisation split uses (in any category)."""
    return {s for split in (BENCHMARK_SEEDS, GENERALISATION_SEEDS)
            for seeds in split.values() for s in seeds}

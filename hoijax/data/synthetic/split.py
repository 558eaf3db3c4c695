"""The synthetic world's fixed split: benchmark clips versus the prior's training objects.

An object is fully determined by (category, seed) (`objects.sample_params`), and its grasp,
motion, camera and tracker noise by the same seed. The benchmark uses seeds 0 and 1 of
every category (12 clips); the prior's training data uses seeds from `TRAIN_FIRST_SEED` up,
so no benchmark object or grasp is ever seen in training (`prior_data.check_config`
enforces it). `configs/reconstruct.py:bench` names these clips for the benchmark.
"""
from __future__ import annotations

from hoijax.data.synthetic.objects import CATEGORIES

BENCHMARK_SEEDS = {category: (0, 1) for category in CATEGORIES}
BENCHMARK_NUM_FRAMES = 8
TRAIN_FIRST_SEED = 1000  # training objects: seeds 1000, 1001, ...


def benchmark_clips() -> list:
    """[(category, seed)] of the 12 benchmark clips, in a fixed order."""
    return [(c, s) for c in CATEGORIES for s in BENCHMARK_SEEDS[c]]


def held_out_seeds() -> set:
    """Every seed the benchmark uses (in any category)."""
    return {s for seeds in BENCHMARK_SEEDS.values() for s in seeds}

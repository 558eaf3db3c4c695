"""The fixed benchmark split: 12 synthetic test clips, 2 per category.

  python -m hoijax.data.synthetic --category all --num_clips 2 --seed 0 --out bench_clips

writes exactly these clips (seeds 0 and 1 of each category, 8 frames, 128x128). The seed
list lives in `hoijax.data.synthetic.split` (so the library can keep training data away
from it); the prior's training objects start at seed 1000 and never overlap it.
"""
import ml_collections

from hoijax.data.synthetic.split import BENCHMARK_NUM_FRAMES, benchmark_clips


def get_config(arg=None):
    del arg
    config = ml_collections.ConfigDict()
    # [(category, seed)]: the object, grasp, motion, camera and noise of each test clip
    config.clips = [list(c) for c in benchmark_clips()]
    config.num_frames = BENCHMARK_NUM_FRAMES  # frames per test clip
    config.image_size = 128  # frame size in pixels (square)
    return config

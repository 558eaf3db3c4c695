"""Training data for the prior: geometry images of ground-truth hand-object pairs.

  python -m hoijax.data.prior_data --config=configs/prior_data.py --out=prior_data
  python -m hoijax.data.prior_data --config=configs/prior_data.py:tiny --out=/tmp/pd
  python -m hoijax.data.prior_data --config=configs/prior_data.py:hoi4d --out=prior_data_32
  python -m hoijax.data.prior_data --config=configs/prior_data.py \
      --config.source='clips:/data/hoi4d_clips/*' --out=prior_data_hoi4d

Default: every category of the synthetic world (16: the six HOI4D ones and ten more) x 52
objects x 32 views = 26624 images at 32x32 (about 50 min on a 2-core CPU: grasp synthesis
and rendering). The shipped prior (hoijax/assets/prior) was trained on the six HOI4D
categories only: the `hoi4d` variant (9984 images, about 12 min). `:tiny` / `:tiny16` are 2
objects x 4 views of each of the six HOI4D categories (kept small for the tests and the
tiny prior).
"""
import ml_collections

from hoijax.data.synthetic.split import TRAIN_FIRST_SEED
from hoijax.data.synthetic.objects import CATEGORIES, HOI4D_CATEGORIES


def get_config(arg=None):
    config = ml_collections.ConfigDict()
    config.source = "synthetic"  # "synthetic" or "clips:GLOB" (clip folders with gt.npz)
    config.categories = list(CATEGORIES)  # synthetic categories to draw objects from: all
    config.first_seed = TRAIN_FIRST_SEED  # first object seed (benchmark seeds are below it)
    config.objects_per_category = 52  # synthetic objects (one grasp each) per category
    config.clip_frame_stride = 1  # clips source: every n-th frame is a grasp
    config.views_per_grasp = 32  # SO(3)-uniform views rendered of each grasp
    config.image_size = 32  # pixels (square); the paper used 64
    config.shard_size = 2048  # samples per shard file
    config.seed = 0  # seed of the view rotations
    config.mano_dir = ""  # official MANO folder; empty: $HOIJAX_MANO_DIR or the stand-in
    config.view = ml_collections.ConfigDict()
    config.view.distance = 0.5  # metres from the camera to the hand's centre
    config.view.focal_factor = 2.0  # focal length in image sizes (28 deg FOV, +-12.5 cm at 0.5 m)
    if arg in ("tiny", "tiny16"):  # tiny16: 16x16, for configs/prior.py:tiny
        config.categories = list(HOI4D_CATEGORIES)
        config.objects_per_category = 2
        config.views_per_grasp = 4
        config.shard_size = 16
        config.image_size = 16 if arg == "tiny16" else 32
    elif arg == "hoi4d":  # the shipped prior's data
        config.categories = list(HOI4D_CATEGORIES)
    elif arg not in (None, ""):
        raise ValueError(f"configs/prior_data.py: unknown variant {arg!r} (tiny, tiny16, "
                         "hoi4d)")
    return config

"""Training data of the 3D interaction-grid prior (G-HOP; docs/design.md §11).

  python -m hoijax.data.grid_data --config=configs/grid_data.py --out=grid_data
  python -m hoijax.data.grid_data --config=configs/grid_data.py:tiny --out=/tmp/gd

Default (the shipped prior's data): all 16 synthetic categories x 10 training objects
(seeds 1000.., never the benchmark or generalisation seeds) x 10 jittered copies of each
grasp = 1600 grids of 32^3 (object SDF) + 8^3 x 20 (hand field); about 20 min on a loaded
2-core CPU (grasp synthesis dominates: 1-25 s per grasp; 28 min measured). `:tiny`: 2
categories x 3 objects x 2 copies at 16^3. `:placements`: 16 categories x 48 objects x 4
random placements without a hand (3072 grids for the autoencoder, 8 min measured).
`:paper`: 64^3 grids, 52 objects, 16 copies (for GPUs/TPUs).
"""
import ml_collections

from hoijax.data.synthetic.objects import CATEGORIES
from hoijax.data.synthetic.split import TRAIN_FIRST_SEED


def get_config(arg=None):
    config = ml_collections.ConfigDict()
    config.source = "grasps"  # "grasps" (synthesized, with the hand) or "placements" (no hand)
    config.categories = list(CATEGORIES)  # synthetic categories drawn: all 16
    config.first_seed = TRAIN_FIRST_SEED  # first object seed (benchmark seeds are below it)
    config.objects_per_category = 10  # training objects (one synthesized grasp each)
    config.jitters_per_grasp = 10  # copies per grasp: the first exact, the others jittered
    config.rotation_jitter = 0.3  # rad: max angle of the object's rotation about the frame centre
    config.articulation_jitter = 0.1  # rad: std of the noise added to the 45 axis-angles
    config.resolution = 32  # object grid points per side
    config.half_extent = 0.75  # box [-L, L]^3, normalised units (0.75: 0.30 m, 9.4 mm voxels)
    config.field_resolution = 8  # hand field points per side (= the latent resolution)
    config.shard_size = 1024  # samples per shard file
    config.placement_offset = 0.04  # m: placements only, max offset of the object's centre
    config.seed = 0  # jitter seed
    config.mano_dir = ""  # official MANO folder; empty: $HOIJAX_MANO_DIR or the stand-in
    if arg == "tiny":
        config.categories = ["mug", "bottle"]
        config.objects_per_category = 3
        config.jitters_per_grasp = 2
        config.resolution = 16
        config.field_resolution = 4
    elif arg == "placements":  # the shipped autoencoder's data: many objects, no hand
        config.source = "placements"
        config.objects_per_category = 48
        config.jitters_per_grasp = 4
    elif arg == "paper":
        config.objects_per_category = 52
        config.jitters_per_grasp = 16
        config.resolution = 64
        config.half_extent = 1.5
        config.field_resolution = 16
    elif arg not in (None, ""):
        raise ValueError(f"configs/grid_data.py: unknown variant {arg!r} (tiny, placements, paper)")
    return config

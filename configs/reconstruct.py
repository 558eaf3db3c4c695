"""Per-clip reconstruction with the diffusion prior (DiffHOI; docs/design.md).

  python -m hoijax.reconstruct --clip=synthetic:mug --out=out/mug
  python -m hoijax.reconstruct --clip=CLIP_DIR --out=OUT --config=configs/reconstruct.py:no_prior
  python -m hoijax.reconstruct --clip=synthetic:bowl:1 --out=OUT --config.num_steps=300

Variants (`configs/reconstruct.py:NAME`, several joined by commas apply in order):
  full       the default: both priors, with text and hand (the best on the benchmark);
  both       the same, spelled out;
  grid       G-HOP's 3D interaction-grid prior alone (SDS in 3D, no novel views);
  image      DiffHOI's 2D geometry-image prior alone (SDS from novel views);
  no_prior   both SDS weights 0;
  parts      + every grasping part of the hand within reach touches the object (part_contact);
  carve      + space that a frame sees as surely background is empty (carve);
  fill       parts and carve together;
  text_only  the prior(s) see no hand (an empty hand condition);
  hand_only  the prior(s) get the null prompt;
  init       no optimisation: the initial (mask-fitted) sphere, the floor a fit must beat;
  tiny       a few steps at 32x32 with the 2D prior, for smoke tests;
  bench      the published benchmark (below);
  bench_ablation  the published ablation of the prior's condition (below);
  bench_priors    the 12-clip split with the 2D prior, the 3D prior, both and none;
  bench_unseen    the unseen-shape split (shapes outside every category, null prompt).

bench: the 12-clip synthetic split (`hoijax.data.synthetic.split`: seeds 0 and 1 of
the six categories, 8 frames, 128x128), variants init / full / no_prior at the default
schedule (200 steps, SDS from step 50), 6 clips fitted together:

  python experiments/benchmark.py --config=configs/reconstruct.py:bench

  The figures: experiments/results/benchmark.md (and the history of earlier objectives
  in experiments/results/).

bench_priors: the 12 clips with each prior, the current objective (~2-3 min of fitting
per clip on the loaded 2-core CPU):

  python experiments/benchmark.py --config=configs/reconstruct.py:bench_priors

  expected (experiments/results/benchmark_priors.md, mean of 12 clips, F@5 / F@10 /
  CD / CD_h mm): image 0.51 / 0.73 / 8.8 / 9.2, grid 0.55 / 0.78 / 7.3 / 8.8,
  no_prior 0.42 / 0.62 / 10.6 / 14.6, both 0.58 / 0.81 / 6.6 / 7.0; no object vanished.

bench_ablation: the default (both priors) on the 12 clips, as the hand and the prompt
are withheld (~2 min per clip on the 2-core CPU). In runs/bench_priors, with `full` a
link to `both`, the full and no_prior fits of bench_priors are reused (finished clips
are not refitted):

  python experiments/benchmark.py --config=configs/reconstruct.py:bench_ablation \
      --config.bench.out=runs/bench_priors

  expected (experiments/results/benchmark_ablations_both.md, mean of 12 clips, F@5 /
  F@10): full 0.58 / 0.81, text_only 0.50 / 0.72, hand_only 0.49 / 0.72, no_prior
  0.42 / 0.62.

bench_unseen: the unseen-shape split (`hoijax.data.synthetic.split.unseen_clips`: egg, tape
roll, dumbbell, pyramid and the real bunny and duck meshes of experiments/scanned_meshes.py;
shapes outside every category, so both priors get the null prompt), one group of 6:

  python experiments/benchmark.py --config=configs/reconstruct.py:bench_unseen \
      --config.bench.variants=full,fill,no_prior

  expected (experiments/results/benchmark_unseen.md, mean of 6 clips, F@5 / F@10 / CD_h
  mm): full 0.63 / 0.87 / 7.1, fill 0.65 / 0.90 / 6.7, no_prior 0.58 / 0.76 / 10.1;
  volume ratio 0.46-1.40 (full), 0.48-1.11 (fill), 0.32-1.56 (no_prior). On the 12-clip split `fill` scored 0.58 / 0.84 / 9.2
  (experiments/results/benchmark_fill.md; knife_1 placed 3.4 cm off), so it stays a variant.

Any field can be overridden on the command line (`--config.num_steps=300`), also for the
benchmark, where the variant's own changes apply after the overrides.
"""
import ml_collections

BENCH_CLIPS = ("mug_0,mug_1,bottle_0,bottle_1,kettle_0,kettle_1,bowl_0,bowl_1,knife_0,"
               "knife_1,toy_car_0,toy_car_1")


def base_config():
    config = ml_collections.ConfigDict()
    config.seed = 0  # the initial field and every step's randomness
    # 200 steps, SDS from step 50: the benchmark's schedule, so its figures are the default's
    # (600 steps, SDS from 100, until the speed work: the demo mug then scored F@5 0.58 /
    # F@10 0.91 in 434 s, now 0.56 / 0.84 in 151-198 s, as fast as the machine is that day:
    # one chaotic run each).
    config.num_steps = 200  # optimiser steps (0: write the initialisation)
    config.frames_per_step = 2  # frames rendered per step
    config.rays_per_frame = 512  # object rays (random pixels) per frame and step
    config.eikonal_points = 512  # points per frame and step where the eikonal is taken
    config.contact_reach = 0.02  # m: a grasping hand part this close should touch (part_contact)
    config.carve_points = 1024  # bounding-sphere points per step checked by `carve`
    config.log_every = 25  # steps between progress-bar / loss-history updates
    config.checkpoint_every = 100  # steps between Orbax checkpoints (OUT/fit)
    config.prior = ""  # prior folder (python -m hoijax.train_prior writes one); empty: the
    #                    shipped hoijax/assets/prior
    config.grid_prior = ""  # 3D grid prior folder (configs/grid_prior.py); empty: the shipped
    #                         hoijax/assets/grid_prior (loaded only when loss.sds_grid > 0)

    config.render = ml_collections.ConfigDict()
    config.render.image_size = 64  # fitting resolution (pixels; the clip's masks are resized)
    config.render.sigma = 0.5  # hand rasterizer softness (pixels) at the start, annealed
    # geometrically to sigma_end (K 4, culled: silhouette within 0.82 px of the exact one at
    # 0.5 px, 0.11 px at 0.1 px). No anneal by default: the one demo fit annealed to 0.1
    # scored F@5 0.63 / mask IoU 0.86 against 0.73 / 0.91 without (single chaotic runs).
    config.render.sigma_end = 0.5
    config.render.faces_per_pixel = 4  # hand rasterizer K
    config.render.surface = "neus"  # object opacity: "neus" (unbiased) or "volsdf"
    config.render.beta = 0.002  # object surface softness (metres; NeuS logistic scale)
    config.render.bound_radius = 0.15  # object bounding sphere around the SDF centre (m)
    config.render.num_samples = 32  # stratified samples per ray
    config.render.num_importance = 16  # importance samples per ray

    config.init = ml_collections.ConfigDict()  # where the fit starts (hoijax.recon.init)
    config.init.lam = 0.01  # trajectory smoothing: weight of staying near the estimates
    config.init.sphere_radius = 0.04  # first-guess object sphere radius (m) ...
    config.init.sphere_offset = 0.05  # ... its centre's distance in front of the palm (m)
    config.init.sphere_from_masks = True  # then fit that sphere to the object masks

    config.sdf = ml_collections.ConfigDict()  # the object field (hoijax.models.sdf)
    config.sdf.width = 64  # MLP width
    config.sdf.depth = 4  # hidden layers
    config.sdf.num_freqs = 4  # positional-encoding octaves (6: ribbed surfaces in 600 steps)
    config.sdf.scale = 0.15  # metres mapped to 1 before the encoding

    config.loss = ml_collections.ConfigDict()  # weights (hoijax.recon.losses)
    config.loss.mask = 10.0  # object mask reprojection (L1)
    config.loss.hand_mask = 1.0  # hand mask reprojection (L1)
    config.loss.eikonal = 1.0  # (|grad phi| - 1)^2 [0.1: the field goes flat, renders as fog]
    config.loss.smooth = 1.0  # hand joints seen from the object, frame to frame (cm^2)
    config.loss.hTo_offset = 1.0  # per-frame offsets from the shared hTo (rad^2 + cm^2)
    config.loss.hand_prior = 1.0  # articulation stays near the tracker's (rad^2)
    config.loss.ray_hit = 1.0  # object-mask rays meet the surface: hinge on min SDF (cm)
    config.loss.contact = 1.0  # the object touches the hand: squared gap (cm^2)
    config.loss.penetration = 0.1  # hand vertices inside the object: sum of depth^2 (cm^2)
    config.loss.part_contact = 0.0  # each grasping part within reach touches (cm^2)
    config.loss.carve = 0.0  # space seen as surely background is empty (depth inside, cm)
    # Both priors by default: on the 12-clip benchmark (the default 200 steps) the 2D and
    # the 3D prior together scored F@5 0.58 / F@10 0.81, the 3D prior alone 0.55 / 0.78,
    # the 2D prior alone 0.51 / 0.73 (experiments/results/benchmark_priors.md); `grid` /
    # `image` select one of them.
    config.loss.sds = 0.01  # 2D prior's SDS weight (0 = no 2D prior)
    config.loss.sds_grid = 0.01  # 3D prior's SDS weight (0 = no 3D prior)

    config.sds = ml_collections.ConfigDict()
    config.sds.warmup = 50  # steps before SDS starts
    config.sds.every = 2  # SDS on every n-th step after the warm-up
    config.sds.guidance = 4.0  # classifier-free guidance scale
    config.sds.min_t = 0.02  # smallest timestep (fraction of the schedule)
    config.sds.max_t_start = 0.98  # largest timestep at the start, annealed to ...
    config.sds.max_t_end = 0.5  # ... this at the end
    config.sds.modality_weights = (1.0, 1.0, 1.0)  # (mask, normal, depth)
    config.sds.hand_sigma = 0.05  # hand rasterizer softness in the novel view (pixels)
    config.sds.view_distance = 0.5  # novel-view camera distance (m), as in the prior data
    config.sds.focal_factor = 2.0  # novel-view focal / image size, as in the prior data
    config.sds.condition = "full"  # "full", "text_only" (no hand), "hand_only" (null text);
    #                                 both priors

    config.grid_sds = ml_collections.ConfigDict()  # the 3D prior's SDS (G-HOP; warm-up and
    #                                                 `every` shared with sds)
    config.grid_sds.guidance = 4.0  # classifier-free guidance scale
    config.grid_sds.min_t = 0.25  # timestep range (fractions of the schedule), as G-HOP
    config.grid_sds.max_t = 0.75

    config.optim = ml_collections.ConfigDict()
    config.optim.lr = ml_collections.ConfigDict(dict(
        sdf=1e-3, hand=2e-3, hTo=2e-3, camera=1e-3, focal=1e-3))  # Adam rate per group
    return config


def _bench(config, variants, clips, results, split="benchmark", out="runs/benchmark"):
    config.bench = ml_collections.ConfigDict()  # read by experiments/benchmark.py only
    config.bench.variants = variants  # variants of this file, comma-separated
    config.bench.split = split  # hoijax.data.synthetic.split.SPLITS: benchmark, unseen, ...
    config.bench.clips = clips  # clip names of the split (CATEGORY_SEED), comma-separated;
    #                             empty: all of them
    config.bench.track = "tracker"  # the hand track fitted from: "tracker" (the clip's
    #                                 noisy estimates) or "truth" (the ground truth's)
    config.bench.group = 6  # clips fitted together (0: all of a variant at once)
    config.bench.out = out  # working folder: clips, fits, outputs
    config.bench.results = results  # table path without extension (.json and .md)


def _tiny(config):
    _image(config)  # the tests pass an untrained tiny 2D prior (and a tiny 3D one where
    #                 they test that path)
    config.num_steps = 4
    config.log_every = 2
    config.frames_per_step = 1
    config.rays_per_frame = 64
    config.eikonal_points = 64
    config.render.image_size = 32
    config.render.num_samples = 16
    config.render.num_importance = 0
    config.sds.warmup = 1


SDS_WEIGHT = 0.01  # either prior's SDS weight where a variant switches it on


def _image(config):
    config.loss.sds, config.loss.sds_grid = SDS_WEIGHT, 0.0


def _grid(config):
    config.loss.sds, config.loss.sds_grid = 0.0, SDS_WEIGHT


def _both(config):
    config.loss.sds, config.loss.sds_grid = SDS_WEIGHT, SDS_WEIGHT


def _no_prior(config):
    config.loss.sds, config.loss.sds_grid = 0.0, 0.0


def _parts(config):
    config.loss.part_contact = 1.0


def _carve(config):
    config.loss.carve = 1.0


VARIANTS = {
    "full": lambda c: None,
    "image": _image,
    "grid": _grid,
    "both": _both,
    "no_prior": _no_prior,
    "parts": _parts,
    "carve": _carve,
    "fill": lambda c: (_parts(c), _carve(c)),
    "text_only": lambda c: setattr(c.sds, "condition", "text_only"),
    "hand_only": lambda c: setattr(c.sds, "condition", "hand_only"),
    "init": lambda c: setattr(c, "num_steps", 0),
    "tiny": _tiny,
    "bench": lambda c: _bench(c, "init,full,no_prior", BENCH_CLIPS,
                              "experiments/results/benchmark"),
    "bench_priors": lambda c: _bench(c, "image,grid,no_prior,both", BENCH_CLIPS,
                                     "experiments/results/benchmark_priors"),
    "bench_ablation": lambda c: _bench(c, "full,no_prior,text_only,hand_only", BENCH_CLIPS,
                                       "experiments/results/benchmark_ablations_both"),
    "bench_unseen": lambda c: _bench(c, "full", "", "experiments/results/benchmark_unseen",
                                     split="unseen", out="runs/bench_unseen"),
}


def apply_variant(config, name):
    """Applies one variant of VARIANTS to config in place."""
    if name not in VARIANTS:
        raise ValueError(f"configs/reconstruct.py: unknown variant {name!r}; choose from "
                         f"{', '.join(VARIANTS)}")
    VARIANTS[name](config)
    return config


def get_config(arg=None):
    config = base_config()
    for name in (arg or "").split(","):
        if name.strip():
            apply_variant(config, name.strip())
    return config

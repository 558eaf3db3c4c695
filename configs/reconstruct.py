"""Per-clip reconstruction with the diffusion prior (DiffHOI).

  python -m hoijax.reconstruct --clip=synthetic:mug --out=out/mug
  python -m hoijax.reconstruct --clip=CLIP_DIR --out=OUT --config=configs/reconstruct.py:no_prior
  python -m hoijax.reconstruct --clip=synthetic:bowl:1 --out=OUT --config.num_steps=300

Variants: default (full prior), `no_prior` (SDS weight 0), `text_only` (the prior sees
no hand: an empty hand condition), `hand_only` (the null prompt), `tiny` (a few steps at
32x32, for smoke tests).
"""
import ml_collections


def get_config(arg=None):
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.num_steps = 600  # optimiser steps
    config.frames_per_step = 2  # frames rendered per step
    config.rays_per_frame = 512  # object rays (random pixels) per frame and step
    config.eikonal_points = 512  # ray samples per frame and step where the eikonal is taken
    config.log_every = 25  # steps between progress-bar / loss-history updates
    config.checkpoint_every = 100  # steps between Orbax checkpoints (with --out: OUT/fit)
    config.prior = ""  # prior folder; empty: the shipped hoijax/assets/prior

    config.render = ml_collections.ConfigDict()
    config.render.image_size = 64  # fitting resolution (the clip's masks are resized)
    config.render.sigma = 0.5  # hand rasterizer softness (pixels)
    config.render.faces_per_pixel = 4  # hand rasterizer K
    config.render.beta = 0.004  # VolSDF Laplace scale (metres)
    config.render.bound_radius = 0.15  # object bounding sphere around the SDF centre (m)
    config.render.num_samples = 32  # stratified samples per ray
    config.render.num_importance = 16  # importance samples per ray

    config.init = ml_collections.ConfigDict()
    config.init.lam = 0.01  # trajectory smoothing: weight of staying near the estimates

    config.scene = ml_collections.ConfigDict()
    config.scene.sdf_width = 64  # object MLP width
    config.scene.sdf_depth = 4  # hidden layers
    config.scene.num_freqs = 4  # positional-encoding octaves (6: ribbed surfaces within 600 steps)
    config.scene.sdf_scale = 0.15  # metres mapped to 1 before the encoding
    config.scene.init_radius = 0.04  # initial sphere radius (m) ...
    config.scene.init_offset = 0.05  # ... its centre's distance in front of the palm (m)
    config.scene.init_from_masks = True  # then fit that sphere to the object masks

    config.loss = ml_collections.ConfigDict()
    config.loss.mask = 10.0  # object mask reprojection (L1)
    config.loss.hand_mask = 1.0  # hand mask reprojection (L1)
    config.loss.eikonal = 1.0  # (|grad phi| - 1)^2 [0.1: the field goes flat and renders as fog]
    config.loss.smooth = 1.0  # hand joints seen from the object, frame to frame (cm^2)
    config.loss.hTo_offset = 1.0  # per-frame offsets from the shared hTo (rad^2 + cm^2)
    config.loss.hand_prior = 1.0  # articulation stays near the tracker's (rad^2)
    config.loss.sds = 0.01  # SDS weight (0 = no prior)

    config.sds = ml_collections.ConfigDict()
    config.sds.warmup = 100  # steps before SDS starts
    config.sds.every = 2  # SDS on every n-th step after the warm-up
    config.sds.guidance = 4.0  # classifier-free guidance scale
    config.sds.min_t = 0.02  # smallest timestep (fraction of the schedule)
    config.sds.max_t_start = 0.98  # largest timestep at the start, annealed to ...
    config.sds.max_t_end = 0.5  # ... this at the end
    config.sds.modality_weights = (1.0, 1.0, 1.0)  # (mask, normal, depth)
    config.sds.hand_sigma = 0.05  # hand rasterizer softness in the novel view (pixels)
    config.sds.view_distance = 0.5  # novel-view camera distance (m), as in the prior data
    config.sds.focal_factor = 2.0  # novel-view focal / image size, as in the prior data
    config.sds.condition = "full"  # "full", "text_only" (no hand), "hand_only" (null text)

    config.optim = ml_collections.ConfigDict()
    config.optim.lr = ml_collections.ConfigDict(dict(
        sdf=1e-3, hand=2e-3, hTo=2e-3, camera=1e-3, focal=1e-3))  # Adam rate per group

    if arg == "no_prior":
        config.loss.sds = 0.0
    elif arg in ("text_only", "hand_only"):
        config.sds.condition = arg
    elif arg == "tiny":
        config.num_steps = 4
        config.log_every = 2
        config.frames_per_step = 1
        config.rays_per_frame = 64
        config.eikonal_points = 64
        config.render.image_size = 32
        config.render.num_samples = 16
        config.render.num_importance = 0
        config.sds.warmup = 1
    elif arg not in (None, ""):
        raise ValueError(f"configs/reconstruct.py: unknown variant {arg!r}")
    return config

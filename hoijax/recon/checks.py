"""The reconstruction config checked before any work: one ValueError naming the field.

`check_config(config)` runs in every entry point right after the command line is read
(and again in `fit_clips`, with the clip length known), so a bad value is reported in a
second instead of as a traceback or a silently wrong result minutes later.
"""
from __future__ import annotations

from hoijax.checks import (FRACTION, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE,
                           POSITIVE_INT, check_fields, int_at_least, is_real, one_of)
from hoijax.recon.objective import SDS_CONDITIONS
from hoijax.recon.scene import PARAM_GROUPS

RULES = {
    "num_steps": NON_NEGATIVE_INT,
    "frames_per_step": POSITIVE_INT,
    "rays_per_frame": POSITIVE_INT,
    "eikonal_points": int_at_least(2),
    "log_every": POSITIVE_INT,
    "checkpoint_every": POSITIVE_INT,
    "render.image_size": int_at_least(8),
    "render.sigma": POSITIVE, "render.sigma_end": POSITIVE,
    "render.faces_per_pixel": POSITIVE_INT,
    "render.beta": POSITIVE, "render.surface": one_of("neus", "volsdf"),
    "render.bound_radius": POSITIVE,
    "render.num_samples": int_at_least(2),
    "render.num_importance": NON_NEGATIVE_INT,
    "init.lam": POSITIVE,
    "init.sphere_radius": POSITIVE,
    "init.sphere_offset": NON_NEGATIVE,
    "sdf.width": POSITIVE_INT,
    "sdf.depth": int_at_least(2),
    "sdf.num_freqs": NON_NEGATIVE_INT,
    "sdf.scale": POSITIVE,
    "sds.warmup": NON_NEGATIVE_INT,
    "sds.every": POSITIVE_INT,
    "sds.guidance": NON_NEGATIVE,
    "sds.min_t": FRACTION,
    "sds.max_t_start": FRACTION,
    "sds.max_t_end": FRACTION,
    "sds.hand_sigma": POSITIVE,
    "sds.view_distance": POSITIVE,
    "sds.focal_factor": POSITIVE,
    "sds.condition": one_of(*SDS_CONDITIONS),
    "sds.modality_weights": (
        lambda v: len(v) == 3 and all(is_real(w) and w >= 0 for w in v),
        "three numbers >= 0 (mask, normal, depth)"),
    **{f"loss.{k}": NON_NEGATIVE for k in ("mask", "hand_mask", "eikonal", "smooth",
                                            "hTo_offset", "hand_prior", "ray_hit", "contact",
                                            "penetration", "sds", "sds_grid")},
    "grid_sds.guidance": NON_NEGATIVE,
    "grid_sds.min_t": FRACTION,
    "grid_sds.max_t": FRACTION,
    **{f"optim.lr.{g}": NON_NEGATIVE for g in PARAM_GROUPS},
}


def check_config(config, num_frames: int | None = None) -> None:
    """Raises ValueError naming the first bad field of a configs/reconstruct.py config;
    with num_frames, also the fields bounded by the clip length and image size."""
    check_fields(config, RULES)
    sds = config.sds
    if not sds.min_t <= sds.max_t_end <= sds.max_t_start:
        raise ValueError(f"config.sds: need min_t <= max_t_end <= max_t_start; got "
                         f"{sds.min_t}, {sds.max_t_end}, {sds.max_t_start}")
    if not config.grid_sds.min_t <= config.grid_sds.max_t:
        raise ValueError(f"config.grid_sds: need min_t <= max_t; got "
                         f"{config.grid_sds.min_t}, {config.grid_sds.max_t}")
    if config.render.sigma_end > config.render.sigma:
        raise ValueError(f"config.render.sigma_end={config.render.sigma_end}: must not "
                         f"exceed config.render.sigma={config.render.sigma} (it anneals down)")
    pixels = config.render.image_size ** 2
    if config.rays_per_frame > pixels:
        raise ValueError(f"config.rays_per_frame={config.rays_per_frame}: more than the "
                         f"{pixels} pixels of a {config.render.image_size}^2 frame")
    if num_frames is not None and config.frames_per_step > num_frames:
        raise ValueError(f"config.frames_per_step={config.frames_per_step}: more than the "
                         f"clip's {num_frames} frames")

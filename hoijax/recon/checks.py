"""The reconstruction config checked before any work: one ValueError naming the field.

`check_config(config)` runs in every entry point right after the command line is read
(and again in `fit_clips`, with the clip length known), so a bad value is reported in a
second instead of as a traceback or a silently wrong result minutes later.
"""
from __future__ import annotations

import numbers

from hoijax.recon.objective import SDS_CONDITIONS
from hoijax.recon.scene import PARAM_GROUPS


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


# field -> (test, what it must be)
_POSITIVE_INT = (lambda v: _is_int(v) and v > 0, "a positive integer")
_NON_NEGATIVE_INT = (lambda v: _is_int(v) and v >= 0, "an integer >= 0")
_POSITIVE = (lambda v: _is_real(v) and v > 0, "a positive number")
_NON_NEGATIVE = (lambda v: _is_real(v) and v >= 0, "a number >= 0")
_FRACTION = (lambda v: _is_real(v) and 0 <= v <= 1, "a number in [0, 1]")

RULES = {
    "num_steps": _NON_NEGATIVE_INT,
    "frames_per_step": _POSITIVE_INT,
    "rays_per_frame": _POSITIVE_INT,
    "eikonal_points": (lambda v: _is_int(v) and v >= 2, "an integer >= 2"),
    "log_every": _POSITIVE_INT,
    "checkpoint_every": _POSITIVE_INT,
    "render.image_size": (lambda v: _is_int(v) and v >= 8, "an integer >= 8 (pixels)"),
    "render.sigma": _POSITIVE,
    "render.faces_per_pixel": _POSITIVE_INT,
    "render.beta": _POSITIVE,
    "render.bound_radius": _POSITIVE,
    "render.num_samples": (lambda v: _is_int(v) and v >= 2, "an integer >= 2"),
    "render.num_importance": _NON_NEGATIVE_INT,
    "init.lam": _POSITIVE,
    "init.sphere_radius": _POSITIVE,
    "init.sphere_offset": _NON_NEGATIVE,
    "sdf.width": _POSITIVE_INT,
    "sdf.depth": (lambda v: _is_int(v) and v >= 2, "an integer >= 2"),
    "sdf.num_freqs": _NON_NEGATIVE_INT,
    "sdf.scale": _POSITIVE,
    "sds.warmup": _NON_NEGATIVE_INT,
    "sds.every": _POSITIVE_INT,
    "sds.guidance": _NON_NEGATIVE,
    "sds.min_t": _FRACTION,
    "sds.max_t_start": _FRACTION,
    "sds.max_t_end": _FRACTION,
    "sds.hand_sigma": _POSITIVE,
    "sds.view_distance": _POSITIVE,
    "sds.focal_factor": _POSITIVE,
    "sds.condition": (lambda v: v in SDS_CONDITIONS, f"one of {', '.join(SDS_CONDITIONS)}"),
    "sds.modality_weights": (
        lambda v: len(v) == 3 and all(_is_real(w) and w >= 0 for w in v),
        "three numbers >= 0 (mask, normal, depth)"),
    **{f"loss.{k}": _NON_NEGATIVE for k in ("mask", "hand_mask", "eikonal", "smooth",
                                            "hTo_offset", "hand_prior", "sds")},
    **{f"optim.lr.{g}": _NON_NEGATIVE for g in PARAM_GROUPS},
}


def _get(config, path):
    node = config
    for name in path.split("."):
        if name not in node:
            raise ValueError(f"config.{path}: missing from the reconstruction config")
        node = node[name]
    return node


def check_config(config, num_frames: int | None = None) -> None:
    """Raises ValueError naming the first bad field of a configs/reconstruct.py config;
    with num_frames, also the fields bounded by the clip length and image size."""
    for path, (ok, what) in RULES.items():
        value = _get(config, path)
        if not ok(value):
            raise ValueError(f"config.{path}={value!r}: must be {what}")
    sds = config.sds
    if not sds.min_t <= sds.max_t_end <= sds.max_t_start:
        raise ValueError(f"config.sds: need min_t <= max_t_end <= max_t_start; got "
                         f"{sds.min_t}, {sds.max_t_end}, {sds.max_t_start}")
    pixels = config.render.image_size ** 2
    if config.rays_per_frame > pixels:
        raise ValueError(f"config.rays_per_frame={config.rays_per_frame}: more than the "
                         f"{pixels} pixels of a {config.render.image_size}^2 frame")
    if num_frames is not None and config.frames_per_step > num_frames:
        raise ValueError(f"config.frames_per_step={config.frames_per_step}: more than the "
                         f"clip's {num_frames} frames")

"""Geometry images: the diffusion prior's channel layouts and normalisations (the one place).

The prior denoises 5-channel object geometry images and is conditioned on 7-channel hand
geometry images (concatenated at its input: 12 channels), channels last, (..., H, W, C):

  object  [mask, nx, ny, nz, depth]
  hand    [mask, nx, ny, nz, depth, u, v]

  mask    coverage m in [0, 1] mapped to 2m - 1 in [-1, 1].
  n       camera-frame normal (OpenCV camera: x right, y down, z forward), as rendered.
  depth   (z - ref) * 10: camera-frame depth relative to a reference depth `ref`, in
          decimetres; `ref` is the hand's mean depth (`reference_depth`), for both images.
  u, v    the hand's 2-channel surface code in [-1, 1] (`hoijax.hand.surface_code`).

Background. Where the coverage is 0 every channel holds exactly its background constant:
the mask channel -1 (`MASK_BACKGROUND`, "empty"), all others 0 (`NORMAL_BACKGROUND`,
`DEPTH_BACKGROUND`, `UV_BACKGROUND`). The mask channel alone says where the surface is, so
the others need no sentinel; 0 is the neutral centre of their ranges (the zero vector for
normals, the reference depth for depth), which keeps the background's contribution to the
denoiser's input small, and a constant background gives the denoiser a clean layout
whatever the renderer leaves there (values behind a zero mask, NaN/Inf included, are
dropped, as are their gradients).

Soft coverage. Inside the image every non-mask channel is premultiplied by the coverage,
channel = background + m * (value - background): the value itself at full coverage, the
background constant at zero coverage, linear across anti-aliased edges. Binary masks (the
prior's training renders) are therefore unchanged by it, and low-opacity pixels of a
volume rendering fade to the background however the renderer defines depth there. Layer
values are the surface's own (not premultiplied): a layer is a dict with `mask` (...,H,W),
`depth` (...,H,W) metres, `normal` (...,H,W,3) and, for the hand, `attributes` (...,H,W,2).
The `split_*` functions invert this (dividing by the coverage, floored at `min_coverage`).
"""
from __future__ import annotations

import jax.numpy as jnp

from hoijax.geometry.math import safe_normalize

OBJECT_CHANNELS = ("mask", "nx", "ny", "nz", "depth")
HAND_CHANNELS = ("mask", "nx", "ny", "nz", "depth", "u", "v")
NUM_OBJECT_CHANNELS = len(OBJECT_CHANNELS)  # 5
NUM_HAND_CHANNELS = len(HAND_CHANNELS)  # 7

# Channel positions, shared by both layouts (the hand's adds u, v at the end).
MASK_INDEX = 0
NORMAL_INDICES = (1, 2, 3)
DEPTH_INDEX = 4
UV_INDICES = (5, 6)
MASK_SLICE = slice(0, 1)
NORMAL_SLICE = slice(1, 4)
DEPTH_SLICE = slice(4, 5)
UV_SLICE = slice(5, 7)

# Normalisation: depth channel = (depth - ref) * DEPTH_SCALE  (metres -> decimetres).
DEPTH_SCALE = 10.0

# Background values (coverage 0); see the module docstring for why these.
MASK_BACKGROUND = -1.0
NORMAL_BACKGROUND = 0.0
DEPTH_BACKGROUND = 0.0
UV_BACKGROUND = 0.0
OBJECT_BACKGROUND = (MASK_BACKGROUND,) + (NORMAL_BACKGROUND,) * 3 + (DEPTH_BACKGROUND,)
HAND_BACKGROUND = OBJECT_BACKGROUND + (UV_BACKGROUND,) * 2

# Mask weight (in pixels) below which `reference_depth` returns its fallback.
MIN_REFERENCE_WEIGHT = 1e-6
# Default coverage floor of the `split_*` divisions.
MIN_COVERAGE = 1e-3
# Default half-range (decimetres) of the depth panel of `to_rgb`: +-10 cm around `ref`.
DEPTH_PANEL_RANGE = 1.0


def _ref(ref_depth):
    """(...) reference depth -> (..., 1, 1), broadcastable against (..., H, W)."""
    return jnp.asarray(ref_depth, jnp.float32)[..., None, None]


def reference_depth(hand_mask, hand_depth, fallback=None):
    """Mask-weighted mean depth of the hand: (...,H,W), (...,H,W) -> (...).

    Where the mask is empty (total weight <= `MIN_REFERENCE_WEIGHT` pixels) returns
    `fallback` (a scalar or (...) array), by default the mean of `hand_depth` over the image
    (its finite values; 0 for an empty render that follows the "0 where nothing" rule, so
    pass e.g. the camera-to-hand distance when a view can miss the hand). Depth values behind
    a zero mask are ignored. Value and gradient are finite everywhere.
    """
    m = jnp.asarray(hand_mask, jnp.float32)
    d = jnp.asarray(hand_depth, jnp.float32)
    weight = jnp.sum(m, axis=(-2, -1))
    total = jnp.sum(m * jnp.where(m > 0, d, 0.0), axis=(-2, -1))
    if fallback is None:
        fallback = jnp.mean(jnp.where(jnp.isfinite(d), d, 0.0), axis=(-2, -1))
    ok = weight > MIN_REFERENCE_WEIGHT
    return jnp.where(ok, total / jnp.where(ok, weight, 1.0), fallback)


def _premultiply(m, value, background):
    """background + m * (value - background), exactly `background` where m == 0.

    m (...,H,W); value (...,H,W,C) -> (...,H,W,C).
    """
    m = m[..., None]
    value = jnp.where(m > 0, value, background)
    return jnp.where(m > 0, background + m * (value - background), background)


def _surface_channels(layer, ref_depth):
    """-> coverage (...,H,W) and the [mask (..,1), normal (..,3), depth (..,1)] channels."""
    m = jnp.asarray(layer["mask"], jnp.float32)
    normal = jnp.asarray(layer["normal"], jnp.float32)
    rel = (jnp.asarray(layer["depth"], jnp.float32) - _ref(ref_depth)) * DEPTH_SCALE
    shape = jnp.broadcast_shapes(m.shape, rel.shape, normal.shape[:-1])
    m = jnp.broadcast_to(m, shape)
    channels = [(2.0 * m - 1.0)[..., None],
                _premultiply(m, normal, NORMAL_BACKGROUND),
                _premultiply(m, rel[..., None], DEPTH_BACKGROUND)]
    return m, [jnp.broadcast_to(c, shape + c.shape[-1:]) for c in channels]


def object_geometry_image(layer, ref_depth):
    """Object layer -> (...,H,W,5) geometry image [mask, nx, ny, nz, depth].

    `ref_depth` (...) or scalar, metres: the hand's mean depth (`reference_depth`).
    """
    _, channels = _surface_channels(layer, ref_depth)
    return jnp.concatenate(channels, axis=-1)


def hand_geometry_image(layer, ref_depth):
    """Hand layer (with `attributes`) -> (...,H,W,7) [mask, nx, ny, nz, depth, u, v]."""
    m, channels = _surface_channels(layer, ref_depth)
    uv = _premultiply(m, jnp.asarray(layer["attributes"], jnp.float32), UV_BACKGROUND)
    uv = jnp.broadcast_to(uv, m.shape + (2,))
    return jnp.concatenate(channels + [uv], axis=-1)


def _coverage(img):
    """Mask channel in [-1, 1] -> coverage (...,H,W) in [0, 1] (clipped: samples stray)."""
    return jnp.clip(0.5 * (img[..., MASK_INDEX] + 1.0), 0.0, 1.0)


def _unpremultiply(m, channel, min_coverage):
    return jnp.where(m[..., None] > 0, channel / jnp.maximum(m, min_coverage)[..., None], 0.0)


def _split_surface(img, ref_depth, min_coverage):
    m = _coverage(img)
    inside = m > 0
    normal = jnp.where(inside[..., None], safe_normalize(img[..., NORMAL_SLICE]), 0.0)
    rel = _unpremultiply(m, img[..., DEPTH_SLICE], min_coverage)[..., 0]
    depth = jnp.where(inside, _ref(ref_depth) + rel / DEPTH_SCALE, 0.0)
    return {"mask": m, "normal": normal, "depth": depth}


def split_object_image(img, ref_depth, *, min_coverage=MIN_COVERAGE):
    """(...,H,W,5) geometry image -> layer dict (inverse of `object_geometry_image`).

    Returns `mask` (...,H,W) in [0, 1], `normal` (...,H,W,3) unit (0 outside the mask) and
    `depth` (...,H,W) metres (0 outside the mask). Exact inverse (up to rounding) where the
    coverage is >= `min_coverage` and the normals were unit; below it the premultiplied
    depth is divided by `min_coverage` (bounded values for generated samples).
    """
    return _split_surface(img, ref_depth, min_coverage)


def split_hand_image(img, ref_depth, *, min_coverage=MIN_COVERAGE):
    """(...,H,W,7) hand geometry image -> layer dict; as `split_object_image` plus
    `attributes` (...,H,W,2), the surface code (0 outside the mask)."""
    layer = _split_surface(img, ref_depth, min_coverage)
    layer["attributes"] = _unpremultiply(layer["mask"], img[..., UV_SLICE], min_coverage)
    return layer


def to_rgb(img, *, depth_range=DEPTH_PANEL_RANGE):
    """RGB panels in [0, 1] of a (...,H,W,5) or (...,H,W,7) geometry image, for grids.

    Returns a dict of (...,H,W,3) arrays:
      mask    grey, the coverage (black = background, white = surface);
      normal  0.5 + 0.5 n (the background's zero normal is mid-grey);
      depth   grey ramp times the coverage: white at `depth_range` decimetres in front of
              the reference depth, mid-grey at it, black `depth_range` behind it and in the
              background (the ramp uses the premultiplied channel as it is);
      uv      (7 channels only) (0.5 + 0.5 u, 0.5 + 0.5 v, 0.5) times the coverage.
    """
    m = _coverage(img)[..., None]
    grey = lambda x: jnp.broadcast_to(x, x.shape[:-1] + (3,))  # noqa: E731
    unit = lambda x: jnp.clip(x, 0.0, 1.0)  # noqa: E731
    panels = {
        "mask": grey(m),
        "normal": unit(0.5 + 0.5 * img[..., NORMAL_SLICE]),
        "depth": grey(m * unit(0.5 - 0.5 * img[..., DEPTH_SLICE] / depth_range)),
    }
    if img.shape[-1] == NUM_HAND_CHANNELS:
        uv = unit(0.5 + 0.5 * img[..., UV_SLICE])
        panels["uv"] = m * jnp.concatenate([uv, jnp.full_like(uv[..., :1], 0.5)], axis=-1)
    return panels

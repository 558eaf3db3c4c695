"""The formulas of the reconstruction loss terms (pure functions; weights live in the
config, the assembly in `hoijax.recon.objective`). docs/design.md section "Reconstruction"
gives the reference weights in brackets below.

- `mask_losses`: L1 between the depth-composited semantic probabilities (hand / object /
  background, `hoijax.render.compose.compose_layers`) and the input masks, one value for
  the object and one for the hand (DiffHOI's reprojection [10] and hand-mask [1] terms).
- `eikonal_loss`: (|grad phi| - 1)^2 at sample points [0.1].
- `temporal_smoothness`: hand joints seen from the object should move little between
  consecutive frames (the grasp is stable) [100, in the reference's units; here cm^2].
- `hand_prior_loss`: the articulation stays near the tracker's.
- `hTo_offset_penalty`: per-frame object-pose offsets from the shared one stay small.
- `ray_hit_loss`: every ray through a pixel that the input mask calls surely object must
  meet the zero level set: a hinge on the smallest SDF among its samples. The mask term's
  gradient fades once a ray passes a few beta clear of the surface (a thin blade's field
  can drift positive and vanish); this one does not fade (docs/design.md section 6).
- `contact_losses`: the object touches the hand (its nearest surface point reaches the
  closest hand vertex) and does not swallow it. Masks fix an object's outline, not its
  depth along the camera rays: without this a fit can slide the object away from the
  grasp and still match every mask (docs/design.md section 6).
- `part_contact_loss`: every part of the hand that grasps (each finger's distal half, the
  palm's centre; `hoijax.hand.anatomy.contact_regions`) and that the track puts within
  reach of the surface touches it (the attraction over contact-prone parts of ObMan and
  G-HOP). A wrapping hand touches an object on opposite sides, so the grasp's aperture sets
  the thickness that the masks leave open (docs/design.md section 6).
- `silhouette_free` and `carve_loss`: space that projects onto surely-background pixels
  of any frame (neither object nor hand near there: the hand may hide the object) is empty;
  the object field must be outside there (a visual hull as a soft constraint).
SDS lives in `hoijax.diffusion.sds`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from hoijax.geometry.math import safe_norm
from hoijax.geometry.transforms import apply_to_points


def mask_losses(composed, obj_mask, hand_mask):
    """composed: `compose_layers` output with semantic (...,3) per pixel; obj_mask,
    hand_mask (...) in [0,1]. Returns (object, hand): mean |p_obj - m_obj| and
    mean |p_hand - m_hand| over all pixels."""
    p_hand, p_obj = composed["semantic"][..., 0], composed["semantic"][..., 1]
    return jnp.mean(jnp.abs(p_obj - obj_mask)), jnp.mean(jnp.abs(p_hand - hand_mask))


def eikonal_loss(gradients):
    """gradients (...,3) of the SDF at sample points -> mean (|g| - 1)^2."""
    return jnp.mean((safe_norm(gradients) - 1.0) ** 2)


def temporal_smoothness(joints_h, oTh):
    """joints_h (T,J,3) hand-frame joints, oTh (T,4,4) hand -> object: mean squared motion
    of the joints in the object frame between consecutive frames, in cm^2 (centimetres
    make its weight comparable to the mask term's: a 1 cm drift costs 1)."""
    joints_o = apply_to_points(oTh, joints_h)
    step = 100.0 * (joints_o[1:] - joints_o[:-1])
    return jnp.mean(jnp.sum(step ** 2, axis=-1))


def hand_prior_loss(hA, hA_estimate):
    """hA, hA_estimate (T,45) axis-angle: mean squared departure (rad^2)."""
    return jnp.mean((hA - hA_estimate) ** 2)


def hTo_offset_penalty(frame_rot, frame_trans):
    """frame_rot, frame_trans (T,3) per-frame offsets of the object pose (axis-angle rad,
    metres): mean squared size in rad^2 + cm^2 (cm: comparable magnitudes)."""
    return (jnp.mean(jnp.sum(frame_rot ** 2, -1))
            + jnp.mean(jnp.sum((100.0 * frame_trans) ** 2, -1)))


def contact_losses(sdf_at_hand):
    """sdf_at_hand (T,V): the object SDF (metres) at the hand's vertices of each frame.
    Returns (attraction, penetration), in cm^2, mean over frames: attraction the squared
    gap between the hand and the object (the smallest SDF over the hand's vertices,
    where positive), penetration the sum over vertices of the squared depth inside."""
    gap = jnp.maximum(jnp.min(sdf_at_hand, axis=-1), 0.0)
    depth = jnp.maximum(-sdf_at_hand, 0.0)
    return (jnp.mean((100.0 * gap) ** 2),
            jnp.mean(jnp.sum((100.0 * depth) ** 2, axis=-1)))


def ray_hit_loss(sdf_samples, inside):
    """sdf_samples (N,S): the field (metres) at each ray's samples; inside (N,) in {0,1}:
    rays through pixels surely inside the object's input mask (and inside the bound).
    Returns the mean over those rays of max(min_s sdf, 0), in cm (0 if there are none)."""
    miss = jnp.maximum(jnp.min(sdf_samples, axis=-1), 0.0)
    return 100.0 * jnp.sum(inside * miss) / jnp.maximum(jnp.sum(inside), 1.0)


def part_contact_loss(sdf_at_hand, parts, reach):
    """sdf_at_hand (T,V): the object SDF (metres) at the hand's vertices; parts: a tuple of
    K vertex-id arrays; reach (m). Each part's gap is its nearest vertex's SDF; a part
    within reach (gap < reach, decided without gradient) is pulled onto the surface.
    Returns the mean over frames and parts of the squared positive gap of the parts within
    reach, in cm^2 (0 for parts out of reach: they are not part of this grasp)."""
    gaps = jnp.stack([jnp.min(sdf_at_hand[:, jnp.asarray(ids)], axis=-1) for ids in parts],
                     axis=-1)  # (T,K)
    near = jax.lax.stop_gradient(gaps < reach)
    return jnp.mean(jnp.where(near, (100.0 * jnp.maximum(gaps, 0.0)) ** 2, 0.0))


# Mask values below which a pixel is surely background (area-averaged masks: the
# silhouettes' anti-aliased edges are left alone).
SURE_BACKGROUND = 0.05


def surely_background(obj_mask, hand_mask):
    """(T,H,W) bool: pixels with neither object nor hand within one pixel (3 x 3), so that
    points on a silhouette's rim, which round onto either side of it, are never carved."""
    either = jnp.maximum(obj_mask, hand_mask)
    near = jax.lax.reduce_window(either, -jnp.inf, jax.lax.max, (1, 3, 3), (1, 1, 1), "SAME")
    return near < SURE_BACKGROUND


def silhouette_free(uv, depth, obj_mask, hand_mask):
    """Whether points are surely empty: uv (T,N,2) their pixel coordinates in T frames
    (pixel centres at integers), depth (T,N) along each camera's axis, obj_mask and
    hand_mask (T,H,W) in [0,1]. A point is free when some frame sees it (in front of the
    camera, inside the image) on a pixel that is `surely_background`. (N,) bool."""
    T, H, W = obj_mask.shape
    col = jnp.round(uv[..., 0]).astype(jnp.int32)
    row = jnp.round(uv[..., 1]).astype(jnp.int32)
    seen = (depth > 0) & (col >= 0) & (col < W) & (row >= 0) & (row < H)
    background = surely_background(obj_mask, hand_mask)
    frame = jnp.arange(T)[:, None]
    return jnp.any(seen & background[frame, jnp.clip(row, 0, H - 1), jnp.clip(col, 0, W - 1)],
                   axis=0)


def carve_loss(sdf_at_points, free):
    """sdf_at_points (N,) the object SDF (metres) at points, free (N,) bool
    (`silhouette_free`). Returns the mean over the free points of how deep they are inside
    the object, max(-sdf, 0), in cm (0 if none is free)."""
    free = free.astype(sdf_at_points.dtype)
    depth = jnp.maximum(-sdf_at_points, 0.0)
    return 100.0 * jnp.sum(free * depth) / jnp.maximum(jnp.sum(free), 1.0)

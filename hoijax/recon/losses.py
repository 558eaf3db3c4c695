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
SDS lives in `hoijax.diffusion.sds`.
"""
from __future__ import annotations

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

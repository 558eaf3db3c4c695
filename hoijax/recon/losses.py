"""Reconstruction loss terms (pure functions; weights live in the config).

- `mask_loss`: L1 between the depth-composited semantic probabilities (hand / object /
  background, `hoijax.render.compose.compose_layers`) and the input masks: the object
  term, plus `hand_weight` x the hand term (DiffHOI's reprojection [10] and hand-mask [1]).
- `eikonal_loss`: (|grad phi| - 1)^2 at sample points [0.1].
- `temporal_smoothness`: hand joints seen from the object should move little between
  consecutive frames (the grasp is stable) [100, in the reference's units; here cm^2].
SDS lives in `hoijax.diffusion.sds`.
"""
from __future__ import annotations

import jax.numpy as jnp


def mask_loss(composed, obj_mask, hand_mask, *, hand_weight=0.1, valid=None):
    """composed: `compose_layers` output with semantic (...,H,W,3); obj_mask, hand_mask
    (...,H,W) in {0,1}; valid optional (...,H,W) weights (1 = the pixel counts).
    Returns the scalar: mean |p_obj - m_obj| + hand_weight * mean |p_hand - m_hand|."""
    p_hand, p_obj = composed["semantic"][..., 0], composed["semantic"][..., 1]
    w = jnp.ones_like(p_obj) if valid is None else jnp.asarray(valid, jnp.float32)
    norm = jnp.maximum(jnp.sum(w), 1.0)
    obj = jnp.sum(w * jnp.abs(p_obj - obj_mask)) / norm
    hand = jnp.sum(w * jnp.abs(p_hand - hand_mask)) / norm
    return obj + hand_weight * hand


def eikonal_loss(gradients, weights=None):
    """gradients (...,3) of the SDF at sample points -> mean (|g| - 1)^2 (optionally
    weighted by (...) weights)."""
    norm = jnp.sqrt(jnp.sum(gradients ** 2, axis=-1) + 1e-12)
    err = (norm - 1.0) ** 2
    if weights is None:
        return jnp.mean(err)
    return jnp.sum(weights * err) / jnp.maximum(jnp.sum(weights), 1e-6)


def temporal_smoothness(joints_h, oTh):
    """joints_h (T,J,3) hand-frame joints, oTh (T,4,4) hand -> object: mean squared motion
    of the joints in the object frame between consecutive frames, in cm^2 (centimetres
    make its weight comparable to the mask term's: a 1 cm drift costs 1)."""
    joints_o = jnp.einsum("tij,tnj->tni", oTh[:, :3, :3], joints_h) + oTh[:, None, :3, 3]
    step = 100.0 * (joints_o[1:] - joints_o[:-1])
    return jnp.mean(jnp.sum(step ** 2, axis=-1))

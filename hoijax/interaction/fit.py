"""Fitting MANO to a skeletal distance field (docs/design.md §11): G-HOP's last step of
generation (a sampled field -> a hand) and of grasp read-out.

Two stages, both pure jnp in one jitted function:
1. `joints_from_field` reads the 20 joint positions off the field by least squares (the
   field is a squared distance, so each channel is linear in (p, |p|^2));
2. Adam (`hoijax.optimize.adam_scan`) on the articulation (and optionally the wrist
   rotation) so MANO's joints match them, plus the field itself (a mismatch where the
   read-out is poor, e.g. a noisy sample) and a small pull toward the initial pose, which
   fixes the bone twists joints cannot see.
The reference fits the field alone (LBFGS, 20 steps, from the mean pose); the joint
read-out first makes the start independent of how far the clamped field's gradients reach.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from hoijax.hand.model import mano_forward
from hoijax.interaction.frame import grid_points
from hoijax.interaction.hand_field import (field_joints, hand_frame_center,
                                           joints_from_field, skeletal_field)
from hoijax.optimize import adam_scan


@functools.partial(jax.jit, static_argnames=("resolution", "half_extent", "steps",
                                             "fit_wrist"))
def fit_hand_to_field(model, field, betas, init_pose, *, resolution, half_extent,
                      steps=300, lr=0.02, fit_wrist=False, field_weight=1.0,
                      pose_weight=1e-3):
    """field (R,R,R,20); betas (10,); init_pose (45,) axis-angle start (flat-hand mean).

    Returns dict(hand_pose (45,), global_orient (3,), joints (20,3) normalised fitted
    joints, target (20,3) the joints read off the field, field_error: RMSE of the fitted
    hand's field against `field`)."""
    center = hand_frame_center(model, betas)
    target = joints_from_field(field, resolution, half_extent)
    points = grid_points(resolution, half_extent)

    def joints_of(p):
        orient = p["wrist"] if fit_wrist else None
        return field_joints(mano_forward(model, p["pose"], betas, orient).joints, center)

    def loss(p):
        j = joints_of(p)
        joint_term = jnp.mean(jnp.sum((j - target) ** 2, -1))
        field_term = jnp.mean((skeletal_field(j, points) - field) ** 2)
        prior = jnp.mean((p["pose"] - init_pose) ** 2)
        return joint_term + field_weight * 0.01 * field_term + pose_weight * prior

    start = dict(pose=jnp.asarray(init_pose, jnp.float32), wrist=jnp.zeros((3,)))
    fitted = adam_scan(loss, start, steps=steps, lr=lr)
    joints = joints_of(fitted)
    error = jnp.sqrt(jnp.mean((skeletal_field(joints, points) - field) ** 2))
    return dict(hand_pose=fitted["pose"],
                global_orient=fitted["wrist"] if fit_wrist else jnp.zeros((3,)),
                joints=joints, target=target, field_error=error)

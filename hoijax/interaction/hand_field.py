"""The hand channels of the interaction grid: G-HOP's skeletal distance field
(docs/design.md §11).

Per grid point x_n and each of the 20 non-wrist joints j (MANO's 15 articulated joints and
5 fingertips, normalised frame): d_j = |x_n - J_j|^2, clamped at D = 0.12 (the reference's
`tsdf_hand`: (0.2 sqrt 3)^2, i.e. 6.9 cm at s = 0.2 m) and mapped to [-1, 1]:

    field_j(x_n) = 2 min(d_j, D) / D - 1        (-1 on the joint, +1 beyond 6.9 cm)

"No hand" is the all-zeros field: a value no hand produces (a real field is +1 almost
everywhere), used for hand dropout in training and for object-only generation.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from hoijax.hand.model import mano_forward
from hoijax.interaction.frame import grid_points, hand_center, to_normalised

FIELD_CLAMP = 0.12  # D: squared normalised distance at which the field saturates
NUM_FIELD_JOINTS = 20  # the 21 MANO joints (16 + 5 tips) without the wrist


def field_joints(joints21, center):
    """(...,21,3) hand-frame joints (m), (...,3) centre -> (...,20,3) normalised joints."""
    return to_normalised(joints21[..., 1:, :], center[..., None, :])


def skeletal_field(joints_n, points):
    """joints_n (20,3) normalised joints, points (...,3) -> (...,20) field in [-1, 1]."""
    d2 = jnp.sum((points[..., None, :] - joints_n) ** 2, -1)
    return 2.0 * jnp.minimum(d2, FIELD_CLAMP) / FIELD_CLAMP - 1.0


def hand_frame_center(model, betas):
    """(3,) the normalised frame's centre of a hand shape (articulation-independent)."""
    rest = mano_forward(model, jnp.zeros((45,), jnp.float32), betas)
    return hand_center(rest.joints)


def hand_field(model, hand_pose, betas, resolution, half_extent, global_orient=None):
    """(R,R,R,20) field of a MANO hand. hand_pose (45,) axis-angle (flat-hand mean),
    betas (10,), global_orient (3,) optional wrist rotation (the frame stays the
    zero-rotation hand's)."""
    center = hand_frame_center(model, betas)
    out = mano_forward(model, hand_pose, betas, global_orient)
    return skeletal_field(field_joints(out.joints, center), grid_points(resolution, half_extent))


def no_hand(resolution):
    """(R,R,R,20) the "no hand" field (all zeros)."""
    return jnp.zeros((resolution,) * 3 + (NUM_FIELD_JOINTS,), jnp.float32)


def is_no_hand(field, tol=0.05):
    """(...,R,R,R,20) -> (...) bool: whether a field says "no hand" (mean |value| < tol)."""
    return jnp.mean(jnp.abs(field), axis=(-4, -3, -2, -1)) < tol


def joints_from_field(field, resolution, half_extent, saturation=0.9):
    """(R,R,R,20) field -> (20,3) normalised joint positions, by least squares.

    Where a channel is below saturation its value gives d^2 = |x - p|^2 =
    |x|^2 - 2 x.p + |p|^2: linear in (p, |p|^2). The weighted normal equations (weight
    1 - value^2 style falloff: trust points near the joint more) are solved per joint;
    a joint with no unsaturated point falls back to the grid centre."""
    x = grid_points(resolution, half_extent).reshape(-1, 3)
    vals = field.reshape(-1, field.shape[-1])  # (N,20)
    d2 = (vals + 1.0) * 0.5 * FIELD_CLAMP
    w = jnp.clip(saturation - vals, 0.0, None)  # 0 where saturated
    a = jnp.concatenate([-2.0 * x, jnp.ones((x.shape[0], 1))], -1)  # (N,4): p, |p|^2
    rhs = d2 - jnp.sum(x ** 2, -1, keepdims=True)  # (N,20)

    def solve(wj, bj):
        ata = jnp.einsum("n,ni,nj->ij", wj, a, a) + 1e-6 * jnp.eye(4)
        atb = jnp.einsum("n,ni,n->i", wj, a, bj)
        return jnp.linalg.solve(ata, atb)[:3]

    return jax.vmap(solve, in_axes=(1, 1))(w, rhs)

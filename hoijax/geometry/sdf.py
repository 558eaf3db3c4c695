"""Signed distance functions of primitives and their combinations (jax.numpy).

Points are (...,3) in metres; distances (...) are negative inside. Primitives are exact
Euclidean distances (Quilez's formulas); union (min) stays exact outside, intersection and
subtraction are exact on the zero set and bounds elsewhere, which keeps composite shapes
accurate near their surfaces. Everything jits, vmaps and differentiates (norms are safe at
zero), so the same functions build meshes (marching cubes) and drive grasp optimisation.
"""
from __future__ import annotations

import jax.numpy as jnp

from hoijax.geometry.math import safe_norm


def box(p, half_extents):
    """Axis-aligned box centred at the origin."""
    q = jnp.abs(p) - jnp.asarray(half_extents)
    return safe_norm(jnp.maximum(q, 0.0)) + jnp.minimum(jnp.max(q, axis=-1), 0.0)


def round_box(p, half_extents, radius):
    """Box with edges rounded by `radius` (outer size = half_extents)."""
    return box(p, jnp.asarray(half_extents) - radius) - radius


def cylinder_z(p, radius, half_height):
    """Capped cylinder along z, centred at the origin."""
    d = jnp.stack([safe_norm(p[..., :2]) - radius, jnp.abs(p[..., 2]) - half_height], -1)
    return jnp.minimum(jnp.max(d, axis=-1), 0.0) + safe_norm(jnp.maximum(d, 0.0))


def sphere(p, radius):
    return safe_norm(p) - radius


def torus_xz(p, major, minor):
    """Torus around the y axis (ring in the xz plane), centred at the origin."""
    q = jnp.stack([safe_norm(p[..., [0, 2]]) - major, p[..., 1]], -1)
    return safe_norm(q) - minor


def capsule(p, a, b, radius):
    """Segment a-b (3,) swept by a sphere of `radius`."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    pa, ba = p - a, b - a
    t = jnp.clip(jnp.sum(pa * ba, -1) / jnp.sum(ba * ba), 0.0, 1.0)
    return safe_norm(pa - t[..., None] * ba) - radius


def cone_z(p, r_bottom, r_top, half_height):
    """Capped cone (frustum) along z, centred at the origin (Quilez's exact formula)."""
    q = jnp.stack([safe_norm(p[..., :2]), p[..., 2]], -1)
    k1 = jnp.array([r_top, half_height])
    k2 = jnp.array([r_top - r_bottom, 2.0 * half_height])
    ca = jnp.stack([q[..., 0] - jnp.minimum(q[..., 0], jnp.where(q[..., 1] < 0, r_bottom,
                                                                  r_top)),
                    jnp.abs(q[..., 1]) - half_height], -1)
    t = jnp.clip(jnp.sum((k1 - q) * k2, -1) / jnp.sum(k2 * k2), 0.0, 1.0)
    cb = q - k1 + t[..., None] * k2
    inside = (cb[..., 0] < 0) & (ca[..., 1] < 0)
    dist = jnp.sqrt(jnp.minimum(jnp.sum(ca * ca, -1), jnp.sum(cb * cb, -1)) + 1e-20)
    return jnp.where(inside, -dist, dist)


def union(*ds):
    out = ds[0]
    for d in ds[1:]:
        out = jnp.minimum(out, d)
    return out


def intersect(*ds):
    out = ds[0]
    for d in ds[1:]:
        out = jnp.maximum(out, d)
    return out


def subtract(a, b):
    """a without b."""
    return jnp.maximum(a, -b)


def smooth_union(a, b, k):
    """Polynomial smooth minimum of width k (metres): fillets where parts meet."""
    h = jnp.maximum(k - jnp.abs(a - b), 0.0) / k
    return jnp.minimum(a, b) - h * h * k * 0.25


def rotate(p, matrix):
    """Points in the frame of a part rotated by `matrix` (part -> object): R^T p."""
    return p @ jnp.asarray(matrix)

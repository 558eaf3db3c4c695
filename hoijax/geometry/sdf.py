"""Signed distance functions of primitives and their combinations (jax.numpy).

Points are (...,3) in metres; distances (...) are negative inside. Primitives are exact
Euclidean distances (Quilez's formulas); union (min) stays exact outside, intersection and
subtraction are exact on the zero set and bounds elsewhere, which keeps composite shapes
accurate near their surfaces. Everything jits, vmaps and differentiates (norms are safe at
zero), so the same functions build meshes (marching cubes) and drive grasp optimisation.
"""
from __future__ import annotations

import jax.numpy as jnp

from hoijax.geometry.math import safe_norm, safe_sqrt


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


def torus_z(p, major, minor):
    """Torus around the z axis (ring in the xy plane), centred at the origin."""
    q = jnp.stack([safe_norm(p[..., :2]) - major, p[..., 2]], -1)
    return safe_norm(q) - minor


def round_cone(p, a, b, r_a, r_b):
    """Spheres of radius r_a at a and r_b at b (3,) joined by their tangent cone (Quilez's
    exact formula); needs |r_a - r_b| < |b - a|."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    ba = b - a
    l2 = jnp.sum(ba * ba)
    rr = r_a - r_b
    a2 = l2 - rr * rr
    pa = p - a
    y = jnp.sum(pa * ba, -1)
    z = y - l2
    x2 = jnp.sum((pa * l2 - y[..., None] * ba) ** 2, -1)
    y2, z2 = y * y * l2, z * z * l2
    k = jnp.sign(rr) * rr * rr * x2
    near_b = jnp.sign(z) * a2 * z2 > k
    near_a = jnp.sign(y) * a2 * y2 < k
    return jnp.where(near_b, safe_sqrt(x2 + z2) / l2 - r_b,
                     jnp.where(near_a, safe_sqrt(x2 + y2) / l2 - r_a,
                               (safe_sqrt(x2 * a2 / l2) + y * rr) / l2 - r_a))


def hex_prism_z(p, apothem, half_height):
    """Hexagonal prism along z (flats facing +-y), centred at the origin (Quilez's exact
    formula); `apothem` is half the distance across the flats."""
    k = jnp.array([-0.8660254037844386, 0.5])
    q = jnp.abs(p)
    xy = q[..., :2]
    xy = xy - 2.0 * jnp.minimum(xy @ k, 0.0)[..., None] * k
    edge = jnp.clip(xy[..., 0], -0.5773502691896258 * apothem, 0.5773502691896258 * apothem)
    dx = safe_norm(xy - jnp.stack([edge, jnp.full_like(edge, apothem)], -1)) * jnp.sign(
        xy[..., 1] - apothem)
    d = jnp.stack([dx, q[..., 2] - half_height], -1)
    return jnp.minimum(jnp.max(d, -1), 0.0) + safe_norm(jnp.maximum(d, 0.0))


def polygon_2d(q, vertices):
    """Exact signed distance of 2D points q (...,2) to a simple polygon, vertices (N,2) in
    either winding (Quilez's formula: nearest edge, crossing-number sign)."""
    v = jnp.asarray(vertices)
    e = jnp.roll(v, 1, axis=0) - v  # edge i: from vertex i to vertex i-1
    w = q[..., None, :] - v  # (...,N,2)
    t = jnp.clip(jnp.sum(w * e, -1) / jnp.maximum(jnp.sum(e * e, -1), 1e-20), 0.0, 1.0)
    b = w - t[..., None] * e
    dist2 = jnp.min(jnp.sum(b * b, -1), axis=-1)
    c1 = q[..., None, 1] >= v[:, 1]
    c2 = q[..., None, 1] < jnp.roll(v, 1, axis=0)[:, 1]
    c3 = e[:, 0] * w[..., 1] > e[:, 1] * w[..., 0]
    flips = (c1 & c2 & c3) | (~c1 & ~c2 & ~c3)
    sign = 1.0 - 2.0 * (jnp.sum(flips, -1) % 2)
    return sign * safe_sqrt(dist2)


def lathe_z(p, profile):
    """Solid of revolution about the z axis of a profile (K,2) of (radius, z) points that
    starts and ends on the axis (radius 0): exact, inside and out (the profile and its
    mirror image form the section in every plane through the axis)."""
    profile = jnp.asarray(profile)
    mirror = profile[-2:0:-1] * jnp.array([-1.0, 1.0])
    section = jnp.concatenate([profile, mirror], axis=0)
    return polygon_2d(jnp.stack([safe_norm(p[..., :2]), p[..., 2]], -1), section)


def round_rect_2d(q, half_extents, radius):
    """Rectangle (...,2) centred at the origin, corners rounded by `radius` (outer size =
    half_extents)."""
    d = jnp.abs(q) - jnp.asarray(half_extents) + radius
    return (jnp.minimum(jnp.max(d, -1), 0.0) + safe_norm(jnp.maximum(d, 0.0))) - radius


def extrude_z(p, d2, half_height):
    """A 2D shape's exact signed distance d2 (...) at p[..., :2] extruded along z over
    +-half_height."""
    d = jnp.stack([d2, jnp.abs(p[..., 2]) - half_height], -1)
    return jnp.minimum(jnp.max(d, -1), 0.0) + safe_norm(jnp.maximum(d, 0.0))


def rounded_slab(p, half_extents, corner_radius, edge_radius):
    """A box centred at the origin whose vertical edges are rounded by `corner_radius` and
    whose outline (top and bottom faces' borders) by `edge_radius` (<= corner_radius): a
    phone's or a remote's body. Outer size = half_extents."""
    hx, hy, hz = half_extents
    core = round_rect_2d(p[..., :2], (hx - edge_radius, hy - edge_radius),
                         corner_radius - edge_radius)
    return extrude_z(p, core, hz - edge_radius) - edge_radius


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

"""The object channel of the interaction grid: the object's SDF sampled on the grid of the
normalised hand frame, truncated and normalised (docs/design.md §11).

    value(x_n) = clip(sdf_o(oTh (c + s x_n)) / s, -T, T) / T,   T = 0.2 (normalised units)

so the channel is in [-1, 1], negative inside, and saturates 4 cm (T s) from the surface.
Any SDF works: an exact one (`hoijax.data.synthetic.objects.object_sdf`), a triangle mesh
(`mesh_sdf`, brute force, pure jnp) or hoijax's SDF network (`network_sdf`). Everything is
pure jnp: it jits, vmaps over transforms and differentiates with respect to the SDF's
parameters and to hTo (SDS in 3D needs the latter two).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from hoijax.geometry.transforms import invert_rigid
from hoijax.interaction.frame import HAND_SCALE, from_normalised, grid_points

SDF_TRUNCATION = 0.2  # T: normalised units (4 cm at s = 0.2 m)


def normalise_sdf(sdf_m, scale=HAND_SCALE, truncation=SDF_TRUNCATION):
    """Metres -> the grid channel in [-1, 1]."""
    return jnp.clip(sdf_m / scale, -truncation, truncation) / truncation


def denormalise_sdf(value, scale=HAND_SCALE, truncation=SDF_TRUNCATION):
    """The grid channel -> metres (exact inside the truncation band)."""
    return value * truncation * scale


def grid_in_object(hTo, center, resolution, half_extent, scale=HAND_SCALE):
    """(R,R,R,3) object-frame points (m) of the grid for a 4x4 hTo and the frame centre."""
    x_h = from_normalised(grid_points(resolution, half_extent), center, scale)
    oTh = invert_rigid(jnp.asarray(hTo, jnp.float32))
    return jnp.einsum("ij,...j->...i", oTh[:3, :3], x_h,
                      precision=jax.lax.Precision.HIGHEST) + oTh[:3, 3]


def object_grid(sdf_fn, hTo, center, resolution, half_extent, scale=HAND_SCALE):
    """(R,R,R) object channel. sdf_fn: (...,3) object-frame points (m) -> (...) metres;
    hTo (4,4) object -> hand frame; center (3,) the normalised frame's centre (m)."""
    x_o = grid_in_object(hTo, center, resolution, half_extent, scale)
    return normalise_sdf(sdf_fn(x_o), scale)


def network_sdf(params):
    """hoijax's SDF network (`hoijax.models.sdf`) as an sdf_fn."""
    from hoijax.models.sdf import sdf_value
    return functools.partial(sdf_value, params)


# ---------------------------------------------------------------------------------------
# Triangle meshes: exact distance to the nearest triangle, sign by the winding number.

def _point_triangle_sq(p, a, b, c):
    """Squared distance from p (3,) to triangle (a, b, c) (each (3,)): the closest point
    by the Voronoi regions of Ericson, Real-Time Collision Detection 5.1.5."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = ab @ ap, ac @ ap
    bp = p - b
    d3, d4 = ab @ bp, ac @ bp
    cp = p - c
    d5, d6 = ab @ cp, ac @ cp
    vc = d1 * d4 - d3 * d2
    vb = d5 * d2 - d1 * d6
    va = d3 * d6 - d5 * d4
    safe = lambda x: jnp.where(jnp.abs(x) > 1e-20, x, 1e-20)  # noqa: E731
    denom = safe(va + vb + vc)
    v_in, w_in = vb / denom, vc / denom
    candidates = [
        (d1 <= 0) & (d2 <= 0), a,
        (d3 >= 0) & (d4 <= d3), b,
        (d6 >= 0) & (d5 <= d6), c,
        (vc <= 0) & (d1 >= 0) & (d3 <= 0), a + ab * (d1 / safe(d1 - d3)),
        (vb <= 0) & (d2 >= 0) & (d6 <= 0), a + ac * (d2 / safe(d2 - d6)),
        (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0),
        b + (c - b) * ((d4 - d3) / safe((d4 - d3) + (d5 - d6))),
    ]
    closest = a + ab * v_in + ac * w_in
    for i in range(len(candidates) - 2, -1, -2):  # the first matching region wins
        closest = jnp.where(candidates[i], candidates[i + 1], closest)
    return jnp.sum((p - closest) ** 2)


def _solid_angle(p, a, b, c):
    """Signed solid angle of triangle (a, b, c) seen from p (Van Oosterom & Strackee)."""
    x, y, z = a - p, b - p, c - p
    lx, ly, lz = (jnp.sqrt(jnp.sum(v ** 2) + 1e-30) for v in (x, y, z))
    num = x @ jnp.cross(y, z)
    den = lx * ly * lz + (x @ y) * lz + (y @ z) * lx + (z @ x) * ly
    return 2.0 * jnp.arctan2(num, den)


def mesh_sdf(verts, faces, chunk=4096):
    """An sdf_fn of a closed triangle mesh (verts (V,3) m, faces (F,3), counter-clockwise
    seen from outside): brute force over all triangles, negative inside (generalised
    winding number > 1/2). O(points x faces): for grids of coarse meshes."""
    tri = jnp.asarray(verts, jnp.float32)[jnp.asarray(faces, jnp.int32)]  # (F,3,3)

    def one(p):
        d2 = jax.vmap(lambda t: _point_triangle_sq(p, t[0], t[1], t[2]))(tri)
        winding = jnp.sum(jax.vmap(lambda t: _solid_angle(p, t[0], t[1], t[2]))(tri))
        inside = winding / (4 * jnp.pi) > 0.5
        d = jnp.sqrt(jnp.min(d2) + 1e-20)
        return jnp.where(inside, -d, d)

    def sdf(x):
        flat = x.reshape(-1, 3)
        n = flat.shape[0]
        pad = -n % chunk
        blocks = jnp.pad(flat, ((0, pad), (0, 0))).reshape(-1, chunk, 3)
        out = jax.lax.map(jax.vmap(one), blocks).reshape(-1)[:n]
        return out.reshape(x.shape[:-1])

    return sdf

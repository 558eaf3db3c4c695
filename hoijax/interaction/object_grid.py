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

from hoijax.geometry.mesh_sdf import INSIDE, brute_force
from hoijax.geometry.transforms import invert_rigid
from hoijax.interaction.frame import HAND_SCALE, from_normalised, grid_points
from hoijax.models.sdf import sdf_value

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
    return functools.partial(sdf_value, params)


# ---------------------------------------------------------------------------------------
# Triangle meshes: exact distance to the nearest triangle, sign by the winding number.

def mesh_sdf(verts, faces, chunk=4096):
    """An sdf_fn of a closed triangle mesh (verts (V,3) m, faces (F,3), counter-clockwise
    seen from outside): brute force over all triangles, negative inside (generalised
    winding number > 1/2). O(points x faces): for grids of coarse meshes."""
    tri = jnp.asarray(verts, jnp.float32)[jnp.asarray(faces, jnp.int32)]  # (F,3,3)

    def one(p):
        d2, winding = brute_force(p, tri)
        d = jnp.sqrt(d2 + 1e-20)
        return jnp.where(winding > INSIDE, -d, d)

    def sdf(x):
        flat = x.reshape(-1, 3)
        n = flat.shape[0]
        pad = -n % chunk
        blocks = jnp.pad(flat, ((0, pad), (0, 0))).reshape(-1, chunk, 3)
        out = jax.lax.map(jax.vmap(one), blocks).reshape(-1)[:n]
        return out.reshape(x.shape[:-1])

    return sdf

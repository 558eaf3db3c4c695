"""Hard renders of an exact signed distance function by sphere tracing.

For ground-truth renders of analytic shapes (the synthetic objects): no mesh, no
discretisation, a fixed number of steps so it jits and vmaps over views. The differentiable
renderer for optimisation is `hoijax.render.volume`; this one has no useful gradient.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from hoijax.geometry.camera import pixel_rays
from hoijax.geometry.math import safe_normalize

HIT_TOL = 2e-4  # metres: |sdf| below this after the march is a hit
STEP_SCALE = 0.9  # under-relaxation: unions and cut-outs make the SDF a bound, not exact


def sphere_trace(sdf_fn, origins, directions, near, far, num_steps=96):
    """Marches rays (...,3) from t = near; -> hit (...) bool, t (...) ray distance."""
    def step(t, _):
        d = sdf_fn(origins + t[..., None] * directions)
        return jnp.minimum(t + STEP_SCALE * d, far), None

    t0 = jnp.full(origins.shape[:-1], near, jnp.float32)
    t, _ = jax.lax.scan(step, t0, None, length=num_steps)
    d = sdf_fn(origins + t[..., None] * directions)
    return (jnp.abs(d) < HIT_TOL) & (t < far), t


def render_sdf_hard(sdf_fn, cTo, K, image_size, *, near, far, num_steps=96):
    """Layer dict (mask, depth, normal) of the zero level set of sdf_fn (object frame) seen
    by the camera cTo (4,4) with pixel intrinsics K (3,3); image_size (H, W) static.

    near, far: ray-distance range (metres) that contains the object. mask (H,W) in {0, 1};
    depth (H,W) camera z (0 where no hit); normal (H,W,3) camera-frame unit normal of the
    SDF gradient (0 where no hit), as the mesh rasterizer returns them.
    """
    _, dirs_c = pixel_rays(K, image_size)  # unit camera-frame rays (H,W,3)
    rot, trans = cTo[:3, :3], cTo[:3, 3]
    dirs_o = dirs_c @ rot  # rot.T @ d for each ray: the rays in the object frame
    origins = jnp.broadcast_to(-rot.T @ trans, dirs_o.shape)
    hit, t = sphere_trace(sdf_fn, origins, dirs_o, near, far, num_steps)
    points = origins + t[..., None] * dirs_o
    grad = jax.vmap(jax.grad(lambda p: sdf_fn(p[None])[0]))(points.reshape(-1, 3))
    normal_c = safe_normalize(grad.reshape(points.shape) @ rot.T)
    depth = t * dirs_c[..., 2]
    return dict(mask=hit.astype(jnp.float32), depth=jnp.where(hit, depth, 0.0),
                normal=jnp.where(hit[..., None], normal_c, 0.0))

"""Where a fit starts: `initialise_scene(data, model, config)`, the one entry point.

The hand comes from the tracker's estimates (articulation, mean shape) and the cameras from
the robustly smoothed trajectory (`hoijax.recon.trajectory`, already in `ClipData.cTh0`);
the object and camera corrections start at zero. The object field starts as a sphere: the
sphere that best explains the object masks seen from the initial cameras
(`fit_object_sphere`, starting from a sphere touching the palm), so every clip starts at a
sensible size and place; then the SDF network is fitted to that sphere's exact SDF
(`hoijax.models.sdf.fit_sphere`). Reads the `init` and `sdf` sections of
configs/reconstruct.py.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hoijax.geometry.math import safe_norm
from hoijax.geometry.transforms import apply_to_points
from hoijax.hand.anatomy import back_direction
from hoijax.models.sdf import fit_sphere, init_sdf
from hoijax.optimize import adam_scan
from hoijax.recon import scene
from hoijax.recon.data import ClipData


def initialise_scene(data: ClipData, model, config) -> dict:
    """The initial scene params (`hoijax.recon.scene`) of one prepared clip.
    config: configs/reconstruct.py (its `seed`, `init` and `sdf` sections)."""
    c = config.init
    center, radius = palm_sphere(model, c.sphere_offset), c.sphere_radius
    if c.sphere_from_masks:
        center, radius = fit_object_sphere(data.obj_mask, data.hand_mask, data.cTh0, data.K0,
                                           center, radius)
    k_sdf, k_fit = jax.random.split(jax.random.key(config.seed))
    sdf = init_sdf(k_sdf, width=config.sdf.width, depth=config.sdf.depth,
                   num_freqs=config.sdf.num_freqs, scale=config.sdf.scale,
                   init_radius=radius, center=center)
    sdf = fit_sphere(sdf, k_fit, radius=radius)
    return scene.new_scene(sdf, data.cTh0, data.hA0, data.beta0)


def palm_sphere(model, offset) -> np.ndarray:
    """Centre (3,) of the first-guess object sphere: `offset` metres in front of the palm
    centre along the palm's normal (rest hand frame), so a sphere of radius `offset`
    touches the palm."""
    joints = np.asarray(model.J_regressor) @ np.asarray(model.v_template)
    palm = joints[[0, 1, 4, 7, 10]].mean(0)
    return palm - back_direction(joints, model.side) * offset


def sphere_silhouettes(center_h, radius, cTh, K, size, softness=1.0):
    """Soft silhouettes (T,S,S) of a sphere (centre (3,) in the hand frame, radius in m) seen
    by cameras cTh (T,4,4), K (T,3,3): the projected disk (centre K c_cam, radius f r / z;
    exact up to the small perspective stretch off-axis), edges `softness` pixels wide."""
    c_cam = apply_to_points(cTh, center_h[None])[:, 0]
    z = jnp.maximum(c_cam[:, 2], 1e-3)
    uv = jnp.stack([K[:, 0, 0] * c_cam[:, 0] / z + K[:, 0, 2],
                    K[:, 1, 1] * c_cam[:, 1] / z + K[:, 1, 2]], -1)
    radius_px = K[:, 0, 0] * radius / z
    rows, cols = jnp.meshgrid(jnp.arange(size, dtype=jnp.float32),
                              jnp.arange(size, dtype=jnp.float32), indexing="ij")
    offset = jnp.stack([cols[None] - uv[:, None, None, 0],
                        rows[None] - uv[:, None, None, 1]], -1)
    return jax.nn.sigmoid((radius_px[:, None, None] - safe_norm(offset)) / softness)


def fit_object_sphere(obj_mask, hand_mask, cTh, K, center0, radius0, *, steps=200,
                      lr=3e-3):
    """The sphere (hand frame) that best explains the object masks, the object's first
    guess (a visual-hull-like bound): every object pixel should be covered, and the disk
    may only spill onto object or hand pixels (the hand can hide the object).

    obj_mask, hand_mask (T,S,S) in [0,1]; cTh (T,4,4); K (T,3,3) at S; center0 (3,) and
    radius0 () the starting guess. Returns (centre (3,), radius) as numpy.
    """
    obj_mask, hand_mask = jnp.asarray(obj_mask), jnp.asarray(hand_mask)
    free = jnp.clip(1.0 - obj_mask - hand_mask, 0.0, 1.0)  # pixels the object must not cover
    size = obj_mask.shape[-1]
    area = jnp.maximum(jnp.sum(obj_mask), 1.0)

    def loss(p):
        disk = sphere_silhouettes(p["c"], jnp.exp(p["log_r"]), cTh, K, size)
        return (jnp.sum(obj_mask * (1 - disk)) + jnp.sum(free * disk)) / area

    params = adam_scan(loss, dict(c=jnp.asarray(center0, jnp.float32),
                                  log_r=jnp.log(jnp.asarray(radius0, jnp.float32))),
                       steps=steps, lr=lr)
    return np.asarray(params["c"]), float(np.exp(params["log_r"]))

"""The per-clip scene: what reconstruction optimises, as one params pytree.

  sdf       object field (`hoijax.models.sdf`), object frame, initialised to a sphere near
            the palm (the object frame starts equal to the hand frame: hTo = I);
  beta      (10,) hand shape;      hA (T,45) articulation (axis-angle, flat-hand mean);
  hTo                              object -> hand: one shared rigid transform (rot (3,)
                                   axis-angle, trans (3,)) composed with small per-frame
                                   offsets (frame_rot, frame_trans (T,3)); all start at 0.
                                   Sharing makes every frame's mask move the same object
                                   (the grasp is stable); the offsets are penalised;
  cam_rot, cam_trans (T,3)         corrections of the initial hand -> camera transforms:
                                   cTh = [exp(cam_rot) R0 | t0 + cam_trans];
  log_focal (T,)                   focal refinement: K = diag(e^f, e^f, 1) K0 (about cx, cy).

The constants of a clip (initial cameras, intrinsics, masks) live apart, in
`hoijax.recon.data.ClipData`, so the params pytree holds exactly what the optimiser
updates; `hoijax.recon.init.initialise_scene` builds the first one (`new_scene`).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hoijax.geometry.rotations import axis_angle_to_matrix
from hoijax.geometry.transforms import make_transform
from hoijax.hand.model import mano_forward

PARAM_GROUPS = ("sdf", "hand", "hTo", "camera", "focal")


def new_scene(sdf: dict, cTh0, hA0, beta0) -> dict:
    """The params pytree of the module docstring: the object field `sdf`
    (`hoijax.models.sdf`), the hand from the estimates hA0 (T,45) and beta0 (10,), and
    zero corrections of the object pose and of the cameras cTh0 (T,4,4)."""
    T = len(cTh0)
    zeros = jnp.zeros((T, 3))
    return dict(sdf=sdf, hand=dict(beta=jnp.asarray(beta0, jnp.float32),
                                   hA=jnp.asarray(hA0, jnp.float32)),
                hTo=dict(rot=jnp.zeros(3), trans=jnp.zeros(3), frame_rot=zeros,
                         frame_trans=zeros),
                camera=dict(rot=zeros, trans=zeros),
                focal=dict(log_focal=jnp.zeros((T,))))


def hTo_matrices(params):
    """(T,4,4) object -> hand: [exp(frame_rot) exp(rot) | trans + frame_trans]."""
    p = params["hTo"]
    rot = axis_angle_to_matrix(p["frame_rot"]) @ axis_angle_to_matrix(p["rot"])
    return make_transform(rot, p["trans"] + p["frame_trans"])


def cTh_matrices(params, cTh0):
    """(T,4,4) hand -> camera from the initial cTh0 (T,4,4) and the corrections."""
    rot = axis_angle_to_matrix(params["camera"]["rot"])
    return make_transform(rot @ cTh0[:, :3, :3], cTh0[:, :3, 3] + params["camera"]["trans"])


def intrinsics(params, K0):
    """(T,3,3) refined pixel intrinsics (focal scaled about the principal point)."""
    s = jnp.exp(params["focal"]["log_focal"])
    return K0.at[:, 0, 0].multiply(s).at[:, 1, 1].multiply(s)


def hand_vertices(model, params):
    """(T,V,3) hand vertices and (T,21,3) joints in the hand frame."""
    return _posed_hands(model, params["hand"]["hA"], params["hand"]["beta"])


@jax.jit  # one program (also when called outside a fit step: op by op, ~2 s of compiles)
def _posed_hands(model, hA, beta):
    out = mano_forward(model, hA, jnp.broadcast_to(beta, hA.shape[:1] + (10,)))
    return out.vertices, out.joints


def export_arrays(params, cTh0, K0) -> dict:
    """The optimised parameters as numpy arrays for params.npz (sdf weights flattened)."""
    out = dict(hA=params["hand"]["hA"], beta=params["hand"]["beta"],
               hTo=hTo_matrices(params), cTh=cTh_matrices(params, cTh0),
               K=intrinsics(params, K0))
    for i, layer in enumerate(params["sdf"]["layers"]):
        out[f"sdf/layers/{i}/w"], out[f"sdf/layers/{i}/b"] = layer["w"], layer["b"]
    out["sdf/center"], out["sdf/scale"] = params["sdf"]["center"], params["sdf"]["scale"]
    return {k: np.asarray(v) for k, v in out.items()}

"""Synthetic two-hand interactions (InterHandGen's training data without InterHand2.6M).

  python -m hoijax.data.synthetic.two_hands --num=10000 --out=two_hand_data
  python -m hoijax.data.synthetic.two_hands --num=400 --out=/tmp/th --picture=types.png

Ten interaction types (`TYPES`), each a template of both hands' articulations and of the
right hand's placement relative to the left, drawn with articulation, shape and
relative-pose noise, then refined with Adam through the differentiable skeletons and
their sphere proxies (hoijax.hand.proxy): chosen parts of the two hands (and the held
object) pulled into contact, proxy overlaps pushed apart, the articulation kept near the
template. Half the pairs are then mirrored (left <-> right), so the data treats both
hands alike. Penetration (mesh depth and volume) and contact are measured on the meshes
afterwards and reported per type (`type_stats`). docs/design.md §12.

Output DIR/two_hands.npz: for `left_` and `right_`: hand_pose (N,45) axis-angle with the
flat-hand mean, betas (N,10), global_orient (N,3), transl (N,3) (metres, one shared frame,
as smplx/manopth apply them with the left and right model files); `type` (N,) int index
into `type_names`; `object` (N,) category ('' none), `object_params` (JSON per pair),
`object_pose` (N,4,4) object -> shared frame; `held_out` (N,) bool (every 10th round of
the ten types, so every type is in it).
DIR/stats.json holds the per-type statistics.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags
from scipy.spatial.transform import Rotation

from hoijax import viz
from hoijax.data.synthetic.gallery import label
from hoijax.data.synthetic.objects import object_bounds, object_mesh, object_sdf, sample_params
from hoijax.geometry.camera import orbit_camera
from hoijax.geometry.rotations import axis_angle_to_matrix
from hoijax.geometry.transforms import apply_to_points
from hoijax.hand import load_hand_model
from hoijax.hand import proxy as P
from hoijax.hand.anatomy import FINGER_CHAINS, back_direction, flexion_axes
from hoijax.hand.model import mano_forward
from hoijax.hand.poses import FINGER_FLEX, SPREAD_RANK, THUMB_FLEX
from hoijax.optimize import optimizer_scan
from hoijax.runtime import enable_compilation_cache

TYPES = ("palms_pressed", "fingertips_touching", "handshake_grip", "wrist_grab",
         "finger_hold", "cupped_hands", "fist_in_palm", "crossed_stack", "poke_palm",
         "holding_object")
OBJECT_CATEGORIES = ("box", "can", "fruit", "bottle")
HELD_OUT_EVERY = 10
CONTACT_TOL = 0.003  # hands closer than 3 mm (or intersecting) are in contact
FINGERS = ("thumb", "index", "middle", "ring", "pinky")
# Sphere groups (hoijax.hand.proxy.SphereProxy.finger): 0 palm, 1 thumb .. 5 pinky; tips
# are the last sphere of each finger chain.
PALM, THUMB, INDEX, MIDDLE, RING, PINKY = range(6)


# ---------------------------------------------------------------------------------------
# Articulation.

def articulation(joints21, side, curl, spread):
    """(N,45) axis-angles from per-finger curls (N,5) in FINGERS order (0 flat, 1 fist;
    per joint the fraction of the full flexion) and a spread (N,) of the knuckles."""
    axes, back = flexion_axes(joints21, side), back_direction(joints21, side)
    n = len(curl)
    poses = np.zeros((n, 15, 3))
    for f, name in enumerate(FINGERS):
        chain = FINGER_CHAINS[name]
        flex = curl[:, f:f + 1] * (THUMB_FLEX if name == "thumb" else FINGER_FLEX)
        for k, j in enumerate(chain):
            poses[:, j - 1] = flex[:, k:k + 1] * axes[j - 1]
        if name != "thumb":
            sign = 1.0 if side == "right" else -1.0
            poses[:, chain[0] - 1] += sign * SPREAD_RANK[name] * spread[:, None] * back
    return poses.reshape(n, 45)


def _frame(fingers, palm):
    """Rotation taking a right hand's rest finger direction (-x) and palm normal (-y) to
    the unit vectors `fingers`, `palm` (N,3) of the left hand's frame -> (N,3,3)."""
    fingers = fingers / np.linalg.norm(fingers, axis=-1, keepdims=True)
    palm = palm - np.sum(palm * fingers, -1, keepdims=True) * fingers
    palm = palm / np.linalg.norm(palm, axis=-1, keepdims=True)
    world = np.stack([fingers, palm, np.cross(fingers, palm)], -1)
    local = np.stack([[-1.0, 0, 0], [0, -1.0, 0], np.cross([-1.0, 0, 0], [0, -1.0, 0])], -1)
    return world @ local.T


def _jitter_rotation(rng, n, deg):
    return Rotation.from_rotvec(rng.normal(0, np.deg2rad(deg) / np.sqrt(3), (n, 3))
                                ).as_matrix()


# ---------------------------------------------------------------------------------------
# Templates. In the left hand's frame (wrist at 0, no root rotation): its fingers point
# along +x, its palm faces -y, its thumb lies toward +z.

@dataclasses.dataclass
class Draft:
    """Initial pairs of one type (N pairs) and what the refinement pulls together."""

    curl_left: np.ndarray  # (N,5)
    curl_right: np.ndarray  # (N,5)
    spread: np.ndarray  # (N,2) left, right
    fingers_right: np.ndarray  # (N,3) the right hand's finger direction (left frame)
    palm_right: np.ndarray  # (N,3) its palm normal
    offset: np.ndarray  # (N,3) right wrist start position (pulled in by contact)
    contacts: tuple  # ((left groups, right groups, tips only), ...) pulled together
    object_side: bool = False  # both palms pulled onto a held object


def _u(rng, lo, hi, n, k=None):
    return rng.uniform(lo, hi, (n,) if k is None else (n, k))


class _DraftTools(NamedTuple):
    """What every template draws with: uniform finger curls (n,5) in [lo, hi], a vector
    tiled to (n,3), a vector tilted by a random rotation of up to `deg`, and the finger
    spreads (n,2) drawn first."""
    flat: object
    tile: object
    tilt: object
    sp: np.ndarray


def _draft_palms_pressed(n, rng, h) -> Draft:
    """Prayer: palms together, fingers aligned, thumbs together."""
    flat, tile, tilt, sp = h.flat, h.tile, h.tilt, h.sp
    x, y, z = np.eye(3)
    return Draft(flat(-0.05, 0.15), flat(-0.05, 0.15), sp * 0.5, tilt(x, 12), tilt(y, 8),
                 tile([0.0, -0.06, 0.0]) + _u(rng, -0.01, 0.01, n, 3),
                 (((PALM,), (PALM,), False), ((INDEX, MIDDLE, RING), (INDEX, MIDDLE, RING),
                                              False)))


def _draft_fingertips_touching(n, rng, h) -> Draft:
    """Steeple: palms apart, matching fingertips touch."""
    flat, tile, tilt, sp = h.flat, h.tile, h.tilt, h.sp
    x, y, z = np.eye(3)
    curl = flat(0.15, 0.45)
    return Draft(curl, curl + _u(rng, -0.05, 0.05, n, 5), sp + 0.15, tilt(x, 15),
                 tilt(y, 10), tile([0.0, -0.11, 0.0]) + _u(rng, -0.01, 0.01, n, 3),
                 (((THUMB, INDEX, MIDDLE, RING, PINKY), (THUMB, INDEX, MIDDLE, RING,
                                                        PINKY), True),))


def _draft_handshake_grip(n, rng, h) -> Draft:
    """Palms together, fingers opposite, wrapped around."""
    flat, tile, tilt, sp = h.flat, h.tile, h.tilt, h.sp
    x, y, z = np.eye(3)
    return Draft(flat(0.45, 0.8), flat(0.45, 0.8), sp * 0.3, tilt(-x, 15), tilt(y, 10),
                 tile([0.17, -0.07, 0.0]) + _u(rng, -0.01, 0.01, n, 3),
                 (((PALM,), (PALM,), False), ((PALM,), (INDEX, MIDDLE, RING), False)))


def _draft_wrist_grab(n, rng, h) -> Draft:
    """The right hand wraps the left's wrist from its back."""
    flat, tile, tilt, sp = h.flat, h.tile, h.tilt, h.sp
    x, y, z = np.eye(3)
    side = rng.choice([-1.0, 1.0], n)[:, None]
    return Draft(flat(0.0, 0.5), flat(0.55, 0.85), sp, tilt(z, 15) * side, tilt(-y, 10),
                 tile([0.01, 0.08, 0.0]) - np.array([0, 0, 0.04]) * side,
                 (((PALM,), (PALM,), False), ((PALM,), (INDEX, MIDDLE, RING), True)))


def _draft_finger_hold(n, rng, h) -> Draft:
    """The right hand holds the left's index and middle fingers."""
    flat, tile, tilt, sp = h.flat, h.tile, h.tilt, h.sp
    x, y, z = np.eye(3)
    side = rng.choice([-1.0, 1.0], n)[:, None]
    return Draft(np.concatenate([_u(rng, 0.2, 0.5, n, 1), _u(rng, 0.0, 0.2, n, 2),
                                 _u(rng, 0.5, 0.9, n, 2)], 1), flat(0.5, 0.8), sp,
                 tilt(z, 15) * side, tilt(-y, 10),
                 tile([0.15, 0.09, 0.0]) - np.array([0, 0, 0.05]) * side,
                 (((INDEX, MIDDLE), (PALM,), False), ((INDEX, MIDDLE), (INDEX, MIDDLE),
                                                      False)))


def _draft_cupped_hands(n, rng, h) -> Draft:
    """Both cupped, palms the same way, pinky edges together."""
    flat, tile, tilt, sp = h.flat, h.tile, h.tilt, h.sp
    x, y, z = np.eye(3)
    curl = flat(0.3, 0.55)
    return Draft(curl, curl + _u(rng, -0.05, 0.05, n, 5), sp * 0.3, tilt(x, 12),
                 tilt(-y, 12), tile([0.0, 0.0, -0.11]) + _u(rng, -0.01, 0.01, n, 3),
                 (((PINKY,), (PINKY,), False), ((PALM,), (PALM,), False)))


def _draft_fist_in_palm(n, rng, h) -> Draft:
    """A right fist pressed into the open left palm."""
    flat, tile, tilt, sp = h.flat, h.tile, h.tilt, h.sp
    x, y, z = np.eye(3)
    side = rng.choice([-1.0, 1.0], n)[:, None]
    return Draft(flat(0.0, 0.35), flat(0.8, 1.0), sp, tilt(y, 20), tilt(x, 15) * side,
                 tile([0.08, -0.12, 0.0]) + _u(rng, -0.015, 0.015, n, 3),
                 (((PALM, INDEX, MIDDLE), (INDEX, MIDDLE, RING), False),))


def _draft_crossed_stack(n, rng, h) -> Draft:
    """The right palm on the back of the left, at an angle."""
    flat, tile, tilt, sp = h.flat, h.tile, h.tilt, h.sp
    y = np.eye(3)[1]
    ang = np.deg2rad(_u(rng, 20, 90, n)) * rng.choice([-1.0, 1.0], n)
    fingers = np.stack([np.cos(ang), np.zeros(n), np.sin(ang)], -1)
    return Draft(flat(0.0, 0.3), flat(0.0, 0.3), sp, fingers, tilt(-y, 10),
                 tile([0.02, 0.07, 0.0]) + _u(rng, -0.01, 0.01, n, 3),
                 (((PALM,), (PALM,), False),))


def _draft_poke_palm(n, rng, h) -> Draft:
    """The right index finger points into the left palm."""
    flat, tile, tilt, sp = h.flat, h.tile, h.tilt, h.sp
    x, y, z = np.eye(3)
    curl = np.concatenate([_u(rng, 0.5, 0.9, n, 1), _u(rng, -0.05, 0.15, n, 1),
                           _u(rng, 0.8, 1.0, n, 3)], 1)
    return Draft(flat(0.0, 0.3), curl, sp * 0.2, tilt(y, 20), tilt(x, 30),
                 tile([0.07, -0.2, 0.0]) + _u(rng, -0.015, 0.015, n, 3),
                 (((PALM,), (INDEX,), True),))


def _draft_holding_object(n, rng, h) -> Draft:
    """Both palms on an object between them."""
    flat, tile, tilt, sp = h.flat, h.tile, h.tilt, h.sp
    x, y, z = np.eye(3)
    return Draft(flat(0.1, 0.4), flat(0.1, 0.4), sp * 0.5, tilt(x, 10), tilt(y, 8),
                 tile([0.0, -0.12, 0.0]), (), object_side=True)

def draft(kind: str, n: int, rng) -> Draft:
    """The template of interaction `kind` with its variations (see TYPES)."""
    if kind not in _DRAFTS:
        raise ValueError(f"unknown interaction type {kind!r}; choose from {TYPES}")
    tile = lambda v: np.tile(v, (n, 1)).astype(np.float64)  # noqa: E731
    tools = _DraftTools(
        flat=lambda lo, hi: _u(rng, lo, hi, n, 5),
        tile=tile,
        tilt=lambda v, deg: np.einsum("nij,nj->ni", _jitter_rotation(rng, n, deg), tile(v)),
        sp=np.stack([_u(rng, -0.1, 0.25, n), _u(rng, -0.1, 0.25, n)], -1))
    return _DRAFTS[kind](n, rng, tools)


_DRAFTS = {
    "palms_pressed": _draft_palms_pressed,
    "fingertips_touching": _draft_fingertips_touching,
    "handshake_grip": _draft_handshake_grip,
    "wrist_grab": _draft_wrist_grab,
    "finger_hold": _draft_finger_hold,
    "cupped_hands": _draft_cupped_hands,
    "fist_in_palm": _draft_fist_in_palm,
    "crossed_stack": _draft_crossed_stack,
    "poke_palm": _draft_poke_palm,
    "holding_object": _draft_holding_object,
}


# ---------------------------------------------------------------------------------------
# Refinement.

def _group_masks(proxy: P.SphereProxy, contacts):
    """(C,K) left masks, (C,K) right masks, (C,) for the contact pairs of a draft."""
    k = len(proxy.radius)
    tips = np.zeros(k, bool)
    tips[2::3] = True  # the last of the three spheres on a finger's last bone
    last_bone = np.isin(proxy.b, (16, 17, 18, 19, 20))
    tip_mask = tips & last_bone
    left, right = np.zeros((3, k)), np.zeros((3, k))
    for c, (lg, rg, tips_only) in enumerate(contacts):
        left[c] = np.isin(proxy.finger, lg)
        right[c] = np.isin(proxy.finger, rg) & (tip_mask if tips_only else True)
    return left.astype(np.float32), right.astype(np.float32)


def contact_loss(gaps, left_mask, right_mask, count):
    """Pull each pair's right-group spheres onto the left group: gaps (K,K) left x right,
    masks (3,K) -> mean over the active right spheres of their closest gap, squared."""
    big = 1.0
    g = gaps[None] + big * (1 - left_mask[:, :, None])  # (3,K,K)
    closest = jnp.min(g, axis=1)  # (3,K) per right sphere
    per = jnp.sum(right_mask * closest ** 2, -1) / jnp.maximum(right_mask.sum(-1), 1)
    return jnp.sum(per * (jnp.arange(3) < count))


@dataclasses.dataclass(frozen=True)
class Weights:
    contact: float = 1e4  # (m^-2) contact gap squared
    penetration: float = 1e6  # proxy overlap squared, metres
    margin: float = 0.001  # proxy gaps below this count as overlap (the mesh bulges out)
    pose_prior: float = 3.0  # squared change of the articulation (rad^2)
    object_contact: float = 1e4
    object_penetration: float = 1e6


def refine(models, proxies, init, masks, obj=None, *, steps=250, lr=3e-3):
    """Adam on the right hand's rotation/position and both articulations.

    init: dict (numpy) pose_l, pose_r (N,45), betas_l, betas_r (N,10), R_r (N,3,3),
    wrist_r (N,3); masks: (left (N,3,K), right (N,3,K), count (N,)); obj: (category,
    params dict of (N,) arrays, object centre offsets (N,3)) or None. -> refined init."""
    category = None if obj is None else obj[0]
    key = (id(proxies[0]), id(proxies[1]), category, steps, lr)
    if key not in _REFINERS:
        _REFINERS[key] = jax.jit(functools.partial(_refine, proxies=proxies,
                                                   category=category, steps=steps, lr=lr))
    fixed = {k: jnp.asarray(v, jnp.float32) for k, v in init.items()}
    params, centre = (None, None) if obj is None else obj[1:]
    var = _REFINERS[key](models, fixed, masks, params, centre)
    out = dict(init)
    out["pose_l"] = np.asarray(fixed["pose_l"] + var["d_pose_l"])
    out["pose_r"] = np.asarray(fixed["pose_r"] + var["d_pose_r"])
    out["R_r"] = np.asarray(axis_angle_to_matrix(var["d_rot"]) @ fixed["R_r"])
    out["wrist_r"] = np.asarray(var["wrist_r"])
    return out


_REFINERS = {}


def _refine(models, fixed, masks, params, centre, *, proxies, category, steps, lr,
            w=Weights()):
    left_model, right_model = models
    lp, rp = proxies
    n = fixed["pose_l"].shape[0]
    eye = jnp.broadcast_to(jnp.eye(3), (n, 3, 3))

    def hands(var):
        pose_l = fixed["pose_l"] + var["d_pose_l"]
        pose_r = fixed["pose_r"] + var["d_pose_r"]
        R_r = axis_angle_to_matrix(var["d_rot"]) @ fixed["R_r"]
        jl = P.posed_skeleton(left_model, pose_l, fixed["betas_l"], eye, jnp.zeros((n, 3)))
        jr = P.posed_skeleton(right_model, pose_r, fixed["betas_r"], R_r, var["wrist_r"])
        return P.proxy_spheres(lp, jl), P.proxy_spheres(rp, jr)

    def loss(var):
        (cl, rl), (cr, rr) = hands(var)
        gaps = P.sphere_gaps(cl, rl, cr, rr)  # (N,K,K)
        total = w.penetration * jnp.sum(jax.nn.relu(w.margin - gaps) ** 2)
        total += w.contact * jnp.sum(jax.vmap(contact_loss)(gaps, *masks))
        total += w.pose_prior * (jnp.sum(var["d_pose_l"] ** 2) + jnp.sum(var["d_pose_r"] ** 2))
        if category is not None:
            for c, r in ((cl, rl), (cr, rr)):
                d = jax.vmap(lambda p, x: object_sdf(category, p, x))(
                    params, c - centre[:, None]) - r - w.margin
                total += w.object_penetration * jnp.sum(jax.nn.relu(-d) ** 2)
                palm = jnp.asarray(lp.finger == PALM)
                closest = jnp.min(jnp.where(palm, d, 1.0), axis=-1)
                total += w.object_contact * jnp.sum(closest ** 2)
        return total

    var = dict(d_pose_l=jnp.zeros((n, 45)), d_pose_r=jnp.zeros((n, 45)),
               d_rot=jnp.zeros((n, 3)), wrist_r=fixed["wrist_r"])
    return _adam(loss, var, steps, lr)


def _adam(loss, var, steps, lr):
    # Translation moves centimetres, rotations and articulation tenths of radians: one
    # Adam rate per group keeps both moving at a sensible pace.
    rates = dict(d_pose_l=lr * 4, d_pose_r=lr * 4, d_rot=lr * 4, wrist_r=lr)
    opt = optax.multi_transform({k: optax.adam(v) for k, v in rates.items()},
                                {k: k for k in var})
    return optimizer_scan(loss, var, opt, steps=steps)


# ---------------------------------------------------------------------------------------
# Generation.

def _start(models, kind, n, rng):
    """A draft turned into hand parameters: numpy dict (see `refine`) + masks + object."""
    left_model, right_model = models
    d = draft(kind, n, rng)
    jl = np.asarray(P.skeleton(left_model, np.zeros(45), np.zeros(10)))
    jr = np.asarray(P.skeleton(right_model, np.zeros(45), np.zeros(10)))
    curl_noise = lambda c: np.clip(c + rng.normal(0, 0.05, c.shape), -0.1, 1.0)  # noqa
    init = dict(
        pose_l=articulation(jl, "left", curl_noise(d.curl_left), d.spread[:, 0])
        + rng.normal(0, 0.03, (n, 45)),
        pose_r=articulation(jr, "right", curl_noise(d.curl_right), d.spread[:, 1])
        + rng.normal(0, 0.03, (n, 45)),
        betas_l=np.clip(rng.normal(0, 0.8, (n, 10)), -2, 2),
        R_r=_frame(d.fingers_right, d.palm_right), wrist_r=d.offset.copy())
    init["betas_r"] = np.clip(init["betas_l"] * 0.7 + rng.normal(0, 0.5, (n, 10)), -2, 2)
    return init, d


def _object_setup(rng, n, init, models):
    """Objects held between the palms: category per pair (one per call), params, centre."""
    category = OBJECT_CATEGORIES[rng.integers(len(OBJECT_CATEGORIES))]
    params = [sample_params(category, rng) for _ in range(n)]
    half_y = np.array([object_bounds(category, p)[1, 1] - 0.01 for p in params])
    height = np.array([object_bounds(category, p)[1, 2] - 0.01 for p in params])
    # Left palm centre at about (0.05, -0.015, 0) in its frame; the object below it (-y).
    centre = np.stack([np.full(n, 0.06), -0.02 - half_y, -height / 2], -1)
    init["wrist_r"] = np.stack([np.zeros(n), -0.04 - 2 * half_y, np.zeros(n)], -1)
    stacked = {k: np.array([p[k] for p in params], np.float32) for k in params[0]}
    return category, params, stacked, centre


_PROXIES = {}


def _proxies(left_model, right_model):
    key = tuple((m.name, m.side, m.num_verts) for m in (left_model, right_model))
    if key not in _PROXIES:
        _PROXIES[key] = P.sphere_proxy(left_model), P.sphere_proxy(right_model)
    return _PROXIES[key]


def generate_type(models, kind: str, n: int, seed: int, steps=250) -> dict:
    """n refined pairs of one interaction type (numpy dict, module docstring names)."""
    rng = np.random.default_rng([seed, TYPES.index(kind)])
    proxies = _proxies(*models)
    init, d = _start(models, kind, n, rng)
    left_mask, right_mask = _group_masks(proxies[0], d.contacts)
    masks = (jnp.broadcast_to(left_mask, (n,) + left_mask.shape),
             jnp.broadcast_to(right_mask, (n,) + right_mask.shape),
             jnp.full((n,), len(d.contacts)))
    obj, names, params, poses = None, [""] * n, [{}] * n, np.tile(np.eye(4), (n, 1, 1))
    if d.object_side:
        category, params, stacked, centre = _object_setup(rng, n, init, models)
        obj = (category, {k: jnp.asarray(v) for k, v in stacked.items()},
               jnp.asarray(centre, jnp.float32))
        names = [category] * n
        poses[:, :3, 3] = centre
    out = refine(models, proxies, init, masks, obj, steps=steps)
    return dict(out, type=np.full(n, TYPES.index(kind)), object=np.array(names),
                object_params=np.array([json.dumps(p) for p in params]), object_pose=poses)


def to_mano(models, pairs: dict) -> dict:
    """Refined pairs (left canonical) -> the left_/right_ MANO parameter arrays."""
    left_model, right_model = models
    n = len(pairs["pose_l"])
    zero = np.zeros((n, 3), np.float32)
    out = dict(left_hand_pose=pairs["pose_l"], left_betas=pairs["betas_l"],
               left_global_orient=zero,
               left_transl=np.asarray(P.transl_from_wrist(left_model, pairs["betas_l"], zero)),
               right_hand_pose=pairs["pose_r"], right_betas=pairs["betas_r"],
               right_global_orient=Rotation.from_matrix(pairs["R_r"]).as_rotvec(),
               right_transl=np.asarray(P.transl_from_wrist(right_model, pairs["betas_r"],
                                                           pairs["wrist_r"])))
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


MIRROR = np.diag([-1.0, 1.0, 1.0])


def mirror_hands(models, mano: dict, which: np.ndarray) -> dict:
    """Mirrors the pairs where `which` (N,) bool: the scene reflected in x = 0, so the left
    hand becomes the right and vice versa (exact when the left model mirrors the right:
    axis-angles (a, b, c) -> (a, -b, -c), wrists x -> -x)."""
    left_model, right_model = models
    flip = np.tile([1.0, -1.0, -1.0], 15)
    out = dict(mano)
    for side, other, model in (("left", "right", left_model), ("right", "left", right_model)):
        src = {k: mano[f"{other}_{k}"] for k in ("hand_pose", "betas", "global_orient",
                                                   "transl")}
        other_model = right_model if other == "right" else left_model
        wrist = src["transl"] + np.asarray(P.rest_joints(other_model, src["betas"]))[:, 0]
        new = dict(hand_pose=src["hand_pose"] * flip, betas=src["betas"],
                   global_orient=src["global_orient"] * np.array([1.0, -1.0, -1.0]))
        new["transl"] = np.asarray(P.transl_from_wrist(model, src["betas"], wrist @ MIRROR))
        for k, v in new.items():
            out[f"{side}_{k}"] = np.where(which.reshape((-1,) + (1,) * (v.ndim - 1)), v,
                                          mano[f"{side}_{k}"]).astype(np.float32)
    return out


def generate(models, num: int, seed: int = 0, types=TYPES, steps=250) -> dict:
    """`num` pairs spread evenly over `types`, refined, half mirrored, in a fixed
    interleaved order (pair i has type i % len(types))."""
    per = -(-num // len(types))
    parts = [generate_type(models, kind, per, seed, steps) for kind in types]
    order = np.stack([np.arange(per) + t * per for t in range(len(types))], 1).reshape(-1)
    cat = {k: np.concatenate([p[k] for p in parts])[order][:num] for k in parts[0]}
    rng = np.random.default_rng([seed, 99])
    which = rng.random(num) < 0.5
    mano = mirror_hands(models, to_mano(models, cat), which)
    pose = cat["object_pose"].copy()
    pose[which] = np.einsum("ij,njk->nik", np.diag([-1.0, 1, 1, 1]), pose[which])
    # Every 10th round of the types is held out (all types in it): pair i has type
    # i % len(types), so `i % 10 == 0` would hold out one type only.
    held = (np.arange(num) // len(types)) % HELD_OUT_EVERY == 0
    return dict(mano, type=cat["type"], object=cat["object"],
                object_params=cat["object_params"], object_pose=pose.astype(np.float32),
                mirrored=which, held_out=held)


# ---------------------------------------------------------------------------------------
# Measures.

def hand_meshes(models, data: dict, idx=None):
    """Posed vertices of both hands (left (N,V,3), right (N,V,3)) from the MANO arrays."""
    pick = (lambda a: a) if idx is None else (lambda a: a[idx])  # noqa: E731
    out = []
    for side, model in zip(("left", "right"), models):
        out.append(np.asarray(_forward(model, *(jnp.asarray(pick(data[f"{side}_{k}"]))
                                                for k in ("hand_pose", "betas",
                                                          "global_orient", "transl")))))
    return tuple(out)


@jax.jit
def _forward(model, pose, betas, orient, transl):
    return mano_forward(model, pose, betas, orient, transl).vertices


def penetration_stats(models, left_v, right_v, chunk=32) -> dict:
    """Per pair depth (m), volume (m^3), gap (m) of the meshes (hoijax.hand.proxy)."""
    il, ir = interior(models[0]), interior(models[1])
    fl, fr = jnp.asarray(models[0].faces), jnp.asarray(models[1].faces)
    out = {"depth": [], "volume": [], "gap": []}
    for i in range(0, len(left_v), chunk):
        lv, rv = np.asarray(left_v[i:i + chunk]), np.asarray(right_v[i:i + chunk])
        pad = chunk - len(lv)  # fixed shapes: one compilation
        lv, rv = (np.concatenate([x, np.repeat(x[:1], pad, 0)]) for x in (lv, rv))
        res = _pair_stats(jnp.asarray(lv), jnp.asarray(rv), fl, fr, il.vertex, il.weight,
                          ir.vertex, ir.weight)
        for k in out:
            out[k].append(np.asarray(res[k])[:chunk - pad])
    return {k: np.concatenate(v) for k, v in out.items()}


_INTERIOR = {}


def interior(model) -> P.InteriorPoints:
    """Interior points of a model (computed once per model and side in a process)."""
    key = (model.name, model.side, model.num_verts)
    if key not in _INTERIOR:
        _INTERIOR[key] = P.interior_points(model, 512)
    return _INTERIOR[key]


@jax.jit
def _pair_stats(lv, rv, fl, fr, il_v, il_w, ir_v, ir_w):
    def one(a, b):
        pa = P.posed_interior(P.InteriorPoints(il_v, il_w), a)
        pb = P.posed_interior(P.InteriorPoints(ir_v, ir_w), b)
        return P.pair_penetration(a, b, fl, fr, pa, pb)
    return jax.vmap(one)(lv, rv)


def type_stats(data: dict, measures: dict) -> dict:
    """Per interaction type: count, mean/max penetration depth (mm), mean volume (cm^3),
    share of pairs in contact (gap < 3 mm or intersecting)."""
    out = {}
    for t, name in enumerate(TYPES):
        m = data["type"] == t
        if not m.any():
            continue
        d, v, g = measures["depth"][m], measures["volume"][m], measures["gap"][m]
        out[name] = dict(count=int(m.sum()), depth_mm_mean=float(d.mean() * 1e3),
                         depth_mm_max=float(d.max() * 1e3),
                         volume_cm3_mean=float(v.mean() * 1e6),
                         contact_ratio=float(np.mean(g < CONTACT_TOL)))
    return out


# ---------------------------------------------------------------------------------------
# Pictures.

LEFT_COLOR, RIGHT_COLOR = (0.35, 0.55, 0.9), (0.95, 0.6, 0.3)


def pair_image(left_v, right_v, left_faces, right_faces, size=160, extra=None,
               azimuth=-60.0, elevation=25.0) -> np.ndarray:
    """(size,size,3) uint8: both hands (left blue, right orange; `extra` an optional
    (verts, faces) grey mesh, e.g. the held object) from an oblique view."""
    verts, faces, colors = [left_v, right_v], [left_faces, right_faces + len(left_v)], [
        np.tile(LEFT_COLOR, (len(left_v), 1)), np.tile(RIGHT_COLOR, (len(right_v), 1))]
    if extra is not None:
        faces.append(np.asarray(extra[1]) + len(left_v) + len(right_v))
        verts.append(np.asarray(extra[0]))
        colors.append(np.full((len(extra[0]), 3), 0.7))
    v = np.concatenate(verts)
    centre = 0.5 * (v.min(0) + v.max(0))
    dist = 1.05 * np.linalg.norm(v.max(0) - v.min(0)) + 0.03
    cam = orbit_camera(centre, dist, azimuth, elevation, up=(0.0, 0.0, 1.0))
    return viz.render_mesh(v, np.concatenate(faces), cam, size=size,
                           colors=np.concatenate(colors))


def object_mesh_of(data, i):
    """(verts, faces) of pair i's held object in the shared frame, or None."""
    if not str(data["object"][i]):
        return None
    mesh = object_mesh(str(data["object"][i]), json.loads(str(data["object_params"][i])),
                       spacing=0.003)
    return apply_to_points(np.asarray(data["object_pose"][i], np.float64),
                           np.asarray(mesh.vertices)), np.asarray(mesh.faces)


def types_picture(models, data, per_type=5, size=150) -> np.ndarray:
    """One row per interaction type: its name and `per_type` pairs."""
    rows = []
    fl, fr = np.asarray(models[0].faces), np.asarray(models[1].faces)
    for t, name in enumerate(TYPES):
        idx = np.nonzero(data["type"] == t)[0][:per_type]
        if len(idx) == 0:
            continue
        lv, rv = hand_meshes(models, data, idx)
        tiles = [pair_image(lv[k], rv[k], fl, fr, size, object_mesh_of(data, i))
                 for k, i in enumerate(idx)]
        tiles += [np.full_like(tiles[0], 255)] * (per_type - len(tiles))
        rows.append(np.concatenate([label(name.replace("_", " "), size)] + tiles, axis=1))
    return np.concatenate(rows, axis=0)


# ---------------------------------------------------------------------------------------
# Files and the CLI.

def save(out_dir: str, data: dict, stats: dict) -> None:
    """Writes DIR/two_hands.npz and DIR/stats.json through a temporary folder."""
    tmp = out_dir.rstrip("/") + ".tmp"
    os.makedirs(tmp, exist_ok=True)
    np.savez_compressed(os.path.join(tmp, "two_hands.npz"), type_names=np.array(TYPES),
                        **data)
    with open(os.path.join(tmp, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    os.replace(tmp, out_dir)


def load(path: str) -> dict:
    """DIR (or DIR/two_hands.npz) -> dict of arrays (see the module docstring)."""
    if os.path.isdir(path):
        path = os.path.join(path, "two_hands.npz")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no two-hand data (write it with python -m "
                                "hoijax.data.synthetic.two_hands --num=N --out=DIR)")
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def define_flags():
    """The CLI's flags (defined only when run as a program: the module is also a library)."""
    flags.DEFINE_integer("num", 1000, "Number of hand pairs.")
    flags.DEFINE_string("out", None, "Output folder (must not exist).")
    flags.DEFINE_integer("seed", 0, "Seed.")
    flags.DEFINE_integer("steps", 250, "Refinement steps.")
    flags.DEFINE_string("mano_dir", None, "Folder with the official MANO_*.pkl.")
    flags.DEFINE_string("picture", None, "Optional PNG of samples of every type.")
    flags.DEFINE_integer("stats_per_type", 200, "Pairs per type whose meshes are measured.")


def main(argv):
    del argv
    F = flags.FLAGS

    enable_compilation_cache()
    if not F.out:
        raise app.UsageError("--out is required")
    if os.path.exists(F.out):
        raise app.UsageError(f"--out={F.out} exists; choose a new folder")
    models = (load_hand_model("left", F.mano_dir), load_hand_model("right", F.mano_dir))
    start = time.time()
    data = generate(models, F.num, F.seed, steps=F.steps)
    seconds = time.time() - start
    # Mesh statistics on the first stats_per_type pairs of each type (the mesh tests
    # cost more than the generation).
    idx = np.concatenate([np.nonzero(data["type"] == t)[0][:F.stats_per_type]
                          for t in range(len(TYPES))])
    lv, rv = hand_meshes(models, data, idx)
    stats = type_stats({"type": data["type"][idx]}, penetration_stats(models, lv, rv))
    stats["_seconds_generation"] = seconds
    save(F.out, data, stats)
    print(json.dumps(stats, indent=1))
    if F.picture:
        # mediapy takes ~0.7 s to import; only the pictures need it.
        import mediapy
        mediapy.write_image(F.picture, types_picture(models, data))
    print(f"wrote {len(data['type'])} pairs to {F.out}")


if __name__ == "__main__":
    define_flags()
    app.run(main)

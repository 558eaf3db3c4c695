"""The initial hand trajectory of a clip from a hand tracker's per-frame estimates.

Trackers jitter from frame to frame and sometimes fail outright (a wrist turned by tens of
degrees, a hand placed centimetres off in depth). Two steps, both on the hand's 21 joints
in the camera frame:

1. Gross failures: a frame whose wrist rotation or hand position departs from what its good
   neighbours predict (constant velocity) by more than `rotation_deg` or `translation_m`
   is a failure (worst first, repeatedly); its hand-to-camera transform is replaced by
   interpolating the nearest good frames (rotations by slerp, translations linearly;
   copied at the ends).
2. Smoothing (DiffHOI's light trajectory optimisation): per-frame corrections of the wrist
   rotation (about the hand's centre) and translation minimise
       sum_t |J_{t-1} - 2 J_t + J_{t+1}|^2 + lambda sum_t |J_t - J^est_t|^2
   (mean over joints), i.e. stay close to the estimates while removing jitter. The
   smoothness term penalises acceleration, so a steady camera sweep costs nothing.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from hoijax.geometry.rotations import axis_angle_to_matrix
from hoijax.geometry.transforms import apply_to_points, make_transform
from hoijax.hand.model import mano_forward
from hoijax.optimize import adam_scan


def hand_joints(model, hA, beta) -> np.ndarray:
    """(T,21,3) joints in the hand frame for articulations hA (T,45) and shapes (T,10)."""
    out = jax.jit(mano_forward)(model, jnp.asarray(hA, jnp.float32),
                                jnp.asarray(beta, jnp.float32))
    return np.asarray(out.joints, np.float64)


def _predict(cTh_centre, rots, t, good):
    """Rotation and hand-centre position at frame t inter/extrapolated (constant angular
    and linear velocity) from the nearest good frames on either side."""
    before, after = good[good < t], good[good > t]
    if len(before) and len(after):
        a, b = before[-1], after[0]
    elif len(before) >= 2:
        a, b = before[-2], before[-1]
    elif len(after) >= 2:
        a, b = after[0], after[1]
    else:
        return None
    w = (t - a) / (b - a)
    rel = Rotation.from_matrix(rots[b] @ rots[a].T).as_rotvec()
    rot = Rotation.from_rotvec(w * rel).as_matrix() @ rots[a]
    # How much the prediction amplifies per-frame noise, relative to a midpoint
    # interpolation (1 there, 2 when extrapolating one frame past two neighbours).
    spread = np.sqrt((1 + (1 - w) ** 2 + w ** 2) / 1.5)
    return rot, cTh_centre[a] + w * (cTh_centre[b] - cTh_centre[a]), spread


def detect_failures(cTh, centre_h, *, rotation_deg=20.0, translation_m=0.05) -> np.ndarray:
    """(T,) bool: gross tracker failures among cTh (T,4,4).

    Each frame is compared with the prediction from its nearest good neighbours (constant
    angular and linear velocity, so a steady camera sweep predicts exactly); the worst frame
    beyond `rotation_deg` (wrist rotation) or `translation_m` (hand centre, camera frame),
    both widened where the prediction is an extrapolation, is flagged and the check repeats
    without it, until no frame is beyond.
    """
    T = len(cTh)
    rots = cTh[:, :3, :3]
    centres = np.einsum("tij,j->ti", rots, centre_h) + cTh[:, :3, 3]
    bad = np.zeros(T, bool)
    while (~bad).sum() > 2:
        good = np.nonzero(~bad)[0]
        scores = np.zeros(T)
        for t in good:
            pred = _predict(centres, rots, t, good[good != t])
            if pred is None:
                continue
            angle = np.degrees(Rotation.from_matrix(rots[t] @ pred[0].T).magnitude())
            shift = np.linalg.norm(centres[t] - pred[1])
            scores[t] = max(angle / rotation_deg, shift / translation_m) / pred[2]
        worst = int(np.argmax(scores))
        if scores[worst] <= 1.0:
            break
        bad[worst] = True
    return bad


def interpolate_failures(cTh, bad) -> np.ndarray:
    """Replaces the transforms of `bad` frames by interpolating the good ones."""
    good = np.nonzero(~bad)[0]
    if len(good) == len(cTh) or len(good) == 0:
        return cTh.copy()
    out = cTh.copy()
    times = np.arange(len(cTh))
    query = np.clip(times[bad], good[0], good[-1])
    if len(good) == 1:
        out[bad] = cTh[good[0]]
        return out
    slerp = Slerp(good, Rotation.from_matrix(cTh[good, :3, :3]))
    out[bad, :3, :3] = slerp(query).as_matrix()
    for k in range(3):
        out[bad, k, 3] = np.interp(query, good, cTh[good, k, 3])
    return out


def smooth_transforms(cTh, joints_h, *, lam=0.01, steps=300, lr=3e-3) -> np.ndarray:
    """Smoothing step of the module docstring; cTh (T,4,4), joints_h (T,21,3) hand frame."""
    cTh_j = jnp.asarray(cTh, jnp.float32)
    estimate = apply_to_points(cTh_j, jnp.asarray(joints_h, jnp.float32))
    centre = estimate.mean(1, keepdims=True)

    def loss(delta):
        j = apply_to_points(make_transform(axis_angle_to_matrix(delta["rot"]),
                                           delta["trans"]), estimate - centre) + centre
        accel = j[:-2] - 2 * j[1:-1] + j[2:]
        smooth = jnp.sum(jnp.mean(jnp.sum(accel ** 2, -1), -1))
        data = jnp.sum(jnp.mean(jnp.sum((j - estimate) ** 2, -1), -1))
        return smooth + lam * data

    T = len(cTh)
    delta = adam_scan(loss, dict(rot=jnp.zeros((T, 3)), trans=jnp.zeros((T, 3))),
                      steps=steps, lr=lr)
    rot = np.asarray(axis_angle_to_matrix(delta["rot"]), np.float64)
    c = np.asarray(centre[:, 0], np.float64)
    out = np.array(cTh, np.float64)
    # x_c' = rot (x_c - c) + c + dt, with x_c = R x_h + t.
    out[:, :3, :3] = rot @ cTh[:, :3, :3]
    out[:, :3, 3] = np.einsum("tij,tj->ti", rot, cTh[:, :3, 3] - c) + c + \
        np.asarray(delta["trans"], np.float64)
    return out


def initialise_trajectory(model, cTh, hA, beta, *, lam=0.01, rotation_deg=20.0,
                          translation_m=0.05, steps=300) -> dict:
    """Robust initial hand-to-camera transforms from tracker estimates.

    cTh (T,4,4), hA (T,45), beta (T,10). Returns dict(cTh (T,4,4) smoothed, failed (T,)
    bool: the frames detected as gross failures and interpolated).
    """
    cTh = np.asarray(cTh, np.float64)
    joints_h = hand_joints(model, hA, beta)
    failed = detect_failures(cTh, joints_h.mean((0, 1)), rotation_deg=rotation_deg,
                             translation_m=translation_m)
    fixed = interpolate_failures(cTh, failed)
    return dict(cTh=smooth_transforms(fixed, joints_h, lam=lam, steps=steps), failed=failed)

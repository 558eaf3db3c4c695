"""MANO fitted to 2D keypoints of all kept frames at once (JAX).

Per frame t: the hand's rotation r_t (axis-angle) and translation t_t in the camera frame
and its articulation as `NUM_PCA` MANO pose-PCA coefficients; one shape (10 betas) for the
clip. A hand-frame point x (MANO posed with zero global orientation and translation) is at
R(r_t) x + t_t in the camera: that matrix is the clip's cTh (`cameras_hoi.npz`'s cTw).

Energy (keypoints in pixels, divided by the hand's size in pixels so that the weights do not
depend on the resolution):
  sum_t,j c_tj GM(|pi(K_t J_tj) - k_tj| / s_t)    robust reprojection (Geman-McClure, rho)
  + w_pose |pca|^2 + w_shape |betas|^2           priors (MANO's PCA is a Gaussian prior)
  + w_smooth sum_t |J_t - J_t-1|^2 / (hand length)^2        temporal smoothness in 3D
  + w_steady sum_t |pca_t - pca_t-1|^2                       a grasp's steady articulation
Start: MANO's mean hand (zero PCA coefficients) at the depth where its wrist ->
middle-MCP length matches the keypoints', turned by each of `num_rotations` rotations
(Fibonacci-sphere axes x 4 angles); rotation and translation alone are fitted from each
and the lowest reprojection energy per frame is kept; then everything is fitted together
(Adam).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hoijax.geometry.camera import project
from hoijax.geometry.rotations import axis_angle_to_matrix
from hoijax.hand.model import OPENPOSE_ORDER, ManoModel, mano_forward
from hoijax.optimize import optimizer_scan

NUM_PCA = 15
WRIST, MIDDLE_MCP = 0, 9  # in the 21-keypoint order


def keypoint_joints(model: ManoModel, rot, trans, pca, betas):
    """(...,21,3) camera-frame joints in the keypoint order."""
    joints = mano_forward(model, pca, betas, flat_hand_mean=False, use_pca=True).joints
    joints = joints[..., jnp.asarray(OPENPOSE_ORDER), :]
    R = axis_angle_to_matrix(rot)
    return jnp.einsum("...ij,...kj->...ki", R, joints) + trans[..., None, :]


def geman_mcclure(residual_sq, rho):
    return rho ** 2 * residual_sq / (residual_sq + rho ** 2)


def frame_reprojection(joints, K, keypoints, confidence, scale, rho):
    """(T,) robust reprojection energy of each frame's camera-frame joints (T,21,3)."""
    uv, _ = project(joints, K)
    r2 = jnp.sum((uv - keypoints) ** 2, -1) / scale[:, None] ** 2
    return jnp.sum(confidence * geman_mcclure(r2, rho), -1)


def reprojection(model, K, keypoints, confidence, scale, rho, rot, trans, pca, betas):
    """(T,) `frame_reprojection` of the hand (rot, trans, pca, betas)."""
    joints = keypoint_joints(model, rot, trans, pca, betas)
    return frame_reprojection(joints, K, keypoints, confidence, scale, rho)


def energy(params, model, K, keypoints, confidence, scale, weights):
    rho, w_pose, w_shape, w_smooth, w_steady, length = weights
    rot, trans, pca, betas = params["rot"], params["trans"], params["pca"], params["betas"]
    joints = keypoint_joints(model, rot, trans, pca, betas)
    data = jnp.sum(frame_reprojection(joints, K, keypoints, confidence, scale, rho))
    smooth = jnp.sum((joints[1:] - joints[:-1]) ** 2) / length ** 2
    steady = jnp.sum((pca[1:] - pca[:-1]) ** 2)
    return (data + w_pose * jnp.sum(pca ** 2) + w_shape * jnp.sum(betas ** 2)
            + w_smooth * smooth + w_steady * steady)


def rotation_candidates(count: int) -> np.ndarray:
    """(count,3) axis-angles spread over SO(3): Fibonacci-sphere axes, 4 angles each."""
    axes_n = max(count // 4, 1)
    i = np.arange(axes_n) + 0.5
    phi = np.arccos(1 - 2 * i / axes_n)
    theta = np.pi * (1 + 5 ** 0.5) * i
    axes = np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)],
                    -1)
    angles = np.array([0.5, 1.3, 2.1, 2.9])
    return (axes[:, None, :] * angles[None, :, None]).reshape(-1, 3).astype(np.float32)


def initial_translation(model, K, keypoints, betas):
    """(T,3): the wrist's keypoint unprojected to the depth at which the mean hand's wrist
    -> middle-MCP length (m) spans the keypoints' (px)."""
    joints = mano_forward(model, jnp.zeros(NUM_PCA), betas, flat_hand_mean=False,
                          use_pca=True).joints[jnp.asarray(OPENPOSE_ORDER)]
    length_m = jnp.linalg.norm(joints[MIDDLE_MCP] - joints[WRIST])
    length_px = jnp.linalg.norm(keypoints[:, MIDDLE_MCP] - keypoints[:, WRIST], axis=-1)
    focal = (K[:, 0, 0] + K[:, 1, 1]) / 2
    depth = focal * length_m / jnp.maximum(length_px, 1.0)
    wrist = keypoints[:, WRIST]
    x = (wrist[:, 0] - K[:, 0, 2]) / K[:, 0, 0] * depth
    y = (wrist[:, 1] - K[:, 1, 2]) / K[:, 1, 1] * depth
    return jnp.stack([x, y, depth], -1)


def _wrist_rest(model, betas):
    """(3,) the wrist joint of the flat-PCA-mean hand in the hand frame."""
    joints = mano_forward(model, jnp.zeros(NUM_PCA), betas, flat_hand_mean=False,
                          use_pca=True).joints
    return joints[0]


@functools.partial(jax.jit, static_argnames=("steps",))
def _fit_pose_candidates(model, K, keypoints, confidence, scale, rots, steps, lr, rho):
    """Rotation and translation fitted from each candidate rotation (C,3) with the mean
    hand: -> rot (C,T,3), trans (C,T,3), energy (C,T)."""
    T = keypoints.shape[0]
    betas = jnp.zeros(10)
    pca = jnp.zeros((T, NUM_PCA))
    target = initial_translation(model, K, keypoints, betas)  # the wrist, camera frame
    wrist = _wrist_rest(model, betas)

    def one(rot0):
        rot = jnp.broadcast_to(rot0, (T, 3))
        trans = target - axis_angle_to_matrix(rot) @ wrist

        def loss(p):
            return jnp.sum(reprojection(model, K, keypoints, confidence, scale, rho,
                                        p["rot"], p["trans"], pca, betas))
        p = optimizer_scan(loss, dict(rot=rot, trans=trans), optax.adam(lr), steps=steps)
        e = reprojection(model, K, keypoints, confidence, scale, rho, p["rot"], p["trans"],
                         pca, betas)
        return p["rot"], p["trans"], e

    return jax.lax.map(one, rots)


@functools.partial(jax.jit, static_argnames=("steps",))
def _fit_all(model, K, keypoints, confidence, scale, params, steps, lr, weights):
    def loss(p):
        return energy(p, model, K, keypoints, confidence, scale, weights)
    return optimizer_scan(loss, params, optax.adam(lr), steps=steps)


def fit_hand(model: ManoModel, K, keypoints, confidence, *, steps=1000, lr=0.03,
             num_rotations=32, start_steps=60, rho=0.3, w_pose=1e-4, w_shape=1e-2,
             w_smooth=0.01, w_steady=0.01) -> dict:
    """MANO fitted to keypoints (T,21,2) px with confidences (T,21) in [0,1] and
    intrinsics K (T,3,3) (see the module docstring). Returns numpy: hA (T,45) axis-angle
    (flat-hand mean, the clip convention), betas (10,), cTh (T,4,4), joints (T,21,3)
    camera frame (m), uv (T,21,2) their projections, error_px (T,) mean distance to the
    confident (> 0.5) keypoints."""
    K = jnp.asarray(K, jnp.float32)
    kp = jnp.asarray(keypoints, jnp.float32)
    conf = jnp.asarray(confidence, jnp.float32)
    scale = jnp.linalg.norm(kp.max(1) - kp.min(1), axis=-1)  # hand size in pixels
    scale = jnp.maximum(scale, 1.0)
    rots = jnp.asarray(rotation_candidates(num_rotations))
    rot_c, trans_c, e = _fit_pose_candidates(model, K, kp, conf, scale, rots, start_steps,
                                             0.05, rho)
    best = jnp.argmin(e, axis=0)  # (T,) per frame
    pick = lambda a: jnp.take_along_axis(a, best[None, :, None], 0)[0]  # noqa: E731
    params = dict(rot=pick(rot_c), trans=pick(trans_c),
                  pca=jnp.zeros((kp.shape[0], NUM_PCA)), betas=jnp.zeros(10))
    joints0 = keypoint_joints(model, params["rot"], params["trans"], params["pca"],
                              params["betas"])
    length = jnp.mean(jnp.linalg.norm(joints0[:, MIDDLE_MCP] - joints0[:, WRIST], axis=-1))
    weights = (rho, w_pose, w_shape, w_smooth, w_steady, length)
    params = _fit_all(model, K, kp, conf, scale, params, steps, lr, weights)
    return _readout(model, K, kp, conf, params)


def _readout(model, K, keypoints, confidence, params) -> dict:
    joints = keypoint_joints(model, params["rot"], params["trans"], params["pca"],
                             params["betas"])
    uv, _ = project(joints, K)
    dist = jnp.linalg.norm(uv - keypoints, axis=-1)
    sure = confidence > 0.5
    error = jnp.sum(dist * sure, -1) / jnp.maximum(jnp.sum(sure, -1), 1)
    hA = jnp.broadcast_to(model.hands_mean, params["pca"].shape[:-1] + (45,)) + \
        params["pca"] @ model.hands_components[:NUM_PCA]
    T = keypoints.shape[0]
    cTh = jnp.tile(jnp.eye(4), (T, 1, 1))
    cTh = cTh.at[:, :3, :3].set(axis_angle_to_matrix(params["rot"]))
    cTh = cTh.at[:, :3, 3].set(params["trans"])
    out = dict(hA=hA, betas=params["betas"], cTh=cTh, joints=joints, uv=uv, error_px=error)
    return {k: np.asarray(v, np.float32) for k, v in out.items()}

"""A deliberately plain MANO reference for the tests: float64 numpy, loops, scipy rotations.

Written from the MANO paper's equations independently of hoijax.hand.model, on the raw
MANO-format arrays (official key names), so that the two can be compared.
"""
import numpy as np
from scipy.spatial.transform import Rotation


def reference_mano(arrays, hand_pose, betas, global_orient=None, transl=None,
                   flat_hand_mean=True, pca=False):
    """Posed vertices (V,3) and the 16 posed joints (16,3) for one hand."""
    v_template = np.asarray(arrays["v_template"], np.float64)
    shapedirs = np.asarray(arrays["shapedirs"], np.float64)
    posedirs = np.asarray(arrays["posedirs"], np.float64)
    regressor = np.asarray(arrays["J_regressor"], np.float64)
    weights = np.asarray(arrays["weights"], np.float64)
    parents = [int(p) for p in arrays["kintree_table"][0]]
    hand_pose = np.asarray(hand_pose, np.float64)
    if pca:
        hand_pose = hand_pose @ np.asarray(arrays["hands_components"])[:len(hand_pose)]
    if not flat_hand_mean:
        hand_pose = hand_pose + np.asarray(arrays["hands_mean"])
    go = np.zeros(3) if global_orient is None else np.asarray(global_orient, np.float64)
    pose = np.concatenate([go, hand_pose]).reshape(16, 3)

    betas = np.concatenate([betas, np.zeros(shapedirs.shape[-1] - len(betas))])
    v_shaped = v_template + shapedirs @ betas
    joints = regressor @ v_shaped
    rots = [Rotation.from_rotvec(p).as_matrix() for p in pose]
    feature = np.concatenate([(rots[k] - np.eye(3)).ravel() for k in range(1, 16)])
    v_posed = v_shaped + posedirs @ feature

    world = [None] * 16
    for k in range(16):
        local = np.eye(4)
        local[:3, :3] = rots[k]
        if parents[k] >= 16 or parents[k] < 0:
            local[:3, 3] = joints[k]
            world[k] = local
        else:
            local[:3, 3] = joints[k] - joints[parents[k]]
            world[k] = world[parents[k]] @ local
    skin = []
    for k in range(16):
        rest = np.eye(4)
        rest[:3, 3] = -joints[k]
        skin.append(world[k] @ rest)
    out = np.zeros_like(v_posed)
    for v in range(len(v_posed)):
        blend = sum(weights[v, k] * skin[k] for k in range(16))
        out[v] = (blend @ np.append(v_posed[v], 1.0))[:3]
    posed_joints = np.stack([world[k][:3, 3] for k in range(16)])
    offset = np.zeros(3) if transl is None else np.asarray(transl, np.float64)
    return out + offset, posed_joints + offset


def random_mano_arrays(num_verts=40, seed=0):
    """A small random MANO-format model (not a hand): exercises every term of the formula."""
    rng = np.random.default_rng(seed)
    weights = rng.random((num_verts, 16)) ** 4
    regressor = rng.random((16, num_verts)) ** 4
    faces = np.stack([np.arange(num_verts - 2), np.arange(1, num_verts - 1),
                      np.arange(2, num_verts)], -1)
    components = np.linalg.qr(rng.normal(size=(45, 45)))[0]
    return {
        "v_template": rng.normal(scale=0.05, size=(num_verts, 3)),
        "shapedirs": rng.normal(scale=0.01, size=(num_verts, 3, 10)),
        "posedirs": rng.normal(scale=0.01, size=(num_verts, 3, 135)),
        "J_regressor": regressor / regressor.sum(1, keepdims=True),
        "weights": weights / weights.sum(1, keepdims=True),
        "kintree_table": np.array([[4294967295, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14],
                                   list(range(16))]),
        "f": faces,
        "hands_components": components,
        "hands_mean": rng.normal(scale=0.2, size=45),
        "fingertip_vert_ids": np.array([1, 2, 3, 4, 5]),
    }

"""The MANO model as a JAX pytree, and the exact MANO forward pass.

MANO (Romero et al., SIGGRAPH Asia 2017) maps shape `betas` (10) and pose (16 joints x
axis-angle) to a posed mesh:

  v_shaped = v_template + shapedirs @ betas                       shape blend shapes
  J        = J_regressor @ v_shaped                               rest joints
  v_posed  = v_shaped + posedirs @ vec(R[1:] - I)                 pose blend shapes
  G_k      = G_parent(k) @ [R_k | J_k - J_parent(k)]              forward kinematics
  v        = sum_k w_vk (G_k @ [I | -J_k]) @ v_posed              linear blend skinning

Joint order (MANO's kinematic tree): 0 wrist; 1-3 index; 4-6 middle; 7-9 pinky;
10-12 ring; 13-15 thumb (each finger from the palm outwards). `mano_forward` returns 21
joints: those 16, then the five fingertips in the order thumb, index, middle, ring, pinky
(the smplx convention). `OPENPOSE_ORDER` reorders them to the common 21-keypoint layout
(wrist, thumb 1-4, index 1-4, middle 1-4, ring 1-4, pinky 1-4).

Frames: the output is in the hand frame `h` (zero global orientation, zero translation)
unless `global_orient` / `transl` are given; global orientation rotates about the wrist
joint, translation is added last, exactly as in the official model. Units: metres.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from hoijax.geometry.rotations import axis_angle_to_matrix

HIGHEST = jax.lax.Precision.HIGHEST

NUM_JOINTS = 16
NUM_HAND_JOINTS = 15
# MANO's kinematic tree: the parent of each joint (-1 for the wrist).
MANO_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
JOINT_NAMES = (
    "wrist",
    "index1", "index2", "index3",
    "middle1", "middle2", "middle3",
    "pinky1", "pinky2", "pinky3",
    "ring1", "ring2", "ring3",
    "thumb1", "thumb2", "thumb3",
    "thumb_tip", "index_tip", "middle_tip", "ring_tip", "pinky_tip",
)  # fmt: skip
# Fingertip vertices of the official MANO mesh (778 vertices), thumb/index/middle/ring/pinky.
OFFICIAL_FINGERTIP_IDS = (744, 320, 443, 554, 671)
# Indices into the 21 joints above that give wrist, thumb1..tip, index1..tip, ... pinky1..tip.
OPENPOSE_ORDER = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)
# Finger of each joint: 0 wrist/palm, then 1 thumb, 2 index, 3 middle, 4 ring, 5 pinky.
JOINT_FINGER = (0, 2, 2, 2, 3, 3, 3, 5, 5, 5, 4, 4, 4, 1, 1, 1)


@flax.struct.dataclass
class ManoModel:
    """MANO-format hand model (official MANO or hoijax's stand-in).

    Arrays (V vertices, F faces, S shape directions):
      v_template (V,3); shapedirs (V,3,S); posedirs (V,3,135); J_regressor (16,V);
      weights (V,16); faces (F,3) int32; hands_components (45,45) rows are PCA directions;
      hands_mean (45,); surface_code (V,2) the hand's 2-channel "UV" code in [-1,1].
    Static: parents (16 ints), fingertip_ids (5 ints), side ("right" | "left"), name.
    """

    v_template: jax.Array
    shapedirs: jax.Array
    posedirs: jax.Array
    J_regressor: jax.Array
    weights: jax.Array
    faces: jax.Array
    hands_components: jax.Array
    hands_mean: jax.Array
    surface_code: jax.Array
    parents: tuple = flax.struct.field(pytree_node=False, default=MANO_PARENTS)
    fingertip_ids: tuple = flax.struct.field(pytree_node=False, default=OFFICIAL_FINGERTIP_IDS)
    side: str = flax.struct.field(pytree_node=False, default="right")
    name: str = flax.struct.field(pytree_node=False, default="mano")

    @property
    def num_verts(self) -> int:
        return self.v_template.shape[0]

    @property
    def num_betas(self) -> int:
        return self.shapedirs.shape[-1]


class ManoOutput(NamedTuple):
    """Result of `mano_forward`; leading dims are the broadcast batch dims of the inputs.

    vertices (...,V,3) and joints (...,21,3) in metres; joint_transforms (...,16,4,4) the
    skinning transforms G_k [I | -J_k] (rest -> posed, translation included);
    rest_joints (...,16,3) the shaped rest-pose joints J.
    """

    vertices: jax.Array
    joints: jax.Array
    joint_transforms: jax.Array
    rest_joints: jax.Array


def kinematic_levels(parents: tuple) -> tuple:
    """Groups joints by depth in the tree, so forward kinematics runs one level at a time.

    Returns a tuple of tuples of joint indices; level 0 is the root.
    """
    depth = []
    for j, p in enumerate(parents):
        if p >= j:
            raise ValueError(f"parents must list each parent before its child, got {parents}")
        depth.append(0 if p < 0 else depth[p] + 1)
    return tuple(
        tuple(j for j in range(len(parents)) if depth[j] == d) for d in range(max(depth) + 1)
    )


def full_hand_pose(model: ManoModel, hand_pose, *, use_pca=False, flat_hand_mean=True):
    """Articulation as 15 axis-angles (...,45) from axis-angles or PCA coefficients.

    With `use_pca`, `hand_pose` (...,n) holds the first n PCA coefficients (any n <= 45).
    Without `flat_hand_mean`, MANO's mean pose is added (the official default convention).
    """
    hand_pose = jnp.asarray(hand_pose, jnp.float32)
    if use_pca:
        n = hand_pose.shape[-1]
        if n > model.hands_components.shape[0]:
            raise ValueError(f"{n} PCA coefficients given, the model has "
                             f"{model.hands_components.shape[0]}")
        hand_pose = jnp.matmul(hand_pose, model.hands_components[:n], precision=HIGHEST)
    elif hand_pose.shape[-1] != 3 * NUM_HAND_JOINTS:
        raise ValueError(f"hand_pose must end in 45 axis-angle values, got shape "
                         f"{hand_pose.shape} (pass use_pca=True for PCA coefficients)")
    if not flat_hand_mean:
        hand_pose = hand_pose + model.hands_mean
    return hand_pose


def _pad_betas(model: ManoModel, betas):
    betas = jnp.asarray(betas, jnp.float32)
    extra = model.num_betas - betas.shape[-1]
    if extra < 0:
        raise ValueError(f"betas has {betas.shape[-1]} values, the model {model.num_betas}")
    if extra:
        betas = jnp.concatenate([betas, jnp.zeros(betas.shape[:-1] + (extra,))], -1)
    return betas


def _forward_kinematics(rotations, rest_joints, parents):
    """World transforms of every joint.

    rotations (...,16,3,3) local rotations; rest_joints (...,16,3). Returns (R, t) with
    R (...,16,3,3), t (...,16,3): the posed joint frames (rest joint k maps to t_k).
    The joints of one tree level are composed in one batched matmul (3 levels for MANO).
    """
    rot = jnp.moveaxis(rotations, -3, 0)  # (16,...,3,3): joints first, for cheap stacking
    rest = jnp.moveaxis(rest_joints, -2, 0)  # (16,...,3)
    world_R, world_t = [None] * len(parents), [None] * len(parents)
    for level in kinematic_levels(parents):
        idx = np.array(level)
        if parents[level[0]] < 0:
            for j in level:
                world_R[j], world_t[j] = rot[j], rest[j]
            continue
        par = [parents[j] for j in level]
        parent_R = jnp.stack([world_R[p] for p in par])
        parent_t = jnp.stack([world_t[p] for p in par])
        offset = rest[idx] - rest[np.array(par)]
        level_R = jnp.matmul(parent_R, rot[idx], precision=HIGHEST)
        level_t = parent_t + jnp.einsum("...ij,...j->...i", parent_R, offset, precision=HIGHEST)
        for k, j in enumerate(level):
            world_R[j], world_t[j] = level_R[k], level_t[k]
    return jnp.stack(world_R, axis=-3), jnp.stack(world_t, axis=-2)


def _skin_chunk(weights, transforms, points):
    """weights (V,K), transforms (N,K,3,4), points (N,V,3) -> (N,V,3)."""
    n, k = transforms.shape[:2]
    blended = jnp.matmul(weights, transforms.reshape(n, k, 12), precision=HIGHEST)
    blended = blended.reshape(n, -1, 3, 4)
    return (blended[..., 0] * points[..., 0:1] + blended[..., 1] * points[..., 1:2]
            + blended[..., 2] * points[..., 2:3] + blended[..., 3])


def linear_blend_skinning(weights, transforms, points, *, chunk=64):
    """Points moved by the weighted sum of per-joint rigid transforms.

    weights (V,K); transforms (...,K,3,4) [R | t]; points (...,V,3) -> (...,V,3).
    The blended per-vertex transforms (12 floats per vertex and hand) are the bulk of the
    memory traffic, so large batches are skinned `chunk` hands at a time (a sequential map)
    to keep them in cache: twice the throughput at batch 512 on a 2-core CPU.
    """
    batch, num_v = points.shape[:-2], points.shape[-2]
    n = math.prod(batch)
    transforms = transforms.reshape((n,) + transforms.shape[-3:])
    points = points.reshape(n, num_v, 3)
    if n <= chunk:
        return _skin_chunk(weights, transforms, points).reshape(batch + (num_v, 3))
    pad = -n % chunk
    transforms = jnp.pad(transforms, ((0, pad), (0, 0), (0, 0), (0, 0)))
    points = jnp.pad(points, ((0, pad), (0, 0), (0, 0)))
    out = jax.lax.map(lambda tp: _skin_chunk(weights, *tp),
                      (transforms.reshape((-1, chunk) + transforms.shape[1:]),
                       points.reshape(-1, chunk, num_v, 3)))
    return out.reshape(-1, num_v, 3)[:n].reshape(batch + (num_v, 3))


def mano_forward(model: ManoModel, hand_pose, betas, global_orient=None, transl=None, *,
                 flat_hand_mean=True, use_pca=False) -> ManoOutput:
    """Posed MANO mesh and joints.

    Args:
      model: a `ManoModel`.
      hand_pose: (...,45) axis-angles of the 15 finger joints (MANO order), or (...,n)
        PCA coefficients with `use_pca=True`.
      betas: (...,S') shape coefficients, S' <= model.num_betas (missing ones are 0).
      global_orient: (...,3) axis-angle of the wrist, default zero.
      transl: (...,3) translation added to everything, default zero.
      flat_hand_mean: True: pose 0 is the flat hand; False: pose 0 is MANO's mean pose.
      use_pca: interpret `hand_pose` as PCA coefficients.
    Returns:
      `ManoOutput` with vertices (...,V,3), joints (...,21,3), metres; leading dims are
      the broadcast of the inputs' leading dims.
    """
    hand_pose = full_hand_pose(model, hand_pose, use_pca=use_pca, flat_hand_mean=flat_hand_mean)
    betas = _pad_betas(model, betas)
    if global_orient is None:
        global_orient = jnp.zeros(hand_pose.shape[:-1] + (3,), jnp.float32)
    batch = jnp.broadcast_shapes(hand_pose.shape[:-1], betas.shape[:-1],
                                 jnp.shape(global_orient)[:-1],
                                 () if transl is None else jnp.shape(transl)[:-1])
    pose = jnp.concatenate(
        [jnp.broadcast_to(jnp.asarray(global_orient, jnp.float32), batch + (3,)),
         jnp.broadcast_to(hand_pose, batch + (45,))], axis=-1).reshape(batch + (16, 3))
    betas = jnp.broadcast_to(betas, batch + betas.shape[-1:])

    v_shaped = model.v_template + jnp.einsum("vcs,...s->...vc", model.shapedirs, betas,
                                             precision=HIGHEST)
    rest_joints = jnp.einsum("jv,...vc->...jc", model.J_regressor, v_shaped, precision=HIGHEST)
    rotations = axis_angle_to_matrix(pose)  # (...,16,3,3)
    pose_feature = (rotations[..., 1:, :, :] - jnp.eye(3)).reshape(batch + (135,))
    v_posed = v_shaped + jnp.einsum("vcp,...p->...vc", model.posedirs, pose_feature,
                                    precision=HIGHEST)

    world_R, world_t = _forward_kinematics(rotations, rest_joints, model.parents)
    # Skinning transform of joint k: x -> R_k (x - J_k) + t_k.
    skin_t = world_t - jnp.einsum("...kij,...kj->...ki", world_R, rest_joints, precision=HIGHEST)
    skin = jnp.concatenate([world_R, skin_t[..., None]], axis=-1)  # (...,16,3,4)
    vertices = linear_blend_skinning(model.weights, skin, v_posed)

    tips = vertices[..., np.array(model.fingertip_ids), :]
    joints = jnp.concatenate([world_t, tips], axis=-2)
    if transl is not None:
        offset = jnp.asarray(transl, jnp.float32)[..., None, :]
        vertices, joints, skin_t = vertices + offset, joints + offset, skin_t + offset
    transforms = jnp.concatenate([world_R, skin_t[..., None]], axis=-1)
    bottom = jnp.broadcast_to(jnp.array([0.0, 0.0, 0.0, 1.0]), transforms.shape[:-2] + (1, 4))
    transforms = jnp.concatenate([transforms, bottom], axis=-2)  # (...,16,4,4)
    return ManoOutput(vertices=vertices, joints=joints, joint_transforms=transforms,
                      rest_joints=rest_joints)

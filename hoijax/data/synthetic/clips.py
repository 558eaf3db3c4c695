"""Synthetic clips: a grasped procedural object filmed by a moving camera.

One clip (`generate_clip`) is built as follows:

1. an object of the category with parameters drawn from the seed, and a grasp of it
   (`synthesize_grasp`; grasps that penetrate by more than `MAX_PENETRATION` are retried
   with the next seed);
2. the hand and object move together (one `hTo` for the whole clip) while the fingers make
   small smooth articulation changes; a frame whose change would lift the hand off the object
   (nearest distance over `MAX_GAP`) or push it in (over `MAX_PENETRATION`) has its change
   halved until it does not;
3. an egocentric-like camera: it looks at the object from above the back of the hand and
   the forearm (randomised), 35-55 cm away, and sweeps an arc of `sweep_deg` over the clip
   with a little hand-held jitter; the focal length frames hand and object like a tracker's crop;
4. hard z-buffer renders of the hand mesh and the object's marching-cubes mesh give the
   masks (each layer where it is the front-most surface, so occlusion follows depth) and a
   shaded RGB frame;
5. the hand estimate written to `hands.npz` / `cameras_hoi.npz` is the ground truth
   corrupted like an off-the-shelf hand tracker (`TrackerNoise`): per-frame noise on the
   articulation, shape, wrist rotation and translation (larger along the viewing axis), and
   occasional gross failures. The ground truth goes to `gt.npz` only.
"""
from __future__ import annotations

import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial.transform import Rotation

from hoijax.data.synthetic import held_out
from hoijax.data.synthetic.grasp import Grasp, surface_samples, synthesize_grasp
from hoijax.data.synthetic.objects import (CATEGORIES, HOI4D_CATEGORIES, NEW_CATEGORIES,
                                           canonical_category, clip_name, object_mesh,
                                           object_sdf, sample_params, shape_names)
from hoijax.geometry.camera import look_at
from hoijax.geometry.mesh import unique_edges
from hoijax.geometry.transforms import apply_to_points
from hoijax.hand.anatomy import back_direction
from hoijax.hand.model import ManoModel, mano_forward
from hoijax.render.rasterize import is_closed, pad_faces, zbuffer

MAX_PENETRATION = 0.002  # metres: the deepest the hand may be inside the object
MAX_GAP = 0.005  # metres: the hand's nearest point must be this close to the object
OBJECT_REDRAWS = 4  # further object draws when no grasp fits the first
GRASP_ATTEMPTS = 6  # grasp seeds tried on each object draw

SKIN = np.array([0.93, 0.72, 0.58])
OBJECT_COLORS = {"mug": (0.35, 0.55, 0.85), "bottle": (0.30, 0.70, 0.45),
                 "kettle": (0.80, 0.80, 0.82), "bowl": (0.90, 0.60, 0.25),
                 "knife": (0.60, 0.62, 0.66), "toy car": (0.85, 0.25, 0.25),
                 "can": (0.75, 0.20, 0.25), "box": (0.85, 0.75, 0.45),
                 "fruit": (0.55, 0.80, 0.25), "cup": (0.60, 0.80, 0.95),
                 "pen": (0.25, 0.35, 0.80), "hammer": (0.55, 0.45, 0.40),
                 "spray bottle": (0.30, 0.75, 0.80), "phone": (0.35, 0.35, 0.40),
                 "remote": (0.40, 0.40, 0.45), "frying pan": (0.45, 0.45, 0.50)}


def object_color(category: str) -> tuple:
    """The RGB colour a clip renders the object in: the category's, or the held-out
    shape's (`held_out.color`)."""
    return OBJECT_COLORS[category] if category in OBJECT_COLORS else held_out.color(category)


# Category groups the clip command line accepts in place of one category.
# "held_out": the shapes outside the categories (`held_out`), not part of "all".
CATEGORY_GROUPS = {"all": CATEGORIES, "hoi4d": HOI4D_CATEGORIES, "new": NEW_CATEGORIES,
                   "held_out": held_out.HELD_OUT_SHAPES}


@dataclasses.dataclass(frozen=True)
class TrackerNoise:
    """How the written hand estimate differs from the truth (per frame, independent)."""

    articulation_rad: float = 0.08  # std of the noise on each of the 45 joint angles
    beta: float = 0.3  # std of the noise on each shape coefficient
    rotation_deg: float = 4.0  # std of the wrist rotation error (each axis)
    translation_m: tuple = (0.005, 0.005, 0.02)  # std of the wrist error along camera x, y, z
    failure_rate: float = 0.1  # probability that a frame is a gross failure
    failure_rotation_deg: float = 60.0  # a failure's rotation error: up to this angle
    failure_translation_m: float = 0.08  # a failure's depth error: up to this
    failure_articulation_rad: float = 0.4  # a failure's articulation noise std


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """What to generate: the category, the seed, the length and the frame size."""

    category: str
    seed: int = 0
    num_frames: int = 8
    image_size: int = 128  # square frames, pixels
    sweep_deg: float = 90.0  # arc the camera travels around the hand over the clip
    articulation_rad: float = 0.06  # amplitude of the fingers' motion over the clip
    noise: TrackerNoise = TrackerNoise()


def rigid(rot, trans) -> np.ndarray:
    """(...,3,3), (...,3) -> (...,4,4)."""
    out = np.zeros(np.shape(rot)[:-2] + (4, 4))
    out[..., :3, :3], out[..., :3, 3], out[..., 3, 3] = rot, trans, 1.0
    return out


def grasp_object(model: ManoModel, category: str, seed: int) -> tuple[dict, Grasp]:
    """Object parameters from `seed` and a grasp that penetrates at most MAX_PENETRATION
    and touches within MAX_GAP.

    Tries grasp seeds seed*GRASP_ATTEMPTS + k on the object of `seed`; when the category's
    grasp template fits none of them (a few (category, seed) draws, e.g. phone 11), the
    object is drawn again from the generator seeded by (seed, r), r = 1 .. OBJECT_REDRAWS,
    in that order, so every (category, seed) gives the same clip on every machine. Raises
    RuntimeError only when every draw fails (none of 16 categories x seeds 0-19 does:
    experiments/check_synthetic_world.py)."""
    tried = []
    for redraw in range(OBJECT_REDRAWS + 1):
        rng = np.random.default_rng(seed if redraw == 0 else [seed, redraw])
        params = sample_params(category, rng)
        for k in range(GRASP_ATTEMPTS):
            grasp = synthesize_grasp(model, category, params, seed=seed * GRASP_ATTEMPTS + k)
            if grasp.penetration_mm <= MAX_PENETRATION * 1e3 and \
                    grasp.min_distance_mm <= MAX_GAP * 1e3:
                return params, grasp
            tried.append(f"{grasp.penetration_mm:.1f}")
    raise RuntimeError(f"{category} seed {seed}: no grasp within {MAX_PENETRATION * 1e3} mm "
                       f"penetration on {OBJECT_REDRAWS + 1} object draws x {GRASP_ATTEMPTS} "
                       f"tries (got {', '.join(tried)} mm)")


@jax.jit
def _hand_vertices(model, poses, betas):
    return mano_forward(model, poses, betas).vertices


def hand_object_distances(model, category, params, hTo, poses, betas) -> np.ndarray:
    """(T,) signed distance (metres) from the object to the nearest point of each frame's hand
    surface (vertices and edge samples; negative = penetration depth)."""
    verts_h = np.asarray(_hand_vertices(model, jnp.asarray(poses, jnp.float32),
                                        jnp.asarray(betas, jnp.float32)), np.float64)
    oTh = np.linalg.inv(hTo)
    edges = jnp.asarray(unique_edges(np.asarray(model.faces))[0])
    verts_o = jnp.asarray(apply_to_points(oTh, verts_h))
    return np.asarray(_nearest_object_sdf(verts_o, edges, params, category=category))


@functools.partial(jax.jit, static_argnames=("category",))
def _nearest_object_sdf(verts_o, edges, params, *, category):
    """(T,V,3) hand vertices (object frame) -> (T,) the object SDF's minimum over each
    frame's surface samples (one compiled program, not an op-by-op dispatch)."""
    samples = jax.vmap(lambda v: surface_samples(v, edges))(verts_o)
    return jnp.min(object_sdf(category, params, samples), axis=-1)


def articulation_track(model, category, params, grasp, spec, rng) -> np.ndarray:
    """(T,45) the grasp's articulation plus a small smooth motion that keeps contact."""
    t = np.linspace(0.0, 1.0, spec.num_frames)[:, None]
    amp = rng.normal(size=(1, 45)) * spec.articulation_rad
    phase = rng.uniform(0, 2 * np.pi, size=(1, 45))
    offsets = amp * (np.sin(2 * np.pi * t + phase) - np.sin(phase))  # 0 at the first frame
    for _ in range(8):
        poses = grasp.hand_pose[None] + offsets
        d = hand_object_distances(model, category, params, grasp.hTo, poses, grasp.betas)
        bad = (d < -MAX_PENETRATION) | (d > MAX_GAP)
        if not bad.any():
            return poses
        offsets[bad] *= 0.5
    offsets[bad] = 0.0  # the grasp itself qualifies
    return grasp.hand_pose[None] + offsets


def camera_track(model, verts_h, center_h, spec, rng) -> tuple[np.ndarray, np.ndarray]:
    """Egocentric-like cameras: cTh (T,4,4) and pixel intrinsics K (T,3,3)."""
    joints = np.asarray(model.J_regressor) @ np.asarray(model.v_template)
    back = back_direction(joints, model.side)
    forearm = joints[0] - joints[4]
    forearm /= np.linalg.norm(forearm)
    start = back + forearm + 0.8 * rng.normal(size=3)
    start /= np.linalg.norm(start)
    axis = np.cross(start, rng.normal(size=3))
    axis /= np.linalg.norm(axis)
    angles = np.deg2rad(spec.sweep_deg) * (np.linspace(-0.5, 0.5, spec.num_frames)
                                           + rng.uniform(-0.25, 0.25))
    distance = rng.uniform(0.35, 0.55) + 0.02 * np.sin(np.linspace(0, np.pi, spec.num_frames))
    cams = []
    for a, dist in zip(angles, distance):
        direction = Rotation.from_rotvec(a * axis).apply(start)
        target = center_h + rng.normal(scale=0.004, size=3)  # hand-held jitter
        cam = look_at(target + dist * direction, target, up=axis)  # pans around axis
        roll = Rotation.from_rotvec([0, 0, rng.normal(scale=0.03)]).as_matrix()
        cams.append(rigid(roll, np.zeros(3)) @ cam)
    cTh = np.stack(cams)
    # Focal length: hand and object fill about 85% of the frame (a tracker's crop).
    pts_c = apply_to_points(cTh, verts_h)  # (T,V,3)
    half_extent = np.max(np.abs(pts_c[..., :2] / pts_c[..., 2:3]), axis=(1, 2)).max()
    size = spec.image_size
    focal = 0.85 * (size / 2) / half_extent
    cx, cy = (size - 1) / 2 + rng.normal(scale=0.01 * size, size=2)
    K = np.array([[focal, 0, cx], [0, focal, cy], [0, 0, 1.0]])
    return cTh, np.repeat(K[None], spec.num_frames, axis=0)


def _shade(normal, color):
    light = np.array([0.3, -0.5, -0.8])
    light /= np.linalg.norm(light)
    lambert = np.clip(normal @ light, 0.0, 1.0)[..., None]  # light from above the camera
    return np.asarray(color) * (0.35 + 0.65 * lambert)


def render_frames(hand_c, hand_faces, obj_c, obj_faces, K, image_size, color):
    """Depth-tested masks and RGB frames. hand_c (T,V,3), obj_c (T,U,3) camera frame.

    Returns hand_mask, obj_mask (T,H,W) bool (each where it is the front-most surface) and
    images (T,H,W,3) uint8.
    """
    size = (image_size, image_size)
    hand_closed, obj_closed = is_closed(hand_faces), is_closed(obj_faces)
    obj_faces = pad_faces(np.asarray(obj_faces, np.int32))
    hand_masks, obj_masks, images = [], [], []
    ys = np.linspace(0.0, 1.0, image_size)[:, None, None]
    background = (0.55 + 0.25 * ys) * np.array([1.0, 0.98, 0.95])
    for t in range(len(K)):
        hand_layer = zbuffer(hand_c[t], hand_faces, K[t], size, closed=hand_closed)
        obj_layer = zbuffer(obj_c[t], obj_faces, K[t], size, closed=obj_closed)
        mh, dh, nh = (np.asarray(hand_layer[k]) for k in ("mask", "depth", "normal"))
        mo, do, no = (np.asarray(obj_layer[k]) for k in ("mask", "depth", "normal"))
        hand = (mh > 0.5) & ((mo <= 0.5) | (dh <= do))
        obj = (mo > 0.5) & ~hand
        image = np.where(hand[..., None], _shade(nh, SKIN),
                         np.where(obj[..., None], _shade(no, color), background))
        hand_masks.append(hand)
        obj_masks.append(obj)
        images.append((np.clip(image, 0, 1) * 255).astype(np.uint8))
    return np.stack(hand_masks), np.stack(obj_masks), np.stack(images)


def _random_rotations(rng, std_rad, size) -> np.ndarray:
    return Rotation.from_rotvec(rng.normal(scale=std_rad, size=(size, 3))).as_matrix()


def corrupt_estimates(cTh, poses, betas, center_h, noise: TrackerNoise, rng) -> dict:
    """A hand tracker's estimate of the truth: cTh (T,4,4), hA (T,45), beta (T,10), and
    failed (T,) bool marking the gross failures. The wrist rotation error turns the hand
    about its centre `center_h` (hand frame), as a tracker's error would."""
    T = len(cTh)
    failed = rng.uniform(size=T) < noise.failure_rate
    rot = _random_rotations(rng, np.deg2rad(noise.rotation_deg), T)
    axes = rng.normal(size=(T, 3))
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
    gross = Rotation.from_rotvec(axes * rng.uniform(0.5, 1.0, (T, 1))
                                 * np.deg2rad(noise.failure_rotation_deg)).as_matrix()
    rot = np.where(failed[:, None, None], gross @ rot, rot)
    trans = rng.normal(size=(T, 3)) * np.asarray(noise.translation_m)
    trans[:, 2] += failed * rng.choice([-1.0, 1.0], T) * rng.uniform(0.5, 1.0, T) \
        * noise.failure_translation_m
    out = []
    for t in range(T):
        centre_c = apply_to_points(cTh[t], center_h[None])[0]
        # Rotate about the hand centre in the camera frame, then shift.
        err = rigid(rot[t], centre_c - rot[t] @ centre_c + trans[t])
        out.append(err @ cTh[t])
    art_std = np.where(failed, noise.failure_articulation_rad, noise.articulation_rad)
    hA = poses + rng.normal(size=poses.shape) * art_std[:, None]
    beta = betas[None] + rng.normal(scale=noise.beta, size=(T, len(betas)))
    return dict(cTh=np.stack(out), hA=hA, beta=beta, failed=failed)


def generate_clip(model: ManoModel, spec: ClipSpec) -> dict:
    """All arrays of a synthetic clip, ready for `hoijax.data.clip.save_clip`, plus stats.

    Returns a dict with the `save_clip` keywords (obj_mask, hand_mask, images, cTh, K, hA,
    beta, category, object_mesh, gt) and `stats`: per-frame hand-object distance (mm),
    tracker failure flags, the object parameters.
    """
    rng = np.random.default_rng([spec.seed, 7])
    params, grasp = grasp_object(model, spec.category, spec.seed)
    poses = articulation_track(model, spec.category, params, grasp, spec, rng)
    verts_h = np.asarray(_hand_vertices(model, jnp.asarray(poses, jnp.float32),
                                        jnp.asarray(grasp.betas, jnp.float32)), np.float64)
    mesh = object_mesh(spec.category, params)
    obj_h = apply_to_points(grasp.hTo, np.asarray(mesh.vertices))
    center_h = 0.5 * (verts_h[0].mean(0) + obj_h.mean(0))
    cTh, K = camera_track(model, np.concatenate([verts_h[0], obj_h]), center_h, spec,
                          rng)
    hand_c = apply_to_points(cTh, verts_h)  # (T,V,3)
    obj_c = apply_to_points(cTh, obj_h)  # (T,U,3)
    hand_mask, obj_mask, images = render_frames(
        hand_c, np.asarray(model.faces), obj_c, np.asarray(mesh.faces), K, spec.image_size,
        object_color(spec.category))
    estimate = corrupt_estimates(cTh, poses, grasp.betas, center_h, spec.noise, rng)
    distance = hand_object_distances(model, spec.category, params, grasp.hTo, poses,
                                     grasp.betas)
    T = spec.num_frames
    gt = dict(hTo=np.repeat(grasp.hTo[None], T, axis=0).astype(np.float32),
              cTh=cTh.astype(np.float32), hA=poses.astype(np.float32),
              beta=np.asarray(grasp.betas, np.float32), K=K.astype(np.float32))
    return dict(obj_mask=obj_mask, hand_mask=hand_mask, images=images, cTh=estimate["cTh"],
                K=K, hA=estimate["hA"], beta=estimate["beta"], category=spec.category,
                object_mesh=mesh, gt=gt,
                stats=dict(distance_mm=distance * 1e3, tracker_failed=estimate["failed"],
                           params=params, grasp_penetration_mm=grasp.penetration_mm,
                           grasp_contacts=grasp.contacts))


def plan_clips(category, seed, num_clips, out) -> list:
    """[(category, seed, folder)] for the clip command line (one clip into `out`, or a batch
    of folders `clip_name(category, seed)` under it, e.g. toy_car_0); raises ValueError on
    bad arguments. `category` is any spelling of one (`canonical_category`), or a group:
    'all' (every category), 'hoi4d' (the six HOI4D ones) or 'new' (the others)."""
    group = CATEGORY_GROUPS.get(category.strip().lower())
    if group is None:
        try:
            category = canonical_category(category, shape_names())
        except ValueError as e:
            raise ValueError(f"--category={category!r}: {e}; or a group: "
                             f"{', '.join(CATEGORY_GROUPS)}") from None
    categories = group or (category,)
    if num_clips is None and group is None:
        jobs = [(category, seed, out)]
    else:
        jobs = [(c, s, os.path.join(out, clip_name(c, s))) for c in categories
                for s in range(seed, seed + (num_clips or 1))]
    taken = [folder for _, _, folder in jobs if os.path.exists(folder)]
    if taken:
        raise ValueError(f"--out: {taken[0]} already exists; remove it or choose another")
    return jobs

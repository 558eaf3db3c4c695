"""Training data for the diffusion prior: geometry images of ground-truth hand-object pairs.

  python -m hoijax.data.prior_data --config=configs/prior_data.py --out=DIR
  python -m hoijax.data.prior_data --config=configs/prior_data.py:tiny --out=DIR

Every sample is one view of one grasp: a rotation drawn uniformly from SO(3) turns the
hand-object pair about the hand's centre, which sits `view.distance` in front of a camera
with focal `view.focal_factor * size` pixels (`view_cameras`, made by
`hoijax.geometry.camera.novel_view_camera`: the same cameras that SDS renders from during
reconstruction). The hand and the object are rendered separately
(binary masks: the hand mesh by the rasterizer's hard z-buffer, a synthetic object by
sphere tracing its exact SDF, an object mesh from a clip by the rasterizer) into the
prior's channel layouts (`hoijax.render.geometry_images`): object (size,size,5), hand
condition (size,size,7), with depths relative to the hand's mean depth.

Sources of grasps (`config.source`): "synthetic" (the synthetic world's training split:
objects from seeds `config.first_seed` on, which the benchmark split never uses) or
"clips:GLOB" (clip folders whose gt.npz carries ground truth, e.g. DiffHOI-preprocessed
HOI4D; every `config.clip_frame_stride`-th frame is a grasp).

Output: DIR/shard_00000.npz ... (object float16, hand float16, category int32: an index
into manifest["categories"], len(categories) for an unknown category; grasp int32: which
grasp the view shows, for held-out splits by grasp) and
DIR/manifest.json (config, counts, channel layouts). Deterministic by `config.seed`.
Written into a temporary folder renamed at the end: a stopped run leaves no partial DIR.
"""
from __future__ import annotations

import dataclasses
import functools
import glob
import json
import os
import shutil
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import trimesh
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from hoijax.data.clip import load_clip
from hoijax.data.synthetic.clips import grasp_object
from hoijax.data.synthetic.objects import CATEGORIES, object_sdf
from hoijax.data.synthetic.split import held_out_seeds

# novel_view_camera is also imported from here by older callers (recon).
from hoijax.geometry.camera import novel_view_camera
from hoijax.geometry.transforms import apply_to_points
from hoijax.hand import load_hand_model
from hoijax.hand.model import mano_forward
from hoijax.render.geometry_images import (hand_geometry_image, object_geometry_image,
                                           reference_depth)
from hoijax.render.rasterize import pad_faces, rasterize
from hoijax.render.sphere_trace import render_sdf_hard
from hoijax.runtime import enable_compilation_cache

MANIFEST = "manifest.json"


@dataclasses.dataclass
class GraspSample:
    """A ground-truth hand-object pair in the hand frame (metres)."""

    hand_verts: np.ndarray  # (V,3)
    object_verts: np.ndarray | None  # (U,3) (None for analytic objects)
    object_faces: np.ndarray | None  # (F,3)
    category: str | None
    # Analytic objects: (category, params, hTo); the object is then sphere-traced exactly
    # instead of rasterizing its mesh (faster, and exact).
    analytic: tuple | None = None


def view_cameras(hand_verts, rotations, view, size):
    """The cameras of a grasp's training views: cTh (N,4,4) float64 and K (3,3).

    hand_verts (V,3) hand frame; rotations (N,3,3); view.distance, view.focal_factor.
    `novel_view_camera` about the hand's mean vertex, as SDS renders its novel views.
    """
    cTh, K = novel_view_camera(rotations, hand_verts.mean(0), view.distance,
                               view.focal_factor, size)
    return np.asarray(cTh, np.float64), np.asarray(K, np.float64)


def _geometry_images(hand, obj, fallback_depth):
    ref = reference_depth(hand["mask"], hand["depth"], fallback=fallback_depth)
    return object_geometry_image(obj, ref), hand_geometry_image(hand, ref)


def _hand_layer(hand_v, hand_faces, hand_code, K, size):
    return rasterize(hand_v, hand_faces, K, (size, size), sigma=0.0, faces_per_pixel=1,
                     attributes=hand_code)


@functools.partial(jax.jit, static_argnames=("size",))
def render_mesh_pairs(hand_c, hand_faces, hand_code, obj_c, obj_faces, K, fallback_depth, *,
                      size):
    """N views of hand and object meshes -> object (N,size,size,5), hand (N,size,size,7).

    hand_c (N,V,3), obj_c (N,U,3) camera-frame vertices; K (3,3). One compiled program per
    face count: pad object faces with `pad_faces`."""
    def one(views):
        hand_v, obj_v = views
        obj = rasterize(obj_v, obj_faces, K, (size, size), sigma=0.0, faces_per_pixel=1)
        return _geometry_images(_hand_layer(hand_v, hand_faces, hand_code, K, size), obj,
                                fallback_depth)

    return jax.lax.map(one, (hand_c, obj_c))


@functools.partial(jax.jit, static_argnames=("size", "category"))
def render_analytic_pairs(hand_c, hand_faces, hand_code, cTo, K, fallback_depth, params, *,
                          category, size):
    """N views of a hand mesh and an analytic object (sphere-traced SDF); cTo (N,4,4)."""
    def one(views):
        hand_v, c_t_o = views
        center = -c_t_o[:3, :3].T @ c_t_o[:3, 3]
        dist = jnp.linalg.norm(center)
        obj = render_sdf_hard(lambda x: object_sdf(category, params, x), c_t_o, K,
                              (size, size), near=jnp.maximum(dist - 0.35, 0.01),
                              far=dist + 0.35)
        return _geometry_images(_hand_layer(hand_v, hand_faces, hand_code, K, size), obj,
                                fallback_depth)

    return jax.lax.map(one, (hand_c, cTo))


def render_views(sample: GraspSample, hand_faces, hand_code, rotations, view, size):
    """(N,size,size,5), (N,size,size,7) float32 for N rotations (N,3,3)."""
    cTh, K = view_cameras(sample.hand_verts, rotations, view, size)
    to_cam = lambda x: apply_to_points(cTh, np.asarray(x)).astype(np.float32)  # noqa: E731
    if sample.analytic is not None:
        category, params, hTo = sample.analytic
        obj, hand = render_analytic_pairs(
            to_cam(sample.hand_verts), hand_faces, hand_code,
            jnp.asarray(cTh @ hTo, jnp.float32), K, view.distance,
            {k: jnp.float32(v) for k, v in params.items()}, category=category, size=size)
    else:
        obj, hand = render_mesh_pairs(
            to_cam(sample.hand_verts), hand_faces, hand_code, to_cam(sample.object_verts),
            pad_faces(np.asarray(sample.object_faces, np.int32)), K, view.distance,
            size=size)
    return np.asarray(obj), np.asarray(hand)


# ---------------------------------------------------------------------------------------
# Grasp sources.

def synthetic_grasps(model, config):
    """Yields a GraspSample per (category, object seed) of the synthetic training split."""
    forward = jax.jit(mano_forward)
    for category in config.categories:
        for seed in range(config.first_seed, config.first_seed + config.objects_per_category):
            params, grasp = grasp_object(model, category, seed)
            hand = np.asarray(forward(model, jnp.asarray(grasp.hand_pose, jnp.float32),
                                      jnp.asarray(grasp.betas, jnp.float32)).vertices)
            yield GraspSample(hand, None, None, category, analytic=(category, params,
                                                                    grasp.hTo))


def clip_folders(pattern: str) -> list:
    """Clip folders matching `pattern` that carry ground truth; raises ValueError if none."""
    folders = sorted(f for f in glob.glob(pattern) if os.path.isdir(f))
    if not folders:
        raise ValueError(f"source clips:{pattern}: no folder matches")
    missing = [f for f in folders if not os.path.isfile(os.path.join(f, "gt.npz"))
               or not os.path.isfile(os.path.join(f, "oObj.obj"))]
    if missing:
        raise ValueError(f"{missing[0]}: a training clip needs gt.npz and oObj.obj "
                         "(ground truth); remove it from the pattern")
    return folders


def clip_grasps(model, config, folders):
    """Yields a GraspSample per ground-truth frame (every clip_frame_stride-th) of clips."""
    forward = jax.jit(mano_forward)
    for folder in folders:
        clip = load_clip(folder)
        mesh = trimesh.load(clip.object_mesh_path, force="mesh", process=False)
        gt = clip.gt
        beta = np.broadcast_to(gt["beta"], (clip.num_frames, 10))
        for t in range(0, clip.num_frames, config.clip_frame_stride):
            hand = np.asarray(forward(model, jnp.asarray(gt["hA"][t], jnp.float32),
                                      jnp.asarray(beta[t], jnp.float32)).vertices)
            yield GraspSample(hand, apply_to_points(gt["hTo"][t], np.asarray(mesh.vertices)),
                              np.asarray(mesh.faces), clip.category)


def count_grasps(config) -> int:
    """How many grasps the source yields (for the progress bar)."""
    if config.source == "synthetic":
        return len(config.categories) * config.objects_per_category
    total = 0
    for folder in clip_folders(config.source[len("clips:"):]):
        frames = len(glob.glob(os.path.join(folder, "obj_mask", "*.png")))
        total += -(-frames // config.clip_frame_stride)
    return total


def check_config(config) -> None:
    """Raises ValueError naming the field for a config that cannot work."""
    if config.source != "synthetic" and not config.source.startswith("clips:"):
        raise ValueError(f"config.source={config.source!r}: use 'synthetic' or 'clips:GLOB'")
    unknown = [c for c in config.categories if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"config.categories: unknown {unknown}; choose from {CATEGORIES}")
    for field in ("image_size", "views_per_grasp", "shard_size", "objects_per_category",
                  "clip_frame_stride"):
        if config[field] < 1:
            raise ValueError(f"config.{field}={config[field]}: must be at least 1")
    held_out = held_out_seeds()
    train = set(range(config.first_seed, config.first_seed + config.objects_per_category))
    if config.source == "synthetic" and held_out & train:
        raise ValueError(f"config.first_seed={config.first_seed}: training objects would "
                         f"include benchmark seeds {sorted(held_out & train)}")
    if config.source != "synthetic":
        clip_folders(config.source[len("clips:"):])


def category_index(category: str | None, categories) -> int:
    """Index into `categories`, or len(categories) for an unknown category (null prompt)."""
    return categories.index(category) if category in categories else len(categories)


def write_prior_data(config, out_dir: str, model=None, progress=True) -> dict:
    """Renders the training set described by `config` into `out_dir`; returns the manifest."""

    check_config(config)
    if os.path.exists(out_dir):
        raise ValueError(f"--out={out_dir}: already exists; remove it or choose another")
    model = model or load_hand_model("right", config.mano_dir or None)
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".prior-data-", dir=parent)
    start = time.time()
    try:
        rng = np.random.default_rng(config.seed)
        categories = list(config.categories)  # the manifest's prompts: what was drawn
        source = (synthetic_grasps(model, config) if config.source == "synthetic" else
                  clip_grasps(model, config, clip_folders(config.source[len("clips:"):])))
        hand_faces = jnp.asarray(model.faces, jnp.int32)
        hand_code = jnp.asarray(model.surface_code, jnp.float32)
        buffer, shards, count = {"object": [], "hand": [], "category": [], "grasp": []}, [], 0
        bar = tqdm(total=count_grasps(config) * config.views_per_grasp, unit="img",
                   disable=not progress, desc="prior data")
        for grasp_index, sample in enumerate(source):
            rotations = Rotation.random(config.views_per_grasp, random_state=rng).as_matrix()
            obj, hand = render_views(sample, hand_faces, hand_code, rotations, config.view,
                                     config.image_size)
            buffer["object"].append(obj.astype(np.float16))
            buffer["hand"].append(hand.astype(np.float16))
            buffer["category"].append(np.full(len(obj), category_index(sample.category,
                                                                       categories), np.int32))
            buffer["grasp"].append(np.full(len(obj), grasp_index, np.int32))
            count += len(obj)
            bar.update(len(obj))
            if sum(len(b) for b in buffer["category"]) >= config.shard_size:
                shards += _flush(buffer, tmp, len(shards), config.shard_size)
        shards += _flush(buffer, tmp, len(shards), config.shard_size, final=True)
        bar.close()
        manifest = dict(num_samples=count, shards=shards, categories=categories,
                        image_size=config.image_size, object_channels="mask nx ny nz depth",
                        hand_channels="mask nx ny nz depth u v", hand_model=model.name,
                        seconds=time.time() - start, config=config.to_dict())
        with open(os.path.join(tmp, MANIFEST), "w") as f:
            json.dump(manifest, f, indent=1)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _flush(buffer, folder, first_index, shard_size, final=False) -> list:
    """Writes full shards (all remaining samples when final) and empties the buffer."""
    arrays = {k: np.concatenate(v) for k, v in buffer.items() if v}
    if not arrays:
        return []
    total = len(arrays["category"])
    names, begin = [], 0
    while total - begin >= shard_size or (final and begin < total):
        end = min(begin + shard_size, total)
        name = f"shard_{first_index + len(names):05d}.npz"
        np.savez_compressed(os.path.join(folder, name),
                            **{k: v[begin:end] for k, v in arrays.items()})
        names.append(dict(file=name, num_samples=end - begin))
        begin = end
    for k in buffer:
        buffer[k] = [arrays[k][begin:]] if k in arrays and begin < total else []
    return names


def load_shards(folder: str, keys, command: str, count_key: str) -> dict:
    """Every sample of a sharded data folder (MANIFEST + npz shards): {key: concatenated
    array} for `keys`, object/hand as float32 when present, plus the manifest. Raises
    ValueError naming what is wrong; `command` is what writes such a folder, `count_key`
    the array whose length must match the manifest's num_samples."""
    path = os.path.join(folder, MANIFEST)
    if not os.path.isfile(path):
        raise ValueError(f"{folder}: no {MANIFEST}; write the data with {command}")
    with open(path) as f:
        manifest = json.load(f)
    parts = {k: [] for k in keys}
    for shard in manifest["shards"]:
        file = os.path.join(folder, shard["file"])
        try:
            with np.load(file) as data:
                for k in parts:
                    parts[k].append(data[k])
        except (OSError, KeyError, ValueError) as e:
            raise ValueError(f"{file}: unreadable shard ({e})") from None
    out = {k: np.concatenate(v) for k, v in parts.items()}
    for k in ("object", "hand"):
        if k in out:
            out[k] = out[k].astype(np.float32)
    if len(out[count_key]) != manifest["num_samples"]:
        raise ValueError(f"{path}: lists {manifest['num_samples']} samples, shards hold "
                         f"{len(out[count_key])}")
    out["manifest"] = manifest
    return out


def load_prior_data(folder: str) -> dict:
    """All samples of a prior-data folder: object (N,H,W,5), hand (N,H,W,7) float32,
    category (N,) and grasp (N,) int32, and the manifest. Raises ValueError naming what
    is wrong."""
    return load_shards(folder, ("object", "hand", "category", "grasp"),
                       "python -m hoijax.data.prior_data", "category")


def main(argv):
    del argv
    enable_compilation_cache()
    try:
        manifest = write_prior_data(_CONFIG.value, _OUT.value)
    except ValueError as e:
        raise app.UsageError(str(e)) from None
    print(f"wrote {_OUT.value}: {manifest['num_samples']} samples of "
          f"{manifest['image_size']}x{manifest['image_size']} in "
          f"{len(manifest['shards'])} shards, {manifest['seconds']:.0f} s")


if __name__ == "__main__":
    from absl import app, flags
    from ml_collections import config_flags
    _CONFIG = config_flags.DEFINE_config_file(
        "config", os.path.join(os.path.dirname(__file__), "..", "..", "configs",
                               "prior_data.py"), "Prior data configuration.")
    _OUT = flags.DEFINE_string("out", None, "Output folder (must not exist).", required=True)
    app.run(main)

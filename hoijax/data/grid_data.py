"""Training data of the 3D interaction-grid prior (docs/design.md §11): grasps of the
synthetic world as interaction grids in the normalised hand frame.

  python -m hoijax.data.grid_data --config=configs/grid_data.py --out=DIR

Each synthetic training object (category, seed >= TRAIN_FIRST_SEED: never a benchmark or
generalisation object) gets one synthesized grasp (`clips.grasp_object`), written as
`config.jitters_per_grasp` samples: the grasp itself, then copies with the object rotated
about the frame centre by a random axis and an angle uniform in [0, rotation_jitter] and
the articulation perturbed by N(0, articulation_jitter^2) (G-HOP's augmentation: 0.3 rad,
0.1). A sample holds
- object (R,R,R) float16: the truncated, normalised SDF (`interaction.object_grid`),
- hand (r,r,r,20) float16: the skeletal distance field at the latent resolution,
- category, grasp int32; hand_pose (45,), betas (10,), hTo (4,4) float32 (what made it).
Shards DIR/shard_00000.npz ... and DIR/manifest.json; deterministic by config.seed;
written into a temporary folder renamed at the end.

`config.source = "placements"` (configs/grid_data.py:placements) skips grasp synthesis:
each object is placed with a rotation uniform over SO(3) and its bounding-box centre at
the frame centre plus a uniform offset of up to `placement_offset` m, with no hand (the
"no hand" zero field). That is data for the autoencoder alone (it sees only the object
channel): many more objects for the same CPU time (grasp synthesis costs 1-20 s a
grasp on a loaded 2-core machine, a placement a few ms).
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from hoijax.data.prior_data import load_shards
from hoijax.data.synthetic.clips import grasp_object
from hoijax.data.synthetic.objects import CATEGORIES, object_bounds, object_sdf, sample_params
from hoijax.data.synthetic.split import held_out_seeds
from hoijax.hand import load_hand_model
from hoijax.interaction.hand_field import hand_field, hand_frame_center
from hoijax.interaction.object_grid import object_grid
from hoijax.runtime import enable_compilation_cache

MANIFEST = "manifest.json"
KEYS = ("object", "hand", "category", "grasp", "hand_pose", "betas", "hTo")


def check_config(config) -> None:
    """Raises ValueError naming the field of a config that cannot work."""
    if config.source not in ("grasps", "placements"):
        raise ValueError(f"config.source={config.source!r}: use 'grasps' or 'placements'")
    unknown = [c for c in config.categories if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"config.categories: unknown {unknown}; choose from {CATEGORIES}")
    for field in ("objects_per_category", "jitters_per_grasp", "resolution",
                  "field_resolution", "shard_size"):
        if config[field] < 1:
            raise ValueError(f"config.{field}={config[field]}: must be at least 1")
    if config.resolution % config.field_resolution:
        raise ValueError(f"config.resolution={config.resolution} must be a multiple of "
                         f"config.field_resolution={config.field_resolution}")
    seeds = set(range(config.first_seed, config.first_seed + config.objects_per_category))
    if seeds & held_out_seeds():
        raise ValueError(f"config.first_seed={config.first_seed}: training objects would "
                         f"include benchmark seeds {sorted(seeds & held_out_seeds())}")


def jitter_grasp(rng, hand_pose, hTo, center, rotation_jitter, articulation_jitter):
    """(hand_pose (45,), hTo (4,4)): the object turned about `center` (hand frame, m) by a
    random axis and an angle U[0, rotation_jitter], the articulation plus Gaussian noise."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    rot = Rotation.from_rotvec(axis * rng.uniform(0.0, rotation_jitter)).as_matrix()
    turn = np.eye(4)
    turn[:3, :3], turn[:3, 3] = rot, center - rot @ center
    pose = hand_pose + rng.normal(0.0, articulation_jitter, size=45)
    return pose.astype(np.float32), (turn @ hTo).astype(np.float32)


@functools.partial(jax.jit, static_argnames=("category", "resolution", "half_extent"))
def _object_grid(params, hTo, center, *, category, resolution, half_extent):
    return object_grid(lambda x: object_sdf(category, params, x), hTo, center, resolution,
                       half_extent)


@functools.partial(jax.jit, static_argnames=("resolution", "half_extent"))
def _hand(model, pose, betas, *, resolution, half_extent):
    return hand_field(model, pose, betas, resolution, half_extent)


def grasp_samples(model, category, seed, grasp_index, config) -> dict:
    """The jittered samples of one object's grasp: {key: (J,...)}; None if no grasp."""
    try:
        params, grasp = grasp_object(model, category, seed)
    except RuntimeError:
        return None
    rng = np.random.default_rng([config.seed, grasp_index])
    betas = jnp.asarray(grasp.betas, jnp.float32)
    center = np.asarray(hand_frame_center(model, betas), np.float64)
    jparams = {k: jnp.float32(v) for k, v in params.items()}
    out = {k: [] for k in KEYS}
    for j in range(config.jitters_per_grasp):
        pose, hTo = (np.asarray(grasp.hand_pose, np.float32), np.asarray(grasp.hTo, np.float32))
        if j:
            pose, hTo = jitter_grasp(rng, pose, grasp.hTo, center, config.rotation_jitter,
                                     config.articulation_jitter)
        out["object"].append(np.asarray(_object_grid(
            jparams, hTo, center, category=category, resolution=config.resolution,
            half_extent=config.half_extent), np.float16))
        out["hand"].append(np.asarray(_hand(
            model, jnp.asarray(pose), betas, resolution=config.field_resolution,
            half_extent=config.half_extent), np.float16))
        out["category"].append(np.int32(config.categories.index(category)))
        out["grasp"].append(np.int32(grasp_index))
        out["hand_pose"].append(pose)
        out["betas"].append(np.asarray(grasp.betas, np.float32))
        out["hTo"].append(hTo)
    return {k: np.stack(v) for k, v in out.items()}


def placement_samples(model, category, seed, index, config) -> dict:
    """`jitters_per_grasp` random placements of one object, without a hand."""
    params = sample_params(category, np.random.default_rng(seed))
    rng = np.random.default_rng([config.seed, index])
    betas = jnp.zeros((10,), jnp.float32)
    center = np.asarray(hand_frame_center(model, betas), np.float64)
    middle = object_bounds(category, params).mean(0)
    jparams = {k: jnp.float32(v) for k, v in params.items()}
    r = config.field_resolution
    out = {k: [] for k in KEYS}
    for rot in Rotation.random(config.jitters_per_grasp, random_state=rng).as_matrix():
        hTo = np.eye(4, dtype=np.float32)
        offset = rng.uniform(-config.placement_offset, config.placement_offset, 3)
        hTo[:3, :3], hTo[:3, 3] = rot, center + offset - rot @ middle
        out["object"].append(np.asarray(_object_grid(
            jparams, hTo, center, category=category, resolution=config.resolution,
            half_extent=config.half_extent), np.float16))
        out["hand"].append(np.zeros((r, r, r, 20), np.float16))
        out["category"].append(np.int32(config.categories.index(category)))
        out["grasp"].append(np.int32(index))
        out["hand_pose"].append(np.zeros(45, np.float32))
        out["betas"].append(np.zeros(10, np.float32))
        out["hTo"].append(hTo)
    return {k: np.stack(v) for k, v in out.items()}


def write_grid_data(config, out_dir: str, model=None, progress=True) -> dict:
    """Writes the grid training set of `config` into out_dir; returns the manifest."""

    check_config(config)
    if os.path.exists(out_dir):
        raise ValueError(f"--out={out_dir}: already exists; remove it or choose another")
    model = model or load_hand_model("right", config.mano_dir or None)
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".grid-data-", dir=parent)
    start = time.time()
    try:
        jobs = [(c, s) for c in config.categories
                for s in range(config.first_seed, config.first_seed + config.objects_per_category)]
        parts, shards, skipped = [], [], []
        for index, (category, seed) in enumerate(tqdm(jobs, disable=not progress,
                                                      desc="grid data", unit="grasp")):
            make = placement_samples if config.source == "placements" else grasp_samples
            sample = make(model, category, seed, index, config)
            if sample is None:
                skipped.append([category, seed])
                continue
            parts.append(sample)
            if sum(len(p["grasp"]) for p in parts) >= config.shard_size:
                shards.append(_write_shard(parts, tmp, len(shards)))
                parts = []
        if parts:
            shards.append(_write_shard(parts, tmp, len(shards)))
        manifest = dict(num_samples=sum(s["num_samples"] for s in shards), shards=shards,
                        categories=list(config.categories), resolution=config.resolution,
                        half_extent=config.half_extent,
                        field_resolution=config.field_resolution, skipped=skipped,
                        hand_model=model.name, seconds=time.time() - start,
                        config=config.to_dict())
        with open(os.path.join(tmp, MANIFEST), "w") as f:
            json.dump(manifest, f, indent=1)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _write_shard(parts, folder, index) -> dict:
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in KEYS}
    name = f"shard_{index:05d}.npz"
    np.savez_compressed(os.path.join(folder, name), **arrays)
    return dict(file=name, num_samples=len(arrays["grasp"]))


def load_grid_data(folder: str) -> dict:
    """All samples of a grid-data folder ({key: array}, object/hand as float32) and the
    manifest. Raises ValueError naming what is wrong."""
    return load_shards(folder, KEYS, "python -m hoijax.data.grid_data", "grasp")


def main(argv):
    del argv
    enable_compilation_cache()
    try:
        manifest = write_grid_data(_CONFIG.value, _OUT.value)
    except ValueError as e:
        raise app.UsageError(str(e)) from None
    print(f"wrote {_OUT.value}: {manifest['num_samples']} grids of "
          f"{manifest['resolution']}^3 in {len(manifest['shards'])} shards, "
          f"{manifest['seconds']:.0f} s")


if __name__ == "__main__":
    from absl import app, flags
    from ml_collections import config_flags
    _CONFIG = config_flags.DEFINE_config_file(
        "config", os.path.join(os.path.dirname(__file__), "..", "..", "configs",
                               "grid_data.py"), "Grid data configuration.")
    _OUT = flags.DEFINE_string("out", None, "Output folder (must not exist).", required=True)
    app.run(main)

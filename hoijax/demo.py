"""Demo of the hand model: python -m hoijax.demo --out=DIR (see configs/demo.py).

Poses the hand (official MANO with --mano_dir, else the stand-in) from the open hand into
a natural grasp while the camera orbits, and writes what a user wants to look at: a video,
a contact sheet, one OBJ per frame, the hand's condition image for the prior (mask,
normals, relative depth, surface code) from the differentiable rasterizer, and the model as
a MANO-format pickle.
"""
from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import mediapy
import numpy as np
from absl import flags

from hoijax import cli, viz
from hoijax.geometry.camera import orbit_camera
from hoijax.geometry.transforms import apply_to_points
from hoijax.hand import load_hand_model, mano_forward, save_mano_pickle
from hoijax.hand.poses import sample_natural_poses
from hoijax.render.geometry_images import hand_geometry_image, reference_depth, to_rgb
from hoijax.render.rasterize import rasterize
from hoijax.runtime import enable_compilation_cache

_CONFIG = cli.define_config("config", "demo.py",
                            "Demo configuration.")
_OUT = flags.DEFINE_string("out", "demo_out", "Output folder (created).")
_MANO_DIR = flags.DEFINE_string("mano_dir", None, "Folder with the official MANO_*.pkl.")


def grasp_sequence(model, num_frames, seed):
    """(T,45) articulations easing from the flat hand into a sampled firm grasp."""
    joints = np.asarray(model.J_regressor @ model.v_template)
    joints21 = np.concatenate([joints, np.asarray(model.v_template)[list(model.fingertip_ids)]])
    candidates = sample_natural_poses(joints21, model.side, num=64, seed=seed)
    grasp = candidates[np.argmax(np.abs(candidates).sum(1))]  # the most closed sample
    ease = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, num_frames))
    return ease[:, None] * grasp[None]


def geometry_panels(verts, faces, surface_code, cam_from_world, size):
    """(size, 4*size, 3) uint8: the hand's condition image for the prior, rendered with the
    differentiable rasterizer: mask, normals, relative depth and surface code."""
    verts_c = apply_to_points(np.asarray(cam_from_world, float), np.asarray(verts))
    focal = 2.2 * size
    K = np.array([[focal, 0, (size - 1) / 2], [0, focal, (size - 1) / 2], [0, 0, 1]])
    layer = rasterize(jnp.asarray(verts_c, jnp.float32), faces, K, (size, size),
                      attributes=surface_code)
    image = hand_geometry_image(layer, reference_depth(layer["mask"], layer["depth"]))
    panels = to_rgb(image)
    row = [panels[k] for k in ("mask", "normal", "depth", "uv")]
    return (np.clip(np.concatenate(row, axis=1), 0, 1) * 255).astype(np.uint8)


def run_demo(config, out_dir, mano_dir=None):
    """Writes the demo outputs into out_dir; returns their paths."""
    start = time.time()
    model = load_hand_model(config.side, mano_dir or config.mano_dir or None)
    poses = grasp_sequence(model, config.num_frames, config.grasp_seed)
    out = jax.jit(mano_forward)(model, jnp.asarray(poses), jnp.zeros(10))
    verts, faces = np.asarray(out.vertices), np.asarray(model.faces)
    os.makedirs(os.path.join(out_dir, "hands"), exist_ok=True)
    colors = viz.code_colors(model.surface_code)
    center = verts[0].mean(0)
    frames = []
    for t, v in enumerate(verts):
        cam = orbit_camera(center, 0.42, 60 + 120 * t / max(len(verts) - 1, 1), 35)
        frames.append(viz.render_mesh(v, faces, cam, size=config.image_size, colors=colors))
        with open(os.path.join(out_dir, "hands", f"{t:06d}.obj"), "w") as f:
            f.write("".join(f"v {x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in v))
            f.write("".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in faces))
    paths = dict(video=os.path.join(out_dir, "hand.mp4"),
                 sheet=os.path.join(out_dir, "frames.png"),
                 geometry=os.path.join(out_dir, "geometry.png"),
                 model=os.path.join(out_dir, "hand_model.pkl"))
    viz.write_video(paths["video"], frames, fps=config.fps)
    picks = np.linspace(0, len(frames) - 1, min(8, len(frames))).round().astype(int)
    mediapy.write_image(paths["sheet"], viz.grid([frames[k] for k in picks], 4))
    code = jnp.asarray(model.surface_code)
    rows = [geometry_panels(verts[k], faces, code, orbit_camera(center, 0.42, 60, 35),
                            config.geometry_size) for k in (0, len(verts) - 1)]
    mediapy.write_image(paths["geometry"], np.concatenate(rows, axis=0))
    save_mano_pickle(model, paths["model"])
    print(f"{model.name} {model.side} hand, {model.num_verts} vertices: "
          f"{len(frames)} frames in {time.time() - start:.1f} s")
    for name, path in paths.items():
        print(f"  {name:8s} {path}")
    print(f"  {'meshes':8s} {os.path.join(out_dir, 'hands')}/*.obj")
    return paths


def main(argv):
    del argv
    out = cli.output_folder(_OUT.value)
    enable_compilation_cache()
    run_demo(_CONFIG.value, out, _MANO_DIR.value)


if __name__ == "__main__":
    cli.run(main)

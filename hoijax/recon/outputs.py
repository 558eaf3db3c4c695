"""What a reconstruction writes: the object mesh, per-frame hands, parameters, a video, the
loss curves and, when the clip has ground truth, the metrics (`hoijax.eval.metrics`).

Frames: object.obj is in the object frame; hands/NNNNNN.obj are in the object frame too
(x_o = inv(hTo[t]) x_h), so they overlay object.obj directly; params.npz holds hTo and cTh
to move either into the hand or camera frame.
"""
from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import mediapy
import numpy as np
import skimage.measure
import trimesh

from hoijax import viz
from hoijax.eval.metrics import evaluate_reconstruction
from hoijax.geometry.camera import orbit_camera, rescale_intrinsics
from hoijax.geometry.mesh import write_obj
from hoijax.geometry.transforms import apply_to_points
from hoijax.models.sdf import sdf_value
from hoijax.recon import scene
from hoijax.render.rasterize import is_closed, pad_faces, zbuffer

SKIN = (0.95, 0.75, 0.6)
OBJECT = (0.55, 0.65, 0.95)


def extract_mesh(sdf_params, bound_radius, resolution=96) -> trimesh.Trimesh:
    """Marching cubes of the SDF's zero level set in a cube around its centre; an empty mesh
    when the field has no zero level set there (a fit whose object vanished)."""
    center = np.asarray(sdf_params["center"])
    axis = np.linspace(-bound_radius, bound_radius, resolution)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1) + center
    values = np.array(jax.jit(jax.vmap(lambda x: sdf_value(sdf_params, x)))(
        jnp.asarray(grid.reshape(-1, 3), jnp.float32))).reshape(grid.shape[:3])
    if values.min() >= 0 or values.max() <= 0:  # the object vanished (or fills the box)
        return trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64))
    spacing = axis[1] - axis[0]
    verts, faces, _, _ = skimage.measure.marching_cubes(values, 0.0, spacing=(spacing,) * 3)
    mesh = trimesh.Trimesh(verts + center - bound_radius, faces)
    if mesh.volume < 0:  # normals outward (other tools read the winding: ray casters,
        mesh.invert()    # physics engines); skimage's depends on the level set's sign
    return mesh


def write_mesh(path, mesh: trimesh.Trimesh):
    """Writes a mesh as OBJ; an empty one as a comment-only file, which trimesh reads back
    as an empty mesh (trimesh's own export of an empty mesh is not valid OBJ)."""
    if mesh.is_empty:
        with open(path, "w") as f:
            f.write("# hoijax: the object vanished (its field has no zero level set)\n")
    else:
        mesh.export(path)


def video_frames(clip, mesh, hand_verts_o, faces, hTo, cTh, K, size=160):
    """Per frame: the input image, the reconstruction in the frame's camera, a rotating
    novel view of hand and object (object frame)."""
    colors = np.concatenate([np.tile(OBJECT, (len(mesh.vertices), 1)),
                             np.tile(SKIN, (hand_verts_o.shape[1], 1))])
    all_faces = np.concatenate([mesh.faces, np.asarray(faces) + len(mesh.vertices)])
    center = (mesh.vertices if len(mesh.vertices) else hand_verts_o[0]).mean(0)
    frames = []
    T = len(hTo)
    for t in range(T):
        verts = np.concatenate([mesh.vertices, hand_verts_o[t]])
        cTo = cTh[t] @ hTo[t]
        focal = K[t, 0, 0] * size / clip.image_size[1]
        inp = (clip.images[t] if clip.images is not None else
               np.repeat((clip.obj_mask[t] * 255)[..., None], 3, -1).astype(np.uint8))
        inp = mediapy.resize_image(inp, (size, size))
        same = viz.render_mesh(verts, all_faces, cTo, size=size, focal=focal, colors=colors)
        cam = orbit_camera(center, 0.45, 360.0 * t / T, 25, up=(0.0, 0.0, 1.0))
        novel = viz.render_mesh(verts, all_faces, cam, size=size, colors=colors)
        frames.append(np.concatenate([inp, same, novel], axis=1))
    return frames


def write_outputs(out_dir, result, clip, model, render) -> dict:
    """Writes every output of one fitted clip (a `hoijax.recon.fit.FitResult`); returns the
    metrics (or {}). render: configs/reconstruct.py `render` (the fitting resolution and
    the object's bounding radius)."""
    os.makedirs(os.path.join(out_dir, "hands"), exist_ok=True)
    params = result.params
    arrays = scene.export_arrays(params, result.data.cTh0, result.data.K0)
    np.savez(os.path.join(out_dir, "params.npz"), **arrays,
             tracker_failures=result.failed, fit_image_size=render.image_size)
    mesh = extract_mesh(params["sdf"], render.bound_radius)
    if mesh.is_empty:
        print(f"{out_dir}: the object vanished (no zero level set); object.obj is empty")
    write_mesh(os.path.join(out_dir, "object.obj"), mesh)
    verts_h, _ = scene.hand_vertices(model, params)
    verts_o = apply_to_points(np.linalg.inv(arrays["hTo"]), np.asarray(verts_h, np.float64))
    for t, v in enumerate(verts_o):
        write_obj(os.path.join(out_dir, "hands", f"{t:06d}.obj"), v, model.faces)
    K_clip = np.asarray(rescale_intrinsics(arrays["K"], (render.image_size,) * 2,
                                           clip.image_size))
    frames = video_frames(clip, mesh, verts_o, model.faces, arrays["hTo"], arrays["cTh"],
                          K_clip)
    viz.write_video(os.path.join(out_dir, "recon.mp4"), frames, fps=4)
    mediapy.write_image(os.path.join(out_dir, "recon.png"), viz.grid(frames, 2))
    # Every loss term logged at any step (SDS is only on some of the logged steps); the
    # gradient diagnostics (`grad_norm/...`, `nonfinite/...`) stay in the history.
    names = [k for k in dict.fromkeys(k for h in result.history for k in h)
             if k not in ("step", "restored") and "/" not in k]
    curves = {k: ([h["step"] for h in result.history if k in h],
                  [h[k] for h in result.history if k in h]) for k in names}
    mediapy.write_image(os.path.join(out_dir, "losses.png"), viz.plot_curves(
        curves, size=(300, 600), title="reconstruction loss terms"))
    return evaluate_outputs(out_dir, clip, result.seconds, model.faces)


def visible_object_masks(mesh, hands_o, hand_faces, cTo, K, image_size) -> np.ndarray:
    """(T,H,W) bool: where the object mesh (object frame) is seen in front of the hand
    (hands_o (T,V,3), object frame) through cameras cTo (T,4,4) with pixel intrinsics K
    (T,3,3): hard z-buffer renders (sigma 0), as the input masks are."""
    size = tuple(int(x) for x in image_size)
    faces_o = pad_faces(np.asarray(mesh.faces, np.int32))  # one program for most meshes
    closed_o, closed_h = is_closed(mesh.faces), is_closed(hand_faces)
    masks = []
    for h, c, k in zip(hands_o, cTo, K):
        obj = zbuffer(apply_to_points(c, mesh.vertices), faces_o, k, size, closed=closed_o)
        hand = zbuffer(apply_to_points(c, h), hand_faces, k, size, closed=closed_h)
        front = (hand["mask"] < 0.5) | (obj["depth"] < hand["depth"])
        masks.append(np.asarray((obj["mask"] > 0.5) & front))
    return np.stack(masks)


def mask_iou(pred, target) -> float:
    """Intersection over union of two boolean mask stacks, over all their pixels."""
    union = np.sum(pred | target)
    return float(np.sum(pred & target) / union) if union else 1.0


def _hands_from_files(out_dir, num_frames) -> np.ndarray:
    """(T,V,3) hand vertices (object frame) from out_dir/hands/NNNNNN.obj."""
    return np.stack([trimesh.load(os.path.join(out_dir, "hands", f"{t:06d}.obj"),
                                  force="mesh", process=False).vertices
                     for t in range(num_frames)])


def evaluate_outputs(out_dir, clip, seconds, hand_faces=None) -> dict:
    """Metrics of a written reconstruction (object.obj, params.npz and hands/ in out_dir)
    against the clip's ground truth, also written to out_dir/metrics.json with the fit's
    `seconds`; {} when the clip has no ground truth. Beside the paper's metrics (§8):
    `volume_ratio` (the mesh's volume over the true object's: < 1 where the surface sits
    inside the truth) and `mask_iou` (the fitted object's visible silhouette, in front of
    the fitted hand, against the input object masks, at the clip's resolution; needs
    hand_faces). Rerunnable on old outputs when the evaluation changes."""
    if clip.gt is None or not clip.object_mesh_path:
        return {}
    mesh = trimesh.load(os.path.join(out_dir, "object.obj"), force="mesh")
    with np.load(os.path.join(out_dir, "params.npz")) as params:
        hTo, cTh, K = params["hTo"], params["cTh"], params["K"]
        fit_size = int(params["fit_image_size"]) if "fit_image_size" in params else None
    gt_mesh = trimesh.load(clip.object_mesh_path, force="mesh")
    if mesh.is_empty:  # nothing was reconstructed: no F-score, no distance
        metrics = {"F@5": 0.0, "F@10": 0.0, "CD": float("nan"), "CD_h": float("nan"),
                   "vanished": True, "volume_ratio": 0.0, "mask_iou": 0.0}
    else:
        metrics = evaluate_reconstruction(mesh, gt_mesh, hTo[0], clip.gt["hTo"][0])
        metrics["volume_ratio"] = float(abs(mesh.volume) / abs(gt_mesh.volume))
        if hand_faces is not None and fit_size:
            K_clip = np.asarray(rescale_intrinsics(K, (fit_size,) * 2, clip.image_size))
            pred = visible_object_masks(mesh, _hands_from_files(out_dir, clip.num_frames),
                                        hand_faces, cTh @ hTo, K_clip, clip.image_size)
            metrics["mask_iou"] = mask_iou(pred, np.asarray(clip.obj_mask, bool))
    metrics["seconds"] = seconds
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    return metrics

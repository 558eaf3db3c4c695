"""Side-by-side meshes of the benchmark's fits: one row per clip, the ground truth first,
then one column per variant, each as the first frame's hand and object in the hand frame
(the arrangement that CD_h scores), seen from the same camera on the object's side.

  python experiments/benchmark_figure.py --variants=full,no_prior \
      --clips=mug_0,bottle_0,kettle_0,bowl_0,knife_0,toy_car_0

Reads the outputs that experiments/benchmark.py left in --out (default runs/benchmark);
writes experiments/results/benchmark_meshes.png (--name to change it), e.g. for the priors:

  python experiments/benchmark_figure.py --out=runs/bench_priors --name=benchmark_priors_meshes \
      --variants=full,grid,both,no_prior --clips=mug_0,mug_1,...
"""
from __future__ import annotations

import os

import numpy as np
from absl import app, flags
from benchlib import RESULTS_DIR

_VARIANTS = flags.DEFINE_list("variants", "full,no_prior", "Variant columns.")
_CLIPS = flags.DEFINE_list("clips", "mug_0,bottle_0,kettle_0,bowl_0,knife_0,toy_car_0",
                           "Clip rows.")
_OUT = flags.DEFINE_string("out", "runs/benchmark", "The benchmark's working folder.")
_SIZE = flags.DEFINE_integer("size", 200, "Pixels per panel.")
_NAME = flags.DEFINE_string("name", "benchmark_meshes", "File name (without .png) under "
                            "experiments/results.")

GT_OBJECT = (0.45, 0.8, 0.5)  # the fitted objects and hands use recon.outputs' colours


def to_hand(hTo, x_o):
    """Points (N,3) in the object frame -> the hand frame (float64 numpy)."""
    from hoijax.geometry.transforms import apply_to_points
    return apply_to_points(np.asarray(hTo, float), np.asarray(x_o, float))


def panel(parts, camera, size):
    """Flat-shaded render of [(verts (V,3) hand frame, faces (F,3), rgb)] together."""
    from hoijax import viz
    parts = [(np.asarray(v, float).reshape(-1, 3), np.asarray(f).reshape(-1, 3), c)
             for v, f, c in parts]
    offsets = np.cumsum([0] + [len(v) for v, _, _ in parts])
    verts = np.concatenate([v for v, _, _ in parts])
    faces = np.concatenate([f + o for (_, f, _), o in zip(parts, offsets)])
    colors = np.concatenate([np.tile(c, (len(v), 1)) for v, _, c in parts])
    return viz.render_mesh(verts, faces, camera, size=size, colors=colors)


def label(image, text):
    """The panel with `text` written at its top left (matplotlib's text rendering)."""
    from hoijax import viz
    fig = viz.new_figure(image.shape[:2])
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(image)
    ax.axis("off")
    ax.text(4, 4, text, fontsize=7, va="top", ha="left",
            bbox=dict(facecolor="white", alpha=0.7, lw=0, pad=1))
    return viz.figure_image(fig)


def main(argv):
    del argv
    import json

    import jax.numpy as jnp
    import mediapy
    import trimesh

    from hoijax.data.clip import load_clip
    from hoijax.geometry.camera import look_at
    from hoijax.hand import load_hand_model, mano_forward
    from hoijax.recon.outputs import OBJECT, SKIN
    model = load_hand_model("right")
    faces = np.asarray(model.faces)
    rows = []
    for name in _CLIPS.value:
        clip = load_clip(os.path.join(_OUT.value, "clips", name))
        gt = clip.gt
        gt_hand = np.asarray(mano_forward(model, jnp.asarray(gt["hA"][0]),
                                          jnp.asarray(np.reshape(gt["beta"], (-1, 10))[0]))
                             .vertices)
        gt_mesh = trimesh.load(clip.object_mesh_path, force="mesh")
        center = to_hand(gt["hTo"][0], gt_mesh.vertices).mean(0)
        # Seen from the object's side of the hand (the hand behind it), a little above.
        away = center - gt_hand.mean(0)
        away = away / max(np.linalg.norm(away), 1e-9) + np.array([0.0, 0.0, 0.5])
        extent = np.linalg.norm(to_hand(gt["hTo"][0], gt_mesh.vertices) - center, axis=1).max()
        distance = 0.15 + 4.0 * extent  # the object and the hand stay in the panel
        camera = look_at(center + distance * away / np.linalg.norm(away), center,
                         up=(0.0, 0.0, 1.0))
        gt_parts = [(to_hand(gt["hTo"][0], gt_mesh.vertices), gt_mesh.faces, GT_OBJECT),
                    (gt_hand, faces, SKIN)]
        row = [label(panel(gt_parts, camera, _SIZE.value), f"{name}: ground truth")]
        for variant in _VARIANTS.value:
            folder = os.path.join(_OUT.value, variant, name)
            if not os.path.isfile(os.path.join(folder, "metrics.json")):
                raise app.UsageError(f"{folder}: no finished fit (run benchmark.py first)")
            with np.load(os.path.join(folder, "params.npz")) as p:
                hTo = p["hTo"][0]
            with open(os.path.join(folder, "metrics.json")) as f:
                m = json.load(f)
            hand = trimesh.load(os.path.join(folder, "hands", "000000.obj"), force="mesh")
            parts = [(to_hand(hTo, hand.vertices), hand.faces, SKIN)]
            if not m.get("vanished"):  # an empty object.obj does not load
                mesh = trimesh.load(os.path.join(folder, "object.obj"), force="mesh")
                parts.append((to_hand(hTo, mesh.vertices), mesh.faces, OBJECT))
            score = ("object vanished" if m.get("vanished") else
                     f"F@5 {m['F@5']:.2f}, F@10 {m['F@10']:.2f}")
            row.append(label(panel(parts, camera, _SIZE.value), f"{variant}: {score}"))
        rows.append(np.concatenate(row, axis=1))
    path = os.path.join(RESULTS_DIR, _NAME.value + ".png")
    mediapy.write_image(path, np.concatenate(rows, axis=0))
    print(path)


if __name__ == "__main__":
    app.run(main)

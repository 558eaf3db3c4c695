"""Grasp synthesis figures: penetration, contacts and time per grasp, per category.

  python experiments/bench_grasp.py [--grasps_per_category 1] [--out ...]

Each grasp is a fresh object (parameters from seed i) grasped by the stand-in right hand.
Writes experiments/results/grasp.json and a preview image of the first grasp of each
category (object blue, hand skin-coloured) to experiments/results/grasps_preview.png.
The issue's target statistics use 100 grasps per category (about 25 min on 2 cores).
"""
from __future__ import annotations

import os
import time

import jax.numpy as jnp
import mediapy
import numpy as np
from absl import app, flags
from benchlib import RESULTS_DIR, default_path, write_results

from hoijax import viz
from hoijax.data.synthetic.grasp import synthesize_grasp
from hoijax.data.synthetic.objects import CATEGORIES, object_mesh, sample_params
from hoijax.geometry.camera import orbit_camera
from hoijax.geometry.transforms import apply_to_points
from hoijax.hand import load_standin, mano_forward

_GRASPS_PER_CATEGORY = flags.DEFINE_integer("grasps_per_category", 1,
                                            "Grasps (fresh objects, seeds 0..n-1) per category.")
_OUT = flags.DEFINE_string("out", default_path("grasp"), "Results JSON.")


def preview(model, category, params, grasp):
    """Two views of the object and the grasping hand, in the object frame."""
    mesh = object_mesh(category, params, spacing=0.002)
    hand = np.asarray(mano_forward(model, jnp.asarray(grasp.hand_pose),
                                   jnp.asarray(grasp.betas)).vertices)
    oTh = np.linalg.inv(grasp.hTo)
    hand = apply_to_points(oTh, hand)
    verts = np.concatenate([mesh.vertices, hand])
    faces = np.concatenate([mesh.faces, np.asarray(model.faces) + len(mesh.vertices)])
    colors = np.concatenate([np.tile([0.6, 0.7, 0.9], (len(mesh.vertices), 1)),
                             np.tile([0.95, 0.75, 0.6], (len(hand), 1))])
    center, radius = verts.mean(0), np.linalg.norm(np.ptp(verts, 0)) * 1.4
    return [viz.render_mesh(verts, faces, orbit_camera(center, radius, az, el, up=(0, 0, 1)),
                            size=240, colors=colors) for az, el in ((40, 25), (220, 35))]


def main(argv):
    del argv
    model = load_standin("right")
    results, images = {}, []
    for category in CATEGORIES:
        rows = []
        for i in range(_GRASPS_PER_CATEGORY.value):
            params = sample_params(category, np.random.default_rng(i))
            start = time.time()
            grasp = synthesize_grasp(model, category, params, seed=i)
            rows.append(dict(seconds=time.time() - start, penetration_mm=grasp.penetration_mm,
                             contacts=grasp.contacts))
            if i == 0:
                images += preview(model, category, params, grasp)
        pen = np.array([r["penetration_mm"] for r in rows])
        results[category] = dict(
            grasps=len(rows), mean_penetration_mm=float(pen.mean()),
            max_penetration_mm=float(pen.max()),
            mean_contacts=float(np.mean([r["contacts"] for r in rows])),
            over_2mm=int(np.sum(pen > 2.0)),
            seconds_per_grasp=float(np.mean([r["seconds"] for r in rows])))
        r = results[category]
        print(f"{category:8s} penetration mean {r['mean_penetration_mm']:.2f} / max "
              f"{r['max_penetration_mm']:.2f} mm, contacts {r['mean_contacts']:.1f}/6, "
              f"over 2 mm {r['over_2mm']}/{r['grasps']}, {r['seconds_per_grasp']:.1f} s/grasp")
    mediapy.write_image(os.path.join(RESULTS_DIR, "grasps_preview.png"), viz.grid(images, 4))
    write_results(results, _OUT.value)


if __name__ == "__main__":
    app.run(main)

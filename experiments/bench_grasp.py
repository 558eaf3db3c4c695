"""Grasp synthesis figures: penetration, contact, gap and time per grasp, per category.

  python experiments/bench_grasp.py [--grasps_per_category 1] [--categories mug,can] [--out ...]

Each grasp is a fresh object (parameters from seed i) grasped by the stand-in right hand,
for every category of the synthetic world (`objects.CATEGORIES`: the six HOI4D ones and
the new ones) or those named by --categories. Per category: penetration (the deepest hand
surface point inside the object), gap (the hand's nearest point to the object: <= 5 mm is
contact, `clips.MAX_GAP`), contacts (fingers' distal halves and palm within 3 mm, of 6),
the share of grasps that a clip accepts (penetration <= 2 mm and gap <= 5 mm; the clip
generator tries other grasp seeds otherwise) and seconds per grasp (warm: the category's
first grasp, which compiles, is reported apart). Writes experiments/results/grasp.json and
a preview of the first grasp of each category (two views; object coloured, hand skin) to
experiments/results/grasps_preview.png. The issue's target statistics use 100 grasps per
category (about 45 min for the 16 categories on 2 cores).
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
from hoijax.data.synthetic.clips import MAX_GAP, MAX_PENETRATION, OBJECT_COLORS
from hoijax.data.synthetic.gallery import label
from hoijax.data.synthetic.grasp import grasp_template, synthesize_grasp
from hoijax.data.synthetic.objects import CATEGORIES, canonical_category, object_mesh, sample_params
from hoijax.geometry.camera import orbit_camera
from hoijax.geometry.transforms import apply_to_points
from hoijax.hand import load_standin, mano_forward

_GRASPS_PER_CATEGORY = flags.DEFINE_integer("grasps_per_category", 1,
                                            "Grasps (fresh objects, seeds 0..n-1) per category.")
_CATEGORIES = flags.DEFINE_list("categories", None, "Categories (any spelling); default all.")
_OUT = flags.DEFINE_string("out", default_path("grasp"), "Results JSON.")
_PREVIEW = flags.DEFINE_string("preview", os.path.join(RESULTS_DIR, "grasps_preview.png"),
                               "Preview image (one grasp per category); empty: none.")


def preview(model, category, params, grasp, size=200):
    """Two views of the object and the grasping hand, in the object frame, under a label."""
    mesh = object_mesh(category, params, spacing=0.002)
    hand = np.asarray(mano_forward(model, jnp.asarray(grasp.hand_pose),
                                   jnp.asarray(grasp.betas)).vertices)
    oTh = np.linalg.inv(grasp.hTo)
    hand = apply_to_points(oTh, hand)
    verts = np.concatenate([mesh.vertices, hand])
    faces = np.concatenate([mesh.faces, np.asarray(model.faces) + len(mesh.vertices)])
    colors = np.concatenate([np.tile(OBJECT_COLORS[category], (len(mesh.vertices), 1)),
                             np.tile([0.95, 0.75, 0.6], (len(hand), 1))])
    center, radius = verts.mean(0), np.linalg.norm(np.ptp(verts, 0)) * 1.4
    views = [viz.render_mesh(verts, faces, orbit_camera(center, radius, az, el, up=(0, 0, 1)),
                             size=size, colors=colors) for az, el in ((40, 25), (220, 35))]
    return np.concatenate([label(category, 28, 2 * size),
                           np.concatenate(views, axis=1)], axis=0)


def main(argv):
    del argv
    model = load_standin("right")
    categories = ([canonical_category(c) for c in _CATEGORIES.value] if _CATEGORIES.value
                  else CATEGORIES)
    results, images = {}, []
    for category in categories:
        rows = []
        for i in range(_GRASPS_PER_CATEGORY.value):
            params = sample_params(category, np.random.default_rng(i))
            start = time.time()
            grasp = synthesize_grasp(model, category, params, seed=i)
            rows.append(dict(seconds=time.time() - start, penetration_mm=grasp.penetration_mm,
                             gap_mm=max(grasp.min_distance_mm, 0.0), contacts=grasp.contacts))
            if i == 0 and _PREVIEW.value:
                images.append(preview(model, category, params, grasp))
        pen = np.array([r["penetration_mm"] for r in rows])
        gap = np.array([r["gap_mm"] for r in rows])
        seconds = [r["seconds"] for r in rows]
        kinds = [grasp_template(category, sample_params(category, np.random.default_rng(i))
                                ).kind for i in range(len(rows))]
        results[category] = dict(
            grasps=len(rows), kinds={k: kinds.count(k) for k in sorted(set(kinds))},
            mean_penetration_mm=float(pen.mean()), max_penetration_mm=float(pen.max()),
            over_2mm=int(np.sum(pen > MAX_PENETRATION * 1e3)),
            mean_gap_mm=float(gap.mean()), max_gap_mm=float(gap.max()),
            gap_over_5mm=int(np.sum(gap > MAX_GAP * 1e3)),
            mean_contacts=float(np.mean([r["contacts"] for r in rows])),
            accepted=float(np.mean((pen <= MAX_PENETRATION * 1e3) & (gap <= MAX_GAP * 1e3))),
            seconds_per_grasp=float(np.mean(seconds[1:] if len(seconds) > 1 else seconds)),
            first_grasp_seconds=float(seconds[0]))
        r = results[category]
        print(f"{category:12s} penetration mean {r['mean_penetration_mm']:.2f} / max "
              f"{r['max_penetration_mm']:.2f} mm, over 2 mm {r['over_2mm']}/{r['grasps']}, "
              f"gap max {r['max_gap_mm']:.2f} mm, contacts {r['mean_contacts']:.1f}/6, "
              f"accepted {100 * r['accepted']:.0f}%, {r['seconds_per_grasp']:.1f} s/grasp",
              flush=True)
    if images:
        pairs = [np.concatenate(images[k:k + 2], axis=1) if k + 1 < len(images) else
                 np.concatenate([images[k], np.full_like(images[k], 255)], axis=1)
                 for k in range(0, len(images), 2)]
        mediapy.write_image(_PREVIEW.value, viz.grid(pairs, 2))
    write_results(results, _OUT.value)


if __name__ == "__main__":
    app.run(main)

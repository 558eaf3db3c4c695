"""Figures of the stand-in hand: size, mesh quality, rig accuracy, pose correctives.

  python experiments/bench_standin.py [--out experiments/results/standin.json]

Pose correctives are judged on held-out natural poses (a seed the fit never saw) by how
far the skinned surface lies from the hand's own posed implicit surface (finger capsules
moved with the joints), with and without the fitted pose blend shapes.
"""
from __future__ import annotations

import json
import time

import numpy as np
import trimesh
from absl import app, flags
from benchlib import default_path, write_results

from hoijax.hand import standin
from hoijax.hand.poses import sample_natural_poses

_OUT = flags.DEFINE_string("out", default_path("standin"), "Results JSON.")
_NUM_POSES = flags.DEFINE_integer("num_poses", 50, "Held-out natural poses for the "
                                  "surface deviation figures.")


def main(argv):
    del argv

    start = time.time()
    arrays = standin.build_standin_arrays()
    build_seconds = time.time() - start
    _, _, labels = standin.build_mesh()
    verts, faces = arrays["v_template"], arrays["f"]
    mesh = trimesh.Trimesh(verts, faces, process=False)
    joints = arrays["J_regressor"] @ verts
    design = standin.to_mano(standin.local_joints()[:16])
    tips = verts[arrays["fingertip_vert_ids"]]
    edges = mesh.edges_unique_length
    results = dict(
        build_seconds=round(build_seconds, 2), vertices=len(verts), faces=len(faces),
        watertight=bool(mesh.is_watertight), components=len(mesh.split(only_watertight=False)),
        volume_cm3=round(mesh.volume * 1e6, 1),
        wrist_to_middle_tip_cm=round(float(np.linalg.norm(tips[2] - joints[0])) * 100, 2),
        # Across the knuckles (within 5 mm of the middle knuckle along the hand), no thumb.
        knuckle_breadth_cm=round(float(np.ptp(verts[:, 2][
            (np.abs(verts[:, 0] - joints[4, 0]) < 0.005)
            & (arrays["weights"][:, 13:16].sum(1) < 0.5)])) * 100, 2),
        edge_length_mm={k: round(float(f(edges)) * 1e3, 2)
                        for k, f in (("min", np.min), ("median", np.median), ("max", np.max))},
        regressor_joint_error_mm=round(float(np.abs(joints - design).max()) * 1e3, 4),
    )
    joints21 = np.concatenate([joints, tips])
    poses = sample_natural_poses(joints21, "right", num=_NUM_POSES.value, seed=12345)
    for name, posedirs in (("lbs_only", None), ("with_pose_correctives", arrays["posedirs"])):
        dev = np.concatenate([np.linalg.norm(standin.surface_offsets(
            verts, labels, arrays["weights"], joints, p, posedirs)[0], axis=-1) for p in poses])
        results[f"surface_deviation_mm_{name}"] = {
            k: round(float(f(dev)) * 1e3, 3)
            for k, f in (("mean", np.mean), ("p95", lambda x: np.percentile(x, 95)),
                         ("max", np.max))}
    print(json.dumps(results, indent=1))
    write_results(results, _OUT.value)


if __name__ == "__main__":
    app.run(main)

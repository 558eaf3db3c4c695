"""The demo end to end (tiny config) and the numpy mesh utilities."""
import os

import numpy as np
import trimesh

from configs import demo as demo_config
from hoijax.demo import run_demo
from hoijax.geometry.mesh import catmull_clark, quads_to_triangles, vertex_normals


def _cube():
    verts = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], float)
    quads = np.array([[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4],
                      [1, 5, 7, 3]])
    return verts, quads


def test_catmull_clark_of_a_cube():
    verts, quads = _cube()
    new_verts, new_quads = catmull_clark(verts, quads)
    assert new_verts.shape == (8 + 12 + 6, 3) and new_quads.shape == (24, 4)
    # Known limit-ward positions: a corner moves to (F + 2R + (n-3)P)/n with n = 3.
    face_avg, edge_mid_avg = np.full(3, 1 / 3), np.full(3, 1 / 6)  # around corner (0,0,0)
    corner = (face_avg + 2 * edge_mid_avg) / 3
    np.testing.assert_allclose(new_verts[0], corner)
    mesh = trimesh.Trimesh(new_verts, quads_to_triangles(new_verts, new_quads), process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    normals = vertex_normals(mesh.vertices, mesh.faces)
    outward = (normals * (mesh.vertices - 0.5)).sum(-1)
    assert np.all(np.sign(outward) == np.sign(outward[0]))


def test_demo_writes_its_outputs(tmp_path):
    config = demo_config.get_config()
    config.num_frames, config.image_size, config.geometry_size = 3, 48, 32
    paths = run_demo(config, str(tmp_path))
    for path in paths.values():
        assert os.path.getsize(path) > 0, path
    assert sorted(os.listdir(tmp_path / "hands")) == ["000000.obj", "000001.obj", "000002.obj"]
    mesh = trimesh.load(tmp_path / "hands" / "000002.obj", process=False)
    assert len(mesh.vertices) >= 700

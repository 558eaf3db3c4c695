"""The winding-number SDF of triangle meshes (hoijax.geometry.mesh_sdf) and the checked
loading of users' meshes (hoijax.interaction.volume): against brute force and analytic
shapes, on closed, holed, flipped, duplicated and multi-part meshes."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import trimesh

from hoijax.data.synthetic import damage
from hoijax.geometry import mesh_sdf as M
from hoijax.interaction import volume as V

R_MAJOR, R_MINOR = 0.04, 0.015


def torus_sdf(x):
    """The exact SDF of the torus around z (numpy)."""
    ring = np.linalg.norm(x[:, :2], axis=-1) - R_MAJOR
    return np.sqrt(ring ** 2 + x[:, 2] ** 2) - R_MINOR


@pytest.fixture(scope="module")
def torus():
    return trimesh.creation.torus(R_MAJOR, R_MINOR, major_sections=48, minor_sections=24)


@pytest.fixture(scope="module")
def probes():
    """Points around the torus: uniform in its box plus a shell near its surface."""
    rng = np.random.default_rng(0)
    box = rng.uniform(-0.07, 0.07, (1500, 3))
    angle = rng.uniform(0, 2 * np.pi, (1500, 2))
    radius = R_MINOR + rng.normal(0, 0.004, 1500)
    ring = R_MAJOR + radius * np.cos(angle[:, 1])
    shell = np.stack([ring * np.cos(angle[:, 0]), ring * np.sin(angle[:, 0]),
                      radius * np.sin(angle[:, 1])], -1)
    return np.concatenate([box, shell]).astype(np.float32)


def brute(mesh, points):
    tri = jnp.asarray(mesh.vertices[mesh.faces], jnp.float32)
    d2, w = jax.jit(jax.vmap(lambda p: M.brute_force(p, tri)))(jnp.asarray(points))
    return np.sqrt(np.asarray(d2)), np.asarray(w)


def test_closed_mesh_sign_is_the_exact_inside_test(torus, probes):
    sdf, _ = M.signed_distance(M.build_clusters(torus.vertices, torus.faces), probes)
    exact = torus_sdf(probes)
    clear = np.abs(exact) > 1e-3  # the facets lie within ~0.4 mm of the true torus
    assert clear.sum() > 2000
    np.testing.assert_array_equal(sdf[clear] < 0, exact[clear] < 0)
    np.testing.assert_allclose(sdf, exact, atol=1e-3)


def test_clustered_query_matches_brute_force(torus, probes):
    """Exact distances; the dipoles of the far clusters move the winding number little."""
    sdf, w = M.signed_distance(M.build_clusters(torus.vertices, torus.faces), probes)
    d_ref, w_ref = brute(torus, probes)
    np.testing.assert_allclose(np.abs(sdf), d_ref, atol=1e-6)
    assert np.max(np.abs(w - w_ref)) < 0.1
    # Every cluster exact (k = C) is the brute force itself.
    clusters = M.build_clusters(torus.vertices, torus.faces, 64)
    _, w_all = M.signed_distance(clusters, probes[:256], k=clusters.centre.shape[0])
    np.testing.assert_allclose(w_all, w_ref[:256], atol=1e-4)


def test_holes_and_flipped_faces_leave_the_sign_alone(torus, probes):
    closed, _ = M.signed_distance(M.build_clusters(torus.vertices, torus.faces), probes)
    broken, centres = damage.damage(torus, np.random.default_rng(1))
    assert not broken.is_watertight and not broken.is_winding_consistent
    mesh = V.check_mesh(broken)
    sdf, _ = M.signed_distance(M.build_clusters(mesh.vertices, mesh.faces), probes)
    away = np.linalg.norm(probes[:, None] - centres[None], axis=-1).min(1) > 0.012
    clear = away & (np.abs(torus_sdf(probes)) > 1e-3)
    assert clear.sum() > 2000
    np.testing.assert_array_equal(sdf[clear] < 0, closed[clear] < 0)


def test_an_inverted_mesh_is_turned_outward():
    box = trimesh.creation.box((0.05, 0.04, 0.03))
    inverted = trimesh.Trimesh(box.vertices, box.faces[:, ::-1], process=False)
    mesh = V.check_mesh(inverted)
    assert mesh.volume > 0
    sdf, _ = M.signed_distance(M.build_clusters(mesh.vertices, mesh.faces),
                               np.zeros((1, 3), np.float32))
    np.testing.assert_allclose(sdf, [-0.015], atol=1e-6)


def multi_part_scene():
    """A mug-like object as a GLB scene: a closed box body (its faces flipped) and an
    open handle (a tube without caps, its vertices stored relative to a node transform)."""
    body = trimesh.creation.box((0.06, 0.06, 0.08))
    body = trimesh.Trimesh(body.vertices, body.faces[:, ::-1], process=False)
    handle = trimesh.creation.cylinder(0.01, 0.05, sections=24)
    handle.update_faces(np.abs(handle.face_normals[:, 2]) < 0.5)  # no caps: open
    scene = trimesh.Scene()
    scene.add_geometry(body, node_name="body")
    scene.add_geometry(handle, node_name="handle",
                       transform=trimesh.transformations.translation_matrix([0.04, 0, 0]))
    return scene


def test_a_multi_part_glb_loads_as_one_object(tmp_path):
    path = tmp_path / "mug.glb"
    multi_part_scene().export(path)
    mesh = V.load_object_mesh(str(path))
    np.testing.assert_allclose(mesh.bounds, [[-0.03, -0.03, -0.04], [0.05, 0.03, 0.04]],
                               atol=1e-6)
    vol = V.volume_from_mesh(mesh, 48)
    inside = np.array([[0.0, 0, 0], [0.02, 0.02, 0.03], [0.04, 0, 0], [0.045, 0, 0.02]])
    outside = np.array([[0.0, 0, 0.05], [0.04, 0.02, 0], [0.06, 0, 0]])
    assert np.all(np.asarray(V.sample(vol, jnp.asarray(inside, jnp.float32))) < 0)
    assert np.all(np.asarray(V.sample(vol, jnp.asarray(outside, jnp.float32))) > 0)


def test_meshes_without_an_inside_are_refused(tmp_path):
    sheet = trimesh.Trimesh([[0, 0, 0], [0.1, 0, 0], [0.1, 0.1, 0], [0, 0.1, 0]],
                            [[0, 1, 2], [0, 2, 3]])
    with pytest.raises(V.MeshError, match="encloses no volume.*single sheet"):
        V.check_mesh(sheet, "sheet.obj")
    path = tmp_path / "points.ply"
    trimesh.PointCloud(np.random.default_rng(0).uniform(0, 0.1, (50, 3))).export(path)
    with pytest.raises(V.MeshError, match=r"points.ply: .*PointCloud"):
        V.load_object_mesh(str(path))


def test_scale_names_the_flag_and_applies(tmp_path):
    path = tmp_path / "mm.stl"
    trimesh.creation.box((60.0, 40.0, 80.0)).export(path)
    with pytest.raises(V.MeshError, match=r"80 units.*millimetres, pass --scale=0.001"):
        V.load_object_mesh(str(path))
    mesh = V.load_object_mesh(str(path), scale=0.001)
    np.testing.assert_allclose(mesh.extents, [0.06, 0.04, 0.08], atol=1e-9)
    with pytest.raises(V.MeshError, match="--scale=-1"):
        V.load_object_mesh(str(path), scale=-1.0)


def test_values_are_finite_on_vertices_and_edges(torus):
    clusters = M.build_clusters(torus.vertices, torus.faces)
    pts = np.concatenate([torus.vertices[:50], torus.vertices[torus.edges[:50]].mean(1)])
    sdf, w = M.signed_distance(clusters, pts)
    assert np.all(np.isfinite(sdf)) and np.all(np.isfinite(w))
    np.testing.assert_allclose(sdf, 0.0, atol=1e-6)

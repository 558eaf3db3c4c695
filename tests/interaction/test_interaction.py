"""Tests for hoijax.interaction: the normalised frame, the object SDF grid (exact SDF, mesh,
SDF network), the skeletal distance field and fitting MANO to a field."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import trimesh

from hoijax.geometry.rotations import axis_angle_to_matrix
from hoijax.hand.model import mano_forward
from hoijax.interaction import frame, hand_field, object_grid
from hoijax.interaction.fit import fit_hand_to_field

RES, HALF = 8, 0.75  # the shipped prior's hand-field grid


def _hTo(rotvec, trans):
    out = np.eye(4, dtype=np.float32)
    out[:3, :3] = np.asarray(axis_angle_to_matrix(jnp.asarray(rotvec, jnp.float32)))
    out[:3, 3] = trans
    return out


def test_frame_grid_and_voxel_size():
    pts = np.asarray(frame.grid_points(32, 0.75))
    assert pts.shape == (32, 32, 32, 3)
    np.testing.assert_allclose(pts[1, 0, 0] - pts[0, 0, 0], [1.5 / 32, 0, 0], atol=1e-6)
    np.testing.assert_allclose(pts[0, 0, 0], [-0.75 + 0.75 / 32] * 3, atol=1e-6)
    # The reference's voxel (64^3 over [-1.5, 1.5], s 0.2 m) and the CPU grid's agree.
    assert frame.voxel_size_m(32, 0.75) == pytest.approx(frame.voxel_size_m(64, 1.5))
    assert frame.voxel_size_m(32, 0.75) == pytest.approx(0.009375)
    c = jnp.array([0.01, -0.07, 0.02])
    x = jnp.array([[0.1, 0.2, -0.3], [0.0, 0.0, 0.0]])
    m = frame.nTh(c)
    np.testing.assert_allclose(x @ m[:3, :3].T + m[:3, 3], frame.to_normalised(x, c),
                               atol=1e-6)
    np.testing.assert_allclose(frame.from_normalised(frame.to_normalised(x, c), c), x,
                               atol=1e-6)
    # Continuous voxel coordinates put cell centres on integers.
    np.testing.assert_allclose(frame.grid_coordinates(jnp.asarray(pts[3, 5, 7]), 32, 0.75),
                               [3, 5, 7], atol=1e-4)


def test_frame_centre_is_the_index_knuckle_shifted_and_articulation_free(standin_right):
    betas = jnp.zeros(10)
    out = mano_forward(standin_right, jnp.zeros(45), betas)
    c = hand_field.hand_frame_center(standin_right, betas)
    np.testing.assert_allclose(c, out.joints[1] + jnp.array([0.0, -0.08, 0.0]), atol=1e-6)
    bent = mano_forward(standin_right, 0.5 * jnp.ones(45), betas)
    np.testing.assert_allclose(frame.hand_center(bent.joints), c, atol=1e-6)


def test_object_grid_of_a_sphere_matches_brute_force():
    radius, centre_o = 0.05, np.array([0.01, 0.0, -0.02])
    sdf = lambda x: jnp.linalg.norm(x - centre_o, axis=-1) - radius  # noqa: E731
    hTo = _hTo([0.3, -0.2, 0.5], [0.02, -0.03, 0.01])
    c = np.array([0.05, -0.06, 0.01], np.float32)
    grid = np.asarray(object_grid.object_grid(sdf, hTo, c, 16, 0.75))
    # Brute force: every grid point to the hand frame, to the object frame, exact SDF.
    pts_n = np.asarray(frame.grid_points(16, 0.75), np.float64).reshape(-1, 3)
    x_h = pts_n * 0.2 + c
    oTh = np.linalg.inv(hTo.astype(np.float64))
    x_o = x_h @ oTh[:3, :3].T + oTh[:3, 3]
    want = np.clip((np.linalg.norm(x_o - centre_o, axis=-1) - radius) / 0.2, -0.2, 0.2) / 0.2
    np.testing.assert_allclose(grid.reshape(-1), want, atol=1e-5)
    assert -1.0 <= grid.min() < -0.5 and grid.max() == pytest.approx(1.0)  # truncated
    # vmap over transforms and gradients through the SDF's parameter and hTo are finite.
    many = jax.vmap(lambda t: object_grid.object_grid(sdf, t, c, 8, 0.75))(
        jnp.stack([hTo, np.eye(4, dtype=np.float32)]))
    assert many.shape == (2, 8, 8, 8)
    g = jax.grad(lambda r, t: jnp.sum(object_grid.object_grid(
        lambda x: jnp.linalg.norm(x, axis=-1) - r, t, c, 8, 0.75)), argnums=(0, 1))(
        0.05, jnp.asarray(hTo))
    assert all(np.all(np.isfinite(np.asarray(x))) for x in g) and float(g[0]) < 0


def test_mesh_sdf_of_an_icosphere_matches_the_exact_sphere():
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.05)
    sdf = object_grid.mesh_sdf(mesh.vertices, mesh.faces, chunk=256)
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.09, 0.09, (300, 3)).astype(np.float32)
    got = np.asarray(jax.jit(sdf)(jnp.asarray(pts)))
    want = np.linalg.norm(pts, axis=-1) - 0.05
    # The faceted sphere is inside the true one by at most ~0.6 mm at this subdivision.
    np.testing.assert_allclose(got, want, atol=1e-3)
    far = np.abs(want) > 2e-3
    assert np.all(np.sign(got[far]) == np.sign(want[far]))


def test_network_sdf_grid_is_the_network_at_the_grid_points():
    from hoijax.models.sdf import init_sdf, sdf_value
    params = init_sdf(jax.random.key(0))
    c = jnp.array([0.0, -0.05, 0.0])
    grid = object_grid.object_grid(object_grid.network_sdf(params), np.eye(4, dtype=np.float32),
                                   c, 8, 0.75)
    x_h = frame.grid_points(8, 0.75) * 0.2 + c
    np.testing.assert_allclose(grid, object_grid.normalise_sdf(sdf_value(params, x_h)),
                               atol=1e-6)
    g = jax.grad(lambda p: jnp.sum(object_grid.object_grid(
        object_grid.network_sdf(p), np.eye(4, dtype=np.float32), c, 8, 0.75)))(params)
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(g))


def test_skeletal_field_matches_brute_force_and_no_hand():
    rng = np.random.default_rng(1)
    joints = rng.uniform(-0.5, 0.5, (20, 3)).astype(np.float32)
    pts = rng.uniform(-0.75, 0.75, (50, 3)).astype(np.float32)
    got = np.asarray(hand_field.skeletal_field(jnp.asarray(joints), jnp.asarray(pts)))
    for i in range(0, 50, 7):
        for j in range(20):
            d2 = float(np.sum((pts[i] - joints[j]) ** 2))
            assert got[i, j] == pytest.approx(2 * min(d2, 0.12) / 0.12 - 1, abs=1e-5)
    assert got.min() >= -1 and got.max() <= 1
    assert bool(hand_field.is_no_hand(hand_field.no_hand(RES)))
    real = hand_field.skeletal_field(jnp.asarray(joints), frame.grid_points(RES, HALF))
    assert not bool(hand_field.is_no_hand(real))


@pytest.fixture(scope="module")
def known_hand(standin_right):
    pose = jnp.asarray(np.random.default_rng(2).normal(0.0, 0.25, 45), jnp.float32)
    betas = jnp.zeros(10)
    field = hand_field.hand_field(standin_right, pose, betas, RES, HALF)
    c = hand_field.hand_frame_center(standin_right, betas)
    joints = hand_field.field_joints(mano_forward(standin_right, pose, betas).joints, c)
    return pose, betas, field, joints


def test_joints_read_off_the_field_exactly(known_hand):
    _, _, field, joints = known_hand
    assert field.shape == (RES, RES, RES, 20)
    np.testing.assert_allclose(hand_field.joints_from_field(field, RES, HALF), joints,
                               atol=1e-3)


def test_fit_recovers_a_known_pose_from_its_own_field(standin_right, known_hand):
    pose, betas, field, joints = known_hand
    out = fit_hand_to_field(standin_right, field, betas, jnp.zeros(45), resolution=RES,
                            half_extent=HALF, steps=300)
    err_m = np.linalg.norm(np.asarray(out["joints"] - joints), axis=-1) * frame.HAND_SCALE
    assert err_m.max() < 0.003  # every joint within 3 mm (from the flat hand: cm away)
    start = hand_field.field_joints(mano_forward(standin_right, jnp.zeros(45), betas).joints,
                                    hand_field.hand_frame_center(standin_right, betas))
    assert np.linalg.norm(np.asarray(start - joints), axis=-1).max() * 0.2 > 0.02
    assert float(out["field_error"]) < 0.02
    assert np.all(np.isfinite(np.asarray(out["hand_pose"])))

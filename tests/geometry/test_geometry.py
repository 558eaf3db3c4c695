"""Tests for hoijax.geometry against numpy / scipy references (float32 under test)."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hoijax import geometry as geo

ANGLES = [0.0, 1e-8, 1e-4, 1e-2, 0.0316, 0.0317, 1.0, 3.0, np.pi - 1e-3, np.pi]


def _rotvecs(seed, n, angles=None):
    """Random rotation vectors (float64); angles uniform in [0, pi) unless given."""
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = rng.uniform(0, np.pi, n) if angles is None else np.asarray(angles)
    return axis * angle[:, None]


def _f32(x):
    return jnp.asarray(x, jnp.float32)


def _jac(fn):
    """Jitted, vmapped reverse-mode jacobian (eager autodiff dispatches op by op: slow)."""
    return jax.jit(jax.vmap(jax.jacrev(fn)))


def _assert_finite(tree):
    for leaf in jax.tree_util.tree_leaves(tree):
        assert np.all(np.isfinite(np.asarray(leaf))), leaf


def _random_transform(seed, n):
    rng = np.random.default_rng(seed)
    r = Rotation.from_rotvec(_rotvecs(seed, n)).as_matrix()
    return np.asarray(geo.make_transform(_f32(r), _f32(rng.normal(size=(n, 3)))))


# ----------------------------------------------------------------------------- math


def test_safe_helpers_finite_at_zero():
    z = jnp.zeros(3)
    _assert_finite(jax.jit(jax.jacfwd(geo.safe_normalize))(z))
    _assert_finite(jax.jit(jax.grad(geo.safe_norm))(z))
    assert float(jax.grad(geo.safe_sqrt)(0.0)) == 0.0
    np.testing.assert_allclose(jax.grad(geo.safe_sqrt)(4.0), 0.25)
    v = _f32([3.0, -4.0, 12.0])
    np.testing.assert_allclose(geo.safe_normalize(v), v / 13.0, rtol=1e-6)
    jac = jax.jit(jax.jacrev(geo.safe_normalize))(v)
    n = np.asarray(v) / 13.0
    np.testing.assert_allclose(jac, (np.eye(3) - np.outer(n, n)) / 13.0, atol=1e-6)


# ------------------------------------------------------------------------ rotations


class RotationsTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    def test_rodrigues_matches_scipy(self):
        aa = np.concatenate([_rotvecs(0, 16), _rotvecs(1, len(ANGLES), ANGLES)])
        r = self.variant(geo.axis_angle_to_matrix)(_f32(aa))
        chex.assert_shape(r, (len(aa), 3, 3))
        np.testing.assert_allclose(r, Rotation.from_rotvec(aa).as_matrix(), atol=2e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_axis_angle_round_trip(self):
        aa = _rotvecs(2, len(ANGLES), ANGLES)
        r = Rotation.from_rotvec(aa).as_matrix()
        back = np.asarray(self.variant(geo.matrix_to_axis_angle)(_f32(r)))
        # Compare matrices everywhere (sign ambiguity at pi) ...
        np.testing.assert_allclose(Rotation.from_rotvec(back).as_matrix(), r, atol=2e-6)
        # ... and the vectors themselves away from pi.
        ok = np.array(ANGLES) < 3.1
        np.testing.assert_allclose(back[ok], aa[ok], atol=1e-6, rtol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(back, axis=-1), ANGLES, atol=2e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_rodrigues_jacobian_near_zero(self):
        jac_fn = self.variant(jax.jacfwd(geo.axis_angle_to_matrix))
        # At zero: dR/daa_k is exactly skew(e_k).
        jac0 = np.asarray(jac_fn(jnp.zeros(3)))
        np.testing.assert_array_equal(jac0, np.moveaxis(np.asarray(geo.skew(jnp.eye(3))), 0, -1))
        # Near zero and around the Taylor threshold: float64 finite differences of scipy.
        direction = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
        for angle in [1e-8, 1e-4, 0.0316, 0.0317, 0.5]:
            aa = angle * direction
            h = 1e-6
            fd = np.stack([(Rotation.from_rotvec(aa + h * e).as_matrix()
                            - Rotation.from_rotvec(aa - h * e).as_matrix()) / (2 * h)
                           for e in np.eye(3)], -1)
            np.testing.assert_allclose(jac_fn(_f32(aa)), fd, atol=2e-6)

    def test_log_of_exp_has_identity_jacobian(self):
        # d log(exp(aa)) / d aa = I for angles < pi, incl. 0: checks matrix_to_axis_angle's
        # (and matrix_to_quaternion's) derivatives, not only their values.
        aa = _f32(_rotvecs(12, len(ANGLES) - 1, ANGLES[:-1]))
        jac = _jac(lambda v: geo.matrix_to_axis_angle(geo.axis_angle_to_matrix(v)))(aa)
        np.testing.assert_allclose(jac, np.tile(np.eye(3), (len(aa), 1, 1)), atol=1e-5)
        jac = _jac(lambda v: geo.quaternion_to_axis_angle(geo.axis_angle_to_quaternion(v)))(aa)
        np.testing.assert_allclose(jac, np.tile(np.eye(3), (len(aa), 1, 1)), atol=1e-5)

    def test_gradients_finite_at_edge_cases(self):
        aa = _f32(_rotvecs(3, len(ANGLES), ANGLES))
        _assert_finite(_jac(geo.axis_angle_to_matrix)(aa))
        _assert_finite(_jac(geo.axis_angle_to_quaternion)(aa))
        flips = _f32([np.diag([1.0, -1, -1]), np.diag([-1.0, 1, -1]), np.diag([-1.0, -1, 1])])
        # pi about x, y, z: each Shepperd branch, plus the identity (trace branch).
        r = jnp.concatenate([geo.axis_angle_to_matrix(aa), flips])
        _assert_finite(_jac(geo.matrix_to_axis_angle)(r))
        _assert_finite(_jac(geo.quaternion_to_axis_angle)(_f32([[0, 0, 0, 0], [0, 1, 0, 0]])))
        _assert_finite(_jac(geo.rot6d_to_matrix)(_f32([[0] * 6, [1, 0, 0, 2, 0, 0]])))

    @chex.variants(with_jit=True, without_jit=True)
    def test_quaternion_conversions_match_scipy(self):
        aa = np.concatenate([_rotvecs(4, 16), _rotvecs(5, len(ANGLES), ANGLES)])
        rot = Rotation.from_rotvec(aa)
        q_ref = np.roll(rot.as_quat(), 1, axis=-1)  # scipy is scalar-last.
        q_ref *= np.where(q_ref[:, :1] < 0, -1.0, 1.0)
        q = self.variant(geo.axis_angle_to_quaternion)(_f32(aa))
        np.testing.assert_allclose(q, q_ref, atol=1e-6)
        q_from_r = self.variant(geo.matrix_to_quaternion)(_f32(rot.as_matrix()))
        not_pi = np.abs(q_ref[:, 0]) > 1e-3  # at pi, +-q are both canonical.
        np.testing.assert_allclose(q_from_r[not_pi], q_ref[not_pi], atol=1e-6)
        r = self.variant(geo.quaternion_to_matrix)(3.0 * q_from_r)  # input gets normalised.
        np.testing.assert_allclose(r, rot.as_matrix(), atol=2e-6)
        aa_back = self.variant(geo.quaternion_to_axis_angle)(-q)  # -q: same rotation.
        np.testing.assert_allclose(Rotation.from_rotvec(aa_back).as_matrix(), rot.as_matrix(),
                                   atol=2e-6)

    def test_quaternion_multiply_is_matrix_product(self):
        p = geo.axis_angle_to_quaternion(_f32(_rotvecs(6, 8)))
        q = geo.axis_angle_to_quaternion(_f32(_rotvecs(7, 8)))
        np.testing.assert_allclose(
            geo.quaternion_to_matrix(geo.quaternion_multiply(p, q)),
            geo.matmul(geo.quaternion_to_matrix(p), geo.quaternion_to_matrix(q)), atol=2e-6)
        ident = geo.quaternion_multiply(q, geo.quaternion_conjugate(q))
        np.testing.assert_allclose(ident, np.tile([1.0, 0, 0, 0], (8, 1)), atol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_rot6d(self):
        r = _f32(Rotation.from_rotvec(_rotvecs(8, 16)).as_matrix())
        x = self.variant(geo.matrix_to_rot6d)(r)
        np.testing.assert_array_equal(x[:, :3], r[:, :, 0])
        np.testing.assert_allclose(self.variant(geo.rot6d_to_matrix)(x), r, atol=1e-6)
        noisy = x * 1.7 + 0.3 * jax.random.normal(jax.random.PRNGKey(0), x.shape)
        rn = np.asarray(self.variant(geo.rot6d_to_matrix)(noisy), np.float64)
        np.testing.assert_allclose(rn.transpose(0, 2, 1) @ rn, np.tile(np.eye(3), (16, 1, 1)),
                                   atol=1e-6)
        np.testing.assert_allclose(np.linalg.det(rn), 1.0, atol=1e-6)
        first = np.asarray(noisy[:, :3]) / np.linalg.norm(noisy[:, :3], axis=-1, keepdims=True)
        np.testing.assert_allclose(rn[:, :, 0], first, atol=1e-6)

    def test_skew_is_cross(self):
        v, u = _f32(_rotvecs(9, 5)), _f32(_rotvecs(10, 5))
        np.testing.assert_allclose(geo.matmul(geo.skew(v), u[..., None])[..., 0],
                                   jnp.cross(v, u), atol=1e-6)

    def test_random_rotation(self):
        keys = jax.random.split(jax.random.PRNGKey(0), 6)
        r = jax.jit(jax.vmap(geo.random_rotation))(keys)
        chex.assert_shape(r, (6, 3, 3))
        np.testing.assert_allclose(r @ jnp.swapaxes(r, -1, -2), np.tile(np.eye(3), (6, 1, 1)),
                                   atol=1e-6)
        np.testing.assert_allclose(np.linalg.det(np.asarray(r, np.float64)), 1.0, atol=1e-6)
        # The formula it replaces (recon.fit.random_rotation): the same matrix per key.
        for key, got in zip(keys, r):
            q = jax.random.normal(key, (4,))
            np.testing.assert_allclose(got, geo.quaternion_to_matrix(q / jnp.linalg.norm(q)),
                                       atol=1e-6)
        batch = geo.random_rotation(keys[0], (2, 3))
        chex.assert_shape(batch, (2, 3, 3, 3))
        assert len(np.unique(np.asarray(batch).reshape(6, 9).round(5), axis=0)) == 6
        # Differentiable downstream: a loss of the rotated points has finite gradients.
        pts = _f32(np.random.default_rng(0).normal(size=(5, 3)))
        grad = jax.jit(jax.grad(lambda s, k: jnp.sum(
            geo.matmul(s * pts, geo.transpose(geo.random_rotation(k))) ** 2)))(1.5, keys[1])
        _assert_finite(grad)
        np.testing.assert_allclose(grad, 2 * 1.5 * np.sum(np.asarray(pts) ** 2), rtol=1e-5)

    def test_batch_leading_dims_and_vmap_agree(self):
        aa = _f32(_rotvecs(11, 6)).reshape(2, 3, 3)
        for fwd, inv in [(geo.axis_angle_to_matrix, geo.matrix_to_axis_angle),
                         (geo.axis_angle_to_quaternion, geo.quaternion_to_axis_angle)]:
            fwd, inv = jax.jit(fwd), jax.jit(inv)
            out = fwd(aa)
            np.testing.assert_allclose(out, jax.jit(jax.vmap(jax.vmap(fwd)))(aa), atol=1e-7)
            np.testing.assert_allclose(out[1, 2], fwd(aa[1, 2]), atol=1e-7)
            np.testing.assert_allclose(inv(out), jax.jit(jax.vmap(jax.vmap(inv)))(out), atol=1e-7)


# ----------------------------------------------------------------------- transforms


class TransformsTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    def test_compose_and_invert(self):
        aTb, bTc = _random_transform(0, 4), _random_transform(1, 4)
        bTa = self.variant(geo.invert_rigid)(aTb)
        np.testing.assert_allclose(bTa, np.linalg.inv(aTb), atol=1e-5)
        np.testing.assert_allclose(self.variant(geo.compose)(aTb, bTa),
                                   np.tile(np.eye(4), (4, 1, 1)), atol=1e-5)
        x_c = _f32(np.random.default_rng(2).normal(size=(4, 5, 3)))
        aTc = geo.compose(aTb, bTc)
        apply = self.variant(geo.apply_to_points)
        np.testing.assert_allclose(apply(aTc, x_c), apply(aTb, apply(bTc, x_c)), atol=1e-5)
        homog = np.concatenate([x_c, np.ones((4, 5, 1))], -1)
        np.testing.assert_allclose(apply(aTc, x_c), (homog @ np.asarray(aTc).transpose(0, 2, 1))
                                   [..., :3], atol=1e-5)
        d = self.variant(geo.apply_to_directions)(aTc, x_c)
        np.testing.assert_allclose(d, apply(aTc, x_c) - aTc[:, None, :3, 3], atol=1e-5)

    def test_make_split_broadcast_and_is_rigid(self):
        r, t = geo.split_transform(_f32(_random_transform(3, 2)))
        tf = geo.make_transform(r[0], t)  # (3, 3) with (2, 3) broadcasts.
        chex.assert_shape(tf, (2, 4, 4))
        np.testing.assert_array_equal(geo.split_transform(tf)[1], t)
        np.testing.assert_array_equal(tf[:, 3], np.tile([0, 0, 0, 1.0], (2, 1)))
        x = _f32(np.ones((2, 5, 3)))
        chex.assert_shape(geo.apply_to_points(tf[0], x), (2, 5, 3))
        chex.assert_shape(geo.apply_to_points(tf, x[0]), (2, 5, 3))
        assert np.all(geo.is_rigid(tf)) and np.all(geo.is_rigid(np.asarray(tf)))
        bad = np.asarray(tf).copy()
        bad[0, :3, :3] *= 1.01
        bad[1, :3, 0] *= -1  # a reflection: det -1.
        np.testing.assert_array_equal(geo.is_rigid(bad), [False, False])

    def test_apply_numpy_inputs_give_float64_numpy(self):
        rng = np.random.default_rng(6)
        tf = _random_transform(7, 4).astype(np.float64)  # (T, 4, 4)
        tf[:, :3, 3] += rng.normal(size=(4, 3)) * 1e-3  # bits beyond float32
        x = rng.normal(size=(4, 5, 3))
        ref = np.einsum("tij,tvj->tvi", tf[:, :3, :3], x) + tf[:, None, :3, 3]
        out = geo.apply_to_points(tf, x)
        assert type(out) is np.ndarray and out.dtype == np.float64
        np.testing.assert_allclose(out, ref, rtol=1e-13, atol=1e-15)
        # (T,4,4) with shared (V,3) points; one (4,4) with (T,V,3); float32 and lists.
        shared = np.einsum("tij,vj->tvi", tf[:, :3, :3], x[0]) + tf[:, None, :3, 3]
        np.testing.assert_allclose(geo.apply_to_points(tf, x[0]), shared, rtol=1e-13,
                                   atol=1e-15)
        np.testing.assert_allclose(geo.apply_to_points(tf[1], x),
                                   x @ tf[1, :3, :3].T + tf[1, :3, 3], rtol=1e-13, atol=1e-15)
        f32 = geo.apply_to_points(tf.astype(np.float32), x[0].tolist())
        assert type(f32) is np.ndarray and f32.dtype == np.float64
        d = geo.apply_to_directions(tf, x)
        assert type(d) is np.ndarray and d.dtype == np.float64
        np.testing.assert_allclose(d, ref - tf[:, None, :3, 3], rtol=1e-12, atol=1e-14)
        # Any jax input: the unchanged jnp path (float32 jax arrays, jit-able).
        for args in ((_f32(tf), x), (tf, _f32(x)), (_f32(tf), _f32(x))):
            out = geo.apply_to_points(*args)
            assert isinstance(out, jax.Array) and out.dtype == jnp.float32
            np.testing.assert_allclose(out, ref, atol=1e-5)
            dj = geo.apply_to_directions(*args)
            assert isinstance(dj, jax.Array) and dj.dtype == jnp.float32
            np.testing.assert_allclose(dj, d, atol=1e-5)
        np.testing.assert_allclose(jax.jit(geo.apply_to_points)(tf, x), ref, atol=1e-5)


# --------------------------------------------------------------------------- camera

K_NP = np.array([[50.0, 0.0, 7.0], [0.0, 60.0, 5.0], [0.0, 0.0, 1.0]])
SIZE = (10, 16)  # (H, W)


class CameraTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    def test_project_unproject(self):
        rng = np.random.default_rng(0)
        k = _f32(K_NP).at[0, 1].set(2.0)  # with skew.
        uv = _f32(rng.uniform(-0.5, 15.5, (2, 7, 2)))
        depth = _f32(rng.uniform(0.2, 3.0, (2, 7)))
        pts = self.variant(geo.unproject)(uv, depth, k)
        uv2, d2 = self.variant(geo.project)(pts, k)
        np.testing.assert_allclose(uv2, uv, atol=1e-4)
        np.testing.assert_allclose(d2, depth, rtol=1e-6)
        ref = np.asarray(pts, np.float64) @ np.asarray(k, np.float64).T
        np.testing.assert_allclose(uv2, ref[..., :2] / ref[..., 2:], atol=1e-4)

    def test_project_guards_zero_depth(self):
        k = _f32(K_NP)
        pts = _f32([[0.1, 0.2, 0.0], [0.1, 0.2, -1e-9], [0.1, -0.2, -1.0]])
        uv, _ = geo.project(pts, k)
        _assert_finite(uv)
        assert uv[1, 0] < 0 < uv[0, 0] - 7.0  # sign of z kept.
        _assert_finite(jax.jit(jax.jacrev(lambda p: geo.project(p, k)[0]))(pts))

    def test_pixel_grid(self):
        grid = geo.pixel_grid(SIZE)
        chex.assert_shape(grid, SIZE + (2,))
        np.testing.assert_array_equal(grid[3, 11], [11.0, 3.0])

    @chex.variants(with_jit=True, without_jit=True)
    def test_pixel_rays(self):
        k = _f32(K_NP)
        rays = self.variant(geo.pixel_rays, static_argnums=1)
        origins, dirs = rays(k, SIZE)
        chex.assert_shape([origins, dirs], SIZE + (3,))
        np.testing.assert_array_equal(origins, 0.0)
        np.testing.assert_allclose(dirs[5, 7], [0.0, 0.0, 1.0], atol=1e-7)  # (cy, cx).
        np.testing.assert_allclose(np.linalg.norm(dirs, axis=-1), 1.0, atol=1e-6)
        uv, _ = geo.project((2.5 * dirs).reshape(-1, 3), k)
        np.testing.assert_allclose(uv, geo.pixel_grid(SIZE).reshape(-1, 2), atol=2e-5)
        _, dirs_z1 = geo.pixel_rays(k, SIZE, normalize=False)
        np.testing.assert_allclose(dirs_z1[..., 2], 1.0)
        np.testing.assert_allclose(dirs_z1 / np.linalg.norm(dirs_z1, axis=-1, keepdims=True),
                                   dirs, atol=1e-6)

    def test_pixel_rays_batched_and_to_frame(self):
        ks = jnp.stack([_f32(K_NP), _f32(K_NP) * _f32([[2, 1, 1], [1, 2, 1], [1, 1, 1]])])
        origins, dirs = geo.pixel_rays(ks, SIZE)
        chex.assert_shape(dirs, (2,) + SIZE + (3,))
        np.testing.assert_allclose(dirs[1], geo.pixel_rays(ks[1], SIZE)[1], atol=1e-7)
        cTw = _f32(_random_transform(4, 2))
        o_w, d_w = geo.rays_to_frame(geo.invert_rigid(cTw), origins, dirs)
        np.testing.assert_allclose(o_w[:, 0, 0], geo.invert_rigid(cTw)[:, :3, 3], atol=1e-6)
        pts_w = (o_w + 1.5 * d_w).reshape(2, -1, 3)
        uv, depth = geo.project(geo.apply_to_points(cTw, pts_w), ks)
        np.testing.assert_allclose(uv, jnp.broadcast_to(geo.pixel_grid(SIZE).reshape(-1, 2),
                                                        uv.shape), atol=1e-4)
        assert np.all(depth > 0)

    def test_rescale_intrinsics(self):
        k = _f32(K_NP)
        new_size = (2 * SIZE[0], 2 * SIZE[1])
        k2 = geo.rescale_intrinsics(k, SIZE, new_size)
        pts = _f32(np.random.default_rng(1).uniform([-1, -1, 1], [1, 1, 3], (9, 3)))
        uv, _ = geo.project(pts, k)
        uv2, _ = geo.project(pts, k2)
        np.testing.assert_allclose(uv2, 2.0 * (uv + 0.5) - 0.5, atol=1e-4)
        # Image borders map to image borders; the ray through the old principal point
        # pixel centre hits the new image at the predicted spot.
        corners = geo.unproject(_f32([[-0.5, -0.5], [15.5, 9.5]]), jnp.ones(2), k)
        np.testing.assert_allclose(geo.project(corners, k2)[0], [[-0.5, -0.5], [31.5, 19.5]],
                                   atol=1e-4)
        np.testing.assert_allclose(k2[:2, 2], [2 * 7.5 - 0.5, 2 * 5.5 - 0.5])
        np.testing.assert_allclose(geo.intrinsics(100.0, 120.0, 14.5, 10.5), k2)
        ks = geo.rescale_intrinsics(jnp.stack([k, k]), SIZE, (5, 8))
        chex.assert_shape(ks, (2, 3, 3))
        np.testing.assert_allclose(ks[0, :2, 2], [0.5 * 7.5 - 0.5, 0.5 * 5.5 - 0.5])


def test_jit_grad_through_pipeline_finite():
    """d(loss)/d(params) through 6D -> transform -> projection, jitted, incl. zero rotation."""
    k = _f32(K_NP)
    pts = _f32(np.random.default_rng(5).normal(size=(6, 3)))

    @jax.jit
    def loss(aa, x6, t):
        tf = geo.make_transform(geo.matmul(geo.axis_angle_to_matrix(aa), geo.rot6d_to_matrix(x6)),
                                t)
        uv, _ = geo.project(geo.apply_to_points(tf, pts), k)
        return jnp.sum(uv ** 2) + jnp.sum(geo.matrix_to_axis_angle(tf[:3, :3]) ** 2)

    x6 = geo.matrix_to_rot6d(jnp.eye(3))
    for aa in [jnp.zeros(3), _f32([1e-8, 0, 0]), _f32([np.pi, 0, 0])]:
        _assert_finite(jax.grad(loss, argnums=(0, 1, 2))(aa, x6, _f32([0.0, 0.0, 4.0])))


# --------------------------------------------------------------------------- scene cameras

def _assert_camera(cTw, eye, target):
    """Numpy float64, rigid with det +1, eye at the origin, target straight ahead on +z."""
    assert type(cTw) is np.ndarray and cTw.dtype == np.float64 and cTw.shape == (4, 4)
    r = cTw[:3, :3]
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)
    np.testing.assert_allclose(cTw[3], [0, 0, 0, 1])
    eye_c, target_c = geo.apply_to_points(cTw, np.asarray([eye, target], float))
    np.testing.assert_allclose(eye_c, 0.0, atol=1e-12)
    np.testing.assert_allclose(target_c[:2], 0.0, atol=1e-12)
    np.testing.assert_allclose(target_c[2], np.linalg.norm(np.subtract(target, eye)),
                               rtol=1e-12)


def test_look_at_opencv():
    eye, target = [0.3, 0.2, -0.5], [0.0, 0.01, 0.02]
    cam = geo.look_at(eye, target)  # up = +y
    _assert_camera(cam, eye, target)
    # OpenCV: camera x right, y down; world up (+y) points to image up (camera -y).
    assert cam[1, :3] @ [0.0, 1.0, 0.0] < 0
    assert cam[0, :3] @ np.cross(np.subtract(target, eye), [0.0, 1.0, 0.0]) > 0
    # A point above the target (world +y) projects above the image centre (v < cy).
    above = geo.apply_to_points(cam, np.array([[0.0, 0.11, 0.02]]))
    uv, _ = geo.project(_f32(above), _f32(K_NP))
    assert uv[0, 1] < K_NP[1, 2]
    # Looking along `up` (degenerate) still gives a rigid camera; so does up = z looking
    # down z (where the first fallback axis is degenerate too).
    for eye, target, up in (([0, 1, 0], [0, 0, 0], (0, 1, 0)),
                            ([0, 0, 2], [0, 0, 0], (0, 0, 1))):
        _assert_camera(geo.look_at(eye, target, up), eye, target)
    with pytest.raises(ValueError, match="coincide"):
        geo.look_at([1, 2, 3], [1, 2, 3])


def test_orbit_camera():
    center = np.array([0.1, 0.0, 0.05])
    for az, el, up in ((30, 20, (0, 0, 1)), (200, -40, (0, 1, 0)), (0, 89, (1, 0, 0))):
        cam = geo.orbit_camera(center, 0.4, az, el, up=up)
        eye = -cam[:3, :3].T @ cam[:3, 3]
        _assert_camera(cam, eye, center)
        np.testing.assert_allclose(np.linalg.norm(eye - center), 0.4, rtol=1e-12)
        np.testing.assert_allclose((eye - center) @ np.asarray(up, float),
                                   0.4 * np.sin(np.deg2rad(el)), atol=1e-12)


def test_novel_view_camera_definition_and_autodiff():
    rot = geo.random_rotation(jax.random.PRNGKey(1), (3,))
    center = _f32([0.02, -0.01, 0.05])
    cTh, k = geo.novel_view_camera(rot, center, 0.5, 2.0, 32)
    chex.assert_shape([cTh, k], [(3, 4, 4), (3, 3)])
    # x_c = R (x_h - center) + (0, 0, d); the centre projects to the image centre.
    pts = _f32(np.random.default_rng(2).normal(scale=0.05, size=(7, 3)))
    want = np.einsum("nij,vj->nvi", np.asarray(rot, np.float64),
                     np.asarray(pts - center, np.float64)) + [0.0, 0.0, 0.5]
    np.testing.assert_allclose(geo.apply_to_points(cTh, pts), want, atol=1e-6)
    np.testing.assert_allclose(k, [[64.0, 0, 15.5], [0, 64.0, 15.5], [0, 0, 1]])
    uv, depth = geo.project(geo.apply_to_points(cTh, center[None]), k)
    np.testing.assert_allclose(uv[:, 0], 15.5, atol=1e-4)
    np.testing.assert_allclose(depth[:, 0], 0.5, atol=1e-6)
    assert np.all(geo.is_rigid(cTh))
    # jit / vmap agree with the broadcast batch; finite gradients in rotation and centre.
    one = jax.jit(geo.novel_view_camera, static_argnums=(2, 3, 4))
    np.testing.assert_allclose(jax.vmap(lambda r: one(r, center, 0.5, 2.0, 32)[0])(rot), cTh,
                               atol=1e-7)

    def loss(r, c):
        tf, kk = geo.novel_view_camera(r, c, 0.5, 2.0, 32)
        return jnp.sum(geo.project(geo.apply_to_points(tf, pts), kk)[0] ** 2)

    _assert_finite(jax.jit(jax.grad(loss, argnums=(0, 1)))(rot[0], center))


def test_prior_training_cameras_are_the_sds_cameras():
    """The prior is valid only for the views it was trained on: the cameras the prior data
    renders from (`prior_data.view_cameras`, with the prior-data config) must be the novel
    views SDS renders (`geometry.camera.novel_view_camera`, reconstruction config)."""
    from hoijax.data import prior_data
    from hoijax.runtime import repo_config
    data_config = repo_config("prior_data.py")
    view, size = data_config.view, data_config.image_size
    sds = repo_config("reconstruct.py").sds
    assert (view.distance, view.focal_factor) == (sds.view_distance, sds.focal_factor)
    hand = np.random.default_rng(3).normal([0.0, 0.02, 0.08], 0.04, size=(50, 3))
    rots = np.asarray(geo.random_rotation(jax.random.PRNGKey(4), (5,)), np.float64)
    cTh, k = prior_data.view_cameras(hand, rots, view, size)
    assert cTh.dtype == np.float64 and cTh.shape == (5, 4, 4)
    sds_camera = jax.jit(geo.novel_view_camera, static_argnums=(2, 3, 4))
    for r, tf in zip(rots, cTh):  # SDS draws one rotation at a time, in jnp
        tf_sds, k_sds = sds_camera(jnp.asarray(r, jnp.float32),
                                   jnp.asarray(hand.mean(0), jnp.float32),
                                   sds.view_distance, sds.focal_factor, size)
        np.testing.assert_allclose(tf, tf_sds, atol=1e-6)
        np.testing.assert_allclose(k, k_sds, rtol=1e-6)
    assert prior_data.novel_view_camera is geo.novel_view_camera  # the older import path


if __name__ == "__main__":
    pytest.main([__file__, "-q"])

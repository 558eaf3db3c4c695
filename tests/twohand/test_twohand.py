"""Two-hand prior (InterHandGen): representation, proxies, data, loader, conditioning,
guidance, metrics. Training and CLI smoke tests are in tests/test_two_hands.py."""
import os
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hoijax.hand import mano_forward
from hoijax.hand import proxy as P
from hoijax.twohand import eval as E
from hoijax.twohand import representation as rep


@pytest.fixture(scope="module")
def models(standin_left, standin_right):
    return standin_left, standin_right


def random_pairs(n, seed=0):
    """MANO arrays of n random pairs in a random shared frame."""
    rng = np.random.default_rng(seed)
    out = {}
    for side in ("left", "right"):
        out[f"{side}_hand_pose"] = rng.normal(0, 0.3, (n, 45))
        out[f"{side}_betas"] = rng.normal(0, 1, (n, 10))
        out[f"{side}_global_orient"] = Rotation.random(n, random_state=rng).as_rotvec()
        out[f"{side}_transl"] = rng.normal(0, 0.1, (n, 3))
    return {k: v.astype(np.float32) for k, v in out.items()}


def posed(models, mano):
    return [np.asarray(mano_forward(m, *(mano[f"{s}_{k}"] for k in rep.KEYS)).vertices)
            for s, m in zip(rep.SIDES, models)]


def test_representation_round_trip(models):
    mano = random_pairs(6)
    a, b = rep.encode(models, mano)
    assert a.shape == b.shape == (6, rep.HAND_DIM)
    np.testing.assert_allclose(a[:, rep.ROOT], np.tile(np.r_[rep.IDENTITY_6D, 0, 0, 0], (6, 1)))
    back = rep.decode(models, a, b)
    lv, rv = posed(models, mano)
    lv2, rv2 = posed(models, back)
    # The decoded pair is the original seen from the left wrist's frame.
    Rl = Rotation.from_rotvec(mano["left_global_orient"]).as_matrix()
    wl = mano["left_transl"] + np.asarray(P.rest_joints(models[0], mano["left_betas"]))[:, 0]
    to_left = lambda v: np.einsum("nji,nvj->nvi", Rl, v - wl[:, None])  # noqa: E731
    np.testing.assert_allclose(lv2, to_left(lv), atol=2e-5)
    np.testing.assert_allclose(rv2, to_left(rv), atol=2e-5)
    a2, b2 = rep.encode(models, back)
    np.testing.assert_allclose(a2, a, atol=2e-5)
    np.testing.assert_allclose(b2, b, atol=2e-5)


def test_mirror_is_the_reflected_scene(models):
    from hoijax.data.synthetic.two_hands import mirror_hands
    mano = random_pairs(3, seed=1)
    flipped = mirror_hands(models, mano, np.array([True, False, True]))
    lv, rv = posed(models, mano)
    lv2, rv2 = posed(models, flipped)
    flip = np.array([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(lv2[0], rv[0] * flip, atol=2e-5)  # new left = mirrored right
    np.testing.assert_allclose(rv2[2], lv[2] * flip, atol=2e-5)
    np.testing.assert_allclose(lv2[1], lv[1], atol=1e-6)  # untouched
    again = mirror_hands(models, flipped, np.ones(3, bool))
    np.testing.assert_allclose(posed(models, again)[0][0], lv[0], atol=2e-5)  # involution


def test_skeleton_matches_mano_forward(models):
    mano = random_pairs(4, seed=2)
    m = models[1]
    j = P.skeleton(m, mano["right_hand_pose"], mano["right_betas"])
    ref = mano_forward(m, mano["right_hand_pose"], mano["right_betas"]).joints
    np.testing.assert_allclose(j, ref, atol=1e-6)


def _overlapping_pair(models):
    """Anchor (left, flat) and a right hand vector placed into it (overlapping)."""
    a = np.zeros(64, np.float32)
    a[rep.ROT] = rep.IDENTITY_6D
    b = a.copy()
    R = Rotation.from_euler("x", 180, degrees=True).as_matrix()  # palm against palm
    b[rep.ROT] = np.r_[R[:, 0], R[:, 1]]
    b[rep.TRANS] = [0.0, -0.015, 0.0]  # 1.5 cm apart: the palms (2.6 cm thick) overlap
    return jnp.asarray(a[None]), jnp.asarray(b[None])


def test_anti_penetration_gradient_matches_finite_differences(models):
    from hoijax.twohand.sample import penetration_loss
    proxies = (P.sphere_proxy(models[0]), P.sphere_proxy(models[1]))
    a, b = _overlapping_pair(models)
    f = jax.jit(lambda v: penetration_loss(models, proxies, a, v, 0.05, 1e3)[0])
    assert float(f(b)) > 0
    grad = np.asarray(jax.grad(f)(b))[0]
    assert np.all(np.isfinite(grad))
    for i, eps in ((62, 1e-4), (63, 1e-4), (55, 1e-3), (3, 1e-3), (46, 1e-2)):
        e = jnp.zeros_like(b).at[0, i].set(eps)
        fd = (float(f(b + e)) - float(f(b - e))) / (2 * eps)
        tol = float(1e-2 * np.abs(grad).max())  # newer pytest refuses a float32 tolerance
        assert float(grad[i]) == pytest.approx(fd, rel=0.05, abs=tol), i
    # The right palm lies below the left (-y): lowering it reduces the overlap.
    assert grad[62] > 0


def test_fid_kid_precision_recall_diversity_by_hand():
    x, y = np.array([[-1.0], [1.0]]), np.array([[2.0], [4.0]])
    # means 0 and 3, variances 2 and 2: |3|^2 + 2 + 2 - 2 sqrt(2 * 2) = 9
    assert E.fid(x, y) == pytest.approx(9.0)
    assert E.fid(x, x) == pytest.approx(0.0, abs=1e-9)
    # kernel x y + 1: k_xx off-diagonal 0, k_yy off-diagonal 9, k_xy mean (-1-3+3+5)/4 = 1
    assert E.kid(x, y, degree=1, subsets=1, subset_size=2) == pytest.approx(0 + 9 - 2)
    real, fake = np.array([[0.0], [1.0]]), np.array([[0.5], [10.0]])
    # real radii (1st neighbour) 1 and 1: 0.5 is inside, 10 is not; fake radii 9.5 cover both
    assert E.precision_recall(real, fake, k=1) == pytest.approx((0.5, 1.0))
    assert E.diversity(np.ones((5, 3))) == 0.0
    z = np.random.default_rng(0).normal(size=(50, 4))
    assert E.diversity(2 * z) == pytest.approx(2 * E.diversity(z))


def test_penetration_volume_of_two_spheres():
    import trimesh
    r, d = 0.03, 0.03
    s = trimesh.creation.icosphere(subdivisions=3, radius=r)
    v, f = np.asarray(s.vertices), np.asarray(s.faces)
    inner = P.mesh_interior_points(v, f, 2000, seed=0)
    va, vb = jnp.asarray(v), jnp.asarray(v + [d, 0, 0])
    out = P.pair_penetration(va, vb, jnp.asarray(f), jnp.asarray(f),
                             P.posed_interior(inner, va), P.posed_interior(inner, vb))
    lens = np.pi * (4 * r + d) * (2 * r - d) ** 2 / 12  # two equal spheres' intersection
    assert float(out["volume"]) == pytest.approx(lens, rel=0.1)
    # A's surface point nearest B's centre lies |d - r| from it: depth r - |d - r|
    assert float(out["depth"]) == pytest.approx(r - abs(d - r), rel=0.1)
    assert float(out["gap"]) == 0.0
    far = jnp.asarray(v + [2 * r + 0.01, 0, 0])
    out = P.pair_penetration(va, far, jnp.asarray(f), jnp.asarray(f),
                             P.posed_interior(inner, va), P.posed_interior(inner, far))
    assert float(out["volume"]) == 0.0 and float(out["depth"]) == 0.0
    assert float(out["gap"]) == pytest.approx(0.01, abs=2e-3)


def test_interhand_loader_reads_intaghand_annotations(models, tmp_path):
    from hoijax.data.interhand import as_training_data, load_interhand
    rng = np.random.default_rng(3)
    truth = []
    for split, n in (("train", 3), ("test", 1)):
        os.makedirs(tmp_path / split / "anno")
        for i in range(n):
            cam_R = Rotation.random(random_state=rng).as_matrix()
            cam_t = rng.normal(0, 0.3, 3)
            params = {}
            for side, m in zip(("left", "right"), models):
                pca = rng.normal(0, 1, 45)
                params[side] = dict(R=Rotation.random(random_state=rng).as_matrix()[None],
                                    pose=pca[None], shape=rng.normal(0, 1, (1, 10)),
                                    trans=rng.normal(0, 0.1, (1, 3)))
            if i == 1 and split == "train":
                params["right"] = None  # one hand missing: the pair is skipped
            with open(tmp_path / split / "anno" / f"{i}.pkl", "wb") as f:
                pickle.dump(dict(mano_params=params, camera=dict(R=cam_R, t=cam_t,
                                                                 camera=np.eye(3))), f)
            truth.append((split, i, params, cam_R, cam_t))
    data = load_interhand(str(tmp_path), "train", models)
    assert list(data["index"]) == [0, 2]
    split, i, params, cam_R, cam_t = truth[2]
    for side, m in zip(("left", "right"), models):
        p = params[side]
        # IntagHand's layer: pose = PCA @ components + mean, rotation about the wrist, then
        # trans, then the camera. Here by hoijax's MANO with the PCA option.
        world = mano_forward(m, p["pose"][0], p["shape"][0], flat_hand_mean=False,
                             use_pca=True,
                             global_orient=Rotation.from_matrix(p["R"][0]).as_rotvec(),
                             transl=p["trans"][0]).vertices
        ref = np.asarray(world) @ cam_R.T + cam_t
        got = mano_forward(m, *(data[f"{side}_{k}"][1] for k in rep.KEYS)).vertices
        np.testing.assert_allclose(got, ref, atol=5e-5)
    both = as_training_data(str(tmp_path), models)
    assert list(both["held_out"]) == [False, False, True]
    with pytest.raises(FileNotFoundError):
        load_interhand(str(tmp_path), "val", models)

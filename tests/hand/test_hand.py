"""Tests for hoijax.hand: the MANO forward pass, file I/O, the stand-in hand."""
import os
import pickle
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse
import trimesh
from scipy.spatial.transform import Rotation

from hoijax.hand import ManoFileError, load_hand_model, load_mano, mano_forward, save_mano_pickle
from hoijax.hand.anatomy import back_direction, flexion_axes
from hoijax.hand.io import model_from_arrays
from hoijax.hand.model import OPENPOSE_ORDER
from tests import ROOT_DIR
from tests.mano_reference import random_mano_arrays, reference_mano

forward = jax.jit(mano_forward, static_argnames=("flat_hand_mean", "use_pca"))


@pytest.fixture(scope="module")
def random_arrays():
    return random_mano_arrays()


@pytest.fixture(scope="module")
def random_model(random_arrays):
    return model_from_arrays(random_arrays)


def _random_inputs(seed, batch=()):
    rng = np.random.default_rng(seed)
    return (rng.normal(scale=0.6, size=batch + (45,)), rng.normal(size=batch + (10,)),
            rng.normal(scale=1.0, size=batch + (3,)), rng.normal(scale=0.1, size=batch + (3,)))


# ---------------------------------------------------------------------------------------
# The MANO formula against the independent reference.

@pytest.mark.parametrize("flat", [True, False])
def test_forward_matches_reference(random_arrays, random_model, flat):
    pose, betas, orient, transl = _random_inputs(1)
    out = forward(random_model, pose, betas, orient, transl, flat_hand_mean=flat)
    ref_v, ref_j = reference_mano(random_arrays, pose, betas, orient, transl,
                                  flat_hand_mean=flat)
    np.testing.assert_allclose(out.vertices, ref_v, atol=2e-6)
    np.testing.assert_allclose(out.joints[:16], ref_j, atol=2e-6)
    np.testing.assert_allclose(out.joints[16:], out.vertices[np.array([1, 2, 3, 4, 5])])


@pytest.mark.parametrize("num_comps", [6, 45])
def test_pca_pose_matches_reference(random_arrays, random_model, num_comps):
    coeffs = np.random.default_rng(2).normal(size=num_comps)
    out = forward(random_model, coeffs, jnp.zeros(10), use_pca=True, flat_hand_mean=False)
    ref_v, _ = reference_mano(random_arrays, coeffs, np.zeros(10), pca=True,
                              flat_hand_mean=False)
    np.testing.assert_allclose(out.vertices, ref_v, atol=2e-6)


def test_zero_pose_zero_shape_is_template(random_model, standin_right):
    for model in (random_model, standin_right):
        out = forward(model, jnp.zeros(45), jnp.zeros(10))
        np.testing.assert_allclose(out.vertices, model.v_template, atol=1e-7)
        np.testing.assert_allclose(out.joints[:16], model.J_regressor @ model.v_template,
                                   atol=1e-7)


def test_global_orient_rotates_about_wrist(standin_right):
    rotvec = np.array([0.3, -1.1, 0.7])
    pose, betas = np.random.default_rng(3).normal(scale=0.4, size=45), np.zeros(10)
    base = forward(standin_right, pose, betas)
    turned = forward(standin_right, pose, betas, rotvec, np.array([0.1, 0.2, 0.3]))
    wrist = np.asarray(base.joints[0])
    expect = (np.asarray(base.vertices) - wrist) @ Rotation.from_rotvec(rotvec).as_matrix().T
    np.testing.assert_allclose(turned.vertices, expect + wrist + [0.1, 0.2, 0.3], atol=2e-6)


def test_known_rotation_of_one_joint(standin_right):
    """Bending only the index PIP (joint 2) moves just the points it skins, rigidly."""
    axis = np.array([0.0, 0.0, 1.0]) * 0.8
    pose = np.zeros(45)
    pose[3:6] = axis
    out = forward(standin_right, pose, jnp.zeros(10))
    joints = np.asarray(standin_right.J_regressor @ standin_right.v_template)
    rot = Rotation.from_rotvec(axis).as_matrix()
    np.testing.assert_allclose(out.joints[3], rot @ (joints[3] - joints[2]) + joints[2],
                               atol=1e-6)
    np.testing.assert_allclose(out.joints[:3], joints[:3], atol=1e-7)
    untouched = np.asarray(standin_right.weights)[:, 2:4].sum(1) == 0
    moved = np.abs(np.asarray(out.vertices) - np.asarray(standin_right.v_template)).max(1)
    assert moved[untouched].max() < 1e-6 and moved.max() > 0.01


def test_batch_leading_dims_and_vmap_agree(random_model):
    pose, betas, orient, transl = _random_inputs(4, batch=(2, 3))
    batched = forward(random_model, pose, betas, orient, transl)
    assert batched.vertices.shape == (2, 3, random_model.num_verts, 3)
    assert batched.joints.shape == (2, 3, 21, 3)
    single = forward(random_model, pose[1, 2], betas[1, 2], orient[1, 2], transl[1, 2])
    np.testing.assert_allclose(batched.vertices[1, 2], single.vertices, atol=1e-6)
    mapped = jax.jit(jax.vmap(lambda p, b: mano_forward(random_model, p, b).vertices))(
        pose[0], betas[0])
    plain = forward(random_model, pose[0], betas[0])
    np.testing.assert_allclose(mapped, plain.vertices, atol=1e-6)
    shared_shape = forward(random_model, pose, betas[0, 0])  # betas broadcast over the batch
    np.testing.assert_allclose(shared_shape.vertices[0, 0],
                               forward(random_model, pose[0, 0], betas[0, 0]).vertices, atol=1e-6)


def test_gradients_finite_at_zero_pose_and_match_finite_differences(standin_right):
    def loss(pose, betas, orient):
        out = mano_forward(standin_right, pose, betas, orient)
        return jnp.sum(out.vertices ** 2) + jnp.sum(out.joints ** 2)

    grad = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))
    zeros = (jnp.zeros(45), jnp.zeros(10), jnp.zeros(3))
    for g in grad(*zeros):
        assert np.all(np.isfinite(g)) and np.abs(g).max() > 0
    # Directional finite difference at a generic point (float64 reference in numpy).
    pose = np.random.default_rng(5).normal(scale=0.3, size=45)
    direction = np.random.default_rng(6).normal(size=45)
    g_pose = grad(jnp.asarray(pose, jnp.float32), *zeros[1:])[0]
    eps = 1e-3
    value = jax.jit(loss)
    fd = (value(pose + eps * direction, *zeros[1:]) - value(pose - eps * direction, *zeros[1:]))
    np.testing.assert_allclose(float(g_pose @ direction), float(fd) / (2 * eps), rtol=2e-2)


def test_openpose_order_is_a_permutation():
    assert sorted(OPENPOSE_ORDER) == list(range(21))


# ---------------------------------------------------------------------------------------
# Loading and saving MANO-format files.

CHUMPY_WRITER = textwrap.dedent("""
    import pickle, sys, types
    import numpy as np, scipy.sparse
    sys.path.insert(0, {tests!r})
    from mano_reference import random_mano_arrays

    # A minimal imitation of chumpy's Ch: pickles its __dict__ with the array in 'x'.
    chumpy = types.ModuleType("chumpy"); ch = types.ModuleType("chumpy.ch")
    class Ch:
        def __init__(self, x): self.x = np.asarray(x); self._dirty_vars = set(); self.terms = []
        def __getstate__(self): return dict(self.__dict__)
    Ch.__module__ = "chumpy.ch"; ch.Ch = Ch; chumpy.ch = ch
    sys.modules["chumpy"] = chumpy; sys.modules["chumpy.ch"] = ch

    arrays = random_mano_arrays()
    del arrays["fingertip_vert_ids"]
    arrays["shapedirs"] = Ch(arrays["shapedirs"])
    arrays["posedirs"] = Ch(arrays["posedirs"])
    arrays["v_template"] = Ch(arrays["v_template"])
    # Name the sparse class by its old module, as the official files do.
    scipy.sparse.csc_matrix.__module__ = "scipy.sparse.csc"
    arrays["J_regressor"] = scipy.sparse.csc_matrix(arrays["J_regressor"])
    arrays["bs_style"] = "lbs"
    with open({path!r}, "wb") as f:
        pickle.dump(arrays, f, protocol=2)
    assert b"scipy.sparse.csc" in open({path!r}, "rb").read()
""")

CHUMPY_READER = textwrap.dedent("""
    import sys
    sys.modules["chumpy"] = None  # any 'import chumpy' now raises ImportError
    import numpy as np
    from hoijax.hand.io import read_mano_pickle
    arrays = read_mano_pickle({path!r})
    assert type(arrays["shapedirs"]) is np.ndarray, type(arrays["shapedirs"])
    assert type(arrays["J_regressor"]) is np.ndarray
    np.save({out!r}, np.concatenate([arrays["shapedirs"].ravel(), arrays["J_regressor"].ravel(),
                                     arrays["v_template"].ravel()]))
    try:
        import chumpy  # noqa: F401
        raise SystemExit("chumpy was importable")
    except ImportError:
        pass
""")


def test_chumpy_pickle_loads_without_chumpy(tmp_path, random_arrays):
    path, out = str(tmp_path / "MANO_RIGHT.pkl"), str(tmp_path / "flat.npy")
    tests_dir = os.path.join(ROOT_DIR, "tests")
    subprocess.run([sys.executable, "-c", CHUMPY_WRITER.format(tests=tests_dir, path=path)],
                   check=True)
    subprocess.run([sys.executable, "-c", CHUMPY_READER.format(path=path, out=out)], check=True,
                   env={**os.environ, "JAX_PLATFORMS": "cpu"})
    expect = np.concatenate([random_arrays["shapedirs"].ravel(),
                             random_arrays["J_regressor"].ravel(),
                             random_arrays["v_template"].ravel()])
    np.testing.assert_array_equal(np.load(out), expect)
    with pytest.raises(ManoFileError, match="fingertip_vert_ids"):  # 40 vertices, no tips
        load_mano(path)


def test_sparse_regressor_and_official_root_parent(tmp_path, random_arrays):
    arrays = dict(random_arrays)
    arrays["J_regressor"] = scipy.sparse.csc_matrix(arrays["J_regressor"])
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(arrays, protocol=2))
    model = load_mano(path)
    np.testing.assert_allclose(model.J_regressor, random_arrays["J_regressor"], atol=1e-7)
    assert model.parents[0] == -1


def test_bad_mano_files_give_clear_errors(tmp_path, random_arrays):
    with pytest.raises(ManoFileError, match="not found.*nowhere.pkl"):
        load_mano(tmp_path / "nowhere.pkl")
    with pytest.raises(ManoFileError, match="is a folder"):
        load_mano(tmp_path)
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"this is not a pickle")
    with pytest.raises(ManoFileError, match="garbage.pkl: cannot be read"):
        load_mano(garbage)
    not_dict = tmp_path / "list.pkl"
    not_dict.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(ManoFileError, match="expected a MANO-format dict"):
        load_mano(not_dict)
    missing = tmp_path / "missing.pkl"
    missing.write_bytes(pickle.dumps({k: v for k, v in random_arrays.items() if k != "weights"}))
    with pytest.raises(ManoFileError, match=r"missing keys \['weights'\]"):
        load_mano(missing)
    wrong = tmp_path / "wrong.pkl"
    wrong.write_bytes(pickle.dumps({**random_arrays, "posedirs": np.zeros((40, 3, 10))}))
    expected = r"wrong.pkl: 'posedirs' should have shape \(40,3,135\)"
    with pytest.raises(ManoFileError, match=expected):
        load_mano(wrong)


def test_standin_export_round_trip(tmp_path, standin_right):
    path = tmp_path / "standin.pkl"
    save_mano_pickle(standin_right, path)
    with open(path, "rb") as f:  # plain numpy arrays, official names
        raw = pickle.load(f)
    assert isinstance(raw["J_regressor"], np.ndarray) and raw["posedirs"].shape[2] == 135
    assert raw["kintree_table"][0, 0] == 4294967295
    loaded = load_mano(path)
    assert loaded.name == "standin" and loaded.fingertip_ids == standin_right.fingertip_ids
    for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(standin_right)):
        np.testing.assert_allclose(a, b, atol=1e-7)
    pose, betas, orient, transl = _random_inputs(7)
    np.testing.assert_allclose(forward(loaded, pose, betas, orient, transl).vertices,
                               forward(standin_right, pose, betas, orient, transl).vertices,
                               atol=1e-7)


def test_export_command_writes_a_loadable_left_hand(tmp_path, standin_left):
    path = tmp_path / "left.pkl"
    subprocess.run([sys.executable, "-m", "hoijax.hand.export", "--out", str(path), "--side",
                    "left"], check=True, env={**os.environ, "JAX_PLATFORMS": "cpu"},
                   capture_output=True)
    loaded = load_mano(path)
    assert loaded.side == "left"
    np.testing.assert_allclose(loaded.v_template, standin_left.v_template, atol=1e-7)


def test_load_hand_model_picks_official_or_standin(tmp_path, monkeypatch, standin_right):
    monkeypatch.delenv("HOIJAX_MANO_DIR", raising=False)
    assert load_hand_model("right").name == "standin"
    with pytest.raises(ManoFileError, match="MANO_RIGHT.pkl"):
        load_hand_model("right", mano_dir=str(tmp_path))
    save_mano_pickle(standin_right.replace(name="mano"), tmp_path / "MANO_RIGHT.pkl")
    monkeypatch.setenv("HOIJAX_MANO_DIR", str(tmp_path))
    model = load_hand_model("right")
    assert model.name == "mano" and model.num_verts == standin_right.num_verts


# ---------------------------------------------------------------------------------------
# The stand-in hand.

def _rest_joints21(model):
    joints = np.asarray(model.J_regressor @ model.v_template)
    return np.concatenate([joints, np.asarray(model.v_template)[list(model.fingertip_ids)]])


def test_standin_is_one_closed_hand_sized_surface(standin_right):
    model = standin_right
    mesh = trimesh.Trimesh(np.asarray(model.v_template), np.asarray(model.faces), process=False)
    assert model.num_verts >= 700
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    assert len(mesh.split(only_watertight=False)) == 1 and mesh.euler_number == 2
    joints = _rest_joints21(model)
    wrist_to_middle_tip = np.linalg.norm(joints[18] - joints[0])
    assert 0.18 <= wrist_to_middle_tip <= 0.20, wrist_to_middle_tip
    # MANO's rest frame: fingers toward -x, thumb toward +z, palm facing -y (right hand).
    assert joints[18, 0] < joints[0, 0] - 0.15
    assert joints[16, 2] > joints[4, 2] > joints[7, 2]
    np.testing.assert_allclose(back_direction(joints, "right"), [0, 1, 0], atol=0.05)


def test_standin_rig_is_well_formed(standin_right):
    weights = np.asarray(standin_right.weights)
    regressor = np.asarray(standin_right.J_regressor)
    np.testing.assert_allclose(weights.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(regressor.sum(1), 1.0, atol=1e-6)
    assert weights.min() >= 0 and regressor.min() >= 0
    assert (regressor > 0).sum(1).min() >= 4  # each joint from a ring of vertices
    components = np.asarray(standin_right.hands_components, np.float64)
    np.testing.assert_allclose(components @ components.T, np.eye(45), atol=1e-5)
    # Every shape direction moves the surface by at least half a millimetre per unit.
    assert np.abs(np.asarray(standin_right.shapedirs)).max(axis=(0, 1)).min() > 5e-4
    assert np.abs(np.asarray(standin_right.posedirs)).max() > 1e-4


def test_standin_is_deterministic():
    from hoijax.hand import standin
    a, b = standin.build_mesh(relax_iters=2), standin.build_mesh(relax_iters=2)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_standin_flexion_closes_a_fist(standin_right):
    """Flexing the four fingers about their axes moves the fingertips onto the palm side."""
    joints = _rest_joints21(standin_right)
    axes = flexion_axes(joints, "right")
    pose = np.zeros((15, 3))
    for chain in ((1, 2, 3), (4, 5, 6), (7, 8, 9), (10, 11, 12)):
        for j, angle in zip(chain, (1.4, 1.6, 1.0)):
            pose[j - 1] = angle * axes[j - 1]
    out = forward(standin_right, pose.reshape(45), jnp.zeros(10))
    palmar = -back_direction(joints, "right")
    palm_center = joints[[0, 1, 4, 7, 10]].mean(0)
    for tip in (17, 18, 19, 20):  # index, middle, ring, pinky tips
        before = np.linalg.norm(joints[tip] - palm_center)
        after = np.linalg.norm(np.asarray(out.joints[tip]) - palm_center)
        assert after < 0.6 * before, (tip, before, after)
        assert (np.asarray(out.joints[tip]) - palm_center) @ palmar > 0.0
    # The same rotation about MANO's axis (+z for a right hand) curls the same way.
    assert np.all(axes[[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 2] > 0.9)


def test_left_hand_is_the_mirror_of_the_right(standin_right, standin_left):
    pose, betas, orient, transl = _random_inputs(8)
    mirror = np.array([1.0, -1.0, -1.0])
    right = forward(standin_right, pose, betas, orient, transl)
    left = forward(standin_left, (pose.reshape(15, 3) * mirror).ravel(), betas, orient * mirror,
                   transl * np.array([-1.0, 1.0, 1.0]))
    flip = np.array([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(left.vertices, np.asarray(right.vertices) * flip, atol=2e-6)
    np.testing.assert_allclose(left.joints, np.asarray(right.joints) * flip, atol=2e-6)
    mesh = trimesh.Trimesh(np.asarray(standin_left.v_template), np.asarray(standin_left.faces))
    assert mesh.volume > 0  # faces flipped with the mirror: still outward


def test_surface_code_separates_palm_back_and_fingers(standin_right, standin_left):
    for model in (standin_right, standin_left):
        code = np.asarray(model.surface_code)
        assert code.shape == (model.num_verts, 2) and np.abs(code).max() <= 1.0 + 1e-6
        weights = np.asarray(model.weights)
        normals_back = code[:, 1]
        palm_verts = weights[:, 0] > 0.99
        joints = _rest_joints21(model)
        side = (np.asarray(model.v_template) - joints[0]) @ back_direction(joints, model.side)
        assert np.mean(normals_back[palm_verts & (side > 0.008)] > 0.5) > 0.9
        assert np.mean(normals_back[palm_verts & (side < -0.008)] < -0.5) > 0.9
        medians = [np.median(code[weights[:, chain].sum(1) > 0.99, 0])
                   for chain in ([13, 14, 15], [1, 2, 3], [4, 5, 6], [10, 11, 12], [7, 8, 9])]
        np.testing.assert_allclose(medians, [-1.0, -0.5, 0.0, 0.5, 1.0], atol=0.05)


def test_chunked_skinning_equals_one_pass():
    """Large batches are skinned in chunks (with padding); the result must not change."""
    from hoijax.hand.model import _skin_chunk, linear_blend_skinning
    rng = np.random.default_rng(9)
    weights = jnp.asarray(rng.dirichlet(np.ones(16), size=30), jnp.float32)
    transforms = jnp.asarray(rng.normal(size=(2, 5, 16, 3, 4)), jnp.float32)
    points = jnp.asarray(rng.normal(size=(2, 5, 30, 3)), jnp.float32)
    chunked = linear_blend_skinning(weights, transforms, points, chunk=4)  # 10 = 4+4+2
    plain = _skin_chunk(weights, transforms.reshape(10, 16, 3, 4), points.reshape(10, 30, 3))
    np.testing.assert_allclose(chunked, np.asarray(plain).reshape(2, 5, 30, 3), atol=1e-5)
    expect = np.einsum("vk,bnkij,bnvj->bnvi", weights, transforms[..., :3],
                       points) + np.einsum("vk,bnki->bnvi", weights, transforms[..., 3])
    np.testing.assert_allclose(chunked, expect, atol=1e-5)

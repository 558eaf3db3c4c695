"""Grasp synthesis with the grid prior (hoijax.grasp.synthesis, volume) and its CLI."""
import json
import os
import pickle
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from hoijax.grasp import synthesis as G
from hoijax.interaction import volume as V
from hoijax.runtime import repo_config
from tests import ROOT_DIR


@pytest.fixture(scope="module")
def prior():
    from hoijax.priors.grid import load_grid_prior
    return load_grid_prior()


@pytest.fixture(scope="module")
def object_mesh(tmp_path_factory):
    """A 6 x 4 x 8 cm box with rounded nothing: exact SDF known."""
    mesh = trimesh.creation.box((0.06, 0.04, 0.08))
    path = tmp_path_factory.mktemp("obj") / "box.obj"
    mesh.export(path)
    return mesh, str(path)


def box_sdf(x):
    from hoijax.geometry import sdf as S
    return S.box(x, jnp.array([0.03, 0.02, 0.04]))


def test_volume_matches_the_exact_sdf(object_mesh):
    mesh, _ = object_mesh
    vol = V.volume_from_mesh(mesh, 48)
    exact = V.volume_from_function(box_sdf, mesh.bounds[0], mesh.bounds[1], 48)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(-0.07, 0.07, (2000, 3)), jnp.float32)
    spacing = float(vol.spacing)
    np.testing.assert_allclose(V.sample(exact, x), box_sdf(x), atol=0.5 * spacing)
    got, exact_d = np.asarray(V.sample(vol, x)), np.asarray(box_sdf(x))
    err = np.abs(got - exact_d)
    near = np.abs(exact_d) < 0.01  # the KD-tree band; beyond it a distance transform
    assert np.median(err[near]) < 0.2 * spacing and err[near].max() < 1.5 * spacing
    assert err[~near].max() < 2.0 * spacing
    clear = np.abs(exact_d) > spacing
    np.testing.assert_array_equal(np.sign(got[clear]), np.sign(exact_d[clear]))
    far = jnp.array([[0.5, 0.0, 0.0]])  # outside the volume: distance keeps growing
    assert float(V.sample(vol, far)[0]) > 0.4
    g = jax.grad(lambda p: jnp.sum(V.sample(vol, p)))(x)
    assert np.all(np.isfinite(np.asarray(g)))


def test_mesh_checks(tmp_path):
    with pytest.raises(V.MeshError, match="no such file"):
        V.load_object_mesh(str(tmp_path / "missing.obj"))
    (tmp_path / "empty.obj").write_text("# nothing\n")
    with pytest.raises(V.MeshError, match="empty|cannot read"):
        V.load_object_mesh(str(tmp_path / "empty.obj"))
    big = trimesh.creation.box((60.0, 40.0, 80.0))  # millimetres
    with pytest.raises(V.MeshError, match=r"80 units; metres are expected"):
        V.check_mesh(big)
    # Open, flipped, multi-part meshes are accepted: tests/geometry/test_mesh_sdf.py.


def test_object_frame_mano_parameters_match_an_independent_mano(standin_right, tmp_path):
    """smplx-convention parameters from hTo, posed by tests/mano_reference.py, give the
    hand-frame vertices mapped into the object frame."""
    from hoijax.hand import mano_forward, save_mano_pickle
    from tests.mano_reference import reference_mano
    rng = np.random.default_rng(3)
    pose, betas = rng.normal(0, 0.3, 45), rng.normal(0, 1.0, 10)
    hTo = np.eye(4)
    hTo[:3, :3] = Rotation.random(random_state=4).as_matrix()
    hTo[:3, 3] = [0.05, -0.1, 0.02]
    p = G.mano_in_object_frame(standin_right, pose, betas, hTo)
    save_mano_pickle(standin_right, tmp_path / "r.pkl")
    with open(tmp_path / "r.pkl", "rb") as f:
        arrays = pickle.load(f)
    ref, _ = reference_mano(arrays, p["hand_pose"], p["betas"], p["global_orient"],
                            p["transl"])
    v_h = np.asarray(mano_forward(standin_right, jnp.asarray(pose, jnp.float32),
                                  jnp.asarray(betas, jnp.float32)).vertices, np.float64)
    oTh = np.linalg.inv(hTo)
    np.testing.assert_allclose(ref, v_h @ oTh[:3, :3].T + oTh[:3, 3], atol=2e-5)


@pytest.fixture(scope="module")
def tiny_run(prior, standin_right, object_mesh):
    """The CLI's tiny config on the box, in process (the same compiled shapes as the CLI)."""
    from hoijax.grasp.tools import options
    config = repo_config("grasp.py", "tiny")
    mesh, _ = object_mesh
    vol = V.volume_from_mesh(mesh, config.volume_size)
    setup = G.make_setup(prior, standin_right, vol, "box")
    fns = G.PriorFns(prior)
    opts = options(config)
    out = G.synthesize(fns, setup, jax.random.key(config.seed), num=2,
                       seeds_per_grasp=config.seeds_per_grasp, jitter=config.jitter,
                       chunk=config.sds.chunk, **opts)
    return dict(setup=setup, fns=fns, opts=opts, out=out, config=config)


def test_pipeline_outputs_are_ranked_and_rigid(tiny_run):
    out = tiny_run["out"]
    assert out["hand_pose"].shape == (2, 45) and out["hTo"].shape == (2, 4, 4)
    assert out["all_scores"].shape == (4,) and np.all(np.isfinite(out["all_scores"]))
    np.testing.assert_allclose(out["score"], np.sort(out["all_scores"])[:2])
    for T in out["hTo"]:
        np.testing.assert_allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-5)
        np.testing.assert_allclose(T[3], [0, 0, 0, 1])


def test_sds_moves_the_hand_and_the_object(tiny_run):
    setup, fns = tiny_run["setup"], tiny_run["fns"]
    v = G.initial_variables(setup, jax.random.key(1), 2, 0.05)
    opts = tiny_run["opts"]["sds"]
    grad = jax.jit(jax.grad(lambda p: G.sds_loss(fns, setup, p, jax.random.key(2), opts)))
    g = grad(v)
    for name in ("pose", "rot6", "tsl"):
        norms = np.linalg.norm(np.asarray(g[name]), axis=1)
        assert np.all(np.isfinite(norms)) and np.all(norms > 0), name
    moved = G.sds_run(fns, setup, v, jax.random.key(2), opts)
    assert not np.allclose(moved["pose"], v["pose"])
    # Candidates are independent: moving candidate 1 leaves candidate 0's gradient alone.
    w = dict(v, tsl=v["tsl"].at[1].add(0.3))
    g2 = grad(w)
    np.testing.assert_allclose(g2["pose"][0], g["pose"][0], rtol=1e-4, atol=1e-6)
    assert not np.allclose(g2["pose"][1], g["pose"][1])


def test_refinement_lowers_penetration_and_its_energy(tiny_run):
    setup = tiny_run["setup"]
    # Start with the object's centre at the frame centre: the hand cuts into the box.
    v = dict(pose=jnp.tile(jnp.asarray(setup.model.hands_mean)[None], (2, 1)),
             rot6=jnp.tile(jnp.array([1.0, 0, 0, 0, 1, 0]), (2, 1)),
             tsl=jnp.array([[0.0, 0.15, 0.0], [0.0, 0.25, 0.0]]))
    opts = tiny_run["opts"]["refinement"]  # the CLI's compiled 2-step refinement, 10 times
    before = jax.vmap(lambda a: G.refine_loss(setup, a, a, opts))(v)
    refined = v
    for _ in range(10):
        refined, _ = G.refine(setup, refined, opts)
    after = jax.vmap(lambda a: G.refine_loss(setup, a, a, opts))(refined)
    assert np.all(np.asarray(after) < np.asarray(before))

    def depth(c):
        return float(jnp.max(-V.sample(setup.volume, G.hand_vertices_object(setup, c))))

    for k in range(2):
        one = jax.tree.map(lambda a: a[k], v)
        out = jax.tree.map(lambda a: a[k], refined)
        assert depth(one) > 0.005 and depth(out) < depth(one)


def test_cli_writes_the_convention(object_mesh, standin_right, tmp_path, tiny_run):
    """grasps.npz posed by the independent numpy MANO matches grasp_00/hand.obj, which is
    in the object's frame (the mesh file's coordinates). The object file is a two-part GLB
    (one part flipped, one under a node transform): it grasps as the one box it makes."""
    from hoijax.hand import save_mano_pickle
    from tests.mano_reference import reference_mano
    mesh, _ = object_mesh
    path = tmp_path / "box.glb"  # the same box as two parts, one flipped and moved by its node
    moved = np.array([0.0, 0.0, 0.05])
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.Trimesh(mesh.vertices, mesh.faces[:6, ::-1], process=False))
    scene.add_geometry(trimesh.Trimesh(mesh.vertices - moved, mesh.faces[6:], process=False),
                       transform=trimesh.transformations.translation_matrix(moved))
    scene.export(path)
    out = tmp_path / "grasps"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    subprocess.run([sys.executable, "-m", "hoijax.grasp", f"--object={path}",
                    "--category=box", "--num=2", f"--out={out}",
                    "--config=configs/grasp.py:tiny"], check=True, env=env,
                   capture_output=True, cwd=ROOT_DIR)
    with np.load(out / "grasps.npz") as f:
        data = {k: f[k] for k in f.files}
    for key, width in (("hand_pose", 45), ("betas", 10), ("global_orient", 3),
                       ("transl", 3)):
        assert data[key].shape == (2, width)
    assert data["score"].shape == (2,) and data["score"][0] <= data["score"][1]
    np.testing.assert_allclose(data["score"], tiny_run["out"]["score"], rtol=1e-3)
    save_mano_pickle(standin_right, tmp_path / "r.pkl")
    with open(tmp_path / "r.pkl", "rb") as fh:
        arrays = pickle.load(fh)
    for k in range(2):
        ref, _ = reference_mano(arrays, data["hand_pose"][k], data["betas"][k],
                                data["global_orient"][k], data["transl"][k])
        obj = np.array([line.split()[1:] for line in open(out / f"grasp_{k:02d}" / "hand.obj")
                        if line.startswith("v ")], float)
        np.testing.assert_allclose(obj, ref, atol=2e-5)
        # The same hand as the in-process run's hTo maps into the object frame.
        hTo = tiny_run["out"]["hTo"][k]
        center = np.linalg.inv(hTo)[:3, 3]
        assert np.linalg.norm(obj.mean(0) - center) < 0.3
    record = json.load(open(out / "grasps.json"))
    assert len(record["grasps"]) == 2
    for g in record["grasps"]:
        assert g["penetration_depth_mm"] >= 0 and g["penetration_volume_cm3"] >= 0
        assert set(g["contact"]) == {"thumb", "index", "middle", "ring", "pinky", "palm"}
    assert (out / "grasps.png").is_file()


def test_cli_refuses_a_mesh_in_millimetres(tmp_path):
    path = tmp_path / "mm.obj"
    trimesh.creation.box((60.0, 40.0, 80.0)).export(path)
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    run = subprocess.run([sys.executable, "-m", "hoijax.grasp", f"--object={path}",
                          "--num=1", f"--out={tmp_path / 'o'}"], env=env, capture_output=True,
                         text=True, cwd=ROOT_DIR)
    assert run.returncode != 0
    assert "metres are expected" in run.stderr and "80" in run.stderr
    assert "--scale=0.001" in run.stderr
    assert not (tmp_path / "o").exists()

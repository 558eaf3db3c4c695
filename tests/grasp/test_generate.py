"""Hand-object generation from a category word (hoijax.grasp.generate, the CLI)."""
import os
import pickle
import subprocess
import sys

import numpy as np

from hoijax.grasp import generate as GEN
from tests import ROOT_DIR


def test_grid_mesh_of_a_sphere_is_in_the_hand_frame():
    from hoijax.interaction.frame import HAND_SCALE, grid_points
    from hoijax.interaction.object_grid import normalise_sdf
    half, r = 0.75, 32
    center = np.array([0.01, -0.07, 0.02])
    x_h = np.asarray(grid_points(r, half)) * HAND_SCALE + center
    target = center + np.array([0.0, 0.0, 0.03])  # a 4 cm ball 3 cm above c
    grid = np.asarray(normalise_sdf(np.linalg.norm(x_h - target, axis=-1) - 0.04))
    verts, faces = GEN.grid_mesh(grid, half, center)
    np.testing.assert_allclose(np.linalg.norm(verts - target, axis=1), 0.04, atol=1.5e-3)
    # Outward faces: the signed volume is positive and close to the ball's.
    a, b, c = (verts[faces[:, i]] for i in range(3))
    volume = np.sum(np.einsum("ij,ij->i", a, np.cross(b, c))) / 6
    np.testing.assert_allclose(volume, 4 / 3 * np.pi * 0.04 ** 3, rtol=0.05)
    assert GEN.grid_mesh(np.ones((8, 8, 8)), half, center) is None


def test_no_hand_fields_are_detected():
    """A real hand's field counts as a hand; the all-zeros "no hand" field and small
    noise around it do not."""
    import jax.numpy as jnp

    from hoijax.hand import load_standin
    from hoijax.interaction.hand_field import hand_field

    class Prior:  # what has_hand reads: the latent width
        latent_dim = 3
    model = load_standin("right")
    field = np.asarray(hand_field(model, jnp.zeros(45), jnp.zeros(10), 8, 0.75))
    x = np.zeros((3, 8, 8, 8, 23), np.float32)
    x[0, ..., 3:] = field
    x[2, ..., 3:] = np.random.default_rng(0).normal(0, 0.2, (8, 8, 8, 20))
    assert GEN.has_hand(Prior, x).tolist() == [True, False, False]


def test_cli_writes_samples(standin_right, tmp_path):
    """samples.npz posed by the independent numpy MANO matches sample_KK/hand.obj; the
    objects are meshes near the hand (the grid's box)."""
    from hoijax.hand import save_mano_pickle
    from tests.mano_reference import reference_mano
    out = tmp_path / "gen"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    run = subprocess.run([sys.executable, "-m", "hoijax.generate", "--category=mug", "--num=2",
                          f"--out={out}", "--ddim_steps=3", "--fit_steps=5"], env=env,
                         capture_output=True, text=True,
                         cwd=ROOT_DIR)
    assert run.returncode == 0, run.stderr[-2000:]
    with np.load(out / "samples.npz") as f:
        data = {k: f[k] for k in f.files}
    for key, width in (("hand_pose", 45), ("betas", 10), ("global_orient", 3),
                       ("transl", 3)):
        assert data[key].shape == (2, width) and np.all(np.isfinite(data[key]))
    assert data["field_error"].shape == (2,) and data["has_object"].shape == (2,)
    assert data["has_hand"].shape == (2,) and data["has_hand"].dtype == bool
    save_mano_pickle(standin_right, tmp_path / "r.pkl")
    with open(tmp_path / "r.pkl", "rb") as fh:
        arrays = pickle.load(fh)
    for k in range(2):
        folder = out / f"sample_{k:02d}"
        ref, _ = reference_mano(arrays, data["hand_pose"][k], data["betas"][k],
                                data["global_orient"][k], data["transl"][k])
        hand = np.array([line.split()[1:] for line in open(folder / "hand.obj")
                         if line.startswith("v ")], float)
        np.testing.assert_allclose(hand, ref, atol=2e-5)
        assert (folder / "object.obj").is_file() == bool(data["has_object"][k])
        if data["has_object"][k]:
            obj = np.array([line.split()[1:] for line in open(folder / "object.obj")
                            if line.startswith("v ")], float)
            # Inside the interaction grid's box: 0.30 m around c, near the hand.
            assert np.all(np.abs(obj - hand.mean(0)) < 0.3)
    assert (out / "samples.png").is_file()


def test_cli_refuses_bad_arguments(tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    run = subprocess.run([sys.executable, "-m", "hoijax.generate", "--num=0",
                          f"--out={tmp_path}"], env=env, capture_output=True, text=True,
                         cwd=ROOT_DIR)
    assert run.returncode != 0 and "--num=0" in run.stderr

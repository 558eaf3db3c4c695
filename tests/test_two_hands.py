"""Two-hand prior end to end at the tiny scale: data, conditioning dropout, training with
resume and export, config checks, the sampling CLI."""
import json
import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from hoijax.runtime import repo_config
from hoijax.twohand import representation as rep
from hoijax.twohand import train as T


@pytest.fixture(scope="module")
def models(standin_left, standin_right):
    return standin_left, standin_right


@pytest.fixture(scope="module")
def tiny_data(models, tmp_path_factory):
    from hoijax.data.synthetic import two_hands
    path = str(tmp_path_factory.mktemp("two_hand") / "data")
    data = two_hands.generate(models, 40, seed=0, steps=5)
    two_hands.save(path, data, {})
    return path


@pytest.fixture(scope="module")
def trained(models, tiny_data, tmp_path_factory):
    config = repo_config("two_hand_prior.py", "tiny")
    config.workdir = str(tmp_path_factory.mktemp("run"))
    config.data.path = tiny_data
    T.run(config, None)
    return config


def test_generated_data_has_every_type_and_mano_arrays(tiny_data):
    from hoijax.data.synthetic.two_hands import TYPES, load
    data = load(tiny_data)
    assert set(data["type"]) == set(range(len(TYPES)))
    for side in ("left", "right"):
        for key, width in zip(rep.KEYS, (45, 10, 3, 3)):
            assert data[f"{side}_{key}"].shape == (40, width)
            assert np.all(np.isfinite(data[f"{side}_{key}"]))
    held = data["held_out"]
    assert held.sum() == 10 and set(data["type"][held]) == set(range(len(TYPES)))


def test_conditioning_dropout_splits_the_batch(models):
    config = repo_config("two_hand_prior.py", "tiny")
    rng = np.random.default_rng(0)
    batch = dict(a=jnp.asarray(rng.normal(size=(8, 64)), jnp.float32),
                 b=jnp.asarray(rng.normal(size=(8, 64)), jnp.float32),
                 obj=jnp.zeros(8, jnp.int32), mean=jnp.zeros(64), std=jnp.ones(64))
    x0, cond, has_cond, _, k = T.examples(batch, config)
    assert k == 4
    np.testing.assert_array_equal(has_cond, [False] * 4 + [True] * 4)
    np.testing.assert_allclose(x0[:4], batch["a"][:4])  # anchors: p(x_a)
    np.testing.assert_allclose(x0[4:], batch["b"][4:])  # second hands: p(x_b | x_a)
    np.testing.assert_allclose(cond[4:], batch["a"][4:])
    # A dropped condition is the learned null token: the output ignores the cond values.
    denoise, params = T.init_model(config)
    t = jnp.full(8, 10)
    out1 = denoise(params, x0, t, cond, has_cond, batch["obj"])
    out2 = denoise(params, x0, t, cond + 5.0, has_cond, batch["obj"])
    np.testing.assert_allclose(out1[:4], out2[:4], atol=1e-6)
    assert not np.allclose(out1[4:], out2[4:])


def test_bad_config_fails_before_any_work(tmp_path):
    for field, value in (("mode", "both"), ("cond_dropout", 0.0), ("batch_size", 0),
                         ("sample.ddim_steps", 500)):
        config = repo_config("two_hand_prior.py", "tiny")
        config.workdir = str(tmp_path / "never")
        node, name = config, field
        if "." in field:
            head, name = field.split(".")
            node = config[head]
        node[name] = value
        with pytest.raises(ValueError, match=field.split(".")[-1]):
            T.run(config, None)
        assert not os.path.exists(config.workdir)


def test_training_logs_resumes_and_exports(trained, models):
    from hoijax.priors.folder import read_metrics
    from hoijax.twohand.prior import load_two_hand_prior
    records = read_metrics(trained.workdir)
    losses = [r for r in records if "loss" in r]
    assert [r["step"] for r in losses] == [2, 4]
    assert all(np.isfinite(r["loss"]) for r in losses)
    assert any("held_out/t16" in r for r in records)
    prior_dir = os.path.join(trained.workdir, "prior")
    for name in ("params.npz", "config.json", "normalizer.npz", "training.json", "loss.png"):
        assert os.path.isfile(os.path.join(prior_dir, name)), name
    prior = load_two_hand_prior(prior_dir)
    assert json.load(open(os.path.join(prior_dir, "training.json")))["step"] == 4
    # Resume: two more steps continue from the checkpoint at step 4.
    trained.num_steps = 6
    T.run(trained, None)
    steps = [r["step"] for r in read_metrics(trained.workdir) if "loss" in r]
    assert steps == [2, 4, 6]
    assert prior.config.mode == "cascaded"


def test_sampling_cli_writes_the_convention(trained, models, tmp_path):
    out = tmp_path / "samples"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    subprocess.run([sys.executable, "-m", "hoijax.two_hands", "--num=3", f"--out={out}",
                    f"--prior={trained.workdir}/prior", "--num_obj=1", "--with_object=box"],
                   check=True, env=env, capture_output=True)
    with np.load(out / "samples.npz") as f:
        for side in ("left", "right"):
            for key, width in zip(rep.KEYS, (45, 10, 3, 3)):
                assert f[f"{side}_{key}"].shape == (3, width)
        np.testing.assert_allclose(f["left_global_orient"], 0, atol=1e-6)
    assert (out / "samples.png").is_file()
    # An independent MANO (tests/mano_reference.py, float64 numpy) on the exported stand-in
    # pickles poses samples.npz exactly as the OBJ files the CLI wrote.
    import pickle

    from hoijax.hand import save_mano_pickle
    from tests.mano_reference import reference_mano
    with np.load(out / "samples.npz") as f:
        for side, model in zip(("left", "right"), models):
            save_mano_pickle(model, tmp_path / f"{side}.pkl")
            with open(tmp_path / f"{side}.pkl", "rb") as fh:
                arrays = pickle.load(fh)
            ref, _ = reference_mano(arrays, f[f"{side}_hand_pose"][0], f[f"{side}_betas"][0],
                                    f[f"{side}_global_orient"][0], f[f"{side}_transl"][0])
            obj = np.array([line.split()[1:] for line in open(out / "sample_00" / f"{side}.obj")
                            if line.startswith("v ")], float)
            np.testing.assert_allclose(obj, ref, atol=2e-5)

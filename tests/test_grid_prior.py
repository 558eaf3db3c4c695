"""Tests for the 3D interaction-grid prior: the 3D UNet, hand dropout and the grouped
loss, the tiny end-to-end run through `hoijax.train_prior`'s task dispatch (grid data ->
autoencoder -> denoiser -> export -> resume -> load), and the shipped prior."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hoijax.diffusion import grid_export, grid_trainer
from hoijax.models import text
from hoijax.runtime import repo_config


def _randomised(params, seed=1):
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return jax.tree.unflatten(tree, [x + 0.05 * jax.random.normal(k, x.shape)
                                     for x, k in zip(leaves, keys)])


def test_unet3d_shapes_zero_start_and_prompt_path():
    config = repo_config("grid_prior.py", "tiny")
    denoise, params = grid_trainer.init_model(config)
    denoise = jax.jit(denoise)
    x = jax.random.normal(jax.random.key(0), (2, 4, 4, 4, 23))
    table = jnp.asarray(text.category_tokens(["mug", "knife"]))
    out = denoise(params, x, jnp.array([10, 900]), dict(tokens=table[:2]))
    assert out.shape == x.shape and out.dtype == jnp.float32
    np.testing.assert_allclose(out, 0.0)  # zero-initialised output layer
    params = _randomised(params)
    a = denoise(params, x, jnp.array([10, 10]), dict(tokens=table[jnp.array([0, 0])]))
    b = denoise(params, x, jnp.array([10, 10]), dict(tokens=table[jnp.array([0, 1])]))
    np.testing.assert_allclose(a[0], b[0], atol=1e-5)  # samples are independent
    assert float(jnp.abs(a[1] - b[1]).max()) > 1e-4  # the prompt reaches the output


def test_hand_dropout_and_grouped_loss():
    x0 = jnp.ones((400, 2, 2, 2, 23))
    out = grid_trainer.drop_hands(jax.random.key(0), x0, 3, 0.25)
    np.testing.assert_array_equal(out[..., :3], 1.0)  # the object latent is never dropped
    dropped = np.asarray(jnp.all(out[..., 3:] == 0.0, axis=(1, 2, 3, 4)))
    kept = np.asarray(jnp.all(out[..., 3:] == 1.0, axis=(1, 2, 3, 4)))
    assert np.all(dropped | kept) and 0.18 < dropped.mean() < 0.32
    target = jnp.zeros((1, 2, 2, 2, 23))
    pred = target.at[..., :3].set(1.0)  # error 1 on the 3 object channels only
    assert float(grid_trainer.grouped_loss(pred, target, 3)) == pytest.approx(1.0)
    pred = target.at[..., 3:].set(1.0)  # error 1 on the 20 hand channels only
    assert float(grid_trainer.grouped_loss(pred, target, 3)) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """A 16^3 grid-data folder of random placements (no grasp synthesis: fast)."""
    from hoijax.data.grid_data import write_grid_data
    config = repo_config("grid_data.py", "placements")
    config.categories = ["mug", "bottle"]
    config.objects_per_category = 3
    config.jitters_per_grasp = 2
    config.resolution, config.field_resolution = 16, 4
    path = str(tmp_path_factory.mktemp("grid") / "data")
    write_grid_data(config, path, progress=False)
    return path


def test_tiny_run_trains_exports_resumes_and_loads(tiny_data, tmp_path):
    from hoijax.train_prior import run_task
    config = repo_config("grid_prior.py", "tiny")
    config.workdir = str(tmp_path / "run")
    config.data.path = tiny_data
    config.num_steps = 2
    config.eval_every = 2
    run_task(config, None)  # hoijax.train_prior's dispatch: task grid_prior
    out = os.path.join(config.workdir, "grid_prior")
    prior = grid_export.load_grid_prior(out)
    assert prior.categories == ["mug", "bottle"] and prior.latent_dim == 3
    records = [json.loads(line) for line in open(os.path.join(config.workdir,
                                                              "metrics.jsonl"))]
    assert any("held_out/t500" in r and "held_out_null/t500" in r for r in records)
    ae_records = [json.loads(line) for line in open(os.path.join(
        config.workdir, "autoencoder_run", "metrics.jsonl"))]
    assert any("held_out/iou" in r for r in ae_records)
    # A longer run with the same workdir resumes from step 2 (the checkpoint).
    config.num_steps = 4
    run_task(config, None)
    steps = [json.loads(line)["step"] for line in open(os.path.join(config.workdir,
                                                                    "metrics.jsonl"))]
    assert steps[-1] == 4 and 1 not in steps and 3 not in steps and steps.count(2) == 2
    with open(os.path.join(out, "training.json")) as f:
        assert json.load(f)["step"] == 4
    # The loaded prior encodes, decodes and denoises.
    prior = grid_export.load_grid_prior(out)
    grids = np.zeros((1, 16, 16, 16), np.float32) + 1.0
    z = prior.encode(grids)
    assert z.shape == (1, 4, 4, 4, 3) and prior.decode(z).shape == (1, 16, 16, 16)
    x = jnp.concatenate([z, jnp.zeros((1, 4, 4, 4, 20))], -1)
    out = prior.denoise(prior.params, x, jnp.array([500]), dict(tokens=prior.tokens(["mug"])))
    assert out.shape == x.shape and np.all(np.isfinite(np.asarray(out)))


def test_bad_config_is_refused_before_any_work(tmp_path):
    from hoijax.train_prior import run_task
    config = repo_config("grid_prior.py", "tiny")
    config.workdir = str(tmp_path / "bad")
    config.hand_dropout = 1.5
    with pytest.raises(ValueError, match="hand_dropout"):
        run_task(config, None)
    assert not os.path.exists(config.workdir)
    config = repo_config("grid_autoencoder.py", "tiny")
    config.workdir = str(tmp_path / "bad_ae")
    config.model.resolution = 18
    with pytest.raises(ValueError, match="resolution"):
        run_task(config, None)

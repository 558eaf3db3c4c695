"""Tests for the 3D interaction-grid prior: hand dropout and the grouped loss, the tiny
end-to-end run through `hoijax.train_prior`'s task dispatch (grid data ->
autoencoder -> denoiser -> export -> resume -> load), and the shipped prior."""
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hoijax.priors import grid, grid_train
from hoijax.runtime import repo_config
from tests.params_noise import randomised


def test_hand_dropout_and_grouped_loss():
    x0 = jnp.ones((400, 2, 2, 2, 23))
    out = grid_train.drop_hands(jax.random.key(0), x0, 3, 0.25)
    np.testing.assert_array_equal(out[..., :3], 1.0)  # the object latent is never dropped
    dropped = np.asarray(jnp.all(out[..., 3:] == 0.0, axis=(1, 2, 3, 4)))
    kept = np.asarray(jnp.all(out[..., 3:] == 1.0, axis=(1, 2, 3, 4)))
    assert np.all(dropped | kept) and 0.18 < dropped.mean() < 0.32
    target = jnp.zeros((1, 2, 2, 2, 23))
    pred = target.at[..., :3].set(1.0)  # error 1 on the 3 object channels only
    assert float(grid_train.grouped_loss(pred, target, 3)) == pytest.approx(1.0)
    pred = target.at[..., 3:].set(1.0)  # error 1 on the 20 hand channels only
    assert float(grid_train.grouped_loss(pred, target, 3)) == pytest.approx(1.0)


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
    from hoijax.priors.tasks import run_task
    config = repo_config("grid_prior.py", "tiny")
    config.workdir = str(tmp_path / "run")
    config.data.path = tiny_data
    config.num_steps = 4
    config.checkpoint_every = 2
    config.eval_every = 2
    run_task(config, None)  # hoijax.train_prior's dispatch: task grid_prior
    out = os.path.join(config.workdir, "grid_prior")
    prior = grid.load_grid_prior(out)
    assert prior.categories == ["mug", "bottle"] and prior.latent_dim == 3
    records = [json.loads(line) for line in open(os.path.join(config.workdir,
                                                              "metrics.jsonl"))]
    assert any("held_out/t500" in r and "held_out_null/t500" in r for r in records)
    ae_records = [json.loads(line) for line in open(os.path.join(
        config.workdir, "autoencoder_run", "metrics.jsonl"))]
    assert any("held_out/iou" in r for r in ae_records)
    with np.load(os.path.join(out, "params.npz")) as f:
        straight = dict(f)
    # A run killed after its step-2 checkpoint (the step-4 one never written) resumes
    # from step 2 with the same data order and ends where the uninterrupted run ended
    # (the same num_steps: the same compiled step, and the same learning-rate schedule).
    shutil.rmtree(os.path.join(config.workdir, "checkpoints", "4"))
    run_task(config, None)
    steps = [json.loads(line)["step"] for line in open(os.path.join(config.workdir,
                                                                    "metrics.jsonl"))]
    assert steps[-1] == 4 and 1 not in steps and 3 not in steps and steps.count(4) == 4
    with open(os.path.join(out, "training.json")) as f:
        assert json.load(f)["step"] == 4
    with np.load(os.path.join(out, "params.npz")) as resumed:
        assert sorted(resumed) == sorted(straight)
        for k in straight:
            np.testing.assert_allclose(resumed[k], straight[k], rtol=1e-5, atol=1e-6)
    # export_latest rebuilds the same folder from the checkpoint alone.
    again = str(tmp_path / "again")
    assert grid_train.export_latest(config.workdir, again) == 4
    with np.load(os.path.join(out, "params.npz")) as a, \
            np.load(os.path.join(again, "params.npz")) as b:
        assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)
    # The loaded prior encodes and decodes.
    prior = grid.load_grid_prior(out)
    grids = np.zeros((1, 16, 16, 16), np.float32) + 1.0
    z = prior.encode(grids)
    assert z.shape == (1, 4, 4, 4, 3) and prior.decode(z).shape == (1, 16, 16, 16)
    # The 3D UNet: batch samples are independent and the prompt reaches the output.
    denoise = jax.jit(prior.denoise)
    x = jax.random.normal(jax.random.key(0), (2, 4, 4, 4, 23))
    tokens = jnp.asarray(prior.tokens(["mug", "mug", "bottle"]))
    a = denoise(randomised(prior.params), x, jnp.array([500, 500]), dict(tokens=tokens[:2]))
    b = denoise(randomised(prior.params), x, jnp.array([500, 500]), dict(tokens=tokens[1:]))
    assert a.shape == x.shape and np.all(np.isfinite(np.asarray(a)))
    np.testing.assert_allclose(a[0], b[0], atol=1e-5)
    assert float(jnp.abs(a[1] - b[1]).max()) > 1e-4


def test_bad_config_is_refused_before_any_work(tmp_path):
    from hoijax.priors.tasks import run_task
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


def test_shipped_grid_prior_loads_and_round_trips_a_solid():
    """The shipped prior (hoijax/assets/grid_prior) loads with one call; its autoencoder
    keeps a solid 4 cm ball (occupancy IoU > 0.8) and its denoiser runs."""
    prior = grid.load_grid_prior()
    assert len(prior.categories) == 16 and prior.half_extent == pytest.approx(0.75)
    from hoijax.interaction.frame import grid_points
    from hoijax.interaction.object_grid import normalise_sdf
    pts = grid_points(32, prior.half_extent) * 0.2
    ball = normalise_sdf(jnp.linalg.norm(pts - jnp.array([0.0, -0.02, 0.0]), axis=-1) - 0.04)
    z = jax.jit(prior.encode)(ball[None])
    assert z.shape == (1, 8, 8, 8, 3)
    back = np.asarray(jax.jit(prior.decode)(z))[0]
    inside, got = np.asarray(ball) < 0, back < 0
    assert np.sum(inside & got) / np.sum(inside | got) > 0.8
    x = jnp.concatenate([z, jnp.zeros((1, 8, 8, 8, 20))], -1)
    out = jax.jit(prior.denoise)(prior.params, x, jnp.array([500]),
                                 dict(tokens=jnp.asarray(prior.tokens(["mug"]))))
    assert out.shape == x.shape and np.all(np.isfinite(np.asarray(out)))

"""Tests for the prior: text, UNet, schedules, sampler, SDS, the sharded step, resume,
export and loading."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from hoijax.diffusion.sampler import ddim_sample
from hoijax.diffusion.schedules import make_schedule, predict_x0_eps, q_sample
from hoijax.diffusion.sds import annealed_max_t, latent_sds_loss, sds_loss
from hoijax.models import text
from hoijax.priors import image, image_train
from hoijax.priors.folder import read_metrics
from hoijax.runtime import cpu_devices_env, repo_config
from tests import ROOT_DIR
from tests.params_noise import randomised

SIZE = 16


@pytest.fixture(scope="module")
def tiny():
    config = repo_config("prior.py", "tiny")
    denoise, params = image_train.init_model(config)
    return config, jax.jit(denoise), params


def _cond(batch, categories=("mug",)):
    table = text.category_tokens(list(categories))
    hand = jax.random.normal(jax.random.key(3), (batch, SIZE, SIZE, 7))
    return dict(hand=hand, tokens=jnp.asarray(np.repeat(table[:1], batch, 0)))


def test_tokenizer_and_prompts():
    tokens = text.tokenize(["an image of a hand grasping a mug", ""])
    assert tokens.shape == (2, text.MAX_TOKENS) and tokens.dtype == np.int32
    assert tokens[0, 0] == text.BOS and tokens[1, 0] == text.BOS
    assert np.all(tokens[1, 1:] == text.PAD)
    assert text.prompt(None) == text.NULL_PROMPT
    table = text.category_tokens(["mug", "toy car"])
    assert table.shape == (3, text.MAX_TOKENS) and np.all(table[-1] == tokens[1])
    key = jax.random.key(0)
    batch = jnp.asarray(np.repeat(table[:1], 64, 0))
    assert np.all(np.asarray(text.drop_prompts(key, batch, 1.0)) == tokens[1])
    assert np.all(np.asarray(text.drop_prompts(key, batch, 0.0)) == np.asarray(batch))


def test_unet_shapes_dtypes_and_prompt_paths(tiny):
    config, denoise, params = tiny
    x = jnp.zeros((2, SIZE, SIZE, 5))
    t = jnp.array([0, 999])
    cond = _cond(2)
    out = denoise(params, x, t, cond)
    chex.assert_shape(out, (2, SIZE, SIZE, 5))
    assert out.dtype == jnp.float32
    # Zero-initialised output layer: the untrained network predicts exactly zero noise.
    assert float(jnp.abs(out).max()) == 0.0
    noisy = randomised(params)
    with_prompt = denoise(noisy, x, t, cond)
    null = dict(cond, tokens=jnp.asarray(np.repeat(text.tokenize("")[None], 2, 0)))
    without = denoise(noisy, x, t, null)
    assert np.all(np.isfinite(without))
    assert float(jnp.abs(with_prompt - without).max()) > 1e-4  # the prompt matters
    bf16 = ml_collections.ConfigDict(config.to_dict())
    bf16.model.dtype = "bfloat16"
    denoise16, params16 = image_train.init_model(bf16)
    out16 = jax.jit(denoise16)(randomised(params16), x, t, cond)
    assert out16.dtype == jnp.float32 and np.all(np.isfinite(out16))


def test_schedule_forward_process_and_inversions():
    s = make_schedule("linear", 1000)
    abar = np.asarray(s.alphas_cumprod)
    assert np.all(np.diff(abar) < 0) and 0.99 < abar[0] < 1 and abar[-1] < 1e-4
    cos = make_schedule("cosine", 1000)
    assert np.all(np.diff(np.asarray(cos.alphas_cumprod)) <= 0)
    x0 = jax.random.normal(jax.random.key(0), (3, 4, 4, 5))
    eps = jax.random.normal(jax.random.key(1), x0.shape)
    t = jnp.array([0, 500, 999])
    x_t = q_sample(s, x0, t, eps)
    a = abar[np.asarray(t)][:, None, None, None]
    np.testing.assert_allclose(x_t, np.sqrt(a) * x0 + np.sqrt(1 - a) * eps, atol=1e-5)
    x0_hat, eps_hat = predict_x0_eps(s, x_t, t, eps, "epsilon")
    np.testing.assert_allclose(x0_hat[:2], x0[:2], atol=1e-3)
    _, eps_back = predict_x0_eps(s, x_t, t, x0, "x0")
    np.testing.assert_allclose(eps_back[1:], eps[1:], atol=1e-3)


def test_ddim_sampler_is_deterministic_by_seed(tiny):
    config, denoise, params = tiny
    params = randomised(params)
    s = make_schedule()
    null = jnp.asarray(text.tokenize(""))
    run = jax.jit(lambda key: ddim_sample(denoise, params, s, _cond(2), null, key,
                                          (2, SIZE, SIZE, 5), num_steps=4, guidance=3.0))
    a, b, c = run(jax.random.key(0)), run(jax.random.key(0)), run(jax.random.key(1))
    np.testing.assert_array_equal(a, b)
    assert float(jnp.abs(a - c).max()) > 1e-3
    assert np.all(np.isfinite(a))


def test_sds_moves_the_rendering_toward_the_denoised_target():
    """A toy prior whose x0 estimate is always `target`: the SDS gradient is
    w(t) lambda_m (x - target) at every element (the reference's per-element SDS gradient,
    not divided by the pixel count), so a gradient step brings the rendering closer."""
    s = make_schedule()
    target = jnp.full((1, 8, 8, 5), 0.3)

    def denoise(params, x_t, t, cond):  # epsilon that implies x0 = target
        abar = s.alphas_cumprod[t][:, None, None, None]
        return (x_t - jnp.sqrt(abar) * target) / jnp.sqrt(1 - abar)

    x = jax.random.normal(jax.random.key(0), (1, 8, 8, 5))
    cond = dict(hand=jnp.zeros((1, 8, 8, 7)), tokens=jnp.zeros((1, text.MAX_TOKENS),
                                                               jnp.int32))
    null = jnp.asarray(text.tokenize(""))

    weights = (1.0, 2.0, 3.0)  # mask, normal, depth

    def loss(x):
        return sds_loss(denoise, None, s, x, cond, null, jax.random.key(1),
                        t_range=(0.2, 0.8), guidance=4.0, weights=weights)

    grad, aux = jax.grad(loss, has_aux=True)(x)
    abar = s.alphas_cumprod[aux["t"][0]]
    bell = jnp.sqrt(1 - abar) * jnp.sqrt(abar)
    per_channel = jnp.array([weights[0]] + [weights[1]] * 3 + [weights[2]])
    np.testing.assert_allclose(grad, bell * per_channel * (x - target), rtol=1e-3,
                               atol=1e-5)
    moved = x - 0.5 * grad
    assert float(jnp.abs(moved - target).mean()) < float(jnp.abs(x - target).mean())
    np.testing.assert_allclose(annealed_max_t(0, 100), 0.98)
    np.testing.assert_allclose(annealed_max_t(100, 100), 0.5)


def test_latent_sds_gradient_is_its_definition_on_the_object_channels_only():
    """3D SDS on the interaction grid: a toy prior whose x0 estimate of the whole grid is
    [target ; anything]: d loss / d latent = w(t) (latent - target) per element (summed,
    not averaged), the hand channels get nothing, and a step moves the latent closer."""
    s = make_schedule()
    target = jnp.full((2, 4, 4, 4, 3), -0.4)

    def denoise(params, x_t, t, cond):  # epsilon implying x0 = [target ; 0.9]
        abar = s.alphas_cumprod[t][:, None, None, None, None]
        x0 = jnp.concatenate([jnp.tile(target, (x_t.shape[0] // 2, 1, 1, 1, 1)),
                              jnp.full(x_t.shape[:-1] + (5,), 0.9)], -1)
        return (x_t - jnp.sqrt(abar) * x0) / jnp.sqrt(1 - abar)

    latent = jax.random.normal(jax.random.key(0), (2, 4, 4, 4, 3))
    field = jax.random.uniform(jax.random.key(1), (2, 4, 4, 4, 5), minval=-1, maxval=1)
    cond = dict(tokens=jnp.zeros((2, text.MAX_TOKENS), jnp.int32))
    null = jnp.asarray(text.tokenize(""))

    def loss(latent, field):
        return latent_sds_loss(denoise, None, s, latent, field, cond, null,
                               jax.random.key(2), t_range=(0.25, 0.75), guidance=4.0,
                               prediction="epsilon")

    (g_latent, g_field), aux = jax.grad(loss, argnums=(0, 1), has_aux=True)(latent, field)
    assert np.all((aux["t"] >= 250) & (aux["t"] < 750))
    abar = s.alphas_cumprod[aux["t"]][:, None, None, None, None]
    bell = jnp.sqrt(1 - abar) * jnp.sqrt(abar)
    np.testing.assert_allclose(aux["target"], target, atol=1e-4)
    np.testing.assert_allclose(g_latent, bell * (latent - target) / 2, rtol=1e-3, atol=1e-6)
    assert float(jnp.abs(g_field).max()) == 0.0  # the hand field is held fixed
    moved = latent - 1.0 * g_latent
    assert float(jnp.abs(moved - target).mean()) < float(jnp.abs(latent - target).mean())


def _random_data(num_grasps=6, views=4, categories=("mug", "bottle")):
    rng = np.random.default_rng(0)
    n = num_grasps * views
    return dict(object=rng.normal(size=(n, SIZE, SIZE, 5)).astype(np.float32),
                hand=rng.normal(size=(n, SIZE, SIZE, 7)).astype(np.float32),
                category=(np.arange(n) % 3).astype(np.int32),
                grasp=np.repeat(np.arange(num_grasps), views).astype(np.int32),
                manifest=dict(categories=list(categories), image_size=SIZE))


def _train_config(workdir, num_steps):
    config = repo_config("prior.py", "tiny")
    config.workdir = str(workdir)
    config.num_steps = num_steps
    config.checkpoint_every = 3
    config.eval_every = 0
    config.log_every = 1
    config.batch_size = 4
    return config


def test_train_checkpoint_and_resume_continue_the_run(tmp_path):
    data = _random_data()
    straight = image_train.train(_train_config(tmp_path / "a", 5), data, progress=False)
    # b: the same run killed after its step-3 checkpoint (a's folder without the step-5
    # checkpoint and the metric lines after step 3). Rerun, it resumes from step 3 with
    # the same data order and ends where the uninterrupted run ended. (The same num_steps:
    # the same learning-rate schedule, and the same compiled step.)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "b" / "checkpoints" / "5")
    lines = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "b" / "metrics.jsonl").write_text("".join(
        line for line in lines if json.loads(line)["step"] <= 3))
    resumed = image_train.train(_train_config(tmp_path / "b", 5), data, progress=False)
    assert int(resumed["step"]) == 5
    losses_a = [m["loss"] for m in read_metrics(str(tmp_path / "a"))]
    losses_b = [m["loss"] for m in read_metrics(str(tmp_path / "b"))]
    assert len(losses_b) == 5
    np.testing.assert_allclose(losses_b, losses_a, rtol=1e-5)
    chex.assert_trees_all_close(resumed["params"], straight["params"], atol=1e-6)

    # The run's latest checkpoint exports as a prior folder (what `python -m
    # hoijax.train_prior` writes at the end) that load_prior reads back unchanged.
    out = str(tmp_path / "prior")
    assert image_train.export_latest(str(tmp_path / "b"), out, manifest=data["manifest"]) == 5
    assert {"params.npz", "config.json", "categories.json", "metrics.jsonl", "loss.png",
            "training.json"} <= set(os.listdir(out))
    prior = image.load_prior(out)
    assert jax.tree.structure(prior.params) == jax.tree.structure(resumed["ema"])
    chex.assert_trees_all_equal(prior.params, jax.tree.map(np.asarray, resumed["ema"]))
    assert prior.categories == ["mug", "bottle"] and prior.config.num_steps == 5
    os.remove(os.path.join(out, "params.npz"))
    with pytest.raises(FileNotFoundError, match="params.npz"):
        image.load_prior(out)


def test_train_refuses_non_finite_loss(tmp_path):
    data = _random_data()
    data["object"][:] = np.nan
    with pytest.raises(FloatingPointError, match="at step 1"):
        image_train.train(_train_config(tmp_path, 5), data, progress=False)  # (a's program)


SHARDED = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    from hoijax import parallel
    from hoijax.priors import image_train, loop
    from hoijax.diffusion.schedules import make_schedule
    from hoijax.models.text import category_tokens
    from hoijax.runtime import enable_compilation_cache, repo_config
    enable_compilation_cache()
    config = repo_config("prior.py", "tiny")
    config.batch_size = 8
    denoise, params = image_train.init_model(config)
    tx, _ = loop.make_optimizer(config.optim, 10)
    rng = np.random.default_rng(0)
    batch = dict(object=rng.normal(size=(8, 16, 16, 5)).astype(np.float32),
                 hand=rng.normal(size=(8, 16, 16, 7)).astype(np.float32),
                 category=np.arange(8, dtype=np.int32) % 2)
    out = {}
    for n in (1, 4):
        mesh = parallel.data_mesh(jax.devices()[:n])
        state = parallel.replicate(loop.init_state(params, tx), mesh)
        step = jax.jit(image_train.make_train_step(denoise, tx, make_schedule(),
                                               category_tokens(["mug"]), config))
        state, m = step(state, parallel.shard_batch(batch, mesh), jax.random.key(0))
        leaf = jax.tree.leaves(state["params"])
        out[n] = dict(loss=float(m["loss"]), norm=float(m["grad_norm"]),
                      params=[float(np.abs(np.asarray(x)).sum()) for x in leaf],
                      devices=len(state["params"]["conv_in"]["kernel"].sharding.device_set))
    try:
        parallel.check_batch_size(6, "batch_size", parallel.data_mesh())
        out["error"] = None
    except ValueError as e:
        out["error"] = str(e)
    print(json.dumps(out))
""")


def test_sharded_step_on_4_devices_matches_1_device():
    env = cpu_devices_env(4)
    proc = subprocess.run([sys.executable, "-c", SHARDED], capture_output=True, text=True,
                          env=env, cwd=ROOT_DIR,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    one, four = out["1"], out["4"]
    assert four["devices"] == 4 and one["devices"] == 1
    np.testing.assert_allclose(four["loss"], one["loss"], rtol=1e-5)
    np.testing.assert_allclose(four["norm"], one["norm"], rtol=1e-4)
    np.testing.assert_allclose(four["params"], one["params"], rtol=1e-5)
    assert "does not divide by the 4 devices" in out["error"]

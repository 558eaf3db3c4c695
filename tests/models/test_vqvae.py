"""Tests for the 3D VQ-VAE (hoijax.models.vqvae) and its trainer: the depth-stacked 3D
convolution, straight-through gradients, codebook and commitment losses, codebook updates,
dead-code re-initialisation, and a few training steps."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hoijax.models import vqvae
from hoijax.priors import grid_autoencoder_train as vqvae_trainer
from hoijax.priors import loop
from hoijax.runtime import repo_config


@pytest.mark.parametrize("stride", [1, 2])
def test_conv3d_matches_lax_3d_convolution_and_its_gradient(stride):
    x = jax.random.normal(jax.random.key(0), (2, 6, 8, 4, 3))
    w = jax.random.normal(jax.random.key(1), (3, 3, 3, 3, 5))

    def ref(x, w):
        return jax.lax.conv_general_dilated(x, w, (stride,) * 3, "SAME",
                                            dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))

    np.testing.assert_allclose(vqvae.conv3d(x, w, stride), ref(x, w), atol=1e-4)
    g_ref = jax.grad(lambda x, w: jnp.sum(jnp.sin(ref(x, w))), (0, 1))(x, w)
    g = jax.grad(lambda x, w: jnp.sum(jnp.sin(vqvae.conv3d(x, w, stride))), (0, 1))(x, w)
    for a, b in zip(g, g_ref):
        np.testing.assert_allclose(a, b, atol=1e-3)
    one = jax.random.normal(jax.random.key(2), (1, 1, 1, 3, 5))
    np.testing.assert_allclose(vqvae.conv3d(x, one, stride), ref(x, one), atol=1e-4)


def _codebook():
    return jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])


def test_quantize_snaps_to_nearest_codes_with_straight_through_gradients():
    codebook = _codebook()
    z = jnp.array([[0.9, 0.2], [0.1, 0.8], [-0.1, 0.1]])
    z_st, aux = vqvae.quantize(codebook, z, beta=0.25)
    np.testing.assert_array_equal(aux["indices"], [1, 2, 0])
    np.testing.assert_allclose(z_st, codebook[jnp.array([1, 2, 0])], atol=1e-6)
    # Straight-through: d(sum g * z_st)/dz = g exactly, whatever the snapping did.
    g = jnp.array([[1.0, -2.0], [0.5, 3.0], [7.0, 0.0]])
    np.testing.assert_allclose(jax.grad(lambda z: jnp.sum(g * vqvae.quantize(codebook, z)[0]))(z),
                               g, atol=1e-6)
    # The reconstruction path gives the codebook no gradient; the codebook loss does,
    # the commitment loss moves only z (toward its code), scaled by beta.
    gc = jax.grad(lambda c: jnp.sum(g * vqvae.quantize(c, z)[0]))(codebook)
    np.testing.assert_allclose(gc, 0.0)
    gc = jax.grad(lambda c: vqvae.quantize(c, z)[1]["codebook_loss"])(codebook)
    codes = codebook[jnp.array([1, 2, 0])]
    np.testing.assert_allclose(gc[jnp.array([1, 2, 0])], 2 * (codes - z) / z.size, atol=1e-6)
    np.testing.assert_allclose(gc[3], 0.0)
    gz = jax.grad(lambda z: vqvae.quantize(codebook, z, 0.25)[1]["commitment_loss"])(z)
    np.testing.assert_allclose(gz, 0.25 * 2 * (z - codes) / z.size, atol=1e-6)
    gz = jax.grad(lambda z: vqvae.quantize(codebook, z)[1]["codebook_loss"])(z)
    np.testing.assert_allclose(gz, 0.0)


def test_codebook_loss_steps_move_used_codes_onto_their_vectors():
    codebook = _codebook()
    z = jnp.array([[0.9, 0.2], [0.7, 0.4], [0.1, 0.8]])
    loss = lambda c: vqvae.quantize(c, z)[1]["codebook_loss"]  # noqa: E731
    codebook = jax.jit(lambda c: jax.lax.fori_loop(
        0, 200, lambda _, c: c - jax.grad(loss)(c), c))(codebook)  # SGD, rate 1
    np.testing.assert_allclose(codebook[1], z[:2].mean(0), atol=1e-3)  # the mean of its vectors
    np.testing.assert_allclose(codebook[2], z[2], atol=1e-3)
    np.testing.assert_allclose(codebook[jnp.array([0, 3])], _codebook()[jnp.array([0, 3])])


def test_dead_codes_are_reinitialised_from_the_batch_and_live_codes_kept():
    codebook = _codebook()
    z = jax.random.normal(jax.random.key(0), (4, 4, 4, 2)) + 10.0  # far from every code
    usage = jnp.array([0.5, 0.0, 0.3, 1e-5])
    new, new_usage, count = vqvae.reinit_dead_codes(codebook, usage, z, jax.random.key(1),
                                                    threshold=1e-3)
    assert int(count) == 2
    np.testing.assert_array_equal(new[jnp.array([0, 2])], codebook[jnp.array([0, 2])])
    flat = np.asarray(z).reshape(-1, 2)
    for k in (1, 3):  # each dead code now sits on (next to) one of the batch's vectors
        assert np.min(np.linalg.norm(flat - np.asarray(new[k]), axis=-1)) < 0.1
    np.testing.assert_allclose(new_usage, [0.5, 1e-3, 0.3, 1e-3])
    usage = vqvae.code_usage(jnp.array([[0, 0], [2, 0]]), 4)
    np.testing.assert_allclose(usage, [0.75, 0.0, 0.25, 0.0])


@pytest.fixture(scope="module")
def tiny_ae():
    config = repo_config("grid_autoencoder.py", "tiny")
    config.model.resolution = 8
    tx, _ = loop.make_optimizer(config.optim, 50)
    vq, state = vqvae_trainer.init_state(config, tx)
    return config, tx, vq, state


def test_vqvae_shapes_and_a_differentiable_pre_quantisation_encoder(tiny_ae):
    config, _, vq, state = tiny_ae
    x = jnp.tanh(jax.random.normal(jax.random.key(0), (2, 8, 8, 8)))
    z = jax.jit(vq.encode)(state["params"], x)
    assert z.shape == (2, 2, 2, 2, config.model.latent_dim)  # stem 2 x one level: f4
    x_hat, aux = jax.jit(vq.forward)(state["params"], x)
    assert x_hat.shape == x.shape and aux["indices"].shape == (2, 2, 2, 2)
    np.testing.assert_allclose(jax.jit(vq.decode)(state["params"], z), x_hat, atol=1e-5)
    g = jax.jit(jax.grad(lambda x: jnp.sum(vq.encode(state["params"], x) ** 2)))(x)
    assert np.all(np.isfinite(g)) and float(jnp.abs(g).sum()) > 0


def test_training_steps_lower_the_loss_and_reinitialise_dead_codes(tiny_ae):
    config, tx, vq, state = tiny_ae
    config = config.copy_and_resolve_references()
    config.model.reinit_every = 3
    config.model.usage_decay = 0.5  # forget the initial uniform usage within 3 steps
    config.model.dead_code_threshold = 0.5  # dead: used by < half a uniform share
    step = jax.jit(vqvae_trainer.make_train_step(vq, tx, config))
    ball = jnp.linalg.norm(jnp.stack(jnp.meshgrid(*[jnp.linspace(-1, 1, 8)] * 3,
                                                  indexing="ij"), -1), axis=-1)
    batch = dict(object=jnp.stack([jnp.clip((ball - r) * 4, -1, 1) for r in (0.4, 0.7)]))
    first = None
    for i in range(12):
        state, metrics = step(state, batch, jax.random.key(0))
        first = first if first is not None else float(metrics["reconstruction"])
        if i == 2:  # the first re-initialisation: most of the 32 codes were never used
            assert int(metrics["dead_codes"]) > 0
    assert float(metrics["reconstruction"]) < first
    assert np.isfinite(float(metrics["loss"]))
    figures = vqvae_trainer.grid_metrics(np.asarray(batch["object"]),
                                         np.asarray(batch["object"]))
    assert figures == dict(iou=1.0, iou_shell=1.0, sdf_error_mm=0.0)
    shifted = vqvae_trainer.grid_metrics(np.roll(np.asarray(batch["object"]), 1, axis=1),
                                         np.asarray(batch["object"]))
    assert 0.0 < shifted["iou"] < 1.0 and shifted["iou"] <= shifted["iou_shell"] < 1.0
    assert shifted["sdf_error_mm"] > 0.0

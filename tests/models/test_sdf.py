"""Tests for the object SDF network."""
import jax
import jax.numpy as jnp
import numpy as np

from hoijax.models.sdf import fit_sphere, init_sdf, positional_encoding, sdf_value


def test_geometric_init_is_a_sphere_with_unit_gradient():
    center = np.array([0.02, -0.01, 0.05])
    params = init_sdf(jax.random.key(0), init_radius=0.05, center=center)
    params = fit_sphere(params, jax.random.key(2), radius=0.05)
    dirs = jax.random.normal(jax.random.key(1), (200, 3))
    dirs = dirs / jnp.linalg.norm(dirs, axis=-1, keepdims=True)
    for r in (0.03, 0.05, 0.07):
        np.testing.assert_allclose(sdf_value(params, center + r * dirs), r - 0.05, atol=2e-3)
    grads = jax.vmap(jax.grad(lambda x: sdf_value(params, x)))(center + 0.05 * dirs)
    norms = np.asarray(jnp.linalg.norm(grads, axis=-1))
    assert abs(norms.mean() - 1.0) < 0.05 and np.all(np.abs(norms - 1.0) < 0.25)
    cos = np.sum(np.asarray(grads) * np.asarray(dirs), -1) / norms
    assert np.all(cos > 0.95)  # outward


def test_encoding_shape_and_single_point_call():
    enc = positional_encoding(jnp.ones((4, 3)), 6)
    assert enc.shape == (4, 39)
    params = init_sdf(jax.random.key(0))
    assert sdf_value(params, jnp.zeros(3)).shape == ()

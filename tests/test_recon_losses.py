"""Tests for the reconstruction loss terms."""
import jax
import jax.numpy as jnp
import numpy as np

from hoijax.recon.losses import eikonal_loss, mask_loss, temporal_smoothness
from hoijax.render.compose import compose_layers


def _layer(mask, depth):
    mask = jnp.asarray(mask, jnp.float32)
    return dict(mask=mask, depth=jnp.full(mask.shape, depth),
                normal=jnp.zeros(mask.shape + (3,)).at[..., 2].set(-1.0))


def test_mask_loss_is_zero_for_matching_masks_and_sees_occlusion():
    hand = np.zeros((8, 8))
    hand[:, :4] = 1
    obj = np.zeros((8, 8))
    obj[:, 2:] = 1
    # Hand in front: the object shows only where the hand is not.
    composed = compose_layers(_layer(hand, 0.40), _layer(obj, 0.45))
    visible_obj = obj * (1 - hand)
    assert float(mask_loss(composed, visible_obj, hand, hand_weight=1.0)) < 1e-6
    # The same masks with the object in front disagree in the overlap (2 columns of 8).
    swapped = compose_layers(_layer(hand, 0.50), _layer(obj, 0.45))
    loss = float(mask_loss(swapped, visible_obj, hand, hand_weight=1.0))
    np.testing.assert_allclose(loss, 2 * 16 / 64, atol=1e-3)


def test_mask_loss_gradient_reaches_the_object_mask():
    target = jnp.ones((4, 4))
    grad = jax.grad(lambda m: mask_loss(compose_layers(_layer(jnp.zeros((4, 4)), 0.4),
                                                       _layer(m, 0.5)), target,
                                        jnp.zeros((4, 4))))(jnp.full((4, 4), 0.5))
    assert np.all(np.asarray(grad) < 0)  # raising the object mask lowers the loss


def test_eikonal_and_temporal_terms():
    g = jnp.array([[1.0, 0, 0], [0, 2.0, 0]])
    np.testing.assert_allclose(eikonal_loss(g), 0.5, atol=1e-6)
    joints = jnp.zeros((3, 2, 3))
    still = jnp.tile(jnp.eye(4), (3, 1, 1))
    assert float(temporal_smoothness(joints, still)) == 0.0
    moving = still.at[:, 0, 3].set(jnp.array([0.0, 0.01, 0.02]))
    # 1 cm per frame -> 1 cm^2
    np.testing.assert_allclose(temporal_smoothness(joints, moving), 1.0, rtol=1e-5)

"""Tests for the reconstruction loss terms."""
import jax
import jax.numpy as jnp
import numpy as np

from hoijax.recon.losses import (eikonal_loss, hand_prior_loss, hTo_offset_penalty, mask_losses,
                                 temporal_smoothness)
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
    assert max(map(float, mask_losses(composed, visible_obj, hand))) < 1e-6
    # The same masks with the object in front disagree in the overlap (2 columns of 8).
    swapped = compose_layers(_layer(hand, 0.50), _layer(obj, 0.45))
    obj_loss, hand_loss = mask_losses(swapped, visible_obj, hand)
    # the object is seen where the hand is (16 pixels), the hand is not seen there
    np.testing.assert_allclose([obj_loss, hand_loss], [16 / 64, 16 / 64], atol=1e-3)


def test_mask_loss_gradient_reaches_the_object_mask():
    target = jnp.ones((4, 4))
    grad = jax.grad(lambda m: mask_losses(compose_layers(_layer(jnp.zeros((4, 4)), 0.4),
                                                         _layer(m, 0.5)), target,
                                          jnp.zeros((4, 4)))[0])(jnp.full((4, 4), 0.5))
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


def test_regularisers_and_finite_eikonal_gradient_at_zero():
    g = jnp.zeros((2, 3))  # a flat field: |grad| = 0, where a raw norm has no gradient
    np.testing.assert_allclose(eikonal_loss(g), 1.0)
    assert np.all(np.isfinite(jax.grad(eikonal_loss)(g)))
    hA = jnp.zeros((3, 45))
    np.testing.assert_allclose(hand_prior_loss(hA.at[0, 0].set(0.3), hA), 0.09 / 135)
    rot, trans = jnp.zeros((2, 3)), jnp.zeros((2, 3)).at[1, 2].set(0.01)  # 1 cm in one frame
    np.testing.assert_allclose(hTo_offset_penalty(rot, trans), 0.5, rtol=1e-5)

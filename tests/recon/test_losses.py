"""Tests for the reconstruction loss terms."""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from hoijax.geometry.camera import look_at, project
from hoijax.geometry.transforms import apply_to_points
from hoijax.recon.losses import (carve_loss, contact_losses, eikonal_loss, hand_prior_loss,
                                 hTo_offset_penalty, mask_losses, part_contact_loss,
                                 silhouette_free, temporal_smoothness)
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


# A hand wrapped around an upright cylinder of radius 3 cm, as six parts (thumb, four
# fingers, palm) of 5 points each on the circle, around its whole circumference.
WRAP_RADIUS = 0.03
WRAP_ANGLES = np.deg2rad([0.0, 60.0, 120.0, 180.0, 240.0, 300.0])


def _wrap_parts():
    heights = np.linspace(-0.01, 0.01, 5)
    verts = np.array([[WRAP_RADIUS * np.cos(a), WRAP_RADIUS * np.sin(a), z]
                      for a in WRAP_ANGLES for z in heights])
    return jnp.asarray(verts, jnp.float32), tuple(np.arange(6 * 5).reshape(6, 5))


def _elliptic_cylinder(axes, points):
    """A bound of the SDF of the infinite elliptic cylinder with semi-axes (a, b) in x, y:
    exact on its zero set and along both axes."""
    a, b = axes
    r = jnp.sqrt((points[..., 0] / a) ** 2 + (points[..., 1] / b) ** 2)
    return (r - 1.0) * jnp.minimum(a, b)


def _descend(loss, x, steps, lr):
    """x after `steps` Adam steps on loss(x, step) (one compiled scan)."""
    opt = optax.adam(lr)

    def step(carry, i):
        x, state = carry
        updates, state = opt.update(jax.grad(loss)(x, i), state)
        return (optax.apply_updates(x, updates), state), None

    return np.asarray(jax.lax.scan(step, (x, opt.init(x)), jnp.arange(steps))[0][0])


def _fit_axes(loss_of_sdf, axes):
    verts, _ = _wrap_parts()
    return _descend(lambda a, _: loss_of_sdf(_elliptic_cylinder(a, verts)[None]), axes, 400,
                    5e-4)


def test_part_contact_restores_a_flattened_wrapped_cylinder():
    """The object starts flattened along y (the depth a camera on the y axis cannot see);
    every part of the wrapping hand is within reach: the part attraction pulls the surface
    out to all six, back to the grasp's 3 cm radius, while the nearest-vertex contact is
    already satisfied by the parts on the x axis and leaves the object flat."""
    _, parts = _wrap_parts()
    flat = jnp.array([WRAP_RADIUS, 0.4 * WRAP_RADIUS])

    def with_parts(sdf):
        return part_contact_loss(sdf, parts, reach=0.02) + 0.1 * contact_losses(sdf)[1]

    def nearest_only(sdf):
        attraction, penetration = contact_losses(sdf)
        return attraction + 0.1 * penetration

    np.testing.assert_allclose(_fit_axes(with_parts, flat), [WRAP_RADIUS, WRAP_RADIUS],
                               atol=1e-3)
    np.testing.assert_allclose(_fit_axes(nearest_only, flat), flat, atol=1e-4)


def test_part_contact_ignores_parts_out_of_reach():
    sdf = jnp.array([[0.005, 0.03, -0.001]])  # one vertex per part: near, far, inside
    parts = (np.array([0]), np.array([1]), np.array([2]))
    value = part_contact_loss(sdf, parts, reach=0.02)
    np.testing.assert_allclose(value, (0.5 ** 2) / 3, rtol=1e-5)  # only the near part, cm^2
    grad = jax.grad(lambda d: part_contact_loss(d, parts, reach=0.02))(sdf)
    assert float(grad[0, 0]) > 0 and float(grad[0, 1]) == 0 and float(grad[0, 2]) == 0


def _sphere_views(radius=0.03, size=48, focal=120.0, distance=0.4):
    """Four side views (from +-x, +-y) of a sphere at the origin: cTo (4,4,4), K (4,3,3)
    and the object masks (4,size,size), area-averaged as a clip's are (4 x 4 rays per
    pixel, each tested against the sphere)."""
    eyes = [(distance, 0, 0), (-distance, 0, 0), (0, distance, 0), (0, -distance, 0)]
    cTo = np.stack([look_at(np.array(e, float), np.zeros(3), up=(0.0, 0.0, 1.0))
                    for e in eyes])
    K = np.array([[focal, 0, (size - 1) / 2], [0, focal, (size - 1) / 2], [0, 0, 1]])
    sub = (np.arange(4) + 0.5) / 4 - 0.5  # sub-pixel offsets around each pixel centre
    v, u = np.mgrid[:size, :size]
    u = u[..., None, None] + sub[None, :]
    v = v[..., None, None] + sub[:, None]
    rays = np.stack(np.broadcast_arrays((u - K[0, 2]) / focal, (v - K[1, 2]) / focal, 1.0), -1)
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    masks = []
    for T in cTo:
        centre = T[:3, 3]  # the sphere's centre in the camera frame
        along = rays @ centre
        miss = np.linalg.norm(rays * along[..., None] - centre, axis=-1)
        masks.append((miss < radius).mean(axis=(-2, -1)).astype(np.float32))
    return cTo, np.broadcast_to(K, (4, 3, 3)), np.stack(masks)


def _free(points, cTo, K, obj_mask, hand_mask):
    uv, depth = project(apply_to_points(jnp.asarray(cTo, jnp.float32), points),
                        jnp.asarray(K, jnp.float32))
    return silhouette_free(uv, depth, jnp.asarray(obj_mask), jnp.asarray(hand_mask))


def test_silhouette_free_keeps_the_object_and_what_the_hand_hides():
    cTo, K, obj = _sphere_views()
    inside = jnp.array([[0.0, 0.0, 0.0], [0.02, 0.0, 0.0], [0.0, 0.0, -0.025]])
    above = jnp.array([[0.0, 0.0, 0.06]])
    no_hand = np.zeros_like(obj)
    assert not np.any(_free(inside, cTo, K, obj, no_hand))
    assert np.all(_free(above, cTo, K, obj, no_hand))
    # A hand mask over the whole image in every view: nothing is surely background.
    assert not np.any(_free(above, cTo, K, obj, np.ones_like(obj)))


def test_carving_removes_a_blob_outside_every_silhouette():
    """The field: the true sphere (radius r) and a blob (radius rho) 6 cm above it, which
    no view's mask shows. Descending the carving loss, on new random points at every step
    as the fit draws them, shrinks the blob away and leaves the sphere as it is."""
    cTo, K, obj = _sphere_views()
    no_hand = np.zeros_like(obj)

    def loss(radii, step):
        points = jax.random.uniform(jax.random.PRNGKey(step), (4096, 3), minval=-0.1,
                                    maxval=0.1)
        sphere = jnp.linalg.norm(points, axis=-1) - radii[0]
        blob = jnp.linalg.norm(points - jnp.array([0.0, 0.0, 0.06]), axis=-1) - radii[1]
        return carve_loss(jnp.minimum(sphere, blob), _free(points, cTo, K, obj, no_hand))

    radii = jnp.array([0.03, 0.02])
    assert float(loss(radii, 0)) > 0
    radii = _descend(loss, radii, 300, 5e-4)
    # The blob is gone: under 3 mm, less than a pixel (3.3 mm at 0.4 m), where the random
    # points stop finding it (from 2 cm).
    assert radii[1] < 0.003, radii
    # The sphere keeps its radius (no point within a pixel of its rim is carved).
    np.testing.assert_allclose(radii[0], 0.03, atol=5e-4)

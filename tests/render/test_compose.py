"""Tests for hoijax.render.compose (depth blending) and hoijax.render.geometry_images."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hoijax.render import compose as cmp
from hoijax.render import geometry_images as gi

H = W = 16
BAD = (0.0, np.inf, -np.inf, np.nan, 1e30)  # placeholder values behind zero masks


def _assert_finite(tree):
    for leaf in jax.tree_util.tree_leaves(tree):
        assert np.all(np.isfinite(np.asarray(leaf))), leaf


def _disc(cx, cy, r, depth, normal):
    """Binary disc layer on an HxW grid: mask, constant depth and normal inside, 0 outside."""
    y, x = np.mgrid[:H, :W] + 0.5
    m = (((x - cx) ** 2 + (y - cy) ** 2) < r * r).astype(np.float32)
    n = np.asarray(normal, np.float32)
    n = n / np.linalg.norm(n)
    return {"mask": jnp.asarray(m), "depth": jnp.asarray(m * depth),
            "normal": jnp.asarray(m[..., None] * n)}


def _scene(hand_depth, obj_depth):
    """Two overlapping discs: hand on the left, object on the right."""
    hand = _disc(6, 8, 5, hand_depth, [0, 0, -1])
    obj = _disc(10, 8, 5, obj_depth, [1, 0, -1])
    both = np.asarray(hand["mask"] * obj["mask"]) > 0
    only_h = (np.asarray(hand["mask"]) > 0) & ~both
    only_o = (np.asarray(obj["mask"]) > 0) & ~both
    none = ~(both | only_h | only_o)
    assert both.any() and only_h.any() and only_o.any() and none.any()
    return hand, obj, both, only_h, only_o, none


def _random_layers(seed, shape=(2, H, W), hand=False):
    """Random soft layers; a third of the pixels have zero coverage."""
    rng = np.random.default_rng(seed)
    m = rng.uniform(0.0, 1.0, shape).astype(np.float32)
    m[rng.uniform(size=shape) < 0.33] = 0.0
    m[rng.uniform(size=shape) < 0.1] = 1.0
    n = rng.normal(size=shape + (3,)).astype(np.float32)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    layer = {"mask": m, "depth": rng.uniform(0.3, 0.7, shape).astype(np.float32),
             "normal": n}
    if hand:
        layer["attributes"] = rng.uniform(-1, 1, shape + (2,)).astype(np.float32)
    return {k: jnp.asarray(v) for k, v in layer.items()}


def _with_bad_values(layer, value):
    """Puts `value` into every non-mask entry behind a zero mask."""
    out = dict(layer)
    empty = layer["mask"] == 0
    for k, v in layer.items():
        if k != "mask":
            e = empty if v.ndim == empty.ndim else empty[..., None]
            out[k] = jnp.where(e, jnp.float32(value), v)
    return out


compose = jax.jit(cmp.compose_layers)


# ------------------------------------------------------------------------- compose


def test_semantic_is_a_distribution():
    hand, obj = _random_layers(0), _random_layers(1)
    out = compose(hand, obj)
    sem = np.asarray(out["semantic"])
    chex.assert_shape(sem, (2, H, W, 3))
    assert np.all(sem >= 0.0) and np.all(sem <= 1.0)
    np.testing.assert_allclose(sem.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(sem[..., 0], out["hand_mask"])
    np.testing.assert_array_equal(sem[..., 1], out["object_mask"])
    # background = 1 - visible_hand - visible_object, >= 0 (to rounding) as the algebra says
    np.testing.assert_allclose(sem[..., 2], 1.0 - sem[..., 0] - sem[..., 1], atol=1e-6)
    assert np.all(1.0 - sem[..., 0] - sem[..., 1] >= -1e-6)
    # the visible parts never exceed the layers' own coverage
    assert np.all(sem[..., 0] <= np.asarray(hand["mask"]) + 1e-7)
    assert np.all(sem[..., 1] <= np.asarray(obj["mask"]) + 1e-7)


@pytest.mark.parametrize("object_in_front", [True, False])
def test_depth_order_decides_occlusion(object_in_front):
    d_h, d_o = (0.50, 0.45) if object_in_front else (0.45, 0.50)
    hand, obj, both, only_h, only_o, none = _scene(d_h, d_o)
    out = compose(hand, obj)
    sem, depth, normal = (np.asarray(out[k]) for k in ("semantic", "depth", "normal"))
    front, back = (obj, hand) if object_in_front else (hand, obj)
    want = np.array([0.0, 1.0, 0.0] if object_in_front else [1.0, 0.0, 0.0])
    np.testing.assert_allclose(sem[both], np.broadcast_to(want, sem[both].shape), atol=1e-6)
    np.testing.assert_allclose(depth[both], np.asarray(front["depth"])[both], rtol=1e-5)
    np.testing.assert_allclose(normal[both], np.asarray(front["normal"])[both], atol=1e-5)
    assert not np.allclose(normal[both], np.asarray(back["normal"])[both], atol=1e-2)
    # pixels covered by one layer show that layer; empty ones are background
    for region, layer, k in ((only_h, hand, 0), (only_o, obj, 1)):
        np.testing.assert_array_equal(sem[region][:, k], 1.0)
        np.testing.assert_allclose(depth[region], np.asarray(layer["depth"])[region], rtol=1e-6)
        np.testing.assert_allclose(normal[region], np.asarray(layer["normal"])[region],
                                   atol=1e-6)
    np.testing.assert_array_equal(sem[none], np.broadcast_to([0.0, 0.0, 1.0], sem[none].shape))
    assert np.all(depth[none] == 0) and np.all(normal[none] == 0)


def test_soft_depth_test_and_softness():
    hand = {"mask": jnp.ones((1, 1)), "depth": jnp.full((1, 1), 0.5),
            "normal": jnp.zeros((1, 1, 3)).at[..., 2].set(-1.0)}
    obj = dict(hand, depth=jnp.full((1, 1), 0.5))
    out = compose(hand, obj)  # equal depths: half each
    np.testing.assert_allclose(out["semantic"][0, 0], [0.5, 0.5, 0.0], atol=1e-6)
    obj = dict(hand, depth=jnp.full((1, 1), 0.499))  # 1 mm in front
    p = float(jax.nn.sigmoid(1.0))
    out = compose(hand, obj)
    np.testing.assert_allclose(out["semantic"][0, 0], [1 - p, p, 0.0], atol=1e-4)
    out = compose(hand, obj, depth_softness=1e-5)
    np.testing.assert_allclose(out["semantic"][0, 0], [0.0, 1.0, 0.0], atol=1e-6)


def test_single_soft_layer_is_that_layer():
    hand, obj = _random_layers(2), _random_layers(3)
    obj = dict(obj, mask=jnp.zeros_like(obj["mask"]))
    out = compose(hand, obj)
    m = np.asarray(hand["mask"])
    np.testing.assert_array_equal(out["hand_mask"], m)
    np.testing.assert_array_equal(out["object_mask"], 0.0)
    np.testing.assert_allclose(out["semantic"][..., 2], 1.0 - m, atol=1e-7)
    big = m >= cmp.COVERAGE_EPS
    np.testing.assert_allclose(np.asarray(out["depth"])[big], np.asarray(hand["depth"])[big],
                               rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out["normal"])[m > 0],
                               np.asarray(hand["normal"])[m > 0], atol=1e-6)
    assert np.all(np.asarray(out["depth"])[m == 0] == 0)


def _compose_loss(hand, obj):
    out = cmp.compose_layers(hand, obj)
    target = jnp.zeros_like(out["semantic"]).at[..., 1].set(1.0)
    return (jnp.abs(out["semantic"] - target).sum() + out["depth"].sum()
            + (out["normal"] * jnp.array([0.3, -0.2, 1.0])).sum())


compose_grad = jax.jit(jax.grad(_compose_loss, argnums=(0, 1)))


def test_values_behind_zero_masks_do_not_matter():
    hand, obj = _random_layers(4), _random_layers(5)
    ref = compose(hand, obj)
    ref_grad = compose_grad(hand, obj)
    _assert_finite((ref, ref_grad))
    for bad in BAD:
        out = compose(_with_bad_values(hand, bad), _with_bad_values(obj, bad))
        chex.assert_trees_all_equal(out, ref)
        grads = compose_grad(_with_bad_values(hand, bad), _with_bad_values(obj, bad))
        _assert_finite(grads)
        for g, g_ref, layer in ((grads[0], ref_grad[0], hand), (grads[1], ref_grad[1], obj)):
            np.testing.assert_array_equal(g["mask"], g_ref["mask"])
            np.testing.assert_array_equal(np.asarray(g["depth"])[layer["mask"] == 0], 0.0)


def test_empty_images_are_background_with_finite_gradients():
    empty = {"mask": jnp.zeros((2, H, W)), "depth": jnp.zeros((2, H, W)),
             "normal": jnp.zeros((2, H, W, 3))}
    out = compose(empty, empty)
    np.testing.assert_array_equal(out["semantic"][..., 2], 1.0)
    np.testing.assert_array_equal(out["semantic"][..., :2], 0.0)
    np.testing.assert_array_equal(out["depth"], 0.0)
    np.testing.assert_array_equal(out["normal"], 0.0)
    _assert_finite(compose_grad(empty, empty))
    hand, obj, *_ = _scene(0.5, 0.45)  # binary masks: exact 0s and 1s
    _assert_finite(compose_grad(hand, obj))
    g_hand, g_obj = compose_grad(hand, obj)
    assert np.any(np.asarray(g_hand["depth"]) != 0) and np.any(np.asarray(g_obj["mask"]) != 0)


def test_compose_broadcasts_leading_dims():
    hand = _random_layers(6, shape=(3, 1, H, W))
    obj = _random_layers(7, shape=(1, 2, H, W))
    out = compose(hand, obj)
    chex.assert_shape([out["semantic"], out["normal"]], (3, 2, H, W, 3))
    chex.assert_shape([out["hand_mask"], out["object_mask"], out["depth"]], (3, 2, H, W))


# ------------------------------------------------------------------ geometry images


def test_channel_layout():
    assert gi.OBJECT_CHANNELS == ("mask", "nx", "ny", "nz", "depth")
    assert gi.HAND_CHANNELS == gi.OBJECT_CHANNELS + ("u", "v")
    assert (gi.NUM_OBJECT_CHANNELS, gi.NUM_HAND_CHANNELS) == (5, 7)
    names = np.array(gi.HAND_CHANNELS)
    assert names[gi.MASK_INDEX] == "mask" and names[gi.DEPTH_INDEX] == "depth"
    assert tuple(names[gi.NORMAL_SLICE]) == ("nx", "ny", "nz") == tuple(
        names[list(gi.NORMAL_INDICES)])
    assert tuple(names[gi.UV_SLICE]) == ("u", "v") == tuple(names[list(gi.UV_INDICES)])
    assert tuple(names[gi.MASK_SLICE]) == ("mask",)
    assert tuple(names[gi.DEPTH_SLICE]) == ("depth",)
    assert len(gi.OBJECT_BACKGROUND) == 5 and len(gi.HAND_BACKGROUND) == 7
    assert gi.MASK_BACKGROUND == -1.0


def _images(hand, obj):
    ref = gi.reference_depth(hand["mask"], hand["depth"])
    return ref, gi.hand_geometry_image(hand, ref), gi.object_geometry_image(obj, ref)


images = jax.jit(_images)
split_hand = jax.jit(gi.split_hand_image)
split_object = jax.jit(gi.split_object_image)
to_rgb = jax.jit(gi.to_rgb)


def test_geometry_images_shapes_values_and_background():
    hand, obj = _random_layers(8, hand=True), _random_layers(9)
    ref, h_img, o_img = images(hand, obj)
    chex.assert_shape(ref, (2,))
    chex.assert_shape(h_img, (2, H, W, 7))
    chex.assert_shape(o_img, (2, H, W, 5))
    for img, layer, bg in ((h_img, hand, gi.HAND_BACKGROUND), (o_img, obj, gi.OBJECT_BACKGROUND)):
        img, m = np.asarray(img), np.asarray(layer["mask"])
        np.testing.assert_allclose(img[..., 0], 2 * m - 1, atol=1e-7)
        # exactly the background constants (not -0.0, not approximately) where m == 0
        empty = img[m == 0]
        assert empty.size and np.array_equal(empty, np.broadcast_to(bg, empty.shape))
        assert not np.any(np.signbit(empty[:, 1:]))
        # full coverage: the values themselves; depth relative to ref, in decimetres
        full = m == 1
        np.testing.assert_allclose(img[..., gi.NORMAL_SLICE][full],
                                   np.asarray(layer["normal"])[full], atol=1e-7)
        rel = (np.asarray(layer["depth"]) - np.asarray(ref)[:, None, None]) * 10
        np.testing.assert_allclose(img[..., gi.DEPTH_INDEX][full], rel[full], atol=1e-5)
        # soft coverage: premultiplied
        np.testing.assert_allclose(img[..., gi.DEPTH_INDEX], m * rel, atol=1e-5)
    np.testing.assert_allclose(np.asarray(h_img)[..., gi.UV_SLICE],
                               np.asarray(hand["mask"])[..., None] * hand["attributes"],
                               atol=1e-7)
    # garbage behind zero masks changes nothing
    for bad in BAD:
        _, h_bad, o_bad = images(_with_bad_values(hand, bad), _with_bad_values(obj, bad))
        np.testing.assert_array_equal(h_bad, h_img)
        np.testing.assert_array_equal(o_bad, o_img)


def test_split_inverts_geometry_images():
    hand, obj = _random_layers(10, hand=True), _random_layers(11)
    hand = dict(hand, mask=jnp.where(hand["mask"] > 0, jnp.maximum(hand["mask"], 1e-2), 0.0))
    ref, h_img, o_img = images(hand, obj)
    h_back = split_hand(h_img, ref)
    o_back = split_object(o_img, ref)
    assert set(h_back) == {"mask", "normal", "depth", "attributes"}
    assert set(o_back) == {"mask", "normal", "depth"}
    for back, layer in ((h_back, hand), (o_back, obj)):
        m = np.asarray(layer["mask"])
        np.testing.assert_allclose(back["mask"], m, atol=1e-7)
        inside = m >= gi.MIN_COVERAGE
        assert np.any(inside & (m < 1))  # soft coverage is exercised
        np.testing.assert_allclose(np.asarray(back["normal"])[inside],
                                   np.asarray(layer["normal"])[inside], atol=1e-5)
        np.testing.assert_allclose(np.asarray(back["depth"])[inside],
                                   np.asarray(layer["depth"])[inside], atol=1e-5)
        np.testing.assert_array_equal(np.asarray(back["depth"])[m == 0], 0.0)
        np.testing.assert_array_equal(np.asarray(back["normal"])[m == 0], 0.0)
    np.testing.assert_allclose(np.asarray(h_back["attributes"])[hand["mask"] > 0],
                               np.asarray(hand["attributes"])[hand["mask"] > 0], atol=1e-5)
    # generated samples stray outside [-1, 1] and are inconsistent: still finite
    noise = jax.random.normal(jax.random.key(0), (2, H, W, 7)) * 2
    _assert_finite(split_hand(noise, ref))


def test_reference_depth():
    rng = np.random.default_rng(12)
    m = rng.uniform(size=(3, H, W)).astype(np.float32)
    d = rng.uniform(0.3, 0.7, (3, H, W)).astype(np.float32)
    m[1] = 0.0  # empty hand
    m[2][m[2] < 0.5] = 0.0
    d[2][m[2] == 0] = np.inf  # values behind a zero mask are ignored
    ref = np.asarray(gi.reference_depth(m, d, fallback=0.42))
    np.testing.assert_allclose(ref[0], (m[0] * d[0]).sum() / m[0].sum(), rtol=1e-5)
    assert ref[1] == np.float32(0.42)
    ok = m[2] > 0
    np.testing.assert_allclose(ref[2], (m[2][ok] * d[2][ok]).sum() / m[2].sum(), rtol=1e-5)
    # default fallback: the mean of the (finite) depths
    ref = np.asarray(gi.reference_depth(m, d))
    np.testing.assert_allclose(ref[1], d[1].mean(), rtol=1e-6)
    # per-image fallbacks and an all-empty, all-zero render
    ref = gi.reference_depth(np.zeros((2, H, W)), np.zeros((2, H, W)), fallback=jnp.array([.3, .6]))
    np.testing.assert_array_equal(ref, np.float32([0.3, 0.6]))
    assert float(gi.reference_depth(jnp.zeros((H, W)), jnp.zeros((H, W)))) == 0.0


def _image_loss(hand, obj):
    ref, h_img, o_img = _images(hand, obj)
    w = jnp.arange(7.0) + 1
    rgb = gi.to_rgb(o_img)
    return (ref + (h_img * w).sum((-3, -2, -1)) + (o_img * w[:5]).sum((-3, -2, -1))).sum() + sum(
        v.sum() for v in rgb.values())


image_grad = jax.jit(jax.grad(_image_loss, argnums=(0, 1)))


def test_geometry_image_gradients_finite():
    hand, obj = _random_layers(13, hand=True), _random_layers(14)
    g_hand, g_obj = image_grad(hand, obj)
    _assert_finite((g_hand, g_obj))
    assert np.any(np.asarray(g_hand["depth"]) != 0) and np.any(np.asarray(g_obj["mask"]) != 0)
    for bad in BAD:
        _assert_finite(image_grad(_with_bad_values(hand, bad), _with_bad_values(obj, bad)))
    empty_h = {k: jnp.zeros_like(v) for k, v in hand.items()}
    empty_o = {k: jnp.zeros_like(v) for k, v in obj.items()}
    _assert_finite(image_grad(empty_h, empty_o))
    # the whole chain: compose -> geometry image of the blend's front surface
    def chain(h, o):
        out = cmp.compose_layers(h, o)
        front = {"mask": 1.0 - out["semantic"][..., 2], "depth": out["depth"],
                 "normal": out["normal"]}
        return gi.object_geometry_image(front, gi.reference_depth(h["mask"], h["depth"])).sum()

    chain_grad = jax.jit(jax.grad(chain, argnums=(0, 1)))
    _assert_finite(chain_grad(empty_h, empty_o))
    _assert_finite(chain_grad(hand, obj))


def test_to_rgb_panels():
    hand, obj = _random_layers(15, hand=True), _random_layers(16)
    _, h_img, o_img = images(hand, obj)
    h_rgb, o_rgb = to_rgb(h_img), to_rgb(o_img)
    assert set(h_rgb) == {"mask", "normal", "depth", "uv"}
    assert set(o_rgb) == {"mask", "normal", "depth"}
    for panel in list(h_rgb.values()) + list(o_rgb.values()):
        chex.assert_shape(panel, (2, H, W, 3))
        p = np.asarray(panel)
        assert np.all((p >= 0) & (p <= 1))
    m = np.asarray(obj["mask"])
    np.testing.assert_allclose(o_rgb["mask"][..., 0], m, atol=1e-7)
    np.testing.assert_array_equal(np.asarray(o_rgb["depth"])[m == 0], 0.0)
    np.testing.assert_array_equal(np.asarray(o_rgb["normal"])[m == 0], 0.5)
    # nearer is brighter
    hand, obj, *_ = _scene(0.5, 0.45)
    near = gi.to_rgb(gi.object_geometry_image(obj, 0.5))["depth"]
    far = gi.to_rgb(gi.object_geometry_image(obj, 0.4))["depth"]
    inside = np.asarray(obj["mask"]) > 0
    assert np.all(np.asarray(near)[inside] > np.asarray(far)[inside])

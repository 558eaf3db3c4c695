"""Tests for hoijax.render.rasterize against a brute-force ray caster and finite differences."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import trimesh

from hoijax.geometry.camera import orbit_camera
from hoijax.geometry.transforms import apply_to_points
from hoijax.render.rasterize import rasterize
from hoijax.render.reference import raycast_mesh

SIZE = (40, 48)  # H, W: deliberately not square


@functools.lru_cache(maxsize=None)
def _jit(**options):
    return jax.jit(functools.partial(rasterize, **options), static_argnames=("image_size",))


def _render(verts, faces, K, image_size=SIZE, **options):
    return _jit(**options)(jnp.asarray(verts, jnp.float32), jnp.asarray(faces), jnp.asarray(K),
                           image_size=image_size)


def _intrinsics(focal, image_size=SIZE):
    h, w = image_size
    return np.array([[focal, 0, (w - 1) / 2], [0, focal, (h - 1) / 2], [0, 0, 1]], np.float32)


@pytest.fixture(scope="module")
def hand_scene(standin_right):
    """The stand-in hand seen from above and behind, in the camera frame."""
    verts = np.asarray(standin_right.v_template, np.float64)
    cam = orbit_camera(verts.mean(0), 0.33, 70, 50)
    verts_c = apply_to_points(cam, verts)
    K = _intrinsics(55.0)
    depth, face, bary = raycast_mesh(verts_c, np.asarray(standin_right.faces), K, SIZE)
    return verts_c, np.asarray(standin_right.faces), K, depth, face, bary


def _iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def test_hard_mode_equals_ray_caster(hand_scene):
    verts, faces, K, depth, face, _ = hand_scene
    out = _render(verts, faces, K, sigma=0.0, faces_per_pixel=1)
    hit = np.isfinite(depth)
    assert hit.sum() > 200
    np.testing.assert_array_equal(np.asarray(out["mask"]) > 0.5, hit)
    np.testing.assert_allclose(np.asarray(out["depth"])[hit], depth[hit], atol=1e-6)
    np.testing.assert_array_equal(np.asarray(out["face_ids"])[..., 0][hit], face[hit])
    assert np.all(np.asarray(out["depth"])[~hit] == 0) and int(out["dropped_pairs"]) == 0


def test_soft_mode_matches_ray_caster(hand_scene):
    verts, faces, K, depth, _, _ = hand_scene
    out = _render(verts, faces, K, sigma=0.05, faces_per_pixel=10)
    hit = np.isfinite(depth)
    assert _iou(np.asarray(out["mask"]) > 0.5, hit) >= 0.98
    # Depth where the surface is smooth (the 4-neighbourhood hits the same surface layer).
    d = np.where(hit, depth, 1e3)  # misses differ from any hit by far more than 1 cm
    pad = np.pad(d, 1, constant_values=1e3)
    neighbours = np.stack([pad[:-2, 1:-1], pad[2:, 1:-1], pad[1:-1, :-2], pad[1:-1, 2:]])
    smooth = hit & (np.abs(neighbours - d).max(axis=0) < 1e-2)
    assert smooth.sum() > 100
    err = np.abs(np.asarray(out["depth"]) - depth)[smooth]
    assert np.median(err) < 1e-4 and np.percentile(err, 90) < 1e-3


def test_attributes_are_perspective_correct(hand_scene):
    """Interpolating the vertex positions must give the ray-cast hit point."""
    verts, faces, K, depth, face, bary = hand_scene
    out = jax.jit(lambda v: rasterize(v, faces, K, SIZE, sigma=0.0, faces_per_pixel=1,
                                      attributes=v))(jnp.asarray(verts, jnp.float32))
    hit = np.isfinite(depth)
    expect = np.einsum("hwk,hwkc->hwc", bary, verts[faces[np.maximum(face, 0)]])
    np.testing.assert_allclose(np.asarray(out["attributes"])[hit], expect[hit], atol=2e-6)


def test_sphere_normals_and_memory_bounded_large_render():
    """A 256x256 render of a ~20k-face sphere: silhouette, depth and normals vs the sphere."""
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=0.1)  # 20480 faces
    center = np.array([0.01, -0.02, 0.5])
    verts = np.asarray(sphere.vertices) + center
    size = (256, 256)
    K = _intrinsics(400.0, size)
    out = _render(verts, sphere.faces, K, image_size=size, sigma=0.0, faces_per_pixel=1)
    # Exact ray-sphere intersection per pixel.
    v, u = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    d = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    b = d @ center
    disc = b * b - (center @ center - 0.1 ** 2)
    hit = disc > 0
    t = b - np.sqrt(np.maximum(disc, 0))
    point = t[..., None] * d
    assert _iou(np.asarray(out["mask"]) > 0.5, hit) >= 0.98
    inner = hit & (disc > 0.2 * disc.max())
    assert np.abs(np.asarray(out["depth"])[inner] - point[inner][:, 2]).max() < 1e-3
    normal = (point - center) / 0.1
    cos = np.sum(np.asarray(out["normal"])[inner] * normal[inner], -1)
    assert np.degrees(np.arccos(np.clip(cos.min(), -1, 1))) < 3.0


def _two_triangles():
    verts = np.array([[-0.3, -0.3, 1.0], [0.3, -0.25, 1.1], [-0.2, 0.3, 0.9],
                      [0.35, 0.3, 1.2]], np.float64)
    faces = np.array([[0, 1, 2], [1, 3, 2]])
    return verts, faces, _intrinsics(30.0, (16, 16))


def test_gradients_match_finite_differences():
    verts, faces, K = _two_triangles()
    rng = np.random.default_rng(0)
    w_mask, w_depth = rng.random((16, 16)), rng.random((16, 16))
    render = _jit(sigma=1.0, faces_per_pixel=4, gamma=1e-2)

    def loss(v, k):
        out = render(v, jnp.asarray(faces), k, image_size=(16, 16))
        return jnp.sum(out["mask"] * w_mask) + jnp.sum(out["depth"] * w_depth)

    v0, k0 = jnp.asarray(verts, jnp.float32), jnp.asarray(K)
    g_v, g_k = jax.jit(jax.grad(loss, argnums=(0, 1)))(v0, k0)
    assert np.all(np.isfinite(g_v)) and np.all(np.isfinite(g_k))
    for direction_seed in range(3):
        dv = np.random.default_rng(direction_seed).normal(size=verts.shape) * 3e-4
        fd = (loss(v0 + dv, k0) - loss(v0 - dv, k0)) / 2
        np.testing.assert_allclose(float(jnp.sum(g_v * dv)), float(fd), rtol=2e-2, atol=1e-4)
    dk = np.zeros((3, 3), np.float32)
    dk[0, 0] = dk[1, 1] = 0.01  # focal length (pixels)
    fd = (loss(v0, k0 + dk) - loss(v0, k0 - dk)) / 2
    np.testing.assert_allclose(float(jnp.sum(g_k * dk)), float(fd), rtol=5e-2, atol=1e-4)


@pytest.mark.parametrize("case", ["degenerate", "behind_camera", "empty"])
def test_bad_geometry_gives_finite_values_and_gradients(case):
    verts, faces, K = _two_triangles()
    if case == "degenerate":  # a zero-area face and a face with a repeated vertex
        verts = np.concatenate([verts, [[0.0, 0.0, 1.0], [0.1, 0.1, 1.0], [0.2, 0.2, 1.0]]])
        faces = np.concatenate([faces, [[4, 5, 6], [0, 0, 1]]])
    elif case == "behind_camera":  # one face straddles z = 0, one is fully behind
        verts = np.concatenate([verts, [[0.0, 0.0, -0.5], [0.1, 0.0, 0.0], [0.0, 0.1, 0.2]]])
        faces = np.concatenate([faces, [[4, 5, 6], [0, 4, 5]]])
    else:  # nothing in view
        verts = verts + np.array([0.0, 0.0, -3.0])
    render = _jit(sigma=1.0, faces_per_pixel=4, attributes=None)

    def loss(v):
        out = render(v, jnp.asarray(faces), jnp.asarray(K), image_size=(16, 16))
        return jnp.sum(out["mask"]) + jnp.sum(out["depth"]) + jnp.sum(out["normal"])

    v = jnp.asarray(verts, jnp.float32)
    out = render(v, jnp.asarray(faces), jnp.asarray(K), image_size=(16, 16))
    for key in ("mask", "depth", "normal"):
        assert np.all(np.isfinite(out[key])), key
    grad = jax.jit(jax.grad(loss))(v)
    assert np.all(np.isfinite(grad))
    if case == "empty":
        assert float(out["mask"].max()) == 0.0 and float(jnp.abs(grad).max()) == 0.0
    else:
        assert float(out["mask"].max()) > 0.5

"""Tests for hoijax.render.rasterize against a brute-force ray caster and finite differences."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import trimesh

from hoijax.geometry.camera import orbit_camera
from hoijax.geometry.transforms import apply_to_points
from hoijax.render.rasterize import is_closed, pad_faces, rasterize, sigma_schedule, zbuffer
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


@pytest.mark.parametrize("selection,cull", [("tiles", False), ("splat", False),
                                             ("splat", True)])
def test_hard_mode_equals_ray_caster(hand_scene, selection, cull):
    """Both selections, with or without back-face culling (the hand is closed)."""
    verts, faces, K, depth, face, _ = hand_scene
    assert is_closed(faces) and not is_closed(faces[1:])
    out = _render(verts, faces, K, sigma=0.0, faces_per_pixel=1, selection=selection,
                  cull_backfaces=cull)
    hit = np.isfinite(depth)
    assert hit.sum() > 200
    np.testing.assert_array_equal(np.asarray(out["mask"]) > 0.5, hit)
    np.testing.assert_allclose(np.asarray(out["depth"])[hit], depth[hit], atol=1e-6)
    np.testing.assert_array_equal(np.asarray(out["face_ids"])[..., 0][hit], face[hit])
    assert np.all(np.asarray(out["depth"])[~hit] == 0) and int(out["dropped_pairs"]) == 0


@pytest.mark.parametrize("focal,closed", [(55.0, None), (400.0, True)])
def test_zbuffer_equals_ray_caster(hand_scene, focal, closed):
    """The host z-buffer (splat, its pool sized per view) is exact: at the usual scale,
    with padding faces (not closed: no culling), and close up (faces 10-20 px wide, each
    needing several windows), culled."""
    verts, faces, _, _, _, _ = hand_scene
    K = _intrinsics(focal)
    depth, face, _ = raycast_mesh(verts, faces, K, SIZE)
    out = zbuffer(verts, pad_faces(faces) if closed is None else faces, K, SIZE,
                  closed=closed)
    hit = np.isfinite(depth)
    assert hit.sum() > 200 and int(out["dropped_pairs"]) == 0
    np.testing.assert_array_equal(np.asarray(out["mask"]) > 0.5, hit)
    np.testing.assert_allclose(np.asarray(out["depth"])[hit], depth[hit], atol=1e-6)
    np.testing.assert_array_equal(np.asarray(out["face_ids"])[..., 0][hit], face[hit])


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


def _same_selection(a, b):
    """The same faces up to near-ties: the two compute 2D distances with different float
    rounding, so a blurring face at the same distance as another (to ~1e-6 px) may swap
    in or out of the K at a few pixels, moving the mask there by a blur-tail amount."""
    for key in ("mask", "depth"):
        diff = np.abs(np.asarray(a[key]) - np.asarray(b[key]))
        assert np.mean(diff > 1e-5) < 0.005 and diff.max() < 0.01, key
    same = np.all(np.sort(a["face_ids"], -1) == np.sort(b["face_ids"], -1), axis=-1)
    assert np.mean(same) > 0.99
    assert int(a["dropped_pairs"]) == 0 and int(b["dropped_pairs"]) == 0


@pytest.mark.parametrize("sigma,k", [(0.5, 4), (0.05, 10)])
def test_splat_selection_equals_tiles(hand_scene, sigma, k):
    verts, faces, K, _, _, _ = hand_scene
    _same_selection(_render(verts, faces, K, sigma=sigma, faces_per_pixel=k),
                    _render(verts, faces, K, sigma=sigma, faces_per_pixel=k, selection="splat"))


def test_splat_large_faces_take_several_windows():
    """Faces far larger than a window (two triangles filling a 16x16 image) are split over
    several windows; with too small a pool the loss is reported, not silent."""
    verts, faces, K = _two_triangles()
    options = dict(sigma=1.0, faces_per_pixel=4, gamma=1e-2)
    _same_selection(_render(verts, faces, K, image_size=(16, 16), **options),
                    _render(verts, faces, K, image_size=(16, 16), selection="splat", window=5,
                            **options))
    short = _render(verts, faces, K, image_size=(16, 16), selection="splat", window=5,
                    num_windows=4, **options)
    assert int(short["dropped_pairs"]) > 0


def test_splat_under_vmap_matches_per_image(hand_scene):
    """vmap (as the fit renders its frames) folds the batch into one selection: the same
    faces and gradients as one image at a time."""
    verts, faces, K, _, _, _ = hand_scene
    shift = np.array([[0.0, 0.0, 0.0], [0.004, -0.003, 0.01]])
    batch = jnp.asarray(verts[None] + shift[:, None], jnp.float32)
    options = dict(sigma=0.5, faces_per_pixel=4, selection="splat", cull_backfaces=True)

    def loss(v):
        out = rasterize(v, faces, K, SIZE, **options)
        return jnp.sum(out["mask"] ** 2) + jnp.sum(out["depth"])

    many = jax.jit(jax.vmap(lambda v: rasterize(v, faces, K, SIZE, **options)))(batch)
    grads = jax.jit(jax.vmap(jax.grad(loss)))(batch)
    grad = jax.jit(jax.grad(loss))
    for i in range(2):
        one = _render(batch[i], faces, K, **options)
        np.testing.assert_array_equal(np.asarray(many["face_ids"][i]),
                                      np.asarray(one["face_ids"]))
        np.testing.assert_allclose(np.asarray(many["mask"][i]), np.asarray(one["mask"]),
                                   atol=1e-6)
        np.testing.assert_allclose(np.asarray(grads[i]), np.asarray(grad(batch[i])),
                                   rtol=1e-4, atol=1e-5)


def test_traced_sigma_with_max_sigma_matches_static(hand_scene):
    """One program for a sigma schedule: sigma traced, selection radius from max_sigma."""
    verts, faces, K, _, _, _ = hand_scene
    fn = jax.jit(lambda v, s: rasterize(v, faces, K, SIZE, sigma=s, max_sigma=0.5,
                                        faces_per_pixel=4, selection="splat",
                                        cull_backfaces=True))
    v = jnp.asarray(verts, jnp.float32)
    for sigma in (0.5, 0.2):
        static = _render(verts, faces, K, sigma=sigma, faces_per_pixel=4, selection="splat",
                         cull_backfaces=True)
        traced = fn(v, jnp.float32(sigma))
        # Faces chosen within the larger radius only add coverage below MIN_COVERAGE each
        # (at most K of them).
        np.testing.assert_allclose(np.asarray(traced["mask"]), np.asarray(static["mask"]),
                                   atol=4 * 1e-3)
    assert float(sigma_schedule(0, 600)) == pytest.approx(0.5)
    assert float(sigma_schedule(599, 600)) == pytest.approx(0.1)


def test_splat_gradients_match_finite_differences():
    verts, faces, K = _two_triangles()
    rng = np.random.default_rng(1)
    w_mask, w_depth = rng.random((16, 16)), rng.random((16, 16))
    render = _jit(sigma=1.0, faces_per_pixel=4, gamma=1e-2, selection="splat", window=6)

    def loss(v):
        out = render(v, jnp.asarray(faces), jnp.asarray(K), image_size=(16, 16))
        return jnp.sum(out["mask"] * w_mask) + jnp.sum(out["depth"] * w_depth)

    v0 = jnp.asarray(verts, jnp.float32)
    g = jax.jit(jax.grad(loss))(v0)
    for seed in range(2):
        dv = np.random.default_rng(seed).normal(size=verts.shape) * 3e-4
        fd = (loss(v0 + dv) - loss(v0 - dv)) / 2
        np.testing.assert_allclose(float(jnp.sum(g * dv)), float(fd), rtol=2e-2, atol=1e-4)


# --- Silhouette bias (issue 14): the fit's final setting keeps mask > 0.5 within 1 px ---

FIT_END = dict(sigma=0.1, faces_per_pixel=4, selection="splat", cull_backfaces=True)


def _distance_to_triangles(points, tri):
    """Exact 2D distance (P,) of points (P,2) to the union of triangles (F,3,2) (0 inside),
    by brute force in float64."""
    from hoijax.render.rasterize import triangle_coordinates
    _, inside, dist2 = triangle_coordinates(np.asarray(tri, np.float64)[None],
                                            np.asarray(points, np.float64)[:, None])
    return np.where(np.asarray(inside), 0.0, np.sqrt(np.asarray(dist2))).min(axis=1)


def _assert_within_one_pixel(soft_mask, hard, tri):
    """Every pixel the soft silhouette adds lies within 1 px of the exact silhouette (exact
    distance), and every pixel it misses has a 4-neighbour outside it (so within 1 px of
    the exact boundary)."""
    got = np.asarray(soft_mask) > 0.5
    extra = np.argwhere(got & ~hard)[:, ::-1].astype(np.float64)  # (u, v)
    if len(extra):
        assert _distance_to_triangles(extra, tri).max() <= 1.0
    pad = np.pad(hard, 1)
    interior = pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    assert not np.any(hard & ~got & interior)
    return (got & hard).sum() / (got | hard).sum()


@pytest.mark.parametrize("view", range(2))
def test_fit_end_hand_silhouette_within_one_pixel(standin_right, view):
    verts = np.asarray(standin_right.v_template, np.float64)
    faces = np.asarray(standin_right.faces)
    cam = orbit_camera(verts.mean(0), 0.4, 40 + 120 * view, 30 - 25 * view)
    verts_c = apply_to_points(cam, verts)
    size = (64, 64)
    K = _intrinsics(90.0, size)
    depth, _, _ = raycast_mesh(verts_c, faces, K, size)
    uv = verts_c[:, :2] / verts_c[:, 2:] * K[0, 0] + K[:2, 2]
    out = _render(verts_c, faces, K, image_size=size, **FIT_END)
    assert _assert_within_one_pixel(out["mask"], np.isfinite(depth), uv[faces]) > 0.95


@pytest.mark.parametrize("shape", ["square", "triangle"])
@pytest.mark.parametrize("sigma", [FIT_END["sigma"], 0.5])
def test_analytic_silhouette_within_one_pixel(shape, sigma):
    """A square (two triangles) and a triangle at z = 1 with corners off the pixel grid; the
    exact silhouette is the set of pixel centres inside."""
    size = (24, 24)
    K = _intrinsics(20.0, size)
    corners = {"square": [[3.3, 4.6], [19.2, 4.6], [19.2, 18.7], [3.3, 18.7]],
               "triangle": [[4.2, 3.4], [20.1, 9.3], [7.6, 20.8]]}[shape]
    uv = np.array(corners)
    faces = np.array([[0, 2, 1], [0, 3, 2]] if shape == "square" else [[0, 2, 1]])
    verts = np.concatenate([(uv - K[:2, 2]) / K[0, 0], np.ones((len(uv), 1))], -1)
    v, u = np.meshgrid(np.arange(24), np.arange(24), indexing="ij")
    pix = np.stack([u.ravel(), v.ravel()], -1).astype(np.float64)
    hard = (_distance_to_triangles(pix, uv[faces]) == 0).reshape(size)
    out = _render(verts, faces, K, image_size=size, **dict(FIT_END, sigma=sigma))
    iou = _assert_within_one_pixel(out["mask"], hard, uv[faces])
    assert iou > (0.97 if sigma < 0.2 else 0.85)

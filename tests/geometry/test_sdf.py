"""The SDF primitives added for the wider synthetic world, against brute-force distances
(dense samples of each surface, a k-d tree) and independent inside tests."""
import jax
import jax.numpy as jnp
import numpy as np
import skimage.measure
from scipy.spatial import cKDTree

from hoijax.geometry import sdf as S


def _check(sdf_fn, surface, inside_fn, points, tol=4e-4):
    """|sdf| equals the distance to the dense surface samples, the sign the inside test."""
    d = np.asarray(sdf_fn(jnp.asarray(points, jnp.float32)))
    brute = cKDTree(surface).query(points)[0]
    inside = inside_fn(points)
    np.testing.assert_array_equal(d < 0, inside)
    np.testing.assert_allclose(np.abs(d), brute, atol=tol)


def _box_points(rng, lo, hi, n=3000):
    return rng.uniform(lo, hi, (n, 3))


def _revolve(curve, n_angles=720, half_angle=np.pi):
    """(M,2) (radius, z) points -> (M*n_angles, 3) on the surface of revolution about z,
    azimuths within +-half_angle."""
    a = np.linspace(-half_angle, half_angle, n_angles, endpoint=False)
    r, z = curve[:, 0:1], curve[:, 1:2]
    return np.stack([r * np.cos(a), r * np.sin(a), np.broadcast_to(z, (len(curve),
                                                                       n_angles))],
                    -1).reshape(-1, 3)


def _dense_polyline(vertices, closed=True, per_metre=20000):
    v = np.asarray(vertices, float)
    ends = np.roll(v, -1, 0) if closed else v[1:]
    starts = v if closed else v[:-1]
    out = []
    for a, b in zip(starts, ends):
        n = max(int(np.linalg.norm(b - a) * per_metre), 2)
        out.append(a + np.linspace(0, 1, n)[:, None] * (b - a))
    return np.concatenate(out)


def test_polygon_2d_exact_both_windings():
    rng = np.random.default_rng(0)
    poly = np.array([[0.0, 0.0], [0.04, 0.0], [0.05, 0.03], [0.02, 0.02], [0.01, 0.05]])
    q = rng.uniform(-0.02, 0.07, (3000, 2))
    boundary = _dense_polyline(poly, per_metre=200000)
    brute = cKDTree(boundary).query(q)[0]
    inside = skimage.measure.points_in_poly(q, poly)
    for vertices in (poly, poly[::-1]):
        d = np.asarray(S.polygon_2d(jnp.asarray(q, jnp.float32), jnp.asarray(vertices,
                                                                             jnp.float32)))
        np.testing.assert_array_equal(d < 0, inside)
        np.testing.assert_allclose(np.abs(d), brute, atol=2e-5)


def test_lathe_is_the_exact_solid_of_revolution():
    # A hollow cup's section: the closing edge along the axis is interior, not surface.
    profile = np.array([[0.0, 0.0], [0.03, 0.0], [0.04, 0.08], [0.036, 0.08], [0.027, 0.01],
                        [0.0, 0.01]])
    rng = np.random.default_rng(1)
    # Points within 3 degrees of the xz plane; the surface sampled within 15 degrees of it
    # (every 0.2 degree), which holds every such point's nearest surface point.
    pts = _box_points(rng, (0.0, -0.003, -0.02), (0.06, 0.003, 0.1), n=2000)
    pts = np.concatenate([pts, pts[:500] * [-1, 1, 1]])  # and across the axis
    pts[:, 1] *= np.abs(pts[:, 0]) / 0.06  # +-3 degrees
    wedge = dict(n_angles=150, half_angle=np.radians(15))
    surface = _revolve(_dense_polyline(profile[1:], closed=False, per_metre=5000), **wedge)
    # The bottom disc and the inner bottom disc (radius samples down to the axis).
    discs = [np.stack([np.linspace(0, r, 150), np.full(150, z)], -1)
             for r, z in ((0.03, 0.0), (0.027, 0.01))]
    surface = np.concatenate([surface] + [_revolve(c, **wedge) for c in discs])
    surface = np.concatenate([surface, surface * [-1, 1, 1]])

    def inside(p):
        q = np.stack([np.linalg.norm(p[:, :2], axis=1), p[:, 2]], -1)
        full = np.concatenate([profile, profile[-2:0:-1] * [-1, 1]])
        return skimage.measure.points_in_poly(q, full)

    _check(lambda p: S.lathe_z(p, jnp.asarray(profile, jnp.float32)), surface, inside, pts,
           tol=3e-4)
    grad = jax.grad(lambda p: S.lathe_z(p, jnp.asarray(profile, jnp.float32)))
    g = np.asarray(jax.vmap(grad)(jnp.asarray(pts[:200], jnp.float32)))
    np.testing.assert_allclose(np.linalg.norm(g, axis=1), 1.0, atol=1e-3)


def test_round_cone_torus_z_and_hex_prism():
    rng = np.random.default_rng(2)
    a, b, ra, rb = np.array([0.0, 0.0, 0.0]), np.array([0.01, 0.0, 0.04]), 0.02, 0.008
    pts = _box_points(rng, -0.04, 0.06)
    t = np.linspace(0, 1, 4000)[:, None]
    centres, radii = a + t * (b - a), ra + t[:, 0] * (rb - ra)
    # The union of the swept spheres, outside points: the distance is the min over spheres.
    d_brute = np.min(np.linalg.norm(pts[:, None] - centres[None], axis=-1) - radii, axis=1)
    d = np.asarray(S.round_cone(jnp.asarray(pts, jnp.float32), a, b, ra, rb))
    np.testing.assert_array_equal(d < 0, d_brute < 0)
    out = d_brute > 0
    np.testing.assert_allclose(d[out], d_brute[out], atol=2e-5)

    pts = _box_points(rng, -0.06, 0.06)
    ring = _revolve(np.stack([0.04 + 0.01 * np.cos(np.linspace(0, 2 * np.pi, 400)),
                              0.01 * np.sin(np.linspace(0, 2 * np.pi, 400))], -1), 1000)
    _check(lambda p: S.torus_z(p, 0.04, 0.01), ring,
           lambda p: np.hypot(np.linalg.norm(p[:, :2], axis=1) - 0.04, p[:, 2]) < 0.01,
           pts, tol=2e-4)

    apothem, half = 0.01, 0.03
    normals = np.array([[np.cos(k), np.sin(k)] for k in np.pi / 2 + np.pi / 3 * np.arange(6)])
    corners = np.array([[np.cos(k), np.sin(k)] for k in np.pi / 3 * np.arange(6)]
                       ) * apothem / np.cos(np.pi / 6)
    zs = np.linspace(-half, half, 150)
    hexagon = _dense_polyline(corners, per_metre=15000)
    sides = np.concatenate([np.column_stack([hexagon, np.full(len(hexagon), z)]) for z in zs])
    fill = rng.uniform(-apothem * 1.2, apothem * 1.2, (60000, 2))
    fill = fill[np.all(fill @ normals.T <= apothem, axis=1)]
    caps = np.concatenate([np.column_stack([fill, np.full(len(fill), z)]) for z in (-half,
                                                                                     half)])
    pts = _box_points(rng, (-0.02, -0.02, -0.04), (0.02, 0.02, 0.04))
    _check(lambda p: S.hex_prism_z(p, apothem, half), np.concatenate([sides, caps]),
           lambda p: np.all(p[:, :2] @ normals.T <= apothem, axis=1) & (np.abs(p[:, 2]) <= half),
           pts, tol=3e-4)


def test_rounded_slab_matches_its_sweep():
    # The slab = the set within edge_radius of its core (a rounded rectangle, thickness
    # 2 (hz - re)): the distance outside is the distance to that core minus edge_radius.
    hx, hy, hz, rc, re = 0.035, 0.07, 0.005, 0.01, 0.002
    rng = np.random.default_rng(3)
    pts = _box_points(rng, (-0.045, -0.08, -0.012), (0.045, 0.08, 0.012))
    d = np.asarray(S.rounded_slab(jnp.asarray(pts, jnp.float32), (hx, hy, hz), rc, re))

    def core_distance(p):
        cx, cy, cr = hx - rc, hy - rc, rc - re  # the core's corner circles
        qx = np.maximum(np.abs(p[:, 0]) - cx, 0.0)
        qy = np.maximum(np.abs(p[:, 1]) - cy, 0.0)
        inside_rect = (np.abs(p[:, 0]) <= hx - re) & (np.abs(p[:, 1]) <= hy - re)
        d_xy = np.where(inside_rect & (np.hypot(qx, qy) <= cr), 0.0,
                        np.maximum(np.hypot(qx, qy) - cr, 0.0))
        d_xy = np.where((np.abs(p[:, 0]) <= cx) | (np.abs(p[:, 1]) <= cy),
                        np.maximum(np.maximum(np.abs(p[:, 0]) - (hx - re),
                                              np.abs(p[:, 1]) - (hy - re)), 0.0), d_xy)
        d_z = np.maximum(np.abs(p[:, 2]) - (hz - re), 0.0)
        return np.hypot(d_xy, d_z)

    brute = core_distance(pts) - re
    out = brute > 0
    np.testing.assert_allclose(d[out], brute[out], atol=1e-6)
    assert np.all(d[~out] <= 1e-7)
    np.testing.assert_allclose(float(S.rounded_slab(jnp.zeros(3), (hx, hy, hz), rc, re)), -hz,
                               atol=1e-7)

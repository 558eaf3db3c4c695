"""Procedural everyday objects: the six rigid HOI4D categories.

Each category is a generator: `sample_params(category, rng)` draws realistic dimensions
(metres), `object_sdf(category, params, x)` is the object's signed distance (jax.numpy,
differentiable, built from exact primitives of `hoijax.geometry.sdf`), and `object_mesh`
extracts a closed mesh with marching cubes. Object frame: z up, the object resting on
z = 0, centred on the z axis (a knife lies along x, a toy car drives along x).

  mug     hollow cylinder 7-10 cm tall, 3-4 mm wall, a ring handle
  bottle  solid body, rounded shoulder, neck and cap, 16-24 cm tall
  kettle  rounded body, spout, arched top handle and a lid knob
  bowl    open spherical shell cut flat at the rim, 4-5 mm wall, with a foot ring
  knife   a 1.6-2.4 mm thick tapered blade and a rounded handle
  toy car rounded body and cabin on four wheels
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import skimage.measure
import trimesh

from hoijax.geometry import sdf as S

# The canonical names: the shipped prior's text prompts were trained on them ("toy car").
CATEGORIES = ("mug", "bottle", "kettle", "bowl", "knife", "toy car")


def _spelling_key(name: str) -> str:
    """'Toy-Car', 'toy_car', 'toycar', ' toy car ' -> 'toycar'."""
    return "".join(ch for ch in name.lower() if not ch.isspace() and ch not in "_-")


def canonical_category(name: str) -> str:
    """The name in CATEGORIES for any spelling of a category: any case, with spaces,
    underscores, hyphens or nothing between words ('toy_car', 'ToyCar' -> 'toy car').

    Raises ValueError naming the input and the choices for an unknown category.
    """
    found = {_spelling_key(c): c for c in CATEGORIES}.get(
        _spelling_key(name) if isinstance(name, str) else None)
    if found is None:
        raise ValueError(f"unknown category {name!r}; choose from {', '.join(CATEGORIES)} "
                         "(any case; words joined by spaces, '_', '-' or nothing)")
    return found


def clip_name(category: str, seed: int) -> str:
    """The name of the synthetic clip (category, seed): ('toy car', 0) -> 'toy_car_0'."""
    return f"{canonical_category(category).replace(' ', '_')}_{int(seed)}"


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def sample_params(category: str, rng: np.random.Generator) -> dict:
    """Realistic random dimensions (metres) of one object of `category`."""
    if category == "mug":
        radius = _u(rng, 0.036, 0.045)
        return dict(radius=radius, height=_u(rng, 0.07, 0.10), wall=_u(rng, 0.003, 0.004),
                    bottom=_u(rng, 0.005, 0.008), handle_major=_u(rng, 0.022, 0.03),
                    handle_minor=_u(rng, 0.005, 0.007))
    if category == "bottle":
        return dict(radius=_u(rng, 0.03, 0.04), height=_u(rng, 0.16, 0.24),
                    shoulder=_u(rng, 0.25, 0.35), neck_radius=_u(rng, 0.012, 0.016),
                    neck_height=_u(rng, 0.025, 0.04))
    if category == "kettle":
        return dict(radius=_u(rng, 0.075, 0.095), height=_u(rng, 0.13, 0.18),
                    spout_length=_u(rng, 0.07, 0.1), spout_radius=_u(rng, 0.009, 0.013),
                    handle_rise=_u(rng, 0.05, 0.07), handle_minor=_u(rng, 0.009, 0.012))
    if category == "bowl":
        return dict(radius=_u(rng, 0.06, 0.09), depth_ratio=_u(rng, 0.55, 0.75),
                    wall=_u(rng, 0.004, 0.005), foot_radius_ratio=_u(rng, 0.35, 0.5))
    if category == "knife":
        return dict(blade_length=_u(rng, 0.10, 0.15), blade_width=_u(rng, 0.02, 0.03),
                    blade_thickness=_u(rng, 0.0016, 0.0024), handle_length=_u(rng, 0.10, 0.12),
                    handle_width=_u(rng, 0.022, 0.028), handle_thickness=_u(rng, 0.014, 0.02))
    if category == "toy car":
        length = _u(rng, 0.08, 0.12)
        return dict(length=length, width=_u(rng, 0.4, 0.5) * length,
                    body_height=_u(rng, 0.018, 0.026), cabin_ratio=_u(rng, 0.45, 0.6),
                    cabin_height=_u(rng, 0.014, 0.02), wheel_radius=_u(rng, 0.008, 0.012))
    raise ValueError(f"unknown category {category!r}; choose from {CATEGORIES}")


def _mug(p, q):
    r, h = q["radius"], q["height"]
    body = S.cylinder_z(p - jnp.array([0.0, 0.0, h / 2]), r, h / 2)
    hole = S.cylinder_z(p - jnp.array([0.0, 0.0, h / 2 + q["bottom"]]), r - q["wall"], h / 2)
    cup = S.subtract(body, hole)
    center = jnp.array([r, 0.0, h / 2])
    ring = S.torus_xz(p - center, q["handle_major"], q["handle_minor"])
    ring = S.subtract(ring, S.cylinder_z(p - jnp.array([0.0, 0.0, h / 2]), r - 0.001, h))
    return S.smooth_union(cup, ring, 0.004)


def _rounded_cylinder(p, radius, half_height, rounding):
    return S.cylinder_z(p, radius - rounding, half_height - rounding) - rounding


def _bottle(p, q):
    r, h = q["radius"], q["height"]
    neck_h, neck_r = q["neck_height"], q["neck_radius"]
    shoulder_h = h * q["shoulder"]
    body_h = h - shoulder_h - neck_h
    body = _rounded_cylinder(p - jnp.array([0.0, 0.0, body_h / 2]), r, body_h / 2, 0.004)
    shoulder = S.cone_z(p - jnp.array([0.0, 0.0, body_h + shoulder_h / 2]), r, neck_r,
                        shoulder_h / 2)
    neck = S.cylinder_z(p - jnp.array([0.0, 0.0, h - neck_h / 2]), neck_r, neck_h / 2)
    cap = S.cylinder_z(p - jnp.array([0.0, 0.0, h - 0.009]), neck_r + 0.0015, 0.009)
    return S.union(S.smooth_union(S.smooth_union(body, shoulder, 0.01), neck, 0.006), cap)


def _kettle(p, q):
    r, h = q["radius"], q["height"]
    body = _rounded_cylinder(p - jnp.array([0.0, 0.0, h / 2]), r, h / 2, 0.025)
    base = jnp.array([r * 0.8, 0.0, h * 0.35])
    tip = base + q["spout_length"] * jnp.array([0.8, 0.0, 0.6])
    spout = S.capsule(p, base, tip, q["spout_radius"])
    # An arched handle over the lid: the upper half of a ring standing in the xz plane.
    handle = S.torus_xz(p - jnp.array([0.0, 0.0, h]), q["handle_rise"], q["handle_minor"])
    handle = S.intersect(handle, h - p[..., 2])
    knob = S.sphere(p - jnp.array([0.0, 0.0, h + 0.004]), 0.01)
    return S.union(S.smooth_union(S.smooth_union(body, spout, 0.01), handle, 0.01), knob)


def _bowl(p, q):
    r = q["radius"]
    depth = q["depth_ratio"] * r
    center = jnp.array([0.0, 0.0, r + 0.006])  # sphere centre above the table
    shell = jnp.abs(S.sphere(p - center, r - q["wall"] / 2)) - q["wall"] / 2
    cut = p[..., 2] - (r + 0.006 - r + depth)  # keep below the rim plane
    bowl = S.intersect(shell, cut)
    foot_r = q["foot_radius_ratio"] * r
    foot = S.subtract(S.cylinder_z(p - jnp.array([0.0, 0.0, 0.006]), foot_r, 0.006),
                      S.cylinder_z(p - jnp.array([0.0, 0.0, 0.006]), foot_r - 0.004, 0.007))
    return S.smooth_union(bowl, foot, 0.003)


def _knife(p, q):
    bl, bw, bt = q["blade_length"], q["blade_width"], q["blade_thickness"]
    hl, hw, ht = q["handle_length"], q["handle_width"], q["handle_thickness"]
    z0 = ht / 2  # lying flat on the table
    handle = S.round_box(p - jnp.array([-hl / 2, 0.0, z0]), (hl / 2, hw / 2, ht / 2), 0.006)
    tang = 0.02  # the blade continues 2 cm into the handle, so the two fuse into one solid
    blade = S.box(p - jnp.array([(bl - tang) / 2, 0.0, z0]), ((bl + tang) / 2, bw / 2, bt / 2))
    # Taper: the blade's back edge slopes down to the tip over its distal 70 %.
    slope = 0.9 * bw / (0.7 * bl)
    taper = (p[..., 1] - bw / 2 + slope * jnp.maximum(p[..., 0] - 0.3 * bl, 0.0))
    blade = S.intersect(blade, taper / jnp.sqrt(1.0 + slope ** 2))
    return S.union(handle, blade)


def _toy_car(p, q):
    length, width = q["length"], q["width"]
    bh, ch, wr = q["body_height"], q["cabin_height"], q["wheel_radius"]
    z_body = wr + bh / 2
    body = S.round_box(p - jnp.array([0.0, 0.0, z_body]), (length / 2, width / 2, bh / 2),
                       0.006)
    cabin_len = q["cabin_ratio"] * length
    cabin = S.round_box(p - jnp.array([-0.05 * length, 0.0, wr + bh + ch / 2 - 0.002]),
                        (cabin_len / 2, width / 2 * 0.85, ch / 2 + 0.002), 0.006)
    wheels = []
    for sx in (-1.0, 1.0):
        for sy in (-1.0, 1.0):
            c = jnp.array([sx * length * 0.32, sy * (width / 2 - 0.004), wr])
            wheels.append(S.cylinder_z(S.rotate(p - c, jnp.array(
                [[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])), wr, 0.005))
    return S.union(S.smooth_union(body, cabin, 0.005), *wheels)


_BUILDERS = {"mug": _mug, "bottle": _bottle, "kettle": _kettle, "bowl": _bowl,
             "knife": _knife, "toy car": _toy_car}


def object_sdf(category: str, params: dict, x):
    """Signed distance (...) of points x (...,3) to the object (object frame, metres)."""
    if category not in _BUILDERS:
        raise ValueError(f"unknown category {category!r}; choose from {CATEGORIES}")
    return _BUILDERS[category](jnp.asarray(x, jnp.float32), params)


def object_bounds(category: str, params: dict) -> np.ndarray:
    """(2,3) an axis-aligned box that contains the object with a margin."""
    extent = {
        "mug": lambda q: (q["radius"] + 2 * q["handle_major"] + q["handle_minor"],
                          q["radius"], q["height"]),
        "bottle": lambda q: (q["radius"], q["radius"], q["height"]),
        "kettle": lambda q: (q["radius"] + q["spout_length"], q["radius"],
                             q["height"] + q["handle_rise"] + q["handle_minor"]),
        "bowl": lambda q: (q["radius"], q["radius"], q["radius"] * 1.1),
        "knife": lambda q: (max(q["blade_length"], q["handle_length"]), q["handle_width"],
                            q["handle_thickness"]),
        "toy car": lambda q: (q["length"] / 2, q["width"] / 2,
                              q["wheel_radius"] + q["body_height"] + q["cabin_height"]),
    }[category](params)
    ex, ey, ez = extent
    margin = 0.01
    return np.array([[-ex - margin, -ey - margin, -margin], [ex + margin, ey + margin,
                                                              ez + margin]])


_SDF_CHUNK = 1 << 16


@functools.partial(jax.jit, static_argnums=0)
def _sdf_chunks(category, params, chunks):
    return jax.lax.map(lambda x: object_sdf(category, params, x), chunks)


def sdf_on_points(category: str, params: dict, points: np.ndarray) -> np.ndarray:
    """(N,) float32 SDF of many points (N,3), in fixed-size chunks: one compilation per
    category whatever N and the parameters."""
    n = len(points)
    padded = np.zeros((-(-n // _SDF_CHUNK) * _SDF_CHUNK, 3), np.float32)
    padded[:n] = points
    jparams = {k: jnp.float32(v) for k, v in params.items()}
    values = _sdf_chunks(category, jparams, padded.reshape(-1, _SDF_CHUNK, 3))
    return np.array(values).reshape(-1)[:n]


def object_mesh(category: str, params: dict, spacing: float = 0.0015) -> trimesh.Trimesh:
    """Closed mesh of the object's zero level set by marching cubes (vertices in metres)."""
    if category == "knife":
        spacing = min(spacing, 0.0005)  # the blade is ~2 mm thick
    lo, hi = object_bounds(category, params)
    # A grid offset by an odd fraction of the spacing, so that no flat face of the object
    # (the table plane z = 0, wheel sides, ...) lies exactly on grid points: marching cubes
    # would make slivers there.
    lo = lo - 0.37 * spacing
    axes = [np.arange(a, b + spacing, spacing) for a, b in zip(lo, hi)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1)
    values = sdf_on_points(category, params, grid.reshape(-1, 3)).reshape(grid.shape[:3])
    verts, faces, _, _ = skimage.measure.marching_cubes(values, level=0.0,
                                                        spacing=(spacing,) * 3)
    mesh = trimesh.Trimesh(verts + lo, faces[:, ::-1], process=True)
    if mesh.volume < 0:
        mesh.invert()
    return mesh

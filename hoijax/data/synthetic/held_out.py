"""Held-out shapes: hand-held objects outside the 16 categories, which no prior is trained
on (`prior_data` and `grid_data` accept CATEGORIES only). They make the clips of the
unseen-shape benchmark (`experiments/bench_unseen.py`), where a reconstruction has no
category prior to lean on: its name is unknown to both priors, so it gets their null prompt.

  egg        an egg lying on its side, 5.5-7 cm long (a smooth, fully convex solid)
  tape roll  a roll of tape: a ring 9-11 cm across, 2.5-5 cm tall, a 6-8 cm hole
  dumbbell   two balls on a bar, 14-18 cm long, held around the bar from above
  pyramid    a square pyramid 6-8 cm wide and tall, edges rounded

Each shape has a sampler (`SAMPLERS`, dimensions in metres from a numpy Generator), an
exact or conservative SDF builder (`BUILDERS`, as `objects.object_sdf` calls them), its
half-extents in x and y and its height (`extent`), and a grasp (`grasp_spec`: the fields
of `grasp.GraspTemplate`). Object frame as in `objects`: z up, resting on z = 0.

Any triangle mesh becomes a held-out shape too (`register_mesh`: a scanned object, say):
centred, standing on z = 0, scaled to a given height, its SDF tabulated once
(`interaction.volume.volume_from_mesh`, trilinear between 1-2 mm samples); each seed
rescales it by up to 5 %. Registered meshes live in this process only.
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import trimesh

from hoijax.geometry import sdf as S
from hoijax.geometry.math import safe_norm
from hoijax.interaction import volume as V

HELD_OUT_SHAPES = ("egg", "tape roll", "dumbbell", "pyramid")
COLORS = {"egg": (0.92, 0.85, 0.70), "tape roll": (0.80, 0.55, 0.30),
          "dumbbell": (0.35, 0.40, 0.55), "pyramid": (0.70, 0.35, 0.60)}


def _sample_egg(rng):
    length = rng.uniform(0.055, 0.07)
    return dict(length=length, radius=length * rng.uniform(0.36, 0.40),
                point=rng.uniform(0.2, 0.3))


def _sample_tape_roll(rng):
    outer = rng.uniform(0.045, 0.055)
    return dict(outer=outer, inner=outer * rng.uniform(0.68, 0.75),
                height=rng.uniform(0.025, 0.05), rounding=0.002)


def _sample_dumbbell(rng):
    return dict(length=rng.uniform(0.14, 0.18), ball=rng.uniform(0.025, 0.032),
                bar=rng.uniform(0.012, 0.015))


def _sample_pyramid(rng):
    return dict(base=rng.uniform(0.06, 0.08), height=rng.uniform(0.06, 0.08),
                rounding=0.003)


def _egg(p, q):
    """An egg lying along x: a lathe (about x) of radius r(u) = R sqrt(1 - u^2)
    (1 + point u / 3) over u in [-1, 1], a polygon of 33 points; resting on z = 0."""
    L, R = q["length"], q["radius"]
    u = jnp.linspace(-1.0, 1.0, 33)
    radius = R * jnp.sqrt(jnp.clip(1.0 - u ** 2, 0.0, 1.0)) * (1.0 + q["point"] * u / 3)
    profile = jnp.stack([radius, u * L / 2], -1)
    # lathe_z revolves about z: look at the egg from a frame whose z is the object's x.
    local = (p - jnp.stack([0.0, 0.0, R]))[..., jnp.array([1, 2, 0])]
    return S.lathe_z(local, profile)


def _tape_roll(p, q):
    """A ring: the rectangle [inner, outer] x [0, height] revolved about z, rounded."""
    i, o, h = q["inner"], q["outer"], q["height"]
    section = jnp.stack([safe_norm(p[..., :2]) - (i + o) / 2, p[..., 2] - h / 2], -1)
    return S.round_rect_2d(section, jnp.stack([(o - i) / 2, h / 2]), q["rounding"])


def _dumbbell(p, q):
    """Two balls joined by a bar along x, resting on the balls."""
    L, b, r = q["length"], q["ball"], q["bar"]
    centre = jnp.stack([0.0, 0.0, b])
    ends = [centre + jnp.stack([s * (L / 2 - b), 0.0, 0.0]) for s in (-1.0, 1.0)]
    bar = S.capsule(p, ends[0], ends[1], r)
    return S.smooth_union(S.union(S.sphere(p - ends[0], b), S.sphere(p - ends[1], b)), bar,
                          0.004)


def _pyramid(p, q):
    """A square pyramid (base side `base`, apex `height` above it), every edge rounded by
    offsetting a pyramid inset by the rounding (a conservative bound off the surface)."""
    c = q["rounding"]
    half, h = q["base"] / 2 - c, q["height"] - 2 * c
    x, y = jnp.abs(p[..., 0]), jnp.abs(p[..., 1])
    z = p[..., 2] - c
    norm = jnp.sqrt(h * h + half * half)
    sides = (jnp.maximum(x, y) * h + z * half - half * h) / norm
    return jnp.maximum(sides, -z) - c


BUILDERS = {"egg": _egg, "tape roll": _tape_roll, "dumbbell": _dumbbell,
            "pyramid": _pyramid}
SAMPLERS = {"egg": _sample_egg, "tape roll": _sample_tape_roll, "dumbbell": _sample_dumbbell,
            "pyramid": _sample_pyramid}


@dataclasses.dataclass(frozen=True)
class MeshShape:
    """A registered mesh at its nominal size (metres, object frame) and its tabulated SDF."""

    mesh: trimesh.Trimesh
    volume: V.SdfVolume
    color: tuple


_MESHES: dict = {}
MESH_COLOR = (0.75, 0.72, 0.65)


def register_mesh(name: str, mesh: trimesh.Trimesh, height: float, up: str = "z",
                  color: tuple = MESH_COLOR, resolution: int = 96) -> str:
    """Makes `mesh` the held-out shape `name`: its `up` axis ("x", "y" or "z") turned to
    z, centred on the z axis, resting on z = 0 and scaled to `height` metres; its SDF
    tabulated on resolution^3 points (1 mm for a 10 cm object at 96). Raises
    ValueError naming the shape when the mesh encloses no volume
    (`interaction.volume.check_mesh`) or the name is a category or a built-in shape."""
    if name in HELD_OUT_SHAPES:
        raise ValueError(f"register_mesh: {name!r} is a built-in held-out shape")
    mesh = mesh.copy()
    turn = {"x": [[0, 1, 0], [0, 0, 1], [1, 0, 0]], "y": [[1, 0, 0], [0, 0, -1], [0, 1, 0]],
            "z": np.eye(3)}[up]
    mesh.vertices = mesh.vertices @ np.asarray(turn, float).T
    lo, hi = mesh.bounds
    mesh.vertices = (mesh.vertices - [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]]) \
        * (height / (hi[2] - lo[2]))
    try:
        mesh = V.check_mesh(mesh, name)
    except V.MeshError as e:
        raise ValueError(f"register_mesh: {e}") from None
    _MESHES[name] = MeshShape(mesh, V.volume_from_mesh(mesh, size=resolution), tuple(color))
    return name


def unregister_mesh(name: str) -> None:
    """Forgets a registered mesh (no error if there is none of that name)."""
    _MESHES.pop(name, None)


def names() -> tuple:
    """The built-in held-out shapes, then the meshes registered in this process."""
    return HELD_OUT_SHAPES + tuple(_MESHES)


def sdf(shape: str, q: dict, p):
    """The SDF (...) of a held-out shape at points p (...,3) (object frame, metres)."""
    if shape in _MESHES:
        return q["scale"] * V.sample(_MESHES[shape].volume, p / q["scale"])
    return BUILDERS[shape](p, q)


def mesh(shape: str, q: dict):
    """A registered mesh at the object's size (a copy), or None for a built-in shape (its
    mesh is extracted from the SDF, as the categories' are)."""
    if shape not in _MESHES:
        return None
    out = _MESHES[shape].mesh.copy()
    out.apply_scale(q["scale"])
    return out


def color(shape: str) -> tuple:
    return _MESHES[shape].color if shape in _MESHES else COLORS[shape]


def sample(shape: str, rng: np.random.Generator) -> dict:
    """Dimensions (metres, floats) of one object of a held-out shape (a registered mesh:
    its scale, 0.95-1.05)."""
    if shape in _MESHES:
        return dict(scale=float(rng.uniform(0.95, 1.05)))
    return {k: float(v) for k, v in SAMPLERS[shape](rng).items()}


def extent(shape: str, q: dict) -> tuple:
    """(ex, ey, ez): half-extents in x and y, and the height."""
    if shape in _MESHES:
        lo, hi = _MESHES[shape].mesh.bounds * q["scale"]
        return max(-lo[0], hi[0]), max(-lo[1], hi[1]), hi[2]
    if shape == "egg":
        r = q["radius"] * (1 + q["point"] / 3)
        return q["length"] / 2, r, 2 * r
    if shape == "tape roll":
        return q["outer"], q["outer"], q["height"]
    if shape == "dumbbell":
        return q["length"] / 2, q["ball"], 2 * q["ball"]
    if shape == "pyramid":
        return q["base"] / 2, q["base"] / 2, q["height"]
    raise ValueError(f"unknown held-out shape {shape!r}; choose from {HELD_OUT_SHAPES}")


def grasp_spec(shape: str, q: dict) -> tuple:
    """(palm_point, palm_dir, finger_dir, closure, kind): where the palm goes, as
    `grasp.GraspTemplate` reads them. A registered mesh: a power wrap from its -x side at
    0.45 of its height, fingers toward -y (as the upright categories')."""
    if shape in _MESHES:
        ex, _, ez = extent(shape, q)
        return (-ex, 0.0, 0.45 * ez), (1.0, 0.0, 0.0), (0.0, -1.0, 0.0), 1.2, "power"
    if shape == "egg":  # in the whole hand from above, fingers around it
        return (0.0, 0.0, 2 * q["radius"]), (0.0, 0.0, -1.0), (0.0, 1.0, 0.0), 1.2, "power"
    if shape == "tape roll":  # the rim from the side, fingers over the top
        return ((-q["outer"], 0.0, 0.5 * q["height"]), (1.0, 0.0, 0.0), (0.0, 0.0, -1.0),
                1.2, "power")
    if shape == "dumbbell":  # around the bar from above
        return ((0.0, 0.0, q["ball"] + q["bar"]), (0.0, 0.0, -1.0), (0.0, 1.0, 0.0), 2.0,
                "power")
    if shape == "pyramid":  # a side face, fingers around the -y edge
        return ((-0.3 * q["base"], 0.0, 0.35 * q["height"]), (1.0, 0.0, 0.0),
                (0.0, -1.0, 0.0), 1.2, "power")
    raise ValueError(f"unknown held-out shape {shape!r}; choose from {HELD_OUT_SHAPES}")

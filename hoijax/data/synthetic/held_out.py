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
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from hoijax.geometry import sdf as S
from hoijax.geometry.math import safe_norm

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


def sample(shape: str, rng: np.random.Generator) -> dict:
    """Dimensions (metres, floats) of one object of a held-out shape."""
    return {k: float(v) for k, v in SAMPLERS[shape](rng).items()}


def extent(shape: str, q: dict) -> tuple:
    """(ex, ey, ez): half-extents in x and y, and the height."""
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
    `grasp.GraspTemplate` reads them."""
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

"""Procedural everyday hand-held objects: the six rigid HOI4D categories and ten more.

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

The wider world (`NEW_CATEGORIES`), each with kinds drawn by the seed so that a category is
not one shape rescaled:

  can          drink cans (necked top, recessed lid), food tins, flat tins
  box          gable-top cartons with a fin, tall thin cereal boxes, small boxes
  fruit        apples (dimpled, stem), oranges, pears (leaning neck), small round fruit
  cup          tumblers, tapered paper cups, small cups, bulging stemless glasses (no handle)
  pen          capped or posted ballpoints with a clip, markers, hexagonal pencils
  hammer       claw-like and ball-peen steel heads, mallets; a tapered round handle
  spray bottle round body (straight or waisted), shoulder, neck, trigger sprayer head
  phone        a rounded slab with a camera bump (square or round)
  remote       a long rounded slab with a d-pad, a power button and a key block
  frying pan   a shallow open pan, a rising handle (with or without a hanging hole)

Solids of revolution are exact lathes of a polygon profile (`sdf.lathe_z`), rounded by
offsetting a profile inset by the rounding radius; a few parts are conservative bounds
(smooth unions, the dimpled fruit body inside), all 1-Lipschitz with an exact zero set.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import skimage.measure
import trimesh

from hoijax.data.synthetic import held_out
from hoijax.geometry import sdf as S

# The canonical names: the shipped prior's text prompts were trained on them ("toy car").
# HOI4D_CATEGORIES: the six rigid HOI4D categories (the benchmark split, comparable with
# the paper); NEW_CATEGORIES: the wider world (the generalisation split); CATEGORIES: all.
HOI4D_CATEGORIES = ("mug", "bottle", "kettle", "bowl", "knife", "toy car")
NEW_CATEGORIES = ("can", "box", "fruit", "cup", "pen", "hammer", "spray bottle", "phone",
                  "remote", "frying pan")
CATEGORIES = HOI4D_CATEGORIES + NEW_CATEGORIES


def shape_names() -> tuple:
    """CATEGORIES and the shapes outside them, which no prior is trained on (`held_out`,
    with the meshes registered in this process): the synthetic world makes clips of all."""
    return CATEGORIES + held_out.names()


def _spelling_key(name: str) -> str:
    """'Toy-Car', 'toy_car', 'toycar', ' toy car ' -> 'toycar'."""
    return "".join(ch for ch in name.lower() if not ch.isspace() and ch not in "_-")


def canonical_category(name: str, choices=CATEGORIES) -> str:
    """The name in `choices` (CATEGORIES, or `shape_names()` to admit held-out shapes) for any
    spelling of one: any case, with spaces, underscores, hyphens or nothing between words
    ('toy_car', 'ToyCar' -> 'toy car').

    Raises ValueError naming the input and the choices for an unknown name.
    """
    found = {_spelling_key(c): c for c in choices}.get(
        _spelling_key(name) if isinstance(name, str) else None)
    if found is None:
        raise ValueError(f"unknown category {name!r}; choose from {', '.join(choices)} "
                         "(any case; words joined by spaces, '_', '-' or nothing)")
    return found


def clip_name(category: str, seed: int) -> str:
    """The name of the synthetic clip (category, seed): ('toy car', 0) -> 'toy_car_0'."""
    return f"{canonical_category(category, shape_names()).replace(' ', '_')}_{int(seed)}"


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
    if category in _SAMPLERS:
        return _SAMPLERS[category](rng)
    if category in held_out.names():
        return held_out.sample(category, rng)
    raise ValueError(f"unknown category {category!r}; choose from {shape_names()}")


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


# ---------------------------------------------------------------------------------------
# The wider world. Samplers draw a kind first (rng.integers), then its dimensions; every
# parameter is a float, and kinds differ only by parameter values (switches are 0/1
# floats used with jnp.where), so one compiled SDF serves the whole category.


def _kind(rng, weights):
    """Index of a kind drawn with the given relative weights."""
    w = np.asarray(weights, float)
    return int(rng.choice(len(w), p=w / w.sum()))


def _sample_can(rng):
    kind = _kind(rng, (2, 2, 1))  # drink can, food tin, flat tin
    if kind == 0:
        radius = _u(rng, 0.026, 0.034)
        return dict(radius=radius, height=_u(rng, 0.095, 0.17),
                    neck_height=_u(rng, 0.01, 0.016), neck_ratio=_u(rng, 0.78, 0.86),
                    base_height=_u(rng, 0.005, 0.009), base_ratio=_u(rng, 0.8, 0.88),
                    recess=_u(rng, 0.004, 0.006))
    radius = _u(rng, 0.034, 0.05) if kind == 1 else _u(rng, 0.04, 0.052)
    height = _u(rng, 0.06, 0.125) if kind == 1 else _u(rng, 0.03, 0.045)
    return dict(radius=radius, height=height, neck_height=_u(rng, 0.003, 0.005),
                neck_ratio=_u(rng, 0.955, 0.975), base_height=_u(rng, 0.003, 0.005),
                base_ratio=_u(rng, 0.955, 0.975), recess=_u(rng, 0.002, 0.0035))


def _sample_box(rng):
    kind = _kind(rng, (1, 1, 1))  # gable-top carton, cereal box, small box
    if kind == 0:
        depth = _u(rng, 0.055, 0.075)
        return dict(depth=depth, width=depth * _u(rng, 1.0, 1.15), height=_u(rng, 0.1, 0.19),
                    gable=depth * _u(rng, 0.3, 0.4), fin=_u(rng, 0.008, 0.012),
                    rounding=_u(rng, 0.001, 0.002))
    if kind == 1:
        return dict(depth=_u(rng, 0.04, 0.065), width=_u(rng, 0.12, 0.19),
                    height=_u(rng, 0.16, 0.26), gable=0.0, fin=0.0,
                    rounding=_u(rng, 0.0015, 0.003))
    depth = _u(rng, 0.03, 0.065)
    return dict(depth=depth, width=depth * _u(rng, 1.0, 1.8), height=_u(rng, 0.03, 0.13),
                gable=0.0, fin=0.0, rounding=_u(rng, 0.0015, 0.004))


def _sample_fruit(rng):
    kind = _kind(rng, (3, 2, 2, 2))  # apple, orange, pear, small round fruit
    lean = _u(rng, -0.25, 0.25)
    if kind == 2:  # pear: a dimpled body and a leaning neck
        body = _u(rng, 0.028, 0.038)
        return dict(body_radius=body, dimple=body * _u(rng, 0.05, 0.15),
                    neck_length=body * _u(rng, 1.0, 1.5), neck_radius=body * _u(rng, 0.7, 0.8),
                    top_radius=body * _u(rng, 0.45, 0.6), lean=lean,
                    blend=body * _u(rng, 0.2, 0.3), stem_length=_u(rng, 0.008, 0.016),
                    stem_radius=_u(rng, 0.002, 0.0025))
    # Round fruit: the neck stays deep inside the body (no effect on the surface).
    body, dimple, stem = {0: (_u(rng, 0.03, 0.042), _u(rng, 0.15, 0.3), _u(rng, 0.006, 0.014)),
                          1: (_u(rng, 0.033, 0.048), _u(rng, 0.0, 0.08), 0.0),
                          3: (_u(rng, 0.018, 0.027), _u(rng, 0.0, 0.15), _u(rng, 0.0, 0.008))
                          }[kind]
    return dict(body_radius=body, dimple=body * dimple, neck_length=body * 0.2,
                neck_radius=body * 0.45, top_radius=body * 0.3, lean=0.0, blend=body * 0.2,
                stem_length=stem, stem_radius=_u(rng, 0.002, 0.0025))


def _sample_cup(rng):
    kind = _kind(rng, (1, 1, 1, 1))  # tumbler, paper cup, small cup, bulging glass
    if kind == 0:
        top = _u(rng, 0.03, 0.042)
        bottom, height = top * _u(rng, 0.78, 0.95), _u(rng, 0.085, 0.15)
        wall, base, bulge = _u(rng, 0.0028, 0.004), _u(rng, 0.006, 0.015), 0.0
    elif kind == 1:
        top = _u(rng, 0.036, 0.046)
        bottom, height = top * _u(rng, 0.62, 0.72), _u(rng, 0.08, 0.12)
        wall, base, bulge = _u(rng, 0.0028, 0.0032), _u(rng, 0.004, 0.005), 0.0
    elif kind == 2:
        top = _u(rng, 0.027, 0.034)
        bottom, height = top * _u(rng, 0.6, 0.8), _u(rng, 0.05, 0.07)
        wall, base, bulge = _u(rng, 0.0035, 0.0045), _u(rng, 0.005, 0.008), 0.0
    else:
        top = _u(rng, 0.03, 0.036)
        bottom, height = _u(rng, 0.025, 0.03), _u(rng, 0.1, 0.13)
        wall, base, bulge = _u(rng, 0.0028, 0.0035), _u(rng, 0.006, 0.01), _u(rng, 0.15, 0.3)
    mid_ratio = _u(rng, 0.35, 0.5)
    straight = bottom + (top - bottom) * mid_ratio
    return dict(top_radius=top, bottom_radius=bottom, mid_radius=straight + bulge * top,
                mid_ratio=mid_ratio, height=height, wall=wall, base=base)


def _sample_pen(rng):
    kind = _kind(rng, (1, 1, 1, 1))  # capped pen, posted pen, marker, pencil
    if kind in (0, 1):
        radius, length = _u(rng, 0.0042, 0.0055), _u(rng, 0.13, 0.15)
        tip_length, tip_radius = _u(rng, 0.012, 0.02), 0.0012
        cap_length, cap_radius = _u(rng, 0.04, 0.055), radius + _u(rng, 0.0006, 0.001)
        cap_start = (length / 2 + 0.003 - cap_length if kind == 0 else
                     -length / 2 - 0.4 * cap_length)
        clip, hexagonal = 1.0, 0.0
    elif kind == 2:
        radius, length = _u(rng, 0.0065, 0.0095), _u(rng, 0.11, 0.14)
        tip_length, tip_radius = _u(rng, 0.01, 0.015), _u(rng, 0.002, 0.003)
        cap_length, cap_radius = _u(rng, 0.04, 0.05), radius + 0.0008
        cap_start = length / 2 + 0.003 - cap_length
        clip, hexagonal = float(rng.uniform() < 0.5), 0.0
    else:
        radius, length = _u(rng, 0.0035, 0.004), _u(rng, 0.14, 0.19)  # apothem
        tip_length, tip_radius = _u(rng, 0.015, 0.025), 0.0007
        cap_length, cap_radius = 0.012, radius  # the eraser and its ferrule
        cap_start = -length / 2 - 0.007
        clip, hexagonal = 0.0, 1.0
    return dict(radius=radius, length=length, tip_length=tip_length, tip_radius=tip_radius,
                cap_length=cap_length, cap_radius=cap_radius, cap_start=cap_start, clip=clip,
                hexagonal=hexagonal)


def _sample_hammer(rng):
    kind = _kind(rng, (1, 1, 1))  # claw-like, ball-peen, mallet
    if kind == 2:
        face = _u(rng, 0.022, 0.032)
        return dict(length=_u(rng, 0.24, 0.32), butt_radius=_u(rng, 0.012, 0.016),
                    neck_radius=_u(rng, 0.01, 0.013), face_radius=face,
                    face_length=_u(rng, 0.045, 0.065), back_radius=face, end_radius=face,
                    back_length=_u(rng, 0.045, 0.065))
    face = _u(rng, 0.012, 0.016)
    end = _u(rng, 0.004, 0.006) if kind == 0 else _u(rng, 0.013, 0.016)
    return dict(length=_u(rng, 0.22, 0.33), butt_radius=_u(rng, 0.012, 0.016),
                neck_radius=_u(rng, 0.009, 0.012), face_radius=face,
                face_length=_u(rng, 0.04, 0.055),
                back_radius=_u(rng, 0.01, 0.012) if kind == 0 else _u(rng, 0.008, 0.009),
                end_radius=end, back_length=_u(rng, 0.045, 0.065) if kind == 0 else
                _u(rng, 0.04, 0.05))


def _sample_spray_bottle(rng):
    radius = _u(rng, 0.03, 0.045)
    waisted = rng.uniform() < 0.5
    return dict(radius=radius, body_height=_u(rng, 0.12, 0.19),
                waist=radius * (_u(rng, 0.8, 0.9) if waisted else 1.0),
                shoulder=_u(rng, 0.015, 0.03), neck_radius=_u(rng, 0.013, 0.016),
                neck_height=_u(rng, 0.012, 0.02), head_length=_u(rng, 0.05, 0.075),
                head_width=_u(rng, 0.022, 0.03), head_height=_u(rng, 0.025, 0.035),
                trigger_length=_u(rng, 0.03, 0.042), trigger_angle=_u(rng, 0.15, 0.4))


def _sample_phone(rng):
    bump = _u(rng, 0.02, 0.035)
    return dict(width=_u(rng, 0.064, 0.078), length=_u(rng, 0.13, 0.165),
                thickness=_u(rng, 0.0072, 0.0105), corner=_u(rng, 0.006, 0.013),
                edge=_u(rng, 0.25, 0.48), bump=bump,
                bump_corner=bump / 2 if rng.uniform() < 0.3 else _u(rng, 0.004, 0.008),
                bump_height=_u(rng, 0.0008, 0.002))


def _sample_remote(rng):
    width = _u(rng, 0.036, 0.055)
    return dict(width=width, length=_u(rng, 0.14, 0.22), thickness=_u(rng, 0.014, 0.024),
                corner=width * _u(rng, 0.15, 0.45), edge=_u(rng, 0.25, 0.4),
                pad_radius=width * _u(rng, 0.18, 0.26), keys_length=_u(rng, 0.03, 0.055),
                button_height=_u(rng, 0.0012, 0.0025))


def _sample_frying_pan(rng):
    bottom = _u(rng, 0.065, 0.1)
    handle_width = _u(rng, 0.018, 0.028)
    hole = _u(rng, 0.6, 1.0) * max(handle_width / 2 - 0.006, 0.0) if rng.uniform() < 0.5 \
        else 0.0
    return dict(bottom_radius=bottom, flare=_u(rng, 0.012, 0.03), depth=_u(rng, 0.02, 0.055),
                wall=_u(rng, 0.003, 0.0045), base=_u(rng, 0.004, 0.006),
                handle_length=_u(rng, 0.12, 0.19), handle_width=handle_width,
                handle_thickness=_u(rng, 0.01, 0.018), handle_angle=_u(rng, 0.08, 0.3),
                hole_radius=hole)


_SAMPLERS = {"can": _sample_can, "box": _sample_box, "fruit": _sample_fruit,
             "cup": _sample_cup, "pen": _sample_pen, "hammer": _sample_hammer,
             "spray bottle": _sample_spray_bottle, "phone": _sample_phone,
             "remote": _sample_remote, "frying pan": _sample_frying_pan}


def _profile(*points):
    """(K,2) (radius, z) lathe profile from scalar or traced coordinates."""
    return jnp.stack([jnp.stack([jnp.asarray(r, jnp.float32), jnp.asarray(z, jnp.float32)])
                      for r, z in points])


def _along(p, axis_point, axis):
    """Points in a frame whose z axis is `axis` ('x' or 'y') through axis_point: the frame
    that lathe_z and cylinder_z see for a part lying along x or y."""
    q = p - jnp.asarray(axis_point)
    return q[..., jnp.array([1, 2, 0])] if axis == "x" else q[..., jnp.array([2, 0, 1])]


def _can(p, q):
    r, h, c = q["radius"], q["height"], 0.001
    top, bottom, lip = r * q["neck_ratio"], r * q["base_ratio"], 0.0025
    profile = _profile((0.0, c), (bottom - c, c), (r - c, q["base_height"]),
                       (r - c, h - q["neck_height"]), (top - c, h - c), (top - lip, h - c),
                       (top - lip - 0.0015, h - q["recess"]), (0.0, h - q["recess"]))
    return S.lathe_z(p, profile) - c


def _box(p, q):
    d, w, g = q["depth"], q["width"], q["gable"]
    top = q["height"] + g
    body = S.round_box(p - jnp.stack([0.0, 0.0, top / 2]), jnp.stack([d / 2, w / 2, top / 2]),
                       q["rounding"])
    # Gable roof: two planes through the top edges at x = +-d/2, meeting g above them.
    roof = (jnp.abs(p[..., 0]) * g + (p[..., 2] - q["height"]) * d / 2 - g * d / 2) \
        / jnp.sqrt(g * g + d * d / 4)
    # The carton's sealed fin along the ridge (inside the box when fin = 0).
    fin = S.round_box(p - jnp.stack([0.0, 0.0, top + q["fin"] / 2 - 0.002]),
                      jnp.stack([0.0015, w / 2 - q["rounding"] - 0.002, q["fin"] / 2 + 0.001]),
                      0.001)
    return S.union(S.intersect(body, roof), fin)


def _fruit(p, q):
    b, a = q["body_radius"], q["dimple"]
    centre = jnp.stack([0.0, 0.0, b])  # the dimpled body rests on the ring rho = a, z = 0
    # A spindle torus (major < minor): round, dimpled at both poles (exact outside).
    body = S.torus_z(p - centre, a, b)
    axis = jnp.stack([jnp.sin(q["lean"]), 0.0, jnp.cos(q["lean"])])
    neck_end = centre + q["neck_length"] * axis
    neck = S.round_cone(p, centre, neck_end, q["neck_radius"], q["top_radius"])
    fruit = S.smooth_union(body, neck, q["blend"])
    pear = q["neck_length"] > 0.5 * b
    top = jnp.where(pear, neck_end + q["top_radius"] * axis,
                    centre + jnp.stack([0.0, 0.0, jnp.sqrt(b * b - a * a)]))
    stem_axis = jnp.where(pear, axis, jnp.array([0.0, 0.0, 1.0]))
    base = top - 0.003 * stem_axis
    stem = S.capsule(p, base, base + jnp.maximum(q["stem_length"], 1e-4) * stem_axis,
                     q["stem_radius"])
    return S.union(fruit, stem)


def _open_vessel(p, bottom, mid, mid_height, top, height, wall, base, c):
    """An open vessel (cup, glass, pan) as a lathe: outer wall through the bottom, middle
    and top radii, a wall of `wall` and a floor of `base`, rim and corners rounded by c."""
    inner_bottom = bottom + (mid - bottom) * base / mid_height - wall
    profile = _profile((0.0, c), (bottom - c, c), (mid - c, mid_height), (top - c, height - c),
                       (top - wall + c, height - c), (mid - wall + c, mid_height),
                       (inner_bottom + c, base + c), (0.0, base + c))
    return S.lathe_z(p, profile) - c


def _cup(p, q):
    h = q["height"]
    return _open_vessel(p, q["bottom_radius"], q["mid_radius"], q["mid_ratio"] * h,
                        q["top_radius"], h, q["wall"], q["base"], 0.001)


def _pen(p, q):
    r, length, c = q["radius"], q["length"], 0.0008
    hexagonal = q["hexagonal"] > 0.5
    outer = jnp.where(hexagonal, r / np.cos(np.pi / 6), r)  # a pencil's lathe: its corners
    axis_z = jnp.maximum(r, q["cap_radius"])
    local = _along(p, jnp.stack([0.0, 0.0, axis_z]), "x")  # z' along the pen
    profile = _profile((0.0, -length / 2 + c), (outer - c, -length / 2 + c),
                       (outer - c, length / 2 - q["tip_length"]),
                       (q["tip_radius"], length / 2 - c), (0.0, length / 2 - c))
    body = S.lathe_z(local, profile) - c
    body = S.intersect(body, jnp.where(hexagonal, S.hex_prism_z(local, r, length), -1.0))
    cap_r, cap_len, rc = q["cap_radius"], q["cap_length"], 0.0015
    cap_centre = jnp.stack([0.0, 0.0, q["cap_start"] + cap_len / 2])
    cap = S.cylinder_z(local - cap_centre, cap_r - rc, cap_len / 2 - rc) - rc
    # The clip on top of the cap (sunk inside the cap when clip = 0).
    clip_top = axis_z + cap_r - 0.0005 + 0.002 * q["clip"]
    clip = S.round_box(p - jnp.stack([q["cap_start"] + 0.004 + cap_len * 0.35, 0.0,
                                      clip_top - 0.0012]),
                       jnp.stack([cap_len * 0.35, 0.00175, 0.0012]), 0.0008)
    return S.union(body, cap, clip)


def _hammer(p, q):
    length = q["length"]
    # The axis height: the thickest part (head or butt) rests on the table.
    z = jnp.maximum(jnp.maximum(q["face_radius"], q["back_radius"]),
                    jnp.maximum(q["end_radius"], q["butt_radius"]))
    head_x = length / 2
    handle = S.round_cone(p, jnp.stack([-length / 2 + q["butt_radius"], 0.0, z]),
                          jnp.stack([head_x, 0.0, z]), q["butt_radius"], q["neck_radius"])
    e, fr, fl = 0.002, q["face_radius"], q["face_length"]
    face = S.cylinder_z(_along(p, jnp.stack([head_x, fl / 2, z]), "y"), fr - e, fl / 2 - e) - e
    back = S.round_cone(p, jnp.stack([head_x, 0.0, z]),
                        jnp.stack([head_x, -q["back_length"], z]), q["back_radius"],
                        q["end_radius"])
    return S.smooth_union(handle, S.smooth_union(face, back, 0.004), 0.004)


def _spray_bottle(p, q):
    r, hb, c = q["radius"], q["body_height"], 0.004
    neck_r, top = q["neck_radius"], hb + q["shoulder"] + q["neck_height"]
    profile = _profile((0.0, c), (r - c, c), (r - c, 0.3 * hb), (q["waist"] - c, 0.55 * hb),
                       (r - c, 0.8 * hb), (r - c, hb), (neck_r - c, hb + q["shoulder"]),
                       (neck_r - c, top - c), (0.0, top - c))
    body = S.lathe_z(p, profile) - c
    collar = S.cylinder_z(p - jnp.stack([0.0, 0.0, top + 0.004]), neck_r + 0.004, 0.008) - 0.001
    hl, hw, hh = q["head_length"], q["head_width"], q["head_height"]
    head_z = top + 0.01 + hh / 2
    head = S.round_box(p - jnp.stack([hl / 2 - 0.02, 0.0, head_z]),
                       jnp.stack([hl / 2, hw / 2, hh / 2]), 0.006)
    nozzle = S.cylinder_z(_along(p, jnp.stack([hl - 0.02, 0.0, head_z + hh * 0.15]), "x"),
                          0.005, 0.006) - 0.001
    # The trigger hangs below the head's front, its lower end swung forward.
    angle, tl = q["trigger_angle"], q["trigger_length"]
    ca, sa = jnp.cos(angle), jnp.sin(angle)
    # Part frame (columns): the trigger's long axis z' leans back by `angle` from vertical.
    rot = jnp.stack([jnp.stack([ca, 0.0, sa]), jnp.array([0.0, 1.0, 0.0]),
                     jnp.stack([-sa, 0.0, ca])], axis=1)
    pivot = jnp.stack([hl - 0.028, 0.0, head_z - hh / 2 + 0.004])
    trigger = S.round_box(S.rotate(p - pivot + rot[:, 2] * tl / 2, rot),
                          (0.004, 0.007, tl / 2), 0.003)
    return S.union(S.smooth_union(S.union(body, collar), S.union(head, nozzle), 0.003),
                   trigger)


def _phone(p, q):
    w, length, t = q["width"], q["length"], q["thickness"]
    body = S.rounded_slab(p - jnp.stack([0.0, 0.0, t / 2]), (w / 2, length / 2, t / 2),
                          q["corner"], q["edge"] * t)
    b, bh = q["bump"], q["bump_height"]
    centre = jnp.stack([-w / 2 + 0.007 + b / 2, length / 2 - 0.007 - b / 2,
                        t + bh / 2 - 0.001])
    bump = S.rounded_slab(p - centre, (b / 2, b / 2, bh / 2 + 0.001), q["bump_corner"],
                          0.0005)
    return S.union(body, bump)


def _remote(p, q):
    w, length, t, bh = q["width"], q["length"], q["thickness"], q["button_height"]
    body = S.rounded_slab(p - jnp.stack([0.0, 0.0, t / 2]), (w / 2, length / 2, t / 2),
                          q["corner"], q["edge"] * t)
    # Buttons stand bh above the top face (which the edge rounding leaves flat in the
    # middle); each is sunk 1 mm into the body so that it is part of the same solid.
    z, pr, kl = t + bh / 2 - 0.0005, q["pad_radius"], q["keys_length"]
    power = S.cylinder_z(p - jnp.stack([w * 0.22, length / 2 - 0.012, z]), 0.0035,
                         bh / 2 + 0.0005)
    pad = S.cylinder_z(p - jnp.stack([0.0, length / 2 - 0.028 - pr, z]), pr, bh / 2 + 0.0005)
    keys = S.rounded_slab(p - jnp.stack([0.0, length / 2 - 0.036 - 2 * pr - kl / 2, z]),
                          (w / 2 - q["edge"] * t - 0.001, kl / 2, bh / 2 + 0.0005), 0.003,
                          0.0005)
    return S.union(body, power, pad, keys)


def _frying_pan(p, q):
    rb, depth = q["bottom_radius"], q["depth"]
    rt = rb + q["flare"]
    pan = _open_vessel(p, rb, (rb + rt) / 2, depth / 2, rt, depth, q["wall"], q["base"],
                       0.0012)
    angle, hl = q["handle_angle"], q["handle_length"]
    hw, ht = q["handle_width"], q["handle_thickness"]
    ca, sa = jnp.cos(angle), jnp.sin(angle)
    # Handle frame (columns): x' along the handle, away from the pan and rising; z' its up.
    rot = jnp.stack([jnp.stack([-ca, 0.0, sa]), jnp.array([0.0, 1.0, 0.0]),
                     jnp.stack([sa, 0.0, ca])], axis=1)
    start = jnp.stack([-(rt - q["wall"] / 2), 0.0, depth - ht / 2 - 0.002])
    local = S.rotate(p - start - rot[:, 0] * hl / 2, rot)
    handle = S.round_box(local, jnp.stack([hl / 2, hw / 2, ht / 2]), 0.45 * jnp.minimum(hw, ht))
    hole = S.cylinder_z(local - jnp.stack([hl / 2 - 0.018, 0.0, 0.0]),
                        jnp.maximum(q["hole_radius"], 1e-4), ht)
    handle = jnp.where(q["hole_radius"] > 0, S.subtract(handle, hole), handle)
    return S.smooth_union(pan, handle, 0.006)


def _new_extent(category, q):
    """(ex, ey, ez) half-extents in x, y and the height of a new category's object."""
    if category == "can":
        return q["radius"], q["radius"], q["height"]
    if category == "box":
        return q["depth"] / 2, q["width"] / 2, q["height"] + q["gable"] + q["fin"]
    if category == "fruit":
        reach = q["neck_length"] + q["top_radius"] + q["stem_length"] + 0.005
        ex = q["dimple"] + q["body_radius"] + abs(np.sin(q["lean"])) * reach
        return ex, q["dimple"] + q["body_radius"], 2 * q["body_radius"] + reach
    if category == "cup":
        r = max(q["top_radius"], q["mid_radius"])
        return r, r, q["height"]
    if category == "pen":
        r = max(q["radius"] / np.cos(np.pi / 6), q["cap_radius"]) + 0.004
        return q["length"] / 2 + q["cap_length"], r, 2 * r
    if category == "hammer":
        z = max(q["face_radius"], q["back_radius"], q["end_radius"])
        return (q["length"] / 2 + z, max(q["face_length"], q["back_length"] + q["end_radius"]),
                2 * max(z, q["butt_radius"]))
    if category == "spray bottle":
        top = q["body_height"] + q["shoulder"] + q["neck_height"]
        return (max(q["radius"], q["head_length"]), max(q["radius"], q["head_width"]),
                top + 0.012 + q["head_height"])
    if category == "phone":
        return q["width"] / 2, q["length"] / 2, q["thickness"] + q["bump_height"]
    if category == "remote":
        return q["width"] / 2, q["length"] / 2, q["thickness"] + q["button_height"]
    if category == "frying pan":
        rt = q["bottom_radius"] + q["flare"]
        reach = rt + q["handle_length"] * np.cos(q["handle_angle"])
        return reach, rt, q["depth"] + q["handle_length"] * np.sin(q["handle_angle"]) + \
            q["handle_thickness"]
    raise ValueError(f"unknown category {category!r}; choose from {CATEGORIES}")


_BUILDERS = {"mug": _mug, "bottle": _bottle, "kettle": _kettle, "bowl": _bowl,
             "knife": _knife, "toy car": _toy_car, "can": _can, "box": _box,
             "fruit": _fruit, "cup": _cup, "pen": _pen, "hammer": _hammer,
             "spray bottle": _spray_bottle, "phone": _phone, "remote": _remote,
             "frying pan": _frying_pan}


def object_sdf(category: str, params: dict, x):
    """Signed distance (...) of points x (...,3) to the object (object frame, metres)."""
    if category in held_out.names():
        return held_out.sdf(category, params, jnp.asarray(x, jnp.float32))
    if category not in _BUILDERS:
        raise ValueError(f"unknown category {category!r}; choose from {shape_names()}")
    return _BUILDERS[category](jnp.asarray(x, jnp.float32), params)


def object_bounds(category: str, params: dict) -> np.ndarray:
    """(2,3) an axis-aligned box that contains the object with a margin."""
    if category in held_out.names():
        ex, ey, ez = held_out.extent(category, params)
    elif category in NEW_CATEGORIES:
        ex, ey, ez = _new_extent(category, params)
    else:
        ex, ey, ez = _HOI4D_EXTENTS[category](params)
    margin = 0.01
    return np.array([[-ex - margin, -ey - margin, -margin],
                     [ex + margin, ey + margin, ez + margin]])


# (ex, ey, height) of the six HOI4D categories' objects, as `_new_extent` for the others.
_HOI4D_EXTENTS = {
    "mug": lambda q: (q["radius"] + 2 * q["handle_major"] + q["handle_minor"], q["radius"],
                      q["height"]),
    "bottle": lambda q: (q["radius"], q["radius"], q["height"]),
    "kettle": lambda q: (q["radius"] + q["spout_length"], q["radius"],
                         q["height"] + q["handle_rise"] + q["handle_minor"]),
    "bowl": lambda q: (q["radius"], q["radius"], q["radius"] * 1.1),
    "knife": lambda q: (max(q["blade_length"], q["handle_length"]), q["handle_width"],
                        q["handle_thickness"]),
    "toy car": lambda q: (q["length"] / 2, q["width"] / 2,
                          q["wheel_radius"] + q["body_height"] + q["cabin_height"]),
}


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
    """Closed mesh of the object's zero level set by marching cubes (vertices in metres);
    a registered mesh (`held_out.register_mesh`) is itself, at the object's size."""
    given = held_out.mesh(category, params)
    if given is not None:
        return given
    if category == "knife":
        spacing = min(spacing, 0.0005)  # the blade is ~2 mm thick
    elif category == "pen":
        spacing = min(spacing, 0.001)  # 7-19 mm thick, with a pointed tip and a clip
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

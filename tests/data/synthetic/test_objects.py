"""Tests for the procedural objects of hoijax.data.synthetic.objects."""
import numpy as np
import pytest

from hoijax.data.synthetic.held_out import HELD_OUT_SHAPES
from hoijax.data.synthetic.objects import (CATEGORIES, HOI4D_CATEGORIES, NEW_CATEGORIES,
                                           canonical_category, clip_name, object_bounds,
                                           object_mesh, object_sdf, sample_params)

# Realistic overall sizes (largest extent, metres) per category.
SIZE_RANGE = {"mug": (0.09, 0.17), "bottle": (0.16, 0.24), "kettle": (0.17, 0.30),
              "bowl": (0.12, 0.19), "knife": (0.20, 0.28), "toy car": (0.08, 0.12),
              "can": (0.065, 0.175), "box": (0.03, 0.27), "fruit": (0.035, 0.18),
              "cup": (0.05, 0.16), "pen": (0.1, 0.21), "hammer": (0.22, 0.36),
              "spray bottle": (0.18, 0.3), "phone": (0.13, 0.17), "remote": (0.14, 0.225),
              "frying pan": (0.25, 0.46)}
# The held-out shapes (outside the categories; hoijax.data.synthetic.held_out).
HELD_OUT_SIZE = {"egg": (0.055, 0.075), "tape roll": (0.09, 0.11), "dumbbell": (0.14, 0.18),
                 "pyramid": (0.06, 0.085)}


def test_category_lists():
    assert CATEGORIES == HOI4D_CATEGORIES + NEW_CATEGORIES and len(CATEGORIES) >= 14
    assert HOI4D_CATEGORIES == ("mug", "bottle", "kettle", "bowl", "knife", "toy car")
    assert set(SIZE_RANGE) == set(CATEGORIES)
    assert set(HELD_OUT_SIZE) == set(HELD_OUT_SHAPES) and not set(HELD_OUT_SHAPES) & \
        set(CATEGORIES)


@pytest.fixture(scope="module", params=CATEGORIES + HELD_OUT_SHAPES)
def sample(request):
    category = request.param
    params = sample_params(category, np.random.default_rng(7))
    return category, params, object_mesh(category, params, spacing=0.002)


def test_mesh_is_one_closed_solid_of_realistic_size(sample):
    category, _, mesh = sample
    assert mesh.is_watertight and mesh.volume > 0
    assert len(mesh.split(only_watertight=False)) == 1
    lo, hi = {**SIZE_RANGE, **HELD_OUT_SIZE}[category]
    assert lo <= mesh.extents.max() <= hi, mesh.extents
    assert abs(mesh.bounds[0, 2]) < 2e-3  # resting on the table plane z = 0
    lo, hi = object_bounds(category, sample_params(category, np.random.default_rng(7)))
    assert np.all(mesh.bounds[0] > lo) and np.all(mesh.bounds[1] < hi)  # bounds contain it
    centre = 0.5 * (mesh.bounds[0, :2] + mesh.bounds[1, :2])
    assert np.all(np.abs(centre) < 0.5 * mesh.extents[:2] - 1e-3)  # the z axis crosses it


def test_sdf_is_accurate_near_the_surface(sample):
    category, params, mesh = sample
    rng = np.random.default_rng(0)
    idx = rng.choice(len(mesh.vertices), 500, replace=False)
    verts, normals = mesh.vertices[idx], mesh.vertex_normals[idx]
    assert np.abs(np.asarray(object_sdf(category, params, verts))).max() < 1e-3
    for offset in (-0.0005, 0.001, 0.002):
        values = np.asarray(object_sdf(category, params, verts + offset * normals))
        assert np.median(np.abs(values - offset)) < 2e-4, (offset, category)


def test_categories_have_their_features():
    rng = np.random.default_rng(3)
    mug = sample_params("mug", rng)
    inside_cup = np.array([0.0, 0.0, mug["height"] * 0.7])
    assert float(object_sdf("mug", mug, inside_cup)) > 0.01  # open, hollow
    in_handle = np.array([mug["radius"] + mug["handle_major"], 0.0, mug["height"] / 2])
    assert float(object_sdf("mug", mug, in_handle)) < 0  # the handle's ring
    bowl = sample_params("bowl", rng)
    cavity = np.array([0.0, 0.0, 0.02 + bowl["wall"]])
    assert float(object_sdf("bowl", bowl, cavity)) > 0  # concave
    knife = sample_params("knife", rng)
    mid_blade = np.array([knife["blade_length"] * 0.2, 0.0, knife["handle_thickness"] / 2])
    np.testing.assert_allclose(float(object_sdf("knife", knife, mid_blade)),
                               -knife["blade_thickness"] / 2, atol=1e-5)


def _sdf(category, params, *points):
    return np.asarray(object_sdf(category, params, np.array(points, float)))


def _draws(category, n=40):
    return [sample_params(category, np.random.default_rng(s)) for s in range(n)]


def test_new_categories_have_their_features():
    rng = np.random.default_rng(4)
    cup = sample_params("cup", rng)
    h = cup["height"]
    assert _sdf("cup", cup, (0, 0, 0.7 * h)) > 0.01  # open, hollow, no handle
    assert _sdf("cup", cup, (0, 0, cup["base"] / 2)) < 0  # a solid floor
    widest = max(cup["top_radius"], cup["mid_radius"])
    assert _sdf("cup", cup, (widest + 0.004, 0, h / 2)) > 0
    can = sample_params("can", rng)
    assert _sdf("can", can, (0, 0, can["height"] / 2)) < -0.01  # closed and full
    hammer = sample_params("hammer", rng)
    z = max(hammer["face_radius"], hammer["back_radius"], hammer["end_radius"],
            hammer["butt_radius"])
    head = (hammer["length"] / 2, 0.0, z)
    assert _sdf("hammer", hammer, head) < -0.008  # a solid head across the handle
    assert _sdf("hammer", hammer, (hammer["length"] / 2, hammer["face_length"] - 0.003, z)) < 0
    assert _sdf("hammer", hammer, (0.0, 0.0, z)) < -0.007  # the handle's middle
    pan = sample_params("frying pan", rng)
    assert _sdf("frying pan", pan, (0, 0, pan["base"] + 0.01)) > 0.005  # open
    phone = sample_params("phone", rng)
    np.testing.assert_allclose(_sdf("phone", phone, (0, 0, phone["thickness"] / 2)),
                               -phone["thickness"] / 2, atol=1e-6)


def test_new_categories_vary_in_kind_not_only_in_scale():
    boxes = _draws("box")
    gable = [b["gable"] > 0 for b in boxes]
    assert any(gable) and not all(gable)  # cartons with a gable top, and flat-topped boxes
    carton = boxes[gable.index(True)]
    corner = (carton["depth"] / 2 - 0.002, 0.0, carton["height"] + carton["gable"] - 0.003)
    assert _sdf("box", carton, corner) > 0  # the roof slopes
    flat = boxes[gable.index(False)]
    corner = (flat["depth"] / 2 - 0.004, 0.0, flat["height"] - 0.004)
    assert _sdf("box", flat, corner) < 0
    pens = _draws("pen")
    pencil = next(p for p in pens if p["hexagonal"] > 0.5)
    z = pencil["radius"]  # a pencil lies on a flat, its axis one apothem up
    assert _sdf("pen", pencil, (0.0, pencil["radius"] * 1.1, z)) < 0  # a corner
    assert _sdf("pen", pencil, (0.0, 0.0, z + pencil["radius"] * 1.1)) > 0  # a flat
    assert {p["clip"] for p in pens} == {0.0, 1.0}
    posted = [p["cap_start"] < 0 for p in pens if p["hexagonal"] < 0.5]
    assert any(posted) and not all(posted)  # caps on the tip and posted on the back
    fruit = _draws("fruit")
    pears = [f["neck_length"] > f["body_radius"] for f in fruit]
    assert any(pears) and not all(pears)
    pear = fruit[pears.index(True)]
    b, lean = pear["body_radius"], pear["lean"]
    neck_end = np.array([0.0, 0.0, b]) + pear["neck_length"] * np.array(
        [np.sin(lean), 0.0, np.cos(lean)])
    assert neck_end[2] > 2 * b and _sdf("fruit", pear, neck_end) < 0  # its neck, above
    cans = _draws("can")
    aspect = [c["height"] / (2 * c["radius"]) for c in cans]
    assert min(aspect) < 0.6 and max(aspect) > 2.0  # flat tins and tall drink cans
    cups = _draws("cup")
    taper = [c["bottom_radius"] / c["top_radius"] for c in cups]
    assert min(taper) < 0.7 and max(taper) > 0.85
    assert any(c["mid_radius"] > c["top_radius"] for c in cups)  # bulging glasses
    hammers = _draws("hammer")
    assert any(h["end_radius"] < 0.007 for h in hammers)  # tapering claw-like ends
    assert any(h["end_radius"] > h["back_radius"] for h in hammers)  # ball peens
    assert any(h["face_radius"] > 0.02 for h in hammers)  # mallets


def test_sampling_is_deterministic_and_validated():
    a = sample_params("kettle", np.random.default_rng(5))
    b = sample_params("kettle", np.random.default_rng(5))
    assert a == b
    with pytest.raises(ValueError, match="unknown category 'spoon'"):
        sample_params("spoon", np.random.default_rng(0))


@pytest.mark.parametrize("spelling", ["toy car", "toy_car", "toycar", "ToyCar", "TOY CAR",
                                      "toy-car", "Toy_Car", " toy  car ", "toy - car"])
def test_canonical_category_toy_car(spelling):
    assert canonical_category(spelling) == "toy car"
    assert clip_name(spelling, 0) == "toy_car_0"


@pytest.mark.parametrize("spelling", ["mug", "Mug", "MUG", " mug", "m_u-g"])
def test_canonical_category_other(spelling):
    assert canonical_category(spelling) == "mug"
    assert clip_name(spelling, 12) == "mug_12"


@pytest.mark.parametrize("spelling,name", [("spray_bottle", "spray bottle"),
                                           ("SprayBottle", "spray bottle"),
                                           ("frying-pan", "frying pan"), ("FRYINGPAN",
                                                                          "frying pan"),
                                           ("Can", "can"), ("Remote", "remote")])
def test_canonical_category_new(spelling, name):
    assert canonical_category(spelling) == name
    assert clip_name(spelling, 0) == name.replace(" ", "_") + "_0"


def test_canonical_category_is_identity_on_categories_and_refuses_unknown():
    assert [canonical_category(c) for c in CATEGORIES] == list(CATEGORIES)
    for bad in ("teapot", "toy", "car", "", "toy car 2", None):
        with pytest.raises(ValueError, match=f"unknown category {bad!r}; choose from mug, "
                                             "bottle, kettle, bowl, knife, toy car, can, "
                                             ".*frying pan"):
            canonical_category(bad)
    with pytest.raises(ValueError, match="'spoon'"):
        clip_name("spoon", 0)

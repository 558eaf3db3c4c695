"""Tests for the procedural objects of hoijax.data.synthetic.objects."""
import numpy as np
import pytest

from hoijax.data.synthetic.objects import (CATEGORIES, canonical_category, clip_name,
                                           object_mesh, object_sdf, sample_params)

# Realistic overall sizes (largest extent, metres) per category.
SIZE_RANGE = {"mug": (0.09, 0.17), "bottle": (0.16, 0.24), "kettle": (0.17, 0.30),
              "bowl": (0.12, 0.19), "knife": (0.20, 0.28), "toy car": (0.08, 0.12)}


@pytest.fixture(scope="module", params=CATEGORIES)
def sample(request):
    category = request.param
    params = sample_params(category, np.random.default_rng(7))
    return category, params, object_mesh(category, params, spacing=0.002)


def test_mesh_is_one_closed_solid_of_realistic_size(sample):
    category, _, mesh = sample
    assert mesh.is_watertight and mesh.volume > 0
    assert len(mesh.split(only_watertight=False)) == 1
    lo, hi = SIZE_RANGE[category]
    assert lo <= mesh.extents.max() <= hi, mesh.extents
    assert abs(mesh.bounds[0, 2]) < 2e-3  # resting on the table plane z = 0


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


def test_canonical_category_is_identity_on_categories_and_refuses_unknown():
    assert [canonical_category(c) for c in CATEGORIES] == list(CATEGORIES)
    for bad in ("teapot", "toy", "car", "", "toy car 2", None):
        with pytest.raises(ValueError, match=f"unknown category {bad!r}; choose from mug, "
                                             "bottle, kettle, bowl, knife, toy car"):
            canonical_category(bad)
    with pytest.raises(ValueError, match="'spoon'"):
        clip_name("spoon", 0)

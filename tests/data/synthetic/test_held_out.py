"""Tests of the held-out shapes' mesh registry (hoijax.data.synthetic.held_out): a mesh
becomes a shape of the synthetic world, upright, at its height, with a tabulated SDF; no
prior's data accepts a held-out shape."""
import numpy as np
import pytest
import trimesh

from hoijax.data import grid_data, prior_data
from hoijax.data.synthetic import held_out
from hoijax.data.synthetic.grasp import grasp_template
from hoijax.data.synthetic.objects import (canonical_category, object_bounds, object_mesh,
                                           object_sdf, sample_params, shape_names)
from hoijax.data.synthetic.split import unseen_clips
from hoijax.runtime import repo_config


@pytest.fixture
def lying_cylinder():
    """A cylinder of radius 3 cm and length 8 cm along y, registered with y up."""
    mesh = trimesh.creation.cylinder(radius=0.03, height=0.08, sections=64)
    mesh.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    yield held_out.register_mesh("test cylinder", mesh, height=0.16, up="y", resolution=64)
    held_out.unregister_mesh("test cylinder")


def test_a_registered_mesh_stands_upright_at_its_height(lying_cylinder):
    name = lying_cylinder
    assert name in shape_names() and canonical_category("Test_Cylinder", shape_names()) == name
    assert (name, 0) in unseen_clips()
    params = sample_params(name, np.random.default_rng(0))
    scale = params["scale"]
    assert 0.95 <= scale <= 1.05
    mesh = object_mesh(name, params)  # the mesh itself, scaled twice over (0.08 -> 0.16 m)
    np.testing.assert_allclose(mesh.extents, np.array([0.12, 0.12, 0.16]) * scale, rtol=0.01)
    assert abs(mesh.bounds[0, 2]) < 1e-6
    lo, hi = object_bounds(name, params)
    assert np.all(lo < mesh.bounds[0]) and np.all(mesh.bounds[1] < hi)
    # The tabulated SDF against the upright cylinder's exact one (radius 6 cm x scale).
    rng = np.random.default_rng(1)
    points = rng.uniform([-0.08, -0.08, -0.02], [0.08, 0.08, 0.18], (2000, 3)) * scale
    radial = np.linalg.norm(points[:, :2], axis=1) - 0.06 * scale
    axial = np.abs(points[:, 2] - 0.08 * scale) - 0.08 * scale
    exact = np.minimum(np.maximum(radial, axial), 0) + np.linalg.norm(
        np.maximum(np.stack([radial, axial], 1), 0), axis=1)
    near = np.abs(exact) < 0.02
    error = np.abs(np.asarray(object_sdf(name, params, points)) - exact)[near]
    assert np.median(error) < 1e-3 and error.max() < 4e-3, (np.median(error), error.max())
    template = grasp_template(name, params)  # a wrap from -x at 0.45 of the height
    np.testing.assert_allclose(template.palm_point, [-0.06 * scale, 0, 0.072 * scale],
                               atol=2e-3)


def test_a_mesh_with_no_inside_is_refused_by_name():
    sheet = trimesh.Trimesh([[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0], [0.1, 0.1, 0.01]],
                            [[0, 1, 2], [1, 3, 2]])
    with pytest.raises(ValueError, match="sheet"):
        held_out.register_mesh("sheet", sheet, height=0.05)
    assert "sheet" not in shape_names()
    with pytest.raises(ValueError, match="built-in"):
        held_out.register_mesh("egg", trimesh.creation.box((0.05, 0.05, 0.05)), 0.05)


@pytest.mark.parametrize("module,config", [(prior_data, "prior_data.py"),
                                           (grid_data, "grid_data.py")])
def test_no_prior_data_takes_a_held_out_shape(module, config):
    cfg = repo_config(config)
    cfg.categories = ["mug", "egg"]
    with pytest.raises(ValueError, match="egg"):
        module.check_config(cfg)

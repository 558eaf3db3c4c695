"""Tests for the prior's training data and the sphere tracer behind it."""
import jax.numpy as jnp
import numpy as np
import pytest

from hoijax.data.prior_data import check_config, load_prior_data, write_prior_data
from hoijax.geometry.sdf import sphere
from hoijax.render.sphere_trace import render_sdf_hard
from hoijax.runtime import repo_config


def _tiny_config(**overrides):
    config = repo_config("prior_data.py", "tiny")
    config.categories = ["bottle"]
    config.objects_per_category = 1
    config.views_per_grasp = 3
    config.image_size = 16
    config.shard_size = 2
    for k, v in overrides.items():
        setattr(config, k, v)
    return config


def test_prior_data_shards_manifest_and_determinism(standin_right, tmp_path):
    manifest = write_prior_data(_tiny_config(), str(tmp_path / "a"), model=standin_right,
                                progress=False)
    assert manifest["num_samples"] == 3 and len(manifest["shards"]) == 2
    data = load_prior_data(str(tmp_path / "a"))
    assert data["object"].shape == (3, 16, 16, 5) and data["hand"].shape == (3, 16, 16, 7)
    assert set(np.unique(data["object"][..., 0])) <= {-1.0, 1.0}
    assert np.all(data["hand"][..., 0].reshape(3, -1).max(1) == 1.0)  # hand in every view
    assert manifest["categories"] == ["bottle"]  # the prompts drawn, not every category
    assert np.all(data["category"] == 0)
    # Background is exactly the background constant, the depth is relative (decimetres).
    off = data["object"][..., 0] < 0
    assert np.all(data["object"][off][:, 1:] == 0)
    assert np.abs(data["object"][~off][:, 4]).max() < 3.0
    write_prior_data(_tiny_config(), str(tmp_path / "b"), model=standin_right,
                     progress=False)
    again = load_prior_data(str(tmp_path / "b"))
    np.testing.assert_array_equal(again["object"], data["object"])
    with pytest.raises(ValueError, match="already exists"):
        write_prior_data(_tiny_config(), str(tmp_path / "a"), model=standin_right)


def test_prior_data_config_errors(tmp_path):
    with pytest.raises(ValueError, match="benchmark seeds"):
        check_config(_tiny_config(first_seed=0))
    with pytest.raises(ValueError, match="config.categories"):
        check_config(_tiny_config(categories=["teapot"]))
    with pytest.raises(ValueError, match="config.source"):
        check_config(_tiny_config(source="hoi4d"))
    (tmp_path / "clip").mkdir()
    with pytest.raises(ValueError, match="gt.npz"):
        check_config(_tiny_config(source=f"clips:{tmp_path}/*"))
    with pytest.raises(ValueError, match="no folder matches"):
        check_config(_tiny_config(source=f"clips:{tmp_path}/none*"))
    with pytest.raises(ValueError, match="no manifest.json"):
        load_prior_data(str(tmp_path))


def test_sphere_tracer_matches_an_analytic_sphere():
    radius, dist, size = 0.05, 0.4, 48
    f = 60.0
    K = jnp.array([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1.0]])
    cTo = jnp.eye(4).at[2, 3].set(dist)
    layer = render_sdf_hard(lambda x: sphere(x, radius), cTo, K, (size, size), near=0.2,
                            far=0.6)
    j, i = np.meshgrid(np.arange(size), np.arange(size))
    x, y = (j - (size - 1) / 2) / f, (i - (size - 1) / 2) / f
    d = np.stack([x, y, np.ones_like(x)], -1)
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    b = d[..., 2] * dist
    disc = b ** 2 - (dist ** 2 - radius ** 2)
    hit = disc > 1e-6
    t = b - np.sqrt(np.maximum(disc, 0))
    inner = hit & (disc > 2e-4)  # away from the silhouette
    mask = np.asarray(layer["mask"]) > 0.5
    assert np.all(mask[inner]) and not np.any(mask[~hit])
    np.testing.assert_allclose(np.asarray(layer["depth"])[inner], (t * d[..., 2])[inner],
                               atol=3e-4)
    normal = (t[..., None] * d - np.array([0, 0, dist])) / radius
    cos = np.sum(np.asarray(layer["normal"]) * normal, -1)[inner]
    assert cos.min() > 0.999

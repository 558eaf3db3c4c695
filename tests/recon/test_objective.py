"""Tests of the reconstruction objective (hoijax.recon.objective) and of the step's
numerics (hoijax.recon.fit): analytic renderings, the weighted sum, the SDS conditions,
the gradient diagnostics, and the prior's parameters as an argument of the step."""
import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hoijax import parallel
from hoijax.geometry.transforms import make_transform
from hoijax.models.sdf import fit_sphere, init_sdf, sdf_value
from hoijax.models.text import tokenize
from hoijax.recon import objective as obj
from hoijax.recon.data import prepare_clip
from hoijax.recon.fit import check_finite, gradient_diagnostics, make_step, scene_optimizer
from hoijax.recon.init import initialise_scene
from hoijax.recon.priors import Priors
from hoijax.render.geometry_images import HAND_BACKGROUND
from tests.tiny_priors import tiny_config as make_tiny_config


@pytest.fixture(scope="module")
def prepared(standin_right, tiny_clip, tiny_config, tiny_prior):
    data, _ = prepare_clip(tiny_clip, standin_right, tiny_config.render.image_size,
                           tiny_prior.tokens("bottle"), lam=tiny_config.init.lam)
    return data, initialise_scene(data, standin_right, tiny_config)


def test_object_layer_renders_the_sphere_the_field_was_fitted_to(tiny_config):
    radius, center = 0.04, jnp.array([0.01, -0.02, 0.03])
    sdf = fit_sphere(init_sdf(jax.random.key(0), width=32, depth=2, num_freqs=2,
                              init_radius=radius, center=center), jax.random.key(1),
                     radius=radius, steps=300)
    assert abs(float(sdf_value(sdf, center + jnp.array([radius, 0, 0])))) < 3e-3
    distance = 0.4  # camera on the -z side of the centre, looking along +z
    cTo = make_transform(jnp.eye(3), jnp.array([0.0, 0.0, distance]) - center)
    rays = jnp.array([[0.0, 0.0, 1.0], [0.6, 0.0, 0.8]])  # at the centre; far off
    render = obj.RenderOptions(image_size=32, sigma=0.5, sigma_end=0.1, faces_per_pixel=4,
                               beta=0.002, surface="neus", bound_radius=0.1,
                               num_samples=64, num_importance=32, num_steps=10)
    out = obj.object_layer(sdf, cTo, rays, None, render)
    np.testing.assert_allclose(out["mask"], [1.0, 0.0], atol=0.02)
    np.testing.assert_allclose(out["depth"][0], distance - radius, atol=3e-3)
    np.testing.assert_allclose(out["normal"][0], [0.0, 0.0, -1.0], atol=0.05)


def test_eikonal_points_lie_in_the_bound_or_on_the_rays():
    rays = jax.random.normal(jax.random.key(0), (10, 7, 3))
    center = jnp.array([1.0, 2.0, 3.0])
    pts = obj.sample_eikonal_points(rays, center, jax.random.key(1), 40, 0.1)
    assert pts.shape == (40, 3)
    flat = np.asarray(rays).reshape(-1, 3)
    near = np.asarray(pts[:20])
    assert all(np.any(np.all(np.isclose(flat, p), -1)) for p in near)
    assert np.all(np.linalg.norm(np.asarray(pts[20:]) - np.asarray(center), axis=-1) <= 0.1)


def test_sds_conditions_drop_the_hand_or_the_text():
    hand = jnp.ones((1, 4, 4, 7))
    tokens = jnp.asarray(tokenize("an image of a hand grasping a mug"))[None]
    full = obj.sds_condition(hand, tokens, "full")
    assert full["hand"] is hand and full["tokens"] is tokens
    text_only = obj.sds_condition(hand, tokens, "text_only")
    np.testing.assert_array_equal(text_only["hand"][0, 2, 3], HAND_BACKGROUND)
    assert text_only["tokens"] is tokens
    hand_only = obj.sds_condition(hand, tokens, "hand_only")
    np.testing.assert_array_equal(hand_only["tokens"][0], tokenize(""))


def test_total_is_the_weighted_sum_of_its_terms(standin_right, tiny_config, tiny_prior,
                                                prepared):
    data, params = prepared
    config = copy.deepcopy(tiny_config)
    config.loss.mask = 0.0  # a zero weight is allowed (it was a division before)
    config.loss.part_contact, config.loss.carve = 0.5, 2.0  # off by default

    @jax.jit
    def loss(params):
        return obj.total_loss(params, data, standin_right, tiny_prior, tiny_prior.params,
                              jax.random.key(0), 0, obj.Objective.from_config(config),
                              with_sds=False)

    total, terms = loss(params)
    assert set(terms) == {"mask", "hand_mask", "eikonal", "smooth", "hand_prior",
                          "hTo_offset", "ray_hit", "contact", "penetration", "part_contact",
                          "carve"}
    w = config.loss
    expected = sum(w[name] * float(v) for name, v in terms.items())
    np.testing.assert_allclose(float(total), expected, rtol=1e-5)
    assert 0.0 < float(terms["mask"]) < 1.0 and 0.0 <= float(terms["hand_mask"]) < 1.0
    assert float(terms["hand_prior"]) == 0.0 and float(terms["hTo_offset"]) == 0.0
    assert np.isfinite(float(terms["part_contact"])) and float(terms["part_contact"]) >= 0
    assert np.isfinite(float(terms["carve"])) and float(terms["carve"]) >= 0


def test_gradient_diagnostics_zero_and_count_non_finite_entries():
    grads = dict(sdf=dict(w=jnp.array([1.0, jnp.nan, 3.0])), hTo=dict(rot=jnp.array(
        [jnp.inf, 4.0])))
    clean, info = gradient_diagnostics(grads)
    np.testing.assert_array_equal(clean["sdf"]["w"], [1.0, 0.0, 3.0])
    assert int(info["nonfinite/sdf"]) == 1 and int(info["nonfinite/hTo"]) == 1
    np.testing.assert_allclose(info["grad_norm/sdf"], np.sqrt(10.0))
    np.testing.assert_allclose(info["grad_norm/hTo"], 4.0)


def test_a_wholly_non_finite_step_stops_naming_step_clip_and_group():
    info = {"nonfinite/sdf": np.array([0, 3]), "nonfinite/hTo": np.array([1, 0])}
    sizes = {"sdf": 3, "hTo": 6}
    terms = dict(total=np.array([1.0, 2.0]))
    counts = check_finite(7, terms, info, 1, sizes)  # clip 1 is padding: not checked
    assert counts["hTo"].tolist() == [1, 0]
    with pytest.raises(FloatingPointError, match=r"step 7 \(clip 0\).*hTo"):
        check_finite(7, dict(total=np.array([np.nan, 2.0])), info, 2, sizes)
    info["nonfinite/hTo"] = np.array([1, 6])
    with pytest.raises(FloatingPointError, match=r"gradient at step 9 \(clip 1\).*sdf, hTo"):
        check_finite(9, terms, info, 2, sizes)


def test_prior_parameters_are_an_argument_of_the_compiled_step(standin_right, tiny_prior,
                                                               tiny_grid_prior, prepared):
    """Both priors' parameters (2D and 3D) are arguments: one compiled step serves two
    parameter sets of each, with the SDS terms switched on and off at run time. (The
    inputs are placed as `fit_clips` places them, so this is the program of
    test_reconstruct_smoke's fits: the persistent cache compiles it once.)"""
    data, params = prepared
    config = make_tiny_config(both_priors=True)
    priors = Priors(tiny_prior, tiny_grid_prior)
    tx = scene_optimizer(config.optim.lr)
    mesh = parallel.data_mesh()

    def stack(tree):  # new buffers each time: the step donates its state
        return jax.device_put(jax.tree.map(lambda x: jnp.asarray(x)[None], tree),
                              parallel.batch_sharded(mesh))

    def fresh():  # the fit's initial state, placed as its loop places it
        stacked = stack(params)
        return jax.device_put(dict(params=stacked, opt_state=jax.vmap(tx.init)(stacked)),
                              parallel.batch_sharded(mesh))

    data = stack(data)
    step = make_step(standin_right, priors, obj.Objective.from_config(config), tx,
                     with_sds=True)
    sds = []
    for shift in (0.0, 0.05):  # (the untrained priors' last layers are zero: shift)
        prior_params = parallel.replicate(
            jax.tree.map(lambda x: x + shift, priors.params()), mesh)
        _, terms, _ = step(fresh(), data, prior_params, jax.random.key(0), 1, True)
        sds.append((float(terms["sds"][0]), float(terms["sds_grid"][0])))
    assert sds[0][0] != sds[1][0] and sds[0][1] != sds[1][1]  # new parameters used ...
    _, terms, _ = step(fresh(), data, prior_params, jax.random.key(0), 2, False)
    assert float(terms["sds"][0]) == 0.0 and float(terms["sds_grid"][0]) == 0.0  # off ...
    assert step._cache_size() == 1  # ... all by the same compiled program


def test_grid_conditions_drop_the_hand_field_or_the_text():
    field = jnp.ones((1, 4, 4, 4, 20))
    tokens = jnp.asarray(tokenize("an image of a hand grasping a mug"))[None]
    f, t = obj.grid_condition(field, tokens, "full")
    assert f is field and t is tokens
    f, t = obj.grid_condition(field, tokens, "text_only")
    assert float(jnp.abs(f).max()) == 0.0 and t is tokens  # "no hand" is all zeros
    f, t = obj.grid_condition(field, tokens, "hand_only")
    assert f is field
    np.testing.assert_array_equal(t[0], tokenize(""))


def test_grid_sds_pulls_the_encoded_object_toward_the_estimate_moving_object_and_pose(
        standin_right, tiny_config, tiny_grid_prior, prepared):
    """With a toy grid prior whose x0 estimate is a constant c, the 3D SDS term is
    w(t) |z - c|^2 / 2 of the frame's encoded object grid z (w in the bell's range over
    t in [min_t, max_t]); its gradient reaches the object field and hTo, never the hand
    or the cameras."""
    import dataclasses

    from hoijax.interaction.hand_field import hand_frame_center
    from hoijax.recon import scene
    data, params = prepared
    c = -0.3
    toy = dataclasses.replace(tiny_grid_prior, denoise=lambda p, x_t, t, cond: jnp.full(
        x_t.shape, c))
    opts = obj.Objective.from_config(tiny_config).grid_sds
    grid_params = dict(denoiser=tiny_grid_prior.params,
                       autoencoder=tiny_grid_prior.autoencoder.params)

    def term(p):
        _, joints = scene.hand_vertices(standin_right, p)
        return obj.grid_sds_term(p, data, standin_right, joints, scene.hTo_matrices(p), toy,
                                 grid_params, jax.random.key(3), opts)

    value, grads = jax.jit(jax.value_and_grad(term))(params)
    ae = tiny_grid_prior.autoencoder
    center = hand_frame_center(standin_right, params["hand"]["beta"])
    hTo = scene.hTo_matrices(params)
    _, joints = scene.hand_vertices(standin_right, params)
    grid, _ = obj.interaction_grid(params["sdf"], hTo[0], joints[0], center,
                                   ae.config.model.resolution, 4, tiny_grid_prior.half_extent)
    # (every frame has the same hTo at the start, so the random frame does not matter)
    half = 0.5 * float(jnp.sum((ae.encode(grid[None]) - c) ** 2))
    abar = tiny_grid_prior.schedule.alphas_cumprod
    bell = np.sqrt(1 - abar) * np.sqrt(abar)
    lo, hi = int(opts.min_t * 1000), int(opts.max_t * 1000)
    assert bell[lo:hi].min() * half * 0.999 <= float(value) <= bell[lo:hi].max() * half * 1.001
    norm = lambda tree: sum(float(jnp.abs(x).sum()) for x in jax.tree.leaves(tree))  # noqa
    assert norm(grads["sdf"]) > 0 and norm(grads["hTo"]) > 0
    assert norm(grads["hand"]) == 0 and norm(grads["camera"]) == 0
    assert norm(grads["focal"]) == 0

"""Configs are checked before any work: one clear error naming the field; config variants
compose; the small helpers the fit relies on (Adam in a scan, clip padding)."""
import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from hoijax import parallel
from hoijax.optimize import adam_scan
from hoijax.priors import image_train
from hoijax.recon.checks import check_config
from hoijax.runtime import repo_config
from tests import ROOT_DIR

REPO = ROOT_DIR


@pytest.mark.parametrize("variant", [None, "tiny", "no_prior", "init", "bench",
                                     "bench_ablation", "bench,no_prior", "grid", "both",
                                     "image", "bench_priors"])
def test_every_shipped_variant_passes_the_checks(variant):
    check_config(repo_config("reconstruct.py", variant), num_frames=8)


@pytest.mark.parametrize("field, value, message", [
    ("num_steps", -3, "config.num_steps=-3: must be an integer >= 0"),
    ("render.image_size", 0, "config.render.image_size=0: must be an integer >= 8"),
    ("loss.mask", -1.0, "config.loss.mask=-1.0: must be a number >= 0"),
    ("sds.condition", "hands", "config.sds.condition='hands': must be one of full"),
    ("sds.max_t_end", 0.01, "need min_t <= max_t_end <= max_t_start"),
    ("loss.sds_grid", -0.1, "config.loss.sds_grid=-0.1: must be a number >= 0"),
    ("grid_sds.max_t", 0.1, "config.grid_sds: need min_t <= max_t"),
    ("rays_per_frame", 5000, "more than the 4096 pixels"),
    ("frames_per_step", 9, "more than the clip's 8 frames"),
])
def test_a_bad_field_is_named(field, value, message):
    config = repo_config("reconstruct.py")
    *path, last = field.split(".")
    node = config
    for name in path:
        node = node[name]
    node[last] = value
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        check_config(config, num_frames=8)


def test_variants_compose_in_order_and_unknown_ones_are_refused():
    config = repo_config("reconstruct.py", "bench,no_prior")
    assert config.num_steps == 200 and config.loss.sds == 0.0
    assert config.bench.variants == "init,full,no_prior"
    grid, both = repo_config("reconstruct.py", "grid"), repo_config("reconstruct.py", "both")
    assert grid.loss.sds == 0.0 and grid.loss.sds_grid > 0
    default, image = repo_config("reconstruct.py"), repo_config("reconstruct.py", "image")
    assert default.loss.to_dict() == both.loss.to_dict()  # both priors by default
    assert image.loss.sds > 0 and image.loss.sds_grid == 0.0
    assert both.loss.sds > 0 and both.loss.sds_grid > 0
    no_prior = repo_config("reconstruct.py", "both,no_prior")
    assert no_prior.loss.sds == 0.0 and no_prior.loss.sds_grid == 0.0
    with pytest.raises(ValueError, match="unknown variant 'fast'"):
        repo_config("reconstruct.py", "fast")


def test_prior_config_is_checked():
    for variant in (None, "tiny", "paper"):
        image_train.check_config(repo_config("prior.py", variant))
    config = repo_config("prior.py")
    config.model.image_size = 30
    with pytest.raises(ValueError, match="config.model.image_size=30: must divide"):
        image_train.check_config(config)


@pytest.mark.parametrize("override, message", [
    ("--config.num_steps=-3", "config.num_steps=-3"),
    ("--config.render.image_size=0", "config.render.image_size=0"),
])
def test_the_cli_refuses_a_bad_config_before_writing_anything(tmp_path, override, message):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "hoijax.reconstruct",
                           "--clip=synthetic:mug", f"--out={out}", override],
                          capture_output=True, text=True, cwd=REPO, timeout=120,
                          env=dict(os.environ, JAX_PLATFORMS="cpu"))
    assert proc.returncode != 0
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_adam_scan_minimises_with_and_without_keys():
    target = jnp.array([1.0, -2.0])
    out = adam_scan(lambda p: jnp.sum((p - target) ** 2), jnp.zeros(2), steps=300, lr=0.05)
    np.testing.assert_allclose(out, target, atol=1e-2)
    import jax
    keys = jax.random.split(jax.random.key(0), 300)
    noisy = adam_scan(lambda p, k: jnp.sum((p - target - 0.01 * jax.random.normal(k, (2,)))
                                           ** 2), jnp.zeros(2), steps=300, lr=0.05, keys=keys)
    np.testing.assert_allclose(noisy, target, atol=5e-2)


def test_clip_padding_fills_the_devices():
    mesh = parallel.data_mesh()
    n = mesh.size
    assert parallel.padding(n, mesh) == 0
    assert (3 + parallel.padding(3, mesh)) % n == 0

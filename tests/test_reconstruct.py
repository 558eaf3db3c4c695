"""End-to-end smoke tests: a tiny synthetic clip fitted for a few steps, with every output;
resuming a killed fit; several clips fitted together."""
import copy
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from hoijax.recon import fit as fit_module
from hoijax.recon.checkpoints import check_resumable
from hoijax.recon.fit import fit_clip, fit_clips
from hoijax.recon.outputs import write_outputs
from hoijax.recon.sources import resolve_clips
from hoijax.runtime import cpu_devices_env
from tests import ROOT_DIR

pytestmark = pytest.mark.slow  # end-to-end fits (`-m "not slow"` skips them)


@pytest.fixture(scope="module")
def both_config():
    """The default pair of priors (2D and 3D) at the tiny scale. (The program of
    test_recon_objective's compiled-step test: the persistent cache compiles it once.)"""
    from tests.tiny_priors import tiny_config
    return tiny_config(both_priors=True)


@pytest.fixture(scope="module")
def priors(tiny_prior, tiny_grid_prior):
    from hoijax.recon.priors import Priors
    return Priors(tiny_prior, tiny_grid_prior)


@pytest.fixture(scope="module")
def four_steps(standin_right, priors, tiny_clip, both_config):
    """An uninterrupted 4-step fit with both priors (no checkpoints)."""
    return fit_clip(tiny_clip, standin_right, priors, both_config, progress=False)


def test_tiny_reconstruction_writes_every_output(standin_right, tiny_clip, tiny_prior,
                                                 both_config, four_steps, tmp_path):
    """Both SDS terms logged and finite, every output written; without a grid prior
    given, fit_clip refuses a config that needs one."""
    from hoijax.recon.priors import Priors
    result = four_steps
    assert [h["step"] for h in result.history] == [2, 4]
    assert all(np.isfinite(v) for h in result.history for v in h.values())
    logged = [h for h in result.history if "sds_grid" in h]
    assert logged and all(h["sds_grid"] > 0 and "sds" in h for h in logged)
    assert {"mask", "hand_mask", "eikonal", "grad_norm/sdf", "nonfinite/hTo"} <= set(
        result.history[-1])
    assert result.history[-1]["grad_norm/sdf"] > 0
    leaves = jax.tree.leaves(result.params)
    assert all(np.all(np.isfinite(np.asarray(x))) for x in leaves)
    out = tmp_path / "out"
    metrics = write_outputs(str(out), result, tiny_clip, standin_right, both_config.render)
    for name in ("object.obj", "params.npz", "recon.mp4", "losses.png", "metrics.json",
                 "hands/000002.obj"):
        assert os.path.isfile(out / name), name
    with np.load(out / "params.npz") as p:
        assert p["hTo"].shape == (3, 4, 4) and p["cTh"].shape == (3, 4, 4)
    assert set(json.loads((out / "metrics.json").read_text())) >= {"F@5", "F@10", "CD",
                                                                   "CD_h"}
    assert 0.0 <= metrics["F@10"] <= 1.0
    with pytest.raises(ValueError, match="no grid prior"):
        fit_clip(tiny_clip, standin_right, Priors(tiny_prior), both_config, progress=False)


def _assert_same_params(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4, atol=1e-5)


class _Killed(Exception):
    pass


def test_killed_fit_resumes_from_its_checkpoint(standin_right, priors, tiny_clip,
                                                both_config, four_steps, tmp_path,
                                                monkeypatch):
    config = copy.deepcopy(both_config)
    config.checkpoint_every = 2
    real_use_sds_at = fit_module.use_sds_at

    def killed_at_step_2(i, config):  # the run dies before its third step
        if i == 2:
            raise _Killed
        return real_use_sds_at(i, config)

    monkeypatch.setattr(fit_module, "use_sds_at", killed_at_step_2)
    with pytest.raises(_Killed):
        fit_clip(tiny_clip, standin_right, priors, config, workdir=str(tmp_path),
                 progress=False)
    monkeypatch.setattr(fit_module, "use_sds_at", real_use_sds_at)
    resumed = fit_clip(tiny_clip, standin_right, priors, config, workdir=str(tmp_path),
                       progress=False)
    assert [h["step"] for h in resumed.history] == [2, 4]
    _assert_same_params(resumed.params, four_steps.params)
    with pytest.raises(ValueError, match="other clips"):
        fit_clips([tiny_clip, tiny_clip], standin_right, priors, config,
                  workdir=str(tmp_path), progress=False)
    other = copy.deepcopy(config)
    other.loss.sds = 0.5
    with pytest.raises(ValueError, match="other config"):
        fit_clip(tiny_clip, standin_right, priors, other, workdir=str(tmp_path),
                 progress=False)
    check_resumable(str(tmp_path), 4)  # the finished fit may be reused ...
    with pytest.raises(ValueError, match="past the requested num_steps=2"):
        check_resumable(str(tmp_path), 2)  # ... but not as a shorter one


def test_clip_arguments_are_checked_before_any_work(tmp_path):
    assert resolve_clips(["synthetic:mug"])[0][1] == ("synthetic", "mug", 0)
    for spelling in ("toy_car", "toy car", "toycar", "ToyCar"):
        assert resolve_clips([f"synthetic:{spelling}:3"])[0] == (
            "toy_car_3", ("synthetic", "toy car", 3))
    with pytest.raises(ValueError, match="unknown category 'teapot'"):
        resolve_clips(["synthetic:teapot"])
    with pytest.raises(ValueError, match="no folder matches"):
        resolve_clips([str(tmp_path / "none*")])


SHARDED_FIT = """
import sys, numpy as np, jax
from hoijax.runtime import enable_compilation_cache
enable_compilation_cache()
from hoijax.data.clip import load_clip
from hoijax.hand import load_standin
from hoijax.recon.fit import fit_clips
from hoijax.recon.priors import Priors
from tests.tiny_priors import make_tiny_grid_prior, make_tiny_prior, tiny_config
assert len(jax.devices()) == 2
priors = Priors(make_tiny_prior(), make_tiny_grid_prior())
clip = load_clip(sys.argv[1])
results = fit_clips([clip, clip, clip], load_standin("right"), priors,
                    tiny_config(both_priors=True),
                    progress=False)  # 3 clips on 2 devices: padded to 4
for c, result in enumerate(results):
    np.savez(f"{sys.argv[2]}{c}.npz", *[np.asarray(x) for x in jax.tree.leaves(result.params)])
"""


def test_clips_split_over_2_devices_match_1_device(tiny_clip, four_steps, tmp_path):
    """3 clips on 2 devices (padded to 4, 2 vmapped per device): each clip's fit is the
    same as its fit alone (`four_steps`, 1 device), so fitting clips together changes
    nothing for any of them."""
    env = cpu_devices_env(2)
    out = tmp_path / "params"
    proc = subprocess.run([sys.executable, "-c", SHARDED_FIT, tiny_clip.path, str(out)],
                          capture_output=True, text=True, env=env, timeout=600,
                          cwd=ROOT_DIR)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for c in range(3):
        with np.load(f"{out}{c}.npz") as saved:
            sharded = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        _assert_same_params(sharded, jax.tree.leaves(four_steps.params))

"""End-to-end smoke test: a tiny synthetic clip fitted for a few steps, with every output."""
import json
import os

import jax
import numpy as np
import pytest

from hoijax.data.clip import load_clip, save_clip
from hoijax.data.synthetic.clips import ClipSpec, generate_clip
from hoijax.diffusion.trainer import init_model
from hoijax.models.prior import Prior
from hoijax.recon.fit import fit_clip
from hoijax.recon.outputs import write_outputs
from hoijax.recon.sources import resolve_clips
from hoijax.runtime import repo_config
from hoijax.diffusion.schedules import make_schedule


@pytest.fixture(scope="module")
def tiny_prior():
    config = repo_config("prior.py", "tiny")
    denoise, params = init_model(config)
    return Prior(config, denoise, params, ["bottle"], make_schedule())


def test_tiny_reconstruction_writes_every_output(standin_right, tiny_prior, tmp_path):
    clip = generate_clip(standin_right, ClipSpec(category="bottle", seed=5, num_frames=3,
                                                 image_size=48))
    clip.pop("stats")
    clip = load_clip(save_clip(tmp_path / "clip", **clip))
    config = repo_config("reconstruct.py", "tiny")
    config.sds.focal_factor = 2.0
    result = fit_clip(clip, standin_right, tiny_prior, config, progress=False)
    assert [h["step"] for h in result.history] == [2, 4]
    assert all(np.isfinite(v) for h in result.history for v in h.values())
    assert "sds" in result.history[-1] or "sds" in result.history[0]
    leaves = jax.tree.leaves(result.params)
    assert all(np.all(np.isfinite(np.asarray(x))) for x in leaves)
    out = tmp_path / "out"
    metrics = write_outputs(str(out), result, clip, standin_right, config)
    for name in ("object.obj", "params.npz", "recon.mp4", "losses.png", "metrics.json",
                 "hands/000002.obj"):
        assert os.path.isfile(out / name), name
    with np.load(out / "params.npz") as p:
        assert p["hTo"].shape == (3, 4, 4) and p["cTh"].shape == (3, 4, 4)
    assert set(json.loads((out / "metrics.json").read_text())) >= {"F@5", "F@10", "CD",
                                                                   "CD_h"}
    assert 0.0 <= metrics["F@10"] <= 1.0


def test_clip_arguments_are_checked_before_any_work(tmp_path):
    assert resolve_clips(["synthetic:mug"])[0][1] == ("synthetic", "mug", 0)
    assert resolve_clips(["synthetic:toy_car:3"])[0][1] == ("synthetic", "toy car", 3)
    with pytest.raises(ValueError, match="unknown category 'teapot'"):
        resolve_clips(["synthetic:teapot"])
    with pytest.raises(ValueError, match="no folder matches"):
        resolve_clips([str(tmp_path / "none*")])

"""A built wheel works wherever it is installed: its package carries the configs and the
shipped priors, and a CLI run from another folder finds `--config=configs/x.py:variant`
(hoijax.cli.resolve_config)."""
import glob
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_wheel_runs_a_cli_from_another_folder(tmp_path):
    wheels, target, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    work.mkdir()
    # Build isolation fetches setuptools and wheel from the package index, as `pip install .`
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels,
                    ROOT], check=True, capture_output=True, timeout=600)
    wheel = glob.glob(str(wheels / "hoijax-*.whl"))
    assert len(wheel) == 1
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    target, wheel[0]], check=True, capture_output=True, timeout=600)
    for name in ("configs/reconstruct.py", "configs/grasp.py", "assets/prior/params.npz",
                 "assets/grid_prior/autoencoder/params.npz",
                 "assets/two_hand_prior/params.npz"):
        assert (target / "hoijax" / name).is_file(), name
    # The wheel's package first on the path (before the checkout's editable install).
    env = dict(os.environ, PYTHONPATH=str(target), JAX_PLATFORMS="cpu")
    where = subprocess.run([sys.executable, "-c", "import hoijax; print(hoijax.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.strip().startswith(str(target))
    run = subprocess.run([sys.executable, "-m", "hoijax.demo", "--config=configs/demo.py",
                          "--config.num_frames=2", "--config.image_size=64",
                          "--config.geometry_size=32", "--out=demo"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (work / "demo" / "hand_model.pkl").is_file()

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
def test_wheel_in_a_fresh_venv_runs_the_clis_from_another_folder(tmp_path):
    """`pip install .` as a user does it (a built wheel, not editable) into a fresh virtual
    environment; the dependencies come from this interpreter's site-packages
    (`--system-site-packages`) so that the test needs no network for JAX."""
    wheels, venv, work = tmp_path / "wheels", tmp_path / "venv", tmp_path / "elsewhere"
    work.mkdir()
    # Build isolation fetches setuptools and wheel from the package index, as `pip install .`
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels,
                    ROOT], check=True, capture_output=True, timeout=600)
    wheel = glob.glob(str(wheels / "hoijax-*.whl"))
    assert len(wheel) == 1
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv],
                   check=True, capture_output=True, timeout=300)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", wheel[0]],
                   check=True, capture_output=True, timeout=600)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["JAX_PLATFORMS"] = "cpu"

    def run(*args):
        return subprocess.run([python, *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=600)

    package = run("-c", "import hoijax, os; print(os.path.dirname(hoijax.__file__))")
    package = package.stdout.strip()
    assert package.startswith(str(venv)), package  # the wheel's copy, not the checkout
    # Every module of the checkout is in the wheel (a folder without __init__.py is not a
    # package to setuptools, and the checkout's editable install in the system
    # site-packages would hide it at import time).
    source = os.path.join(ROOT, "hoijax")
    modules = {os.path.relpath(os.path.join(d, f), source) for d, _, files in os.walk(source)
               for f in files if f.endswith(".py")}
    missing = sorted(m for m in modules if not os.path.isfile(os.path.join(package, m)))
    assert not missing, f"not in the wheel: {missing}"
    for name in ("configs/reconstruct.py", "configs/grasp.py", "assets/prior/params.npz",
                 "assets/grid_prior/autoencoder/params.npz",
                 "assets/two_hand_prior/params.npz"):
        assert os.path.isfile(os.path.join(package, name)), name
    demo = run("-m", "hoijax.demo", "--config=configs/demo.py", "--config.num_frames=2",
               "--config.image_size=64", "--config.geometry_size=32", "--out=demo")
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert (work / "demo" / "hand_model.pkl").is_file()
    fields = run("-m", "hoijax.reconstruct", "--config=configs/reconstruct.py:tiny",
                 "--config_help")
    assert fields.returncode == 0, fields.stderr[-3000:]
    assert fields.stdout.splitlines()[0].startswith(f"# {package}"), fields.stdout[:300]

"""Shared test setup: persistent compilation cache and session-wide hand models."""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # tests define CPU behaviour; no TPU probing
# Faster XLA compilation for the tests: half of a cold suite is XLA compiling. LLVM at -O1
# instead of XLA's default -O3, and the CPU backend's elemental emitters instead of its
# newer MLIR fusion emitters, which compile more slowly. Cold suite, idle 2-core CPU:
# 787 -> 701 s for -O1 alone; 621 -> 491 s for the emitters on top of the other test
# changes of experiments/results/history/2026-12-07_13503b2_suite_time.md. Every test
# passes with each. Not -O0: at that level XLA's CPU backend returned NaNs in four tests.
# Set XLA_FLAGS yourself to test otherwise; the CLI, the benchmarks and the notebooks use
# XLA's defaults.


def _xla_knows(flag: str) -> bool:
    """Whether this jaxlib's XLA accepts `flag` (an unknown flag in XLA_FLAGS aborts the
    process; hoijax allows older jax releases than the one these flags were chosen on)."""
    import subprocess
    import sys
    env = dict(os.environ, XLA_FLAGS=flag, JAX_PLATFORMS="cpu")
    return subprocess.run([sys.executable, "-c", "import jax; jax.devices()"], env=env,
                          capture_output=True).returncode == 0


# Set once, in the first pytest process; xdist workers, subprocesses and notebook kernels
# inherit it.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    _fast = ["--xla_backend_optimization_level=1"]
    if _xla_knows("--xla_cpu_use_fusion_emitters=false"):
        _fast.append("--xla_cpu_use_fusion_emitters=false")
    os.environ["XLA_FLAGS"] = " ".join([os.environ.get("XLA_FLAGS", "")] + _fast).strip()

import pytest  # noqa: E402

from hoijax.runtime import enable_compilation_cache  # noqa: E402

enable_compilation_cache()


def pytest_configure(config):
    # `python -m pytest -m "not slow" tests` skips the end-to-end runs for quick local
    # iteration; CI (the README's command) runs everything.
    config.addinivalue_line("markers", "slow: an end-to-end run (CLI, training, fit)")


@pytest.fixture(scope="session")
def standin_right():
    from hoijax.hand import load_standin
    return load_standin("right")


@pytest.fixture(scope="session")
def standin_left():
    from hoijax.hand import load_standin
    return load_standin("left")


# A tiny reconstruction set-up shared by the reconstruction tests: an untrained tiny prior,
# a 3-frame 48x48 synthetic clip and the `tiny` config (a few steps at 32x32).
@pytest.fixture(scope="session")
def tiny_prior():
    from tests.tiny_priors import make_tiny_prior
    return make_tiny_prior()


@pytest.fixture(scope="session")
def tiny_clip(standin_right, tmp_path_factory):
    from hoijax.data.clip import load_clip, save_clip
    from hoijax.data.synthetic.clips import ClipSpec, generate_clip
    clip = generate_clip(standin_right, ClipSpec(category="bottle", seed=5, num_frames=3,
                                                 image_size=48))
    clip.pop("stats")
    return load_clip(save_clip(tmp_path_factory.mktemp("clip") / "clip", **clip))


@pytest.fixture(scope="session")
def tiny_config():
    from tests.tiny_priors import tiny_config
    return tiny_config()


@pytest.fixture(scope="session")
def tiny_grid_prior():
    from tests.tiny_priors import make_tiny_grid_prior
    return make_tiny_grid_prior()

"""Shared test setup: persistent compilation cache and session-wide hand models."""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # tests define CPU behaviour; no TPU probing
# LLVM at -O1 instead of XLA's default -O3: half of a cold suite is XLA compilation, and
# -O1 cuts the suite by ~11 % (787 -> 701 s cold, idle 2-core CPU; suite_time.md) with every
# test passing. Kept in os.environ, so subprocesses and notebook kernels compile the same
# way. Not -O0: at that level XLA's CPU backend returned NaNs in four tests. Set XLA_FLAGS
# yourself to test at another level; the CLI, benchmarks and notebooks use XLA's default.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               " --xla_backend_optimization_level=1").strip()

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

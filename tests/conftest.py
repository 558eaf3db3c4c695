"""Shared test setup: persistent compilation cache and session-wide hand models."""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # tests define CPU behaviour; no TPU probing

import pytest  # noqa: E402

from hoijax.runtime import enable_compilation_cache  # noqa: E402

enable_compilation_cache()


@pytest.fixture(scope="session")
def standin_right():
    from hoijax.hand import load_standin
    return load_standin("right")


@pytest.fixture(scope="session")
def standin_left():
    from hoijax.hand import load_standin
    return load_standin("left")

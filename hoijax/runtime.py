"""Process-wide JAX settings shared by entry points, tests and notebooks."""
from __future__ import annotations

import importlib.util
import os

import jax

from hoijax.cli import configs_dir


def enable_compilation_cache(path: str | None = None) -> str:
    """Turns on JAX's persistent compilation cache (default $HOIJAX_JAX_CACHE, or
    ~/.cache/hoijax/jax when that is unset or empty).

    Later runs of the same programs skip XLA compilation, which dominates short CPU runs.
    Returns the cache folder.
    """
    path = (path or os.environ.get("HOIJAX_JAX_CACHE")
            or os.path.expanduser("~/.cache/hoijax/jax"))
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


def cpu_devices_env(count: int) -> dict:
    """The environment for a child process that sees the host CPU as `count` XLA devices
    (JAX_PLATFORMS=cpu), keeping the caller's other XLA_FLAGS."""
    flags = os.environ.get("XLA_FLAGS", "")
    return dict(os.environ, JAX_PLATFORMS="cpu",
                XLA_FLAGS=f"{flags} --xla_force_host_platform_device_count={count}".strip())


CONFIGS_DIR = configs_dir()  # the checkout's configs/, or the wheel's hoijax/configs


def config_module(path: str):
    """The Python module of a config file (e.g. to reach its variants)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: config file not found")
    name = "hoijax_configs_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def repo_config(name: str, arg=None):
    """`get_config(arg)` of configs/<name> (the repository's config files)."""
    return config_module(os.path.join(CONFIGS_DIR, name)).get_config(arg)

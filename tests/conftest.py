"""Shared test setup: persistent compilation cache and session-wide hand models."""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # tests define CPU behaviour; no TPU probing

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
    from hoijax.diffusion.export import Prior
    from hoijax.diffusion.schedules import make_schedule
    from hoijax.diffusion.trainer import init_model
    from hoijax.runtime import repo_config
    config = repo_config("prior.py", "tiny")
    denoise, params = init_model(config)
    return Prior(config, denoise, params, ["bottle"], make_schedule())


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
    from hoijax.runtime import repo_config
    config = repo_config("reconstruct.py", "tiny")
    config.sds.focal_factor = 2.0
    return config


@pytest.fixture(scope="session")
def tiny_grid_prior():
    """An untrained tiny 3D grid prior (16^3 grids, 4^3 latent) with its autoencoder."""
    import jax

    from hoijax.diffusion.grid_export import Autoencoder, GridPrior
    from hoijax.diffusion.grid_trainer import init_model
    from hoijax.diffusion.schedules import make_schedule
    from hoijax.models.vqvae import create_vqvae, make_vqvae_fns
    from hoijax.runtime import repo_config
    ae_config = repo_config("grid_autoencoder.py", "tiny")
    graphdef, ae_params = create_vqvae(ae_config.model, jax.random.key(0))
    ae = Autoencoder(ae_config, make_vqvae_fns(graphdef, ae_config.model.commitment),
                     ae_params, 1.0, 0.75)
    config = repo_config("grid_prior.py", "tiny")
    denoise, params = init_model(config)
    return GridPrior(config, denoise, params, ["bottle"], make_schedule(), ae)

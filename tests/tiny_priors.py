"""Untrained tiny priors for the reconstruction tests (conftest's fixtures) and for the
subprocesses that must build the same ones (the same shapes: the same compiled step)."""


def make_tiny_prior():
    """An untrained tiny 2D prior (16x16 UNet), prompt vocabulary ["bottle"]."""
    from hoijax.diffusion.schedules import make_schedule
    from hoijax.priors.image import Prior
    from hoijax.priors.image_train import init_model
    from hoijax.runtime import repo_config
    config = repo_config("prior.py", "tiny")
    denoise, params = init_model(config)
    return Prior(config, denoise, params, ["bottle"], make_schedule())


def make_tiny_grid_prior():
    """An untrained tiny 3D grid prior (16^3 grids, 4^3 latent) with its autoencoder."""
    import jax

    from hoijax.diffusion.schedules import make_schedule
    from hoijax.models.vqvae import create_vqvae, make_vqvae_fns
    from hoijax.priors.grid import Autoencoder, GridPrior
    from hoijax.priors.grid_train import init_model
    from hoijax.runtime import repo_config
    ae_config = repo_config("grid_autoencoder.py", "tiny")
    graphdef, ae_params = create_vqvae(ae_config.model, jax.random.key(0))
    ae = Autoencoder(ae_config, make_vqvae_fns(graphdef, ae_config.model.commitment),
                     ae_params, 1.0, 0.75)
    config = repo_config("grid_prior.py", "tiny")
    denoise, params = init_model(config)
    return GridPrior(config, denoise, params, ["bottle"], make_schedule(), ae)


def tiny_config(both_priors=False):
    """configs/reconstruct.py:tiny with the SDS camera the tiny 16x16 prior wants; with
    both_priors, the 3D prior's SDS on too (the default config's pair, at the tiny
    scale)."""
    from hoijax.runtime import repo_config
    config = repo_config("reconstruct.py", "tiny")
    config.sds.focal_factor = 2.0
    if both_priors:
        config.loss.sds_grid = 0.01
    return config

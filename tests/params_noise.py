"""Parameters with every leaf perturbed (numpy noise), shared by the denoiser tests."""
import jax
import numpy as np


def randomised(params, seed=1, scale=0.05):
    """params with N(0, scale^2) added to every leaf, so zero-initialised outputs become
    non-zero. numpy draws the noise: jax.random.normal would compile once per leaf shape
    (30 shapes in the tiny 3D UNet: ~6 s of XLA on the 2-core CPU)."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda x: np.asarray(x) + scale * rng.standard_normal(
        np.shape(x)).astype(np.asarray(x).dtype), params)

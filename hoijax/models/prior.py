# Temporary, removed by the recon refactor: the prior now lives in hoijax.diffusion.export.
from hoijax.diffusion.export import Prior, export_prior, load_prior  # noqa: F401

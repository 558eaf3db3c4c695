"""The priors a reconstruction uses (docs/design.md, "Reconstruction"): DiffHOI's 2D
geometry-image prior (`image`, `hoijax.priors.image.Prior`) and G-HOP's 3D
interaction-grid prior (`grid`, `hoijax.priors.grid.GridPrior`), each weighted
by its SDS term (config `loss.sds`, `loss.sds_grid`). Both, either or none can guide a fit.

The 2D prior is always loaded (small; its prompt table spells the clip's prompt); the grid
prior only when its weight is positive. Their parameters travel as one pytree
(`Priors.params`), an argument of the compiled step, never a constant baked into it.
"""
from __future__ import annotations

import dataclasses

from hoijax.priors.grid import load_grid_prior
from hoijax.priors.image import load_prior


@dataclasses.dataclass(frozen=True)
class Priors:
    image: object  # hoijax.priors.image.Prior
    grid: object = None  # hoijax.priors.grid.GridPrior, or None

    def params(self) -> dict:
        """{image: 2D denoiser params, grid: {denoiser, autoencoder} or None}."""
        grid = None if self.grid is None else dict(
            denoiser=self.grid.params, autoencoder=self.grid.autoencoder.params)
        return dict(image=self.image.params, grid=grid)

    def grid_tokens(self, category):
        """(L,) the grid prior's prompt for a category (null when it does not know it, or
        when there is no grid prior)."""
        if self.grid is None:
            return self.image.tokens(category)
        return self.grid.tokens([category])[0]


def uses_grid_prior(config) -> bool:
    return config.loss.sds_grid > 0


def load_priors(config) -> Priors:
    """The priors configs/reconstruct.py asks for: `prior` (empty: the shipped 2D prior)
    and, with loss.sds_grid > 0, `grid_prior` (empty: the shipped 3D prior). Raises
    FileNotFoundError naming a missing file."""
    return as_priors(load_prior(config.prior or None), config)


def as_priors(prior, config) -> Priors:
    """A `Priors` from either a `Priors` or a lone 2D prior (the grid prior then loaded
    from the config when its weight is positive)."""
    if isinstance(prior, Priors):
        if uses_grid_prior(config) and prior.grid is None:
            raise ValueError("config.loss.sds_grid > 0 but no grid prior was given")
        return prior
    grid = load_grid_prior(config.grid_prior or None) if uses_grid_prior(config) else None
    return Priors(prior, grid)

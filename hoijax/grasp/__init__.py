"""G-HOP's applications of the 3D interaction-grid prior (docs/design.md §11.1-11.2):
grasp synthesis for an object mesh (`synthesis`, with the CLI's helpers in `tools`;
`python -m hoijax.grasp`) and hand-object generation from a category word (`generate`;
`python -m hoijax.generate`). The grid representation they build on is
`hoijax.interaction`; the prior, `hoijax.priors.grid`."""

"""InterHandGen in JAX: a cascaded diffusion prior over two interacting hands
(representation, denoiser, training, sampling with classifier-free and anti-penetration
guidance, evaluation). docs/design.md §12."""

"""Diffusion: noise schedules, the training loss, the DDIM sampler with classifier-free
guidance, and score distillation (SDS). One `Schedule` serves training, sampling and SDS."""
from hoijax.diffusion.schedules import Schedule, make_schedule, q_sample  # noqa: F401

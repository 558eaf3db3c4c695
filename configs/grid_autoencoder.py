"""The 3D VQ-VAE of the interaction-grid prior (G-HOP; docs/design.md §11).

  python -m hoijax.train_prior --config=configs/grid_autoencoder.py --config.workdir=runs/grid_ae
  python -m hoijax.train_prior --config=configs/grid_autoencoder.py:tiny
  python -m hoijax.train_prior --config=configs/grid_autoencoder.py:paper --config.data.path=DATA

Default (the CPU scale of the shipped prior): 32^3 grids (9.4 mm voxels) -> 8^3 x 3
latent (f4, as the reference), a stride-2 stem then 16 x (1, 2) channels, codebook 256;
about 2 s per step of 8 grids on a loaded 2-core CPU. `paper`: the reference vq-f4 (64^3
-> 16^3 x 3, 64 x (1, 2, 4), codebook 8192). `tiny`: 16^3, a few steps, for CI. With an
empty data.path the grids are generated into workdir/data (configs/grid_data.py variant
data.generate: `placements`, 768 objects in random poses without a hand; the autoencoder
sees only the object channel, and grasp synthesis is too slow to give it that many
objects on a CPU). At the end the autoencoder folder (params, config, latent std) is
exported into WORKDIR/autoencoder (or --export). Expected (default): held-out occupancy
IoU >= 0.9 within a few hundred steps (experiments/bench_grid_prior.py measures it).
"""
import ml_collections


def get_config(arg=None):
    config = ml_collections.ConfigDict()
    config.task = "grid_autoencoder"  # trained by hoijax.priors.grid_autoencoder_train
    config.workdir = "runs/grid_ae"  # checkpoints, logs
    config.seed = 0  # parameters, data order
    config.batch_size = 8  # global batch of grids (divides by the device count)
    config.num_steps = 450  # optimiser steps
    config.log_every = 25  # steps between metric lines
    config.checkpoint_every = 100  # steps between Orbax checkpoints
    config.eval_every = 150  # steps between held-out IoU / SDF error
    config.surface_weight = 4.0  # extra L1 weight on voxels inside the truncation band

    config.data = ml_collections.ConfigDict()
    config.data.path = ""  # grid-data folder; empty: generate into workdir/data
    config.data.generate = "placements"  # configs/grid_data.py variant used when path is empty
    config.data.held_out_every = 8  # objects with index % this == 0 are held out

    config.model = ml_collections.ConfigDict()
    config.model.resolution = 32  # grid points per side (must match the data)
    config.model.channels = 16  # base width
    config.model.channel_mult = (1, 2)  # width per level (a stride-2 conv between levels)
    config.model.num_res_blocks = 1  # residual blocks per level
    config.model.stem_stride = 2  # 2: the first conv downsamples (no wide conv at full res)
    config.model.latent_dim = 3  # latent channels D
    config.model.codebook_size = 256  # codebook entries K
    config.model.commitment = 0.25  # beta of the commitment loss
    config.model.dead_code_threshold = 0.03  # a code is dead below this x its uniform share of use
    config.model.reinit_every = 50  # steps between dead-code re-initialisations
    config.model.usage_decay = 0.95  # EMA decay of per-code usage

    config.optim = ml_collections.ConfigDict()
    config.optim.lr = 2e-3  # peak learning rate (AdamW)
    config.optim.warmup_steps = 50  # linear warm-up
    config.optim.final_lr_fraction = 0.1  # cosine decay to this fraction
    config.optim.weight_decay = 0.0  # AdamW weight decay
    config.optim.grad_clip = 1.0  # global-norm clip

    if arg == "tiny":
        config.workdir = "runs/grid_ae_tiny"
        config.batch_size = 4
        config.num_steps = 4
        config.log_every = 2
        config.checkpoint_every = 2
        config.eval_every = 4
        config.data.generate = "tiny"
        config.data.held_out_every = 3
        config.model.resolution = 16
        config.model.channels = 8
        config.model.codebook_size = 32
        config.model.reinit_every = 2
        config.optim.warmup_steps = 1
    elif arg == "paper":
        config.workdir = "runs/grid_ae_paper"
        config.batch_size = 32
        config.num_steps = 100000
        config.data.generate = "paper"
        config.model.resolution = 64
        config.model.channels = 64
        config.model.channel_mult = (1, 2, 4)
        config.model.stem_stride = 1
        config.model.codebook_size = 8192
        config.optim.lr = 4.5e-4
        config.optim.warmup_steps = 1000
    elif arg not in (None, ""):
        raise ValueError(f"configs/grid_autoencoder.py: unknown variant {arg!r} (tiny, paper)")
    return config

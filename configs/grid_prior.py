"""The 3D interaction-grid diffusion prior (G-HOP; docs/design.md §11).

  python -m hoijax.train_prior --config=configs/grid_prior.py --config.workdir=runs/grid_prior \
      --config.data.path=runs/grid_data --config.autoencoder.path=runs/grid_ae/autoencoder
  python -m hoijax.train_prior --config=configs/grid_prior.py:tiny
  python -m hoijax.train_prior --config=configs/grid_prior.py:paper --config.data.path=DATA \
      --config.autoencoder.path=AE

A 3D UNet over [object latent (3) ; hand skeletal field (20)] at the latent resolution
(8^3 for the CPU scale: 32^3 grids of 9.4 mm voxels; 16^3 at `paper`: 64^3 grids), text by
cross-attention, DDPM 1000 linear steps, x0 prediction (as the 2D CPU prior: a small
network trained for minutes gives usable DDIM samples with x0; the reference predicts
epsilon), prompt dropped with p 0.2 for CFG (guidance 4), the hand field replaced by
"no hand" (zeros) with p 0.1 so the prior also models objects alone. Needs an
autoencoder folder (configs/grid_autoencoder.py); with an empty autoencoder.path one is
trained first into workdir/autoencoder_run with the grid_autoencoder variant
autoencoder.train_variant. With an empty data.path the grids are generated into
workdir/data (configs/grid_data.py variant data.generate). The export
(WORKDIR/grid_prior, or --export) loads with
`hoijax.priors.grid.load_grid_prior(path)`.
Expected (default, loaded 2-core CPU): ~1.2 s per step of 16; the held-out loss falls well
below the untrained network's within a few hundred steps.
"""
import ml_collections


def get_config(arg=None):
    config = ml_collections.ConfigDict()
    config.task = "grid_prior"  # hoijax.train_prior hands it to hoijax.priors.grid_train
    config.workdir = "runs/grid_prior"  # checkpoints, logs
    config.seed = 0  # parameters, data order, noise
    config.batch_size = 16  # global batch (divides by the device count)
    config.num_steps = 2000  # optimiser steps
    config.log_every = 25  # steps between metric lines
    config.checkpoint_every = 100  # steps between Orbax checkpoints
    config.eval_every = 500  # steps between held-out losses
    config.prompt_dropout = 0.2  # probability of the null prompt in training (CFG)
    config.hand_dropout = 0.1  # probability of the "no hand" field in training

    config.autoencoder = ml_collections.ConfigDict()
    config.autoencoder.path = ""  # exported autoencoder folder; empty: train one first
    config.autoencoder.train_variant = ""  # configs/grid_autoencoder.py variant for that

    config.data = ml_collections.ConfigDict()
    config.data.path = ""  # grid-data folder; empty: generate into workdir/data
    config.data.generate = ""  # configs/grid_data.py variant used when path is empty
    config.data.held_out_every = 8  # grasps with index % this == 0 are held out

    config.model = ml_collections.ConfigDict()
    config.model.resolution = 8  # latent resolution r (= grid resolution / 4)
    config.model.in_channels = 23  # latent_dim + 20 hand-field channels
    config.model.channels = 32  # base width
    config.model.channel_mult = (1, 2)  # width per level
    config.model.num_res_blocks = 1  # residual blocks per level
    config.model.attention_resolutions = (4,)  # resolutions with self/cross-attention
    config.model.num_heads = 4  # attention heads
    config.model.text_width = 64  # text encoder width
    config.model.text_depth = 1  # text encoder layers

    config.diffusion = ml_collections.ConfigDict()
    config.diffusion.schedule = "linear"  # DDPM linear betas
    config.diffusion.num_steps = 1000  # timesteps T
    config.diffusion.prediction = "x0"  # "x0" or "epsilon" (the reference)

    config.optim = ml_collections.ConfigDict()
    config.optim.lr = 5e-4  # peak learning rate (AdamW)
    config.optim.warmup_steps = 100  # linear warm-up
    config.optim.final_lr_fraction = 0.1  # cosine decay to this fraction
    config.optim.weight_decay = 0.0  # AdamW weight decay
    config.optim.grad_clip = 1.0  # global-norm clip
    config.optim.ema_decay = 0.995  # parameter EMA (exported, evaluated)

    config.sample = ml_collections.ConfigDict()
    config.sample.ddim_steps = 50  # DDIM steps
    config.sample.guidance = 4.0  # classifier-free guidance scale

    if arg == "tiny":
        config.workdir = "runs/grid_prior_tiny"
        config.batch_size = 4
        config.num_steps = 4
        config.log_every = 2
        config.checkpoint_every = 2
        config.eval_every = 4
        config.autoencoder.train_variant = "tiny"
        config.data.generate = "tiny"
        config.data.held_out_every = 3
        config.model.resolution = 4
        config.model.channels = 8
        config.model.attention_resolutions = (2,)
        config.model.num_heads = 2
        config.model.text_width = 16
        config.optim.warmup_steps = 1
        config.sample.ddim_steps = 4
    elif arg == "paper":
        config.workdir = "runs/grid_prior_paper"
        config.batch_size = 64
        config.num_steps = 200000
        config.data.generate = "paper"
        config.autoencoder.train_variant = "paper"
        config.model.resolution = 16
        config.model.channels = 64
        config.model.channel_mult = (1, 2, 3)
        config.model.num_res_blocks = 3
        config.model.attention_resolutions = (8, 4)
        config.model.num_heads = 8
        config.model.text_width = 256
        config.model.text_depth = 4
        config.optim.lr = 1e-4
        config.optim.warmup_steps = 2000
        config.optim.ema_decay = 0.9999
    elif arg not in (None, ""):
        raise ValueError(f"configs/grid_prior.py: unknown variant {arg!r} (tiny, paper)")
    return config

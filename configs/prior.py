"""The geometry-image diffusion prior.

  python -m hoijax.train_prior --config=configs/prior.py --config.workdir=runs/prior
  python -m hoijax.train_prior --config=configs/prior.py:tiny --config.workdir=/tmp/tiny
  python -m hoijax.train_prior --config=configs/prior.py:paper --config.data.path=DATA

Variants: default (the CPU default: 32x32, 1.4M parameters; the shipped prior in
hoijax/assets/prior was trained with it), `tiny` (16x16, a few hundred steps' worth of
nothing: for tests and smoke runs; makes its own small dataset) and `paper` (64x64, the
paper's scale, bfloat16 activations; for GPUs/TPUs). With an empty data.path the training
data is rendered into workdir/data first (configs/prior_data.py, or its `tiny` variant).
Expected (default, 2-core CPU): ~0.8 s per step of 32 images; 4000 steps in about an
hour; the held-out loss falls below the untrained network's within a few hundred steps.
"""
import ml_collections


def get_config(arg=None):
    config = ml_collections.ConfigDict()
    config.workdir = "runs/prior"  # checkpoints, logs, sample grids
    config.seed = 0  # parameters, data order, noise
    config.batch_size = 32  # global batch (divides by the device count)
    config.num_steps = 4000  # optimiser steps in total
    config.log_every = 50  # steps between metric lines (metrics.jsonl, TensorBoard)
    config.checkpoint_every = 250  # steps between Orbax checkpoints
    config.eval_every = 1000  # steps between held-out losses and sample grids
    config.prompt_dropout = 0.2  # probability of the null prompt in training (for CFG)

    config.data = ml_collections.ConfigDict()
    config.data.path = ""  # prior-data folder; empty: render one into workdir/data
    config.data.generate = ""  # configs/prior_data.py variant used when path is empty
    config.data.held_out_every = 10  # grasps with index % this == 0 are held out

    config.model = ml_collections.ConfigDict()
    config.model.image_size = 32  # pixels (square), must match the data
    config.model.channels = 32  # base width of the UNet
    config.model.channel_mult = (1, 2, 2)  # width multiplier per resolution level
    config.model.num_res_blocks = 1  # residual blocks per level
    config.model.attention_resolutions = (8,)  # resolutions with self/cross-attention
    config.model.num_heads = 4  # attention heads
    config.model.text_width = 64  # text encoder width
    config.model.text_depth = 1  # text encoder layers
    config.model.dtype = "float32"  # activations: "float32" or "bfloat16"

    config.diffusion = ml_collections.ConfigDict()
    config.diffusion.schedule = "linear"  # "linear" (DDPM) or "cosine"
    config.diffusion.num_steps = 1000  # diffusion timesteps T
    # The network predicts "x0" or "epsilon". x0: a small network trained for a few
    # thousand steps on CPU gave noise-free DDIM samples only with x0; with epsilon its
    # x0 estimates at high noise (amplified by sqrt((1 - abar) / abar), 140x at t = 990)
    # stayed unusable after 1000 steps (held-out x0 RMSE 5.4 at t = 900).
    config.diffusion.prediction = "x0"

    config.optim = ml_collections.ConfigDict()
    config.optim.lr = 4e-4  # peak learning rate (AdamW)
    config.optim.warmup_steps = 200  # linear warm-up steps
    config.optim.final_lr_fraction = 0.1  # cosine decay to this fraction of lr
    config.optim.weight_decay = 0.0  # AdamW decoupled weight decay
    config.optim.grad_clip = 1.0  # global gradient-norm clip
    config.optim.ema_decay = 0.999  # EMA of the parameters (used for sampling and eval)

    config.sample = ml_collections.ConfigDict()
    config.sample.num = 8  # held-out hands in the sample grid
    config.sample.ddim_steps = 50  # DDIM steps
    config.sample.guidance = 4.0  # classifier-free guidance scale

    if arg == "tiny":
        config.workdir = "runs/prior_tiny"
        config.batch_size = 8
        config.num_steps = 6
        config.log_every = 2
        config.checkpoint_every = 3
        config.eval_every = 6
        config.data.generate = "tiny16"
        config.data.held_out_every = 4
        config.model.image_size = 16
        config.model.channels = 16
        config.model.channel_mult = (1, 2)
        config.model.num_res_blocks = 1
        config.model.attention_resolutions = (8,)
        config.model.num_heads = 2
        config.model.text_width = 32
        config.model.text_depth = 1
        config.optim.warmup_steps = 2
        config.sample.num = 4
        config.sample.ddim_steps = 4
    elif arg == "paper":
        config.workdir = "runs/prior_paper"
        config.batch_size = 256
        config.num_steps = 200000
        config.model.num_res_blocks = 2
        config.model.text_depth = 4
        config.model.image_size = 64
        config.model.channels = 128
        config.model.channel_mult = (1, 2, 3, 4)
        config.model.attention_resolutions = (32, 16, 8)
        config.model.text_width = 256
        config.model.text_depth = 4
        config.model.dtype = "bfloat16"
        config.optim.lr = 1e-4
        config.optim.warmup_steps = 2000
    elif arg not in (None, ""):
        raise ValueError(f"configs/prior.py: unknown variant {arg!r} (tiny, paper)")
    return config

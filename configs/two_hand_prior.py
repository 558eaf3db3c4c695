"""InterHandGen's two-hand prior: a cascaded diffusion over two interacting hands.

  python -m hoijax.train_prior --config=configs/two_hand_prior.py
  python -m hoijax.train_prior --config=configs/two_hand_prior.py:tiny --config.workdir=/tmp/t
  python -m hoijax.train_prior --config=configs/two_hand_prior.py:paper --config.data.path=D
  python -m hoijax.train_prior --config=configs/two_hand_prior.py:joint   # the baseline
  python -m hoijax.two_hands --num=16 --out=OUT --prior=WORKDIR/prior

Variants (`:a,b` applies them in order): default (the CPU default the shipped prior in
hoijax/assets/two_hand_prior was trained with), `tiny` (a few steps of a tiny network on
60 pairs: tests), `paper` (the reference's width 2056 x 7 MLP layers, batch 256; for
accelerators), `joint` (the non-cascaded baseline: one diffusion over both hands).
With an empty data.path the synthetic pairs are generated into workdir/data first
(python -m hoijax.data.synthetic.two_hands). docs/design.md §12 and README.
Expected (default, 2-core CPU shared with other jobs): ~0.25 s per step of 128 pairs;
the held-out x0 loss at t = 64 falls well below the untrained network's within 1000 steps.
"""
import ml_collections


def get_config(arg=None):
    config = ml_collections.ConfigDict()
    config.task = "two_hand_prior"  # hoijax.train_prior hands this config to hoijax.twohand
    config.workdir = "runs/two_hand_prior"  # checkpoints, logs, the exported prior
    config.seed = 0  # parameters, data order, noise
    config.mode = "cascaded"  # "cascaded" (p(x_a), p(x_b | x_a)) or "joint" (baseline)
    config.batch_size = 128  # global batch of pairs (divides by the device count)
    config.num_steps = 4000  # optimiser steps
    config.log_every = 50  # steps between metric lines (metrics.jsonl, TensorBoard)
    config.checkpoint_every = 500  # steps between Orbax checkpoints
    config.eval_every = 1000  # steps between held-out losses
    # Share of each batch trained unconditionally on the anchor (the condition dropped):
    # the network learns p(x_a) there and p(x_b | x_a) on the rest.
    config.cond_dropout = 0.5

    config.data = ml_collections.ConfigDict()
    # two_hands.npz folder, or interhand:ROOT (IntagHand's anno/*.pkl; set
    # $HOIJAX_MANO_DIR to the official MANO); empty: generate into workdir/data
    config.data.path = ""
    config.data.num = 12000  # pairs generated when path is empty
    config.data.refine_steps = 250  # Adam steps of the contact refinement when generating
    config.data.mirror = True  # add every pair mirrored (left <-> right)

    config.model = ml_collections.ConfigDict()
    # Small enough that 10k guided samples (126 network calls each) take about a minute.
    config.model.width = 96  # token width of the transformer
    config.model.depth = 2  # transformer blocks over the 3 tokens
    config.model.heads = 4  # attention heads
    config.model.mlp_width = 256  # width of the MLP after the transformer
    config.model.mlp_depth = 3  # linear layers of that MLP (residual)

    config.diffusion = ml_collections.ConfigDict()
    config.diffusion.num_steps = 129  # timesteps T (reference 129)
    config.diffusion.beta_start = 1e-4  # linear betas (reference 1e-4 .. 0.01)
    config.diffusion.beta_end = 0.01

    config.loss = ml_collections.ConfigDict()
    config.loss.vertex = 1e4  # weight of the vertex MSE (m^2), reference 1e4
    config.loss.joint = 1e4  # weight of the joint MSE (m^2), reference 1e4

    config.optim = ml_collections.ConfigDict()
    config.optim.lr = 1e-3  # peak learning rate (AdamW); reference 1e-3
    config.optim.warmup_steps = 200  # linear warm-up steps
    config.optim.final_lr_fraction = 0.05  # cosine decay to this fraction of lr
    config.optim.weight_decay = 0.0  # AdamW decoupled weight decay
    config.optim.grad_clip = 4.0  # global gradient-norm clip (reference 4)
    config.optim.ema_decay = 0.999  # EMA of the parameters (used for sampling)

    config.sample = ml_collections.ConfigDict()
    config.sample.ddim_steps = 42  # DDIM steps at test time (reference 42)
    config.sample.guidance = 1.1  # CFG weight on the relative rotation/translation
    config.sample.anti_penetration = True  # anti-penetration guidance on x0
    config.sample.ap_scale = 7.0  # lambda_k = ap_scale * ap_decay^(K-1-k) (reference 7, 0.9)
    config.sample.ap_decay = 0.9
    config.sample.ap_rho = 0.05  # GMoF scale of the penetration depth (m), reference 0.05
    # Loss multiplier (the reference's x1000 is for its own loss): picked on seed-0 samples by
    # experiments/tune_two_hand_guidance.py (0.01: penetration volume / 16, wrist moved 6 mm;
    # 0.1: / 60 but the contacts drop from 60 % to 24 %).
    config.sample.ap_unit = 0.01

    for name in (arg or "").split(","):
        if name:
            VARIANTS[name](config)
    return config


def _tiny(config):
    config.workdir = "/tmp/hoijax_two_hand_tiny"
    config.batch_size = 8
    config.num_steps = 4
    config.log_every = 2
    config.checkpoint_every = 2
    config.eval_every = 4
    config.data.num = 60
    config.data.refine_steps = 5
    config.model.width = 16
    config.model.depth = 1
    config.model.heads = 2
    config.model.mlp_width = 32
    config.model.mlp_depth = 2
    config.sample.ddim_steps = 3


def _paper(config):
    config.batch_size = 256
    config.num_steps = 200000
    config.model.width = 512
    config.model.depth = 2
    config.model.mlp_width = 2056
    config.model.mlp_depth = 7


def _joint(config):
    config.mode = "joint"
    config.workdir = config.workdir.rstrip("/") + "_joint"
    config.cond_dropout = 0.0


VARIANTS = {"tiny": _tiny, "paper": _paper, "joint": _joint}

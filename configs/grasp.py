"""Grasp synthesis with the 3D interaction-grid prior (G-HOP; docs/design.md §11.1).

  python -m hoijax.grasp --object=MESH.obj --category=mug --num=4 --out=OUT
  python -m hoijax.grasp --object=MESH.obj --num=2 --out=OUT --config=configs/grasp.py:tiny

Variants: default (the 2-core CPU scale: 4 seeds per grasp x 80 SDS steps, then 100
refinement steps: ~0.13 s per SDS step of 4 seeds on an idle 2-core CPU, ~0.5 s when
the machine is shared (load 5): 15-45 s per grasp after a ~30 s compilation; most of it
the prior's forward passes with CFG), `tiny` (tests: 2 seeds, 2 SDS steps, 2 refinement steps, no
simulation), `paper` (the reference: 500 SDS steps, 8 seeds per grasp; for accelerators).
Reference settings kept at every scale: AdamW 1e-2 with cosine decay to 1e-4, t in
[0.25, 0.75] of the schedule, guidance 4, hand-channel weight 10, gradient clip 0.5,
random object rotations, translation jitter 5 cm.
"""
import ml_collections


def get_config(arg=None):
    config = ml_collections.ConfigDict()
    config.prior = ""  # grid prior folder; empty: the shipped hoijax/assets/grid_prior
    config.seed = 0  # starts and SDS noise
    config.seeds_per_grasp = 4  # candidates optimised per requested grasp (ranked)
    config.jitter = 0.05  # m: max offset of the object's centre from the frame centre, per axis
    config.betas = (0.0,) * 10  # hand shape (MANO betas)

    config.sds = ml_collections.ConfigDict()
    config.sds.steps = 80  # SDS steps (reference 500; 80 keeps a grasp under a minute on CPU)
    config.sds.lr = 1e-2  # AdamW peak learning rate (cosine decay to 1 %)
    config.sds.t_min = 0.25  # smallest timestep, fraction of the schedule
    config.sds.t_max = 0.75  # largest timestep, fraction of the schedule
    config.sds.guidance = 4.0  # classifier-free guidance scale
    config.sds.hand_weight = 10.0  # SDS weight of the hand channels (object latent: 1)
    config.sds.grad_clip = 0.5  # per-element clip of the SDS gradient
    config.sds.chunk = 20  # steps per jitted chunk (progress granularity)

    config.score = ml_collections.ConfigDict()
    config.score.num_t = 8  # timesteps of the ranking score, evenly in [0.05, 0.95]
    config.score.num_noise = 2  # noises per timestep (shared by all candidates)

    config.refine = ml_collections.ConfigDict()
    config.refine.steps = 100  # Adam steps of contact/penetration refinement
    config.refine.lr = 5e-3  # Adam learning rate (cosine decay to 10 %)
    config.refine.w_pen = 10.0  # penetration: sum of squared vertex depths (cm^2)
    config.refine.w_contact = 1.0  # contact: squared gaps (cm^2) of near parts
    config.refine.w_damp = 0.1  # damping: mean squared vertex motion (cm^2)
    config.refine.w_pose = 0.1  # articulation pull toward the mean pose (rad^2)
    config.refine.reach = 0.02  # m: parts nearer than this are pulled onto the surface
    config.refine.squeeze = 0.0  # m: contact depth aimed at (and penetration left free)

    config.metrics = ml_collections.ConfigDict()
    config.metrics.simulate = True  # MuJoCo displacement (skipped with a hint when absent)
    config.metrics.gravity = ("-z",)  # gravity directions (object frame) averaged
    config.metrics.seconds = 1.0  # simulated time
    config.volume_size = 112  # SDF volume points per side (1.7 mm for a 10 cm object)

    if arg == "tiny":
        config.seeds_per_grasp = 2
        config.sds.steps = 2
        config.sds.chunk = 2
        config.score.num_t = 2
        config.score.num_noise = 1
        config.refine.steps = 2
        config.metrics.simulate = False
        config.volume_size = 48
    elif arg == "paper":
        config.seeds_per_grasp = 8
        config.sds.steps = 500
        config.sds.chunk = 50
        config.refine.steps = 200
    elif arg not in (None, ""):
        raise ValueError(f"configs/grasp.py: unknown variant {arg!r} (tiny, paper)")
    return config

"""Grasp synthesis with the 3D interaction-grid prior (G-HOP; docs/design.md §11.1).

Given an object (its SDF volume in its own frame, fixed), find right-hand grasps:

1. **SDS** (`sds_run`): per seed the variables are the articulation `pose` (45,) axis-angle
   (flat-hand mean) and the object's pose in the normalised hand frame, x_n = R (x_o -
   o_c) / s + t (`rot6` (6,) the 6D rotation, `tsl` (3,) normalised units; o_c the volume's
   centre). Each step builds the interaction grid x = [encode(object channel) ; skeletal
   field of the hand] (the object channel resampled through (R, t): differentiable), noises
   it to t ~ U[t_min, t_max], denoises with CFG, and takes an AdamW step on the SDS loss
   0.5 |x - sg(x - g)|^2, g = clip(w(t) lambda (x - x0_hat), +-0.5) with lambda = 1 on the
   object latent and `hand_weight` on the hand channels (the reference: w_hand 10, grad
   clip 0.5, bell weighting). The hand channels move the articulation; the object latent
   moves the object's pose (the hand frame stays the zero-rotation hand's). Starts: the
   flat hand's mean pose (`hands_mean`), a rotation uniform over SO(3), the object's centre
   at the frame centre plus a uniform offset of up to `jitter` m per axis.
2. **Ranking** (`sds_score`): the prior's mean denoising error (epsilon space, CFG, the
   same fixed timesteps and noises for every candidate) of each final grid.
3. **Refinement** (`refine`): the best candidates, with the hand's vertices against the
   object's SDF: penetration sum relu(-d - squeeze)^2 over vertices, contact (each
   finger's distal part and the palm within `reach` of the surface pulled `squeeze` into
   it: a hand held fixed holds an object only through contact forces), and damping
   (vertex displacement from the SDS result), Adam on the same variables.

All of it vmaps over seeds and runs in jitted `lax.scan` chunks (one compilation per
shape). Distances are in metres; the losses use centimetres (as the reference's contact
loss) so the weights are O(1).
"""
from __future__ import annotations

import dataclasses
import functools

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from hoijax.diffusion.sampler import guided_prediction
from hoijax.diffusion.schedules import q_sample
from hoijax.diffusion.sds import denoised_target, timestep_weight
from hoijax.geometry.rotations import (matrix_to_axis_angle, matrix_to_rot6d, random_rotation,
                                       rot6d_to_matrix)
from hoijax.hand.anatomy import contact_regions
from hoijax.hand.model import ManoModel, mano_forward
from hoijax.hand.proxy import rest_joints, skeleton
from hoijax.interaction import volume as V
from hoijax.interaction.frame import HAND_SCALE, grid_points
from hoijax.interaction.hand_field import field_joints, hand_frame_center, skeletal_field
from hoijax.interaction.object_grid import normalise_sdf

HIGHEST = jax.lax.Precision.HIGHEST


class PriorFns:
    """The grid prior's functions and static settings (hashed by identity: a static
    argument of the jitted steps; the parameters travel in `GraspSetup`)."""

    def __init__(self, prior):
        self.denoise = prior.denoise
        self.encode_fn = prior.autoencoder.vq.encode
        self.latent_std = float(prior.autoencoder.latent_std)
        self.schedule = prior.schedule
        self.prediction = prior.config.diffusion.prediction
        self.resolution = int(prior.config.model.resolution)  # latent / field grid
        self.object_resolution = int(prior.autoencoder.config.model.resolution)
        self.latent_dim = int(prior.latent_dim)
        self.half_extent = float(prior.half_extent)


@flax.struct.dataclass
class GraspSetup:
    """What every step needs for one object (a pytree: traced, so one compilation serves
    every object): the prior's and autoencoder's parameters, the hand model and shape, the
    object's SDF volume (object frame), prompt tokens (1,L) and the null prompt (L,), and
    the 6 contact parts' vertex ids (thumb, index, middle, ring, pinky distal; palm)."""

    params: dict
    ae_params: dict
    model: ManoModel
    betas: jax.Array  # (10,)
    volume: V.SdfVolume
    tokens: jax.Array  # (1,L)
    null_tokens: jax.Array  # (L,)
    hand_parts: tuple

    @property
    def center(self):
        """(3,) the normalised frame's centre c (hand frame, m)."""
        return hand_frame_center(self.model, self.betas)

    @property
    def object_center(self):
        return self.volume.center


def hand_contact_parts(model: ManoModel) -> tuple:
    """The 6 contact parts' vertex ids (`hoijax.hand.anatomy.contact_regions`) as arrays."""
    return tuple(jnp.asarray(ids, jnp.int32) for ids in contact_regions(model))


def make_setup(prior, model, volume, category=None, betas=None) -> GraspSetup:
    """The GraspSetup of an object for a loaded grid prior (category None: null prompt)."""
    return GraspSetup(
        params=prior.params, ae_params=prior.autoencoder.params, model=model,
        betas=jnp.zeros(10) if betas is None else jnp.asarray(betas, jnp.float32),
        volume=volume, tokens=jnp.asarray(prior.tokens([category])),
        null_tokens=jnp.asarray(prior.tokens([None])[0]), hand_parts=hand_contact_parts(model))


# ---------------------------------------------------------------------------------------
# Variables <-> transforms.

def object_rotation(v):
    """(...,3,3) R of the object's pose in the normalised frame."""
    return rot6d_to_matrix(v["rot6"])


def hTo_of(setup: GraspSetup, v):
    """(4,4) object -> hand frame (m) of one candidate: x_h = R x_o + c + s t - R o_c."""
    R = object_rotation(v)
    t = setup.center + HAND_SCALE * v["tsl"] - R @ setup.object_center
    top = jnp.concatenate([R, t[:, None]], 1)
    return jnp.concatenate([top, jnp.array([[0.0, 0.0, 0.0, 1.0]])], 0)


def hand_to_object(setup: GraspSetup, v, x_h):
    """(...,3) hand-frame points -> object frame (m)."""
    R = object_rotation(v)
    local = (x_h - setup.center - HAND_SCALE * v["tsl"])
    return jnp.einsum("ji,...j->...i", R, local, precision=HIGHEST) + setup.object_center


def initial_variables(setup: GraspSetup, key, num, jitter):
    """num starts: mean articulation, uniform random rotation, offset U[-jitter, jitter] m
    per axis (normalised: / s)."""
    k_rot, k_t = jax.random.split(key)
    rot = random_rotation(k_rot, (num,))
    tsl = jax.random.uniform(k_t, (num, 3), minval=-jitter, maxval=jitter) / HAND_SCALE
    pose = jnp.broadcast_to(jnp.asarray(setup.model.hands_mean, jnp.float32), (num, 45))
    return dict(pose=pose, rot6=matrix_to_rot6d(rot), tsl=tsl)


# ---------------------------------------------------------------------------------------
# The interaction grid of a candidate.

def object_channel(fns: PriorFns, setup: GraspSetup, v):
    """(R,R,R) the object channel for the candidate's object pose."""
    half, resolution = fns.half_extent, fns.object_resolution
    x_n = grid_points(resolution, half)
    R = object_rotation(v)
    x_o = (jnp.einsum("ji,...j->...i", R, x_n - v["tsl"], precision=HIGHEST) * HAND_SCALE
           + setup.object_center)
    return normalise_sdf(V.sample(setup.volume, x_o))


def hand_channels(fns: PriorFns, setup: GraspSetup, pose):
    """(r,r,r,20) the skeletal field of articulation `pose` at the latent resolution."""
    joints = skeleton(setup.model, pose, setup.betas)
    return skeletal_field(field_joints(joints, setup.center),
                          grid_points(fns.resolution, fns.half_extent))


def interaction_grid(fns: PriorFns, setup: GraspSetup, v):
    """(S,...) candidates -> (S,r,r,r,D+20) [object latent / std ; hand field]."""
    grids = jax.vmap(lambda c: object_channel(fns, setup, c))(v)
    z = fns.encode_fn(setup.ae_params, grids) / fns.latent_std
    field = jax.vmap(lambda p: hand_channels(fns, setup, p))(v["pose"])
    return jnp.concatenate([z, field], -1)


def channel_weights(fns: PriorFns, hand_weight):
    """(D+20,) lambda: 1 on the object latent, hand_weight on the hand channels."""
    return jnp.concatenate([jnp.ones(fns.latent_dim), jnp.full(20, hand_weight)])


# ---------------------------------------------------------------------------------------
# SDS.

@dataclasses.dataclass(frozen=True)
class SDSOptions:
    """configs/grasp.py `sds`: the SDS stage (hashable: a jit static argument)."""

    steps: int
    lr: float
    t_min: float  # of the sampled diffusion timestep, a fraction of the schedule
    t_max: float
    guidance: float
    hand_weight: float  # lambda on the hand channels (1 on the object latent)
    grad_clip: float = 0.5


@dataclasses.dataclass(frozen=True)
class ScoreOptions:
    """The prior's ranking score (`sds_score`)."""

    guidance: float
    hand_weight: float
    num_t: int = 8
    num_noise: int = 2
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class RefineOptions:
    """configs/grasp.py `refine`: the contact/penetration refinement (`refine`)."""

    steps: int
    lr: float = 5e-3
    w_pen: float = 10.0
    w_contact: float = 1.0
    w_damp: float = 0.1
    w_pose: float = 0.1
    reach: float = 0.02  # m: a part farther from the surface is not pulled
    squeeze: float = 0.0  # m: how deep a part may go before it is pushed back


def sds_loss(fns: PriorFns, setup: GraspSetup, v, key, opts: SDSOptions):
    """Summed SDS loss of S candidates (each only moves its own variables)."""
    x = interaction_grid(fns, setup, v)
    s = x.shape[0]
    tokens = jnp.broadcast_to(setup.tokens, (s,) + setup.tokens.shape[1:])
    x0, t = denoised_target(fns.denoise, setup.params, fns.schedule, x, dict(tokens=tokens),
                            setup.null_tokens, key, t_range=(opts.t_min, opts.t_max),
                            guidance=opts.guidance, prediction=fns.prediction)
    w = timestep_weight(fns.schedule, t).reshape(s, 1, 1, 1, 1)  # "bell"
    xs = jax.lax.stop_gradient(x)
    g = jnp.clip(w * channel_weights(fns, opts.hand_weight) * (xs - x0), -opts.grad_clip,
                 opts.grad_clip)
    target = jax.lax.stop_gradient(xs - g)
    return 0.5 * jnp.sum((x - target) ** 2)


def sds_optimizer(lr, steps, weight_decay=0.01):
    """AdamW with cosine decay from lr to lr / 100 over `steps` (the reference's)."""
    return optax.adamw(optax.cosine_decay_schedule(lr, steps, alpha=0.01),
                       weight_decay=weight_decay)


@functools.partial(jax.jit, static_argnames=("fns", "opts"))
def sds_chunk(fns: PriorFns, setup: GraspSetup, state, keys, opts: SDSOptions):
    """len(keys) SDS steps from state = (variables, optimiser state)."""
    opt = sds_optimizer(opts.lr, opts.steps)

    def step(carry, key):
        v, opt_state = carry
        grads = jax.grad(lambda p: sds_loss(fns, setup, p, key, opts))(v)
        grads = jax.tree.map(jnp.nan_to_num, grads)
        updates, opt_state = opt.update(grads, opt_state, v)
        return (optax.apply_updates(v, updates), opt_state), None

    state, _ = jax.lax.scan(step, state, keys)
    return state


def sds_run(fns: PriorFns, setup: GraspSetup, v0, key, opts: SDSOptions, chunk=25,
            progress=None):
    """Runs opts.steps SDS steps on candidates v0 (dict of (S,...)); returns the final
    variables. Chunks of `chunk` steps (one compilation; `progress(steps_done)` after
    each)."""
    if opts.steps == 0:
        return v0
    state = (v0, sds_optimizer(opts.lr, opts.steps).init(v0))
    keys = jax.random.split(key, opts.steps)
    done = 0
    while done < opts.steps:
        n = min(chunk, opts.steps - done)  # a shorter last chunk compiles once more
        state = sds_chunk(fns, setup, state, keys[done:done + n], opts)
        done += n
        if progress:
            jax.block_until_ready(state)
            progress(done)
    return state[0]


@functools.partial(jax.jit, static_argnames=("fns", "opts"))
def sds_score(fns: PriorFns, setup: GraspSetup, v, opts: ScoreOptions):
    """(S,) the prior's mean denoising error of each candidate's grid: epsilon-space MSE
    weighted by lambda, averaged over opts.num_t timesteps evenly in [0.05, 0.95] of the
    schedule and opts.num_noise fixed noises (the same for every candidate). Lower = more
    likely under the prior (G-HOP ranks its seeds by this)."""
    sched = fns.schedule
    x = interaction_grid(fns, setup, v)
    s = x.shape[0]
    lam = channel_weights(fns, opts.hand_weight)
    ts = jnp.round(jnp.linspace(0.05, 0.95, opts.num_t) * (sched.num_steps - 1))
    tokens = jnp.broadcast_to(setup.tokens, (s,) + setup.tokens.shape[1:])
    count = opts.num_t * opts.num_noise
    noises = jax.random.normal(jax.random.key(opts.seed), (count,) + x.shape[1:])

    def one(i):
        t = jnp.full((s,), ts[i // opts.num_noise], jnp.int32)
        eps = jnp.broadcast_to(noises[i], x.shape)
        x_t = q_sample(sched, x, t, eps)
        _, eps_hat = guided_prediction(fns.denoise, setup.params, sched, x_t, t,
                                       dict(tokens=tokens), setup.null_tokens, opts.guidance,
                                       fns.prediction)
        return jnp.mean(lam * (eps_hat - eps) ** 2, axis=(1, 2, 3, 4)) / jnp.mean(lam)

    return jnp.mean(jax.lax.map(one, jnp.arange(count)), 0)


# ---------------------------------------------------------------------------------------
# Refinement with contact and penetration.

def hand_vertices_object(setup: GraspSetup, v):
    """(V,3) the candidate's hand vertices in the object frame (m)."""
    verts = mano_forward(setup.model, v["pose"], setup.betas).vertices
    return hand_to_object(setup, v, verts)


def contact_loss(setup: GraspSetup, d, reach, squeeze=0.0):
    """Sum over the 6 parts of (min signed distance + squeeze, cm)^2 for parts within
    `reach` m of the surface (a far part is not pulled: it would drag the hand); a part
    already `squeeze` m deep is not pushed back."""
    total = 0.0
    for ids in setup.hand_parts:
        m = jnp.min(d[ids]) + squeeze
        total = total + jnp.where(m < reach, jnp.maximum(m, 0.0) * 100.0, 0.0) ** 2
    return total


def refine_loss(setup: GraspSetup, v, v_start, opts: RefineOptions):
    """One candidate's refinement energy (see the module docstring)."""
    verts = hand_vertices_object(setup, v)
    d = V.sample(setup.volume, verts)
    pen = jnp.sum((jnp.maximum(-d - opts.squeeze, 0.0) * 100.0) ** 2)
    contact = contact_loss(setup, d, opts.reach, opts.squeeze)
    start = jax.lax.stop_gradient(hand_vertices_object(setup, v_start))
    damp = jnp.mean(jnp.sum(((verts - start) * 100.0) ** 2, -1))
    prior = jnp.mean((v["pose"] - setup.model.hands_mean) ** 2)
    return (opts.w_pen * pen + opts.w_contact * contact + opts.w_damp * damp
            + opts.w_pose * prior)


@functools.partial(jax.jit, static_argnames=("opts",))
def refine(setup: GraspSetup, v0, opts: RefineOptions):
    """Refines candidates v0 (dict of (S,...)) by opts.steps Adam steps; returns
    (variables, final energy (S,))."""
    opt = optax.adam(optax.cosine_decay_schedule(opts.lr, max(opts.steps, 1), alpha=0.1))
    each = jax.vmap(lambda a, b: refine_loss(setup, a, b, opts))

    def step(carry, _):
        v, state = carry
        grads = jax.tree.map(jnp.nan_to_num, jax.grad(lambda p: jnp.sum(each(p, v0)))(v))
        updates, state = opt.update(grads, state, v)
        return (optax.apply_updates(v, updates), state), None

    (v, _), _ = jax.lax.scan(step, (v0, opt.init(v0)), None, length=opts.steps)
    return v, each(v, v0)



# ---------------------------------------------------------------------------------------
# Read-out: MANO parameters in the object frame.

def mano_in_object_frame(model: ManoModel, hand_pose, betas, hTo):
    """MANO parameters (hand_pose (45,), betas (10,), global_orient (3,), transl (3,)) that
    pose the hand in the object frame as smplx/manopth apply them: v = R (v_h - J_0) + J_0
    + transl with R = oRh, so transl = oth + R J_0 - J_0 (MANO rotates about the rest wrist
    joint J_0(betas)). numpy float64 in, float32 out."""
    hTo = np.asarray(hTo, np.float64)
    oTh = np.linalg.inv(hTo)
    R, t = oTh[:3, :3], oTh[:3, 3]
    j0 = np.asarray(rest_joints(model, jnp.asarray(betas, jnp.float32))[0], np.float64)
    orient = np.asarray(matrix_to_axis_angle(jnp.asarray(R, jnp.float32)), np.float64)
    transl = t + R @ j0 - j0
    return dict(hand_pose=np.asarray(hand_pose, np.float32), betas=np.asarray(betas, np.float32),
                global_orient=orient.astype(np.float32), transl=transl.astype(np.float32))


def posed_in_object_frame(model: ManoModel, params):
    """(V,3) vertices of `mano_in_object_frame`'s parameters (hoijax's MANO)."""
    return np.asarray(mano_forward(model, jnp.asarray(params["hand_pose"]),
                                   jnp.asarray(params["betas"]),
                                   jnp.asarray(params["global_orient"]),
                                   jnp.asarray(params["transl"])).vertices)




# ---------------------------------------------------------------------------------------
# The whole pipeline.

def synthesize(fns: PriorFns, setup: GraspSetup, key, *, num, seeds_per_grasp, jitter,
               sds: SDSOptions, score: ScoreOptions, refinement: RefineOptions, use_prior=True,
               chunk=25, progress=None):
    """num grasps of one object, best first: num * seeds_per_grasp starts, SDS (skipped
    when use_prior is False: the no-prior baseline, refinement alone from the same starts,
    ranked by its final energy), ranking, refinement of the best num.

    Returns dict (numpy): hand_pose (num,45), hTo (num,4,4), score (num,) (the SDS score,
    or the refinement energy without the prior), all_scores (num*seeds,), and the SDS
    result's hTo / hand_pose before refinement (`sds_hTo`, `sds_hand_pose`)."""
    k_init, k_sds = jax.random.split(key)
    v0 = initial_variables(setup, k_init, num * seeds_per_grasp, jitter)
    if use_prior:
        v = sds_run(fns, setup, v0, k_sds, sds, chunk=chunk, progress=progress)
        scores = np.asarray(sds_score(fns, setup, v, score))
        if progress:
            progress("scored")
        order = np.argsort(scores)[:num]
        best = jax.tree.map(lambda a: a[order], v)
        refined, _ = refine(setup, best, refinement)
    else:
        refined_all, energy = refine(setup, v0, refinement)
        scores = np.asarray(energy)
        order = np.argsort(scores)[:num]
        best = jax.tree.map(lambda a: a[order], v0)
        refined = jax.tree.map(lambda a: a[order], refined_all)
    to_h = jax.vmap(lambda c: hTo_of(setup, c))
    return dict(hand_pose=np.asarray(refined["pose"]), hTo=np.asarray(to_h(refined)),
                score=scores[order], all_scores=scores,
                sds_hTo=np.asarray(to_h(best)), sds_hand_pose=np.asarray(best["pose"]))

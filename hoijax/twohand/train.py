"""Training the two-hand prior (`python -m hoijax.train_prior --config=configs/
two_hand_prior.py`, which calls `run(config, export)`); docs/design.md §12.

The spec of the two-hand prior on the harness (`hoijax.priors.loop`: the optimiser, the
state dict {step, params, opt_state, ema}, the seeded data order that a resumed run
repeats, Orbax checkpoints, metrics.jsonl + TensorBoard, data parallel over the `data` mesh
axis, a stop on a non-finite loss) and its export (`hoijax.priors.folder`, plus
normalizer.npz), which `hoijax.twohand.prior.load_two_hand_prior` reads.

Cascaded mode: each batch of B pairs gives B * cond_dropout anchor examples (the condition
dropped: p(x_a)) and the rest second-hand examples conditioned on the anchor
(p(x_b | x_a)). Joint mode (the baseline): x = [x_a, x_b] (128), no condition.
Loss = MSE of the normalised x0 + w_v MSE(vertices) + w_j MSE(joints) (metres), the
meshes posed from the predicted and true parameters in the anchor's frame.
"""
from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hoijax import parallel
from hoijax.checks import (FRACTION, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT,
                           check_fields, int_at_least, one_of)
from hoijax.data.interhand import as_training_data
from hoijax.data.synthetic import two_hands
from hoijax.data.synthetic.two_hands import mirror_hands
from hoijax.diffusion.schedules import Schedule, linear_schedule, q_sample
from hoijax.hand import load_hand_model
from hoijax.hand import proxy as P
from hoijax.priors import folder, loop
from hoijax.twohand import representation as rep
from hoijax.twohand.model import create_denoiser, make_denoise_fn
from hoijax.twohand.representation import OBJECTS

CONFIG_RULES = {
    **loop.TRAINING_RULES, **loop.EMA_RULES,
    "task": (lambda v: v == "two_hand_prior", "'two_hand_prior'"),
    "mode": one_of("cascaded", "joint"),
    "batch_size": int_at_least(2),
    "cond_dropout": FRACTION,
    "data.num": int_at_least(20),
    "data.refine_steps": NON_NEGATIVE_INT,
    "model.width": POSITIVE_INT,
    "model.depth": NON_NEGATIVE_INT,
    "model.heads": POSITIVE_INT,
    "model.mlp_width": POSITIVE_INT,
    "model.mlp_depth": POSITIVE_INT,
    "diffusion.num_steps": int_at_least(2),
    "diffusion.beta_start": POSITIVE,
    "diffusion.beta_end": POSITIVE,
    "loss.vertex": NON_NEGATIVE,
    "loss.joint": NON_NEGATIVE,
    "sample.ddim_steps": POSITIVE_INT,
    "sample.guidance": NON_NEGATIVE,
    "sample.ap_scale": NON_NEGATIVE,
    "sample.ap_decay": FRACTION,
    "sample.ap_rho": POSITIVE,
    "sample.ap_unit": POSITIVE,
}
EVAL_TIMESTEPS = (16, 64, 112)


def check_config(config) -> None:
    """Raises ValueError naming the first bad field of a configs/two_hand_prior.py config."""
    check_fields(config, CONFIG_RULES)
    if config.model.width % config.model.heads:
        raise ValueError(f"config.model.width={config.model.width}: must divide by "
                         f"config.model.heads={config.model.heads}")
    if not config.diffusion.beta_start < config.diffusion.beta_end < 1:
        raise ValueError("config.diffusion: need 0 < beta_start < beta_end < 1")
    if config.mode == "cascaded" and not 0 < config.cond_dropout < 1:
        raise ValueError(f"config.cond_dropout={config.cond_dropout}: the cascade needs both "
                         "anchor (dropped) and conditioned examples: 0 < cond_dropout < 1")
    if config.sample.ddim_steps > config.diffusion.num_steps:
        raise ValueError("config.sample.ddim_steps: at most config.diffusion.num_steps")


def make_schedule(diffusion) -> Schedule:
    """The reference's linear betas beta_start .. beta_end over num_steps (not rescaled)."""
    return linear_schedule(diffusion.beta_start, diffusion.beta_end, diffusion.num_steps)


def init_model(config, num_objects=len(OBJECTS) - 1):
    """-> (denoise fn, initial pure-dict params)."""
    graphdef, params = create_denoiser(config.model, rep.vector_dims(config.mode), rep.HAND_DIM,
                                       num_objects, jax.random.key(config.seed))
    return make_denoise_fn(graphdef), params


# ---------------------------------------------------------------------------------------
# Data.

def load_pairs(config, models, progress=True) -> dict:
    """The training pairs: data.path (a two_hands.npz folder, or interhand:ROOT for
    InterHand2.6M's IntagHand annotations, hoijax.data.interhand), or workdir/data generated
    first. Returns the MANO arrays (module docstring of hoijax.data.synthetic.two_hands)."""
    path = config.data.path
    if path.startswith("interhand:"):  # InterHand2.6M as IntagHand preprocesses it
        return as_training_data(path[len("interhand:"):], models)
    if not path:
        path = os.path.join(config.workdir, "data")
        if not os.path.exists(path):
            print(f"generating {config.data.num} two-hand pairs into {path}")
            data = two_hands.generate(models, config.data.num, config.seed,
                                      steps=config.data.refine_steps)
            two_hands.save(path, data, {})
    return two_hands.load(path)


def prepare(models, data: dict, mirror: bool, stats=None) -> dict:
    """Encoded pairs: a, b (M,64) (mirrored copies appended with `mirror`), obj (M,),
    held_out (M,) and the normaliser (mean, std) (from the training rows unless given)."""
    mano = {f"{s}_{k}": data[f"{s}_{k}"] for s in rep.SIDES for k in rep.KEYS}
    a, b = rep.encode(models, mano)
    obj, held = rep.object_index(data["object"]), np.asarray(data["held_out"], bool)
    if mirror:
        flipped = mirror_hands(models, mano, np.ones(len(a), bool))
        a2, b2 = rep.encode(models, flipped)
        a, b = np.concatenate([a, a2]), np.concatenate([b, b2])
        obj, held = np.concatenate([obj, obj]), np.concatenate([held, held])
    if stats is None:
        stats = rep.normalizer(np.concatenate([a[~held], b[~held]]))
    return dict(a=a, b=b, obj=obj, held_out=held, mean=stats[0], std=stats[1])


# ---------------------------------------------------------------------------------------
# Loss and step.

def hand_points(model, v):
    """Vertices and joints of hands (B,64) (unnormalised) in their frame: (B,V,3), (B,21,3)."""
    R, wrist = rep.frame_of(v)
    return P.posed_mesh(model, v[:, rep.POSE], v[:, rep.BETAS], R, wrist)


def geometry_loss(models, pred, target, side_of_rows):
    """Vertex and joint MSE (m^2) of hands (B,64) unnormalised, posed with the left model
    for rows [:k] and the right one for rows [k:] (side_of_rows = k, static)."""
    k = side_of_rows
    v_err, j_err = [], []
    for model, rows in ((models[0], slice(0, k)), (models[1], slice(k, None))):
        if pred[rows].shape[0] == 0:
            continue
        vp, jp = hand_points(model, pred[rows])
        vt, jt = hand_points(model, target[rows])
        v_err.append(jnp.sum((vp - vt) ** 2, axis=(1, 2)) / vp[0].size)
        j_err.append(jnp.sum((jp - jt) ** 2, axis=(1, 2)) / jp[0].size)
    return jnp.mean(jnp.concatenate(v_err)), jnp.mean(jnp.concatenate(j_err))


def examples(batch, config):
    """A batch of pairs -> network examples: x0 (B,X) normalised, cond (B,64), has_cond
    (B,), obj (B,), and the number k of leading rows that are left hands (static)."""
    a, b = batch["a"], batch["b"]
    mean, std = batch["mean"], batch["std"]
    norm = lambda v: (v - mean) / std  # noqa: E731
    n = a.shape[0]
    if config.mode == "joint":
        x0 = jnp.concatenate([norm(a), norm(b)], -1)
        return x0, jnp.zeros_like(a), jnp.zeros((n,), bool), batch["obj"], None
    k = int(round(n * config.cond_dropout))
    x0 = jnp.concatenate([norm(a[:k]), norm(b[k:])])
    cond = jnp.concatenate([jnp.zeros_like(a[:k]), norm(a[k:])])
    has_cond = jnp.arange(n) >= k
    return x0, cond, has_cond, batch["obj"], k


def loss_terms(denoise, params, schedule, models, batch, key, config, t=None):
    """(total, {param, vertex, joint}) of one batch (optionally at fixed timesteps t)."""
    x0, cond, has_cond, obj, k = examples(batch, config)
    k_t, k_n = jax.random.split(key)
    if t is None:
        t = jax.random.randint(k_t, x0.shape[:1], 0, schedule.num_steps)
    noise = jax.random.normal(k_n, x0.shape)
    pred = denoise(params, q_sample(schedule, x0, t, noise), t, cond, has_cond, obj)
    param = jnp.mean((pred - x0) ** 2)
    mean, std = batch["mean"], batch["std"]
    if config.mode == "joint":
        d = rep.HAND_DIM
        un = lambda v: jnp.concatenate([v[:, :d] * std + mean, v[:, d:] * std + mean])  # noqa
        k = x0.shape[0]
        vertex, joint = geometry_loss(models, un(pred), un(x0), k)
    else:
        vertex, joint = geometry_loss(models, pred * std + mean, x0 * std + mean, k)
    total = param + config.loss.vertex * vertex + config.loss.joint * joint
    return total, dict(param=param, vertex=vertex, joint=joint)


def make_train_step(denoise, tx, schedule, models, config):
    """The jittable (state, batch, key) -> (state, metrics)."""
    decay = config.optim.ema_decay

    def step(state, batch, key):
        key = jax.random.fold_in(key, state["step"])

        def loss_fn(p):
            return loss_terms(denoise, p, schedule, models, batch, key, config)

        (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        ema = loop.ema_update(state["ema"], params, decay)
        metrics = dict(loss=loss, grad_norm=optax.tree.norm(grads), **terms)
        return dict(step=state["step"] + 1, params=params, opt_state=opt_state,
                    ema=ema), metrics

    return step


def held_out_losses(denoise, params, schedule, models, held, config, max_pairs=256,
                    seed=1234) -> dict:
    """Loss terms on held-out pairs at fixed timesteps with fixed noise: {name: value}."""
    n = min(max_pairs, len(held["a"]))
    n -= n % 2
    pick = np.linspace(0, len(held["a"]) - 1, n).round().astype(int)
    batch = _device_batch(held, pick)
    out = {}
    fn = jax.jit(lambda p, b, key, t: loss_terms(denoise, p, schedule, models, b, key,
                                                 config, t=t))
    for t in EVAL_TIMESTEPS:
        t = min(t, schedule.num_steps - 1)
        total, terms = fn(params, batch, jax.random.key(seed + t), jnp.full((n,), t))
        out[f"held_out/t{t}"] = float(total)
        out[f"held_out_vertex_mm/t{t}"] = float(np.sqrt(terms["vertex"]) * 1e3)
    return out


def _device_batch(data, idx):
    return dict(a=data["a"][idx], b=data["b"][idx], obj=data["obj"][idx],
                mean=data["mean"], std=data["std"])


# ---------------------------------------------------------------------------------------
# The loop, export and the entry point.

def train(config, data: dict, models, *, progress=True, mesh=None) -> dict:
    """Trains (or resumes) in config.workdir; returns the final state (host)."""
    loop.write_config(config)
    np.savez(os.path.join(config.workdir, "normalizer.npz"), mean=data["mean"],
             std=data["std"])
    pick = lambda m: {k: v[m] for k, v in data.items() if k in ("a", "b", "obj")}  # noqa
    train_data, held = pick(~data["held_out"]), pick(data["held_out"])
    held.update(mean=data["mean"], std=data["std"])
    schedule = make_schedule(config.diffusion)
    denoise, params = init_model(config)
    tx, lr_schedule = loop.make_optimizer(config.optim, config.num_steps)

    def evaluate(state, step):
        if len(held["a"]) < 2:
            return {}
        return held_out_losses(denoise, state["ema"], schedule, models, held, config)

    return loop.run_loop(
        config, loop.init_state(params, tx),
        make_train_step(denoise, tx, schedule, models, config), train_data,
        evaluate=evaluate, name=f"train two-hand prior ({config.mode})", progress=progress,
        mesh=mesh, log_values=lambda metrics, step: dict(lr=float(lr_schedule(step))),
        batch_extra=dict(mean=data["mean"], std=data["std"]), rate_name="pairs_per_s")


def export_prior(workdir: str, out_dir: str, params: dict, step: int) -> None:
    """Writes a two-hand prior folder (`hoijax.priors.folder`, plus the run's
    normalizer.npz) from a training run's workdir and its (EMA) params."""
    with open(os.path.join(workdir, "config.json")) as f:
        config = json.load(f)
    metrics = folder.read_metrics(workdir)
    rates = [m["pairs_per_s"] for m in metrics if "pairs_per_s" in m]
    record = dict(step=step, mode=config["mode"], data=config["data"],
                  mean_pairs_per_s=float(np.mean(rates)) if rates else None,
                  last=metrics[-1] if metrics else None)
    folder.write_prior_folder(
        workdir, out_dir, jax.device_get(params), record,
        copy=("config.json", "normalizer.npz", "metrics.jsonl"),
        plot=lambda m: folder.loss_plot(m, EVAL_TIMESTEPS, title="two-hand prior loss",
                                        held_out_label="held-out t"))


def run(config, export: str | None) -> None:
    """hoijax.train_prior's entry for task="two_hand_prior": check, train, export."""
    check_config(config)
    parallel.check_batch_size(config.batch_size, "--config.batch_size")
    models = (load_hand_model("left"), load_hand_model("right"))
    data = prepare(models, load_pairs(config, models), config.data.mirror)
    state = train(config, data, models)
    step = int(state["step"])
    print(f"trained to step {step}; workdir {config.workdir}")
    if jax.process_index() == 0:
        out = export or os.path.join(config.workdir, "prior")
        export_prior(config.workdir, out, state["ema"], step)
        print(f"exported the two-hand prior (EMA parameters at step {step}) to {out}; "
              f"sample with\n  python -m hoijax.two_hands --num=16 --out=OUT --prior={out}")

"""Prior figures: training throughput per config, held-out denoising losses of a checkpoint.

  python experiments/bench_prior.py --throughput [--configs default,paper] [--steps 5]
  python experiments/bench_prior.py --heldout --checkpoint hoijax/assets/prior \
      --data prior_data_32

Throughput uses random data of the config's shape (the step's cost does not depend on the
values); the paper config runs with a batch of 8 per device on a CPU (--paper_batch).
Held-out losses: the checkpoint's EMA parameters at t = 250, 500, 750 with the right
prompt, the null prompt, and an untrained network of the same config, on the held-out
grasps of the data. Writes experiments/results/prior.json.
"""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from benchlib import default_path, write_results

from hoijax import parallel
from hoijax.diffusion.schedules import make_schedule
from hoijax.models.build import count_params
from hoijax.models.text import NULL_PROMPT, category_tokens, tokenize
from hoijax.priors import image_train as trainer
from hoijax.priors import loop
from hoijax.runtime import enable_compilation_cache, repo_config


def throughput(variant, batch, steps):
    config = repo_config("prior.py", None if variant == "default" else variant)
    config.batch_size = batch
    size = config.model.image_size
    denoise, params = trainer.init_model(config)
    tx, _ = loop.make_optimizer(config.optim, 1000)
    mesh = parallel.data_mesh()
    state = parallel.replicate(loop.init_state(params, tx), mesh)
    step_fn = jax.jit(trainer.make_train_step(denoise, tx, make_schedule(), category_tokens(
        ["mug"]), config), donate_argnums=0)
    rng = np.random.default_rng(0)
    batch_np = dict(object=rng.normal(size=(batch, size, size, 5)).astype(np.float32),
                    hand=rng.normal(size=(batch, size, size, 7)).astype(np.float32),
                    category=np.zeros(batch, np.int32))
    data = parallel.shard_batch(batch_np, mesh)
    t0 = time.time()
    state, m = step_fn(state, data, jax.random.key(0))
    jax.block_until_ready(m)
    compile_s = time.time() - t0
    times = []
    for _ in range(steps):
        t0 = time.time()
        state, m = step_fn(state, data, jax.random.key(0))
        jax.block_until_ready(m)
        times.append(time.time() - t0)
    best = min(times)
    return dict(variant=variant, image_size=size, batch=batch, devices=jax.device_count(),
                device=jax.devices()[0].device_kind, params=count_params(params),
                step_s=best, images_per_s=batch / best,
                images_per_s_per_device=batch / best / jax.device_count(),
                first_step_s=compile_s)


def heldout(checkpoint, data_path):
    from hoijax.data.prior_data import load_prior_data
    from hoijax.priors.image import load_prior
    prior = load_prior(checkpoint)
    config = prior.config
    data = load_prior_data(data_path)
    _, held = trainer.split_held_out(data, config.data.held_out_every)
    table = category_tokens(data["manifest"]["categories"])
    schedule = make_schedule(config.diffusion.schedule, config.diffusion.num_steps)
    pred = config.diffusion.prediction
    right = trainer.held_out_losses(prior.denoise, prior.params, schedule, held,
                                    table[held["category"]], pred)
    null = trainer.held_out_losses(prior.denoise, prior.params, schedule, held,
                                   tokenize(NULL_PROMPT), pred)
    denoise0, params0 = trainer.init_model(config)
    untrained = trainer.held_out_losses(denoise0, params0, schedule, held,
                                        table[held["category"]], pred)
    return dict(checkpoint=checkpoint, held_out_samples=int(min(256, len(held["category"]))),
                right_prompt=right, null_prompt=null, untrained=untrained)


def category_grid(checkpoint, data_path, out_png, num_hands=4, seed=0):
    """Samples the prior for held-out hands with every category's prompt (and the null
    prompt): rows are hands (their condition's normals first), columns prompts; each cell
    the sampled object's normals over its mask. Shows whether the prompt steers the shape."""
    import mediapy

    from hoijax.data.prior_data import load_prior_data
    from hoijax.diffusion.sampler import ddim_sample
    from hoijax.priors.image import load_prior
    from hoijax.render.geometry_images import to_rgb
    prior = load_prior(checkpoint)
    config = prior.config
    data = load_prior_data(data_path)
    _, held = trainer.split_held_out(data, config.data.held_out_every)
    picks = np.random.default_rng(seed).choice(len(held["category"]), num_hands, False)
    prompts = prior.categories + [None]
    size = config.model.image_size
    null = jnp.asarray(tokenize(NULL_PROMPT))
    rows = []
    for i in picks:
        hand = jnp.asarray(held["hand"][i])[None].repeat(len(prompts), 0)
        tokens = jnp.asarray(np.stack([prior.tokens(c) for c in prompts]))
        samples = ddim_sample(prior.denoise, prior.params, prior.schedule,
                              dict(hand=hand, tokens=tokens), null, jax.random.key(seed),
                              (len(prompts), size, size, 5), num_steps=config.sample.ddim_steps,
                              guidance=config.sample.guidance,
                              prediction=config.diffusion.prediction)
        cells = [np.asarray(to_rgb(hand[0])["normal"])]
        cells += [np.asarray(to_rgb(x)["normal"]) for x in samples]
        rows.append(np.concatenate(cells, axis=1))
    grid = (np.clip(np.concatenate(rows, 0), 0, 1) * 255).astype(np.uint8)
    grid = np.repeat(np.repeat(grid, 3, 0), 3, 1)
    mediapy.write_image(out_png, grid)
    print(f"wrote {out_png}: rows = held-out hands; columns = hand condition, then prompts "
          f"{', '.join(str(c) for c in prompts)}")


_THROUGHPUT = flags.DEFINE_bool("throughput", False, "Measure training throughput.")
_CONFIGS = flags.DEFINE_string("configs", "default,paper", "configs/prior.py variants.")
_BATCH = flags.DEFINE_integer("batch", 32, "Batch of the non-paper configs.")
_PAPER_BATCH = flags.DEFINE_integer("paper_batch", 8, "Batch of the paper config.")
_STEPS = flags.DEFINE_integer("steps", 5, "Timed steps per config.")
_HELDOUT = flags.DEFINE_bool("heldout", False, "Held-out losses of --checkpoint.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "hoijax/assets/prior", "Prior folder.")
_DATA = flags.DEFINE_string("data", "", "Prior-data folder (held-out grasps).")
_CATEGORY_GRID = flags.DEFINE_string("category_grid", "", "PNG path: sample held-out "
                                     "hands with every prompt.")
_OUT = flags.DEFINE_string("out", default_path("prior"), "Results JSON (merged).")


def main(argv):
    del argv
    enable_compilation_cache()
    results = {}
    if _THROUGHPUT.value:
        for variant in _CONFIGS.value.split(","):
            batch = _PAPER_BATCH.value if variant == "paper" else _BATCH.value
            r = throughput(variant, batch, _STEPS.value)
            results[f"throughput_{variant}_{r['device'].replace(' ', '_')}"] = r
            print(f"{variant:8s} {r['image_size']}px batch {batch} on {r['devices']}x "
                  f"{r['device']}: {r['step_s'] * 1e3:.0f} ms/step, "
                  f"{r['images_per_s']:.1f} img/s, {r['params'] / 1e6:.2f}M params")
    if _HELDOUT.value:
        r = heldout(_CHECKPOINT.value, _DATA.value)
        results["held_out"] = r
        for name in ("right_prompt", "null_prompt", "untrained"):
            print(f"{name:13s} " + "  ".join(f"t={t}: {v:.4f}" for t, v in r[name].items()))
    if _CATEGORY_GRID.value:
        category_grid(_CHECKPOINT.value, _DATA.value, _CATEGORY_GRID.value)
    if results:
        write_results(results, _OUT.value, merge=True)


if __name__ == "__main__":
    app.run(main)

"""Small fixed-length optimisations run entirely inside one jitted `lax.scan`.

Initialisation fits a few hundred Adam steps of a tiny problem (a sphere to masks, a field
to a sphere, a trajectory to its estimates); a Python loop would dispatch each step from
the host. A leaf module: it imports nothing from hoijax.
"""
from __future__ import annotations

import jax
import optax


def adam_scan(loss_fn, params, *, steps: int, lr: float, keys=None):
    """Minimises loss_fn(params) (or loss_fn(params, key) with `keys`) by `steps` Adam
    steps at rate `lr`, all in one jitted scan. keys: (steps,) PRNG keys, one per step
    (e.g. for fresh sample points); None for a deterministic loss. Returns the params."""
    return optimizer_scan(loss_fn, params, optax.adam(lr), steps=steps, keys=keys)


def optimizer_scan(loss_fn, params, opt, *, steps: int, keys=None):
    """`adam_scan` with any optax optimiser `opt` (e.g. a rate per parameter group)."""
    def step(carry, key):
        p, state = carry
        grads = jax.grad(loss_fn)(p) if keys is None else jax.grad(loss_fn)(p, key)
        updates, state = opt.update(grads, state, p)
        return (optax.apply_updates(p, updates), state), None

    @jax.jit
    def run(params, keys):
        (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), keys,
                                      length=steps)
        return params

    return run(params, keys)

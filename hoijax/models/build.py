"""Building Flax NNX modules as (graphdef, pure-dict params), the form every hoijax model
is used in (docs/design.md section 10).

Built eagerly, each parameter's initializer runs as its own small XLA program: the tiny
2D UNet compiles ~100 of them (8.6 s on the 2-core CPU, each too short for the persistent
compilation cache to keep). `init_module` computes every initial value in one program,
compiled on the CPU without LLVM optimisation since it runs once: the tiny UNet 8.6 ->
4.1 s, the default 2D UNet 7.7 -> 5.3 s, the 3D UNet 8.4 -> 4.1 s, the VQ-VAE 8.3 ->
1.5 s; every hoijax model's values equal the eager ones to 1e-7. (Only here: in the test
suite, the whole of XLA at that level turned some geometry results into NaN.)
"""
from __future__ import annotations

import jax
from flax import nnx


def module_graphdef(build):
    """The graphdef of the module `build(rngs)`, traced abstractly (no values computed)."""
    return nnx.graphdef(nnx.eval_shape(lambda: build(nnx.Rngs(params=0))))


def init_module(build, key):
    """(graphdef, params): the module `build(rngs)` with its initializers drawn from the
    PRNG key (as `build(nnx.Rngs(params=key))`), params a pure dict of arrays."""
    init = jax.jit(lambda k: nnx.to_pure_dict(nnx.state(build(nnx.Rngs(params=k)))))
    lowered = init.lower(key)
    options = ({"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu"
               else None)
    return module_graphdef(build), lowered.compile(compiler_options=options)(key)


def count_params(params) -> int:
    """Number of parameters (array elements) in a params pytree."""
    return sum(x.size for x in jax.tree.leaves(params))

"""The two-hand denoiser: a 3-token transformer (timestep, condition, x_t) feeding an MLP
(InterHandGen's layout, docs/design.md §12).

One network serves the cascade: with the condition present it is p(x_b | x_a) (the second
hand, relative to the first); with the condition replaced by a learned null token it is
p(x_a) (the first hand). The object category (0 = none) is added to the timestep token.
The non-cascaded baseline uses the same class with x of both hands and the condition
always null. Prediction is x0 (the reference's).

Used functionally: `graphdef, params = create_denoiser(config.model, x_dim, key)`,
`denoise = make_denoise_fn(graphdef)`, `denoise(params, x_t, t, cond, has_cond, obj)`
with x_t (B,X), t (B,) int, cond (B,C), has_cond (B,) bool, obj (B,) int -> (B,X).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from hoijax.models.build import init_module, module_graphdef
from hoijax.models.unet import timestep_embedding


class Block(nnx.Module):
    """Pre-norm transformer block over the three tokens."""

    def __init__(self, width: int, heads: int, *, rngs):
        self.heads = heads
        self.norm1 = nnx.LayerNorm(width, rngs=rngs)
        self.qkv = nnx.Linear(width, 3 * width, rngs=rngs)
        self.proj = nnx.Linear(width, width, rngs=rngs)
        self.norm2 = nnx.LayerNorm(width, rngs=rngs)
        self.fc1 = nnx.Linear(width, 2 * width, rngs=rngs)
        self.fc2 = nnx.Linear(2 * width, width, rngs=rngs)

    def __call__(self, x):  # (B,3,W)
        b, n, w = x.shape
        q, k, v = jnp.split(self.qkv(self.norm1(x)), 3, axis=-1)
        split = lambda a: a.reshape(b, n, self.heads, w // self.heads)  # noqa: E731
        att = jnp.einsum("bqhd,bkhd->bhqk", split(q), split(k)) / np.sqrt(w // self.heads)
        out = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(att, -1), split(v))
        x = x + self.proj(out.reshape(b, n, w))
        return x + self.fc2(jax.nn.gelu(self.fc1(self.norm2(x))))


class TwoHandDenoiser(nnx.Module):
    """(x_t, t, cond, has_cond, obj) -> x0 estimate (B,x_dim)."""

    def __init__(self, x_dim: int, cond_dim: int, width: int, depth: int, heads: int,
                 mlp_width: int, mlp_depth: int, num_objects: int, *, rngs):
        self.width = width
        self.t1 = nnx.Linear(width, width, rngs=rngs)
        self.t2 = nnx.Linear(width, width, rngs=rngs)
        self.obj = nnx.Embed(num_objects + 1, width, rngs=rngs)
        self.x_in = nnx.Linear(x_dim, width, rngs=rngs)
        self.c_in = nnx.Linear(cond_dim, width, rngs=rngs)
        self.null = nnx.Param(jnp.zeros((width,)))
        self.pos = nnx.Param(0.02 * jax.random.normal(rngs.params(), (3, width)))
        self.blocks = nnx.List([Block(width, heads, rngs=rngs) for _ in range(depth)])
        self.norm = nnx.LayerNorm(width, rngs=rngs)
        self.h_in = nnx.Linear(3 * width + x_dim, mlp_width, rngs=rngs)
        self.hidden = nnx.List([nnx.Linear(mlp_width, mlp_width, rngs=rngs)
                                for _ in range(mlp_depth - 1)])
        self.out = nnx.Linear(mlp_width, x_dim, rngs=rngs)

    def __call__(self, x_t, t, cond, has_cond, obj):
        temb = self.t2(jax.nn.silu(self.t1(timestep_embedding(t, self.width, sin_first=True))))
        tok_t = temb + self.obj(obj)
        tok_c = jnp.where(has_cond[:, None], self.c_in(cond), self.null[...][None])
        tok_x = self.x_in(x_t)
        h = jnp.stack([tok_t, tok_c, tok_x], 1) + self.pos[...][None]
        for block in self.blocks:
            h = block(h)
        h = self.norm(h).reshape(h.shape[0], -1)
        # The MLP also sees x_t itself (a skip, as the reference's MLP has).
        y = jax.nn.silu(self.h_in(jnp.concatenate([h, x_t], -1)))
        for layer in self.hidden:
            y = y + jax.nn.silu(layer(y))
        return self.out(y)


def create_denoiser(model_config, x_dim: int, cond_dim: int, num_objects: int, key):
    """-> (graphdef, pure-dict params)."""
    return init_module(_builder(model_config, x_dim, cond_dim, num_objects), key)


def denoiser_graphdef(model_config, x_dim: int, cond_dim: int, num_objects: int):
    """The graphdef alone (no parameters computed): for loading saved ones."""
    return module_graphdef(_builder(model_config, x_dim, cond_dim, num_objects))


def _builder(c, x_dim, cond_dim, num_objects):
    return lambda rngs: TwoHandDenoiser(x_dim, cond_dim, c.width, c.depth, c.heads,
                                        c.mlp_width, c.mlp_depth, num_objects, rngs=rngs)


def make_denoise_fn(graphdef):
    """The pure `denoise(params, x_t, t, cond, has_cond, obj) -> (B,X)` of a graphdef."""

    def denoise(params, x_t, t, cond, has_cond, obj):
        return nnx.merge(graphdef, params)(x_t, t, cond, has_cond, obj)

    return denoise


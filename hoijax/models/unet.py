"""The prior's denoiser: an ADM/GLIDE-style conditional UNet (Flax NNX).

Input: the noisy 5-channel object geometry image concatenated with the 7-channel hand
condition (12 channels, NHWC); the timestep through a sinusoidal embedding and an MLP that
sets a scale and shift in every residual block; the prompt through cross-attention to the
text encoder's tokens, at the resolutions listed in `attention_resolutions` (where there is
self-attention too). Output: 5 channels, epsilon or x0 by the training config. Residual
branches end in zero-initialised layers, so the network starts as a near-identity path.

Use it through the pure function (docs/design.md section 10):

    graphdef, params = create_denoiser(config.model, key)
    denoise = make_denoise_fn(graphdef)
    out = denoise(params, x_t, t, cond)   # cond = {"hand": (B,H,W,7), "tokens": (B,L)}

`params` is a plain pytree (a pure dict of arrays) that jits, shards and checkpoints.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from hoijax.models.build import init_module, module_graphdef
from hoijax.models.text import MultiHeadAttention, TextEncoder
from hoijax.render.geometry_images import NUM_HAND_CHANNELS, NUM_OBJECT_CHANNELS


def timestep_embedding(t, dim, max_period=10000.0, sin_first=False):
    """(B,) timesteps (any float scale) -> (B, dim) sinusoidal features [cos ; sin] (the
    two-hand prior was trained with [sin ; cos]: sin_first)."""
    half = dim // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)
    args = jnp.asarray(t, jnp.float32)[:, None] * freqs[None]
    parts = [jnp.sin(args), jnp.cos(args)] if sin_first else [jnp.cos(args), jnp.sin(args)]
    return jnp.concatenate(parts, axis=-1)


def _groups(channels):
    return math.gcd(32, channels) if channels >= 32 else math.gcd(8, channels)


class ResBlock(nnx.Module):
    """GroupNorm-SiLU-conv, timestep scale-shift, GroupNorm-SiLU-conv (zero init) + skip."""

    def __init__(self, cin, cout, emb_dim, *, dtype=None, rngs):
        self.norm1 = nnx.GroupNorm(cin, _groups(cin), dtype=dtype, rngs=rngs)
        self.conv1 = nnx.Conv(cin, cout, (3, 3), dtype=dtype, rngs=rngs)
        self.emb = nnx.Linear(emb_dim, 2 * cout, dtype=dtype, rngs=rngs)
        self.norm2 = nnx.GroupNorm(cout, _groups(cout), dtype=dtype, rngs=rngs)
        self.conv2 = nnx.Conv(cout, cout, (3, 3), kernel_init=nnx.initializers.zeros,
                              dtype=dtype, rngs=rngs)
        self.skip = (nnx.Conv(cin, cout, (1, 1), dtype=dtype, rngs=rngs) if cin != cout
                     else None)

    def __call__(self, x, emb):
        h = self.conv1(jax.nn.silu(self.norm1(x)))
        scale, shift = jnp.split(self.emb(jax.nn.silu(emb))[:, None, None, :], 2, axis=-1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(jax.nn.silu(h))
        return (x if self.skip is None else self.skip(x)) + h


class AttentionBlock(nnx.Module):
    """Self-attention over pixels, then cross-attention to the text tokens (both residual)."""

    def __init__(self, channels, text_width, num_heads, *, dtype=None, rngs):
        self.norm1 = nnx.GroupNorm(channels, _groups(channels), dtype=dtype, rngs=rngs)
        self.self_attn = MultiHeadAttention(channels, channels, num_heads, zero_out=True,
                                            dtype=dtype, rngs=rngs)
        self.norm2 = nnx.GroupNorm(channels, _groups(channels), dtype=dtype, rngs=rngs)
        self.cross_attn = MultiHeadAttention(channels, text_width, num_heads, zero_out=True,
                                             dtype=dtype, rngs=rngs)

    def __call__(self, x, text, text_mask):
        b, h, w, c = x.shape
        y = self.norm1(x).reshape(b, h * w, c)
        x = x + self.self_attn(y, y).reshape(b, h, w, c)
        y = self.norm2(x).reshape(b, h * w, c)
        return x + self.cross_attn(y, text.astype(y.dtype), text_mask).reshape(b, h, w, c)


class Level(nnx.Module):
    """The residual (+ attention) blocks of one resolution."""

    def __init__(self, channels_in, channels, num_blocks, emb_dim, attend, text_width,
                 num_heads, *, dtype=None, rngs):
        self.blocks = nnx.List()
        self.attns = nnx.List()
        for i, cin in enumerate(channels_in):
            self.blocks.append(ResBlock(cin, channels, emb_dim, dtype=dtype, rngs=rngs))
            if attend:
                self.attns.append(AttentionBlock(channels, text_width, num_heads,
                                                 dtype=dtype, rngs=rngs))
        self.num_blocks = num_blocks

    def block(self, i, x, emb, text, text_mask):
        x = self.blocks[i](x, emb)
        if len(self.attns):
            x = self.attns[i](x, text, text_mask)
        return x


class UNet(nnx.Module):
    """The denoiser network; see the module docstring. `config` fields: channels,
    channel_mult, num_res_blocks, attention_resolutions, num_heads, text_width, text_depth,
    image_size, dtype ("float32" or "bfloat16")."""

    def __init__(self, config, *, rngs):
        dtype = jnp.dtype(config.dtype)
        ch = config.channels
        emb_dim = 4 * ch
        mults = tuple(config.channel_mult)
        self.time1 = nnx.Linear(ch, emb_dim, dtype=dtype, rngs=rngs)
        self.time2 = nnx.Linear(emb_dim, emb_dim, dtype=dtype, rngs=rngs)
        self.text = TextEncoder(config.text_width, config.text_depth, config.num_heads,
                                dtype=dtype, rngs=rngs)
        self.text_pool = nnx.Linear(config.text_width, emb_dim, dtype=dtype, rngs=rngs)
        self.conv_in = nnx.Conv(NUM_OBJECT_CHANNELS + NUM_HAND_CHANNELS, ch, (3, 3),
                                dtype=dtype, rngs=rngs)
        kw = dict(text_width=config.text_width, num_heads=config.num_heads, dtype=dtype,
                  rngs=rngs)
        n = config.num_res_blocks
        self.down, self.downsample = nnx.List(), nnx.List()
        skips, cin, res = [ch], ch, config.image_size
        for level, mult in enumerate(mults):
            cout = ch * mult
            attend = res in config.attention_resolutions
            self.down.append(Level([cin] + [cout] * (n - 1), cout, n, emb_dim, attend, **kw))
            skips += [cout] * n
            cin = cout
            if level < len(mults) - 1:
                self.downsample.append(nnx.Conv(cout, cout, (3, 3), strides=2, dtype=dtype,
                                                rngs=rngs))
                skips.append(cout)
                res //= 2
        self.mid = Level([cin, cin], cin, 2, emb_dim, True, **kw)
        self.up, self.upsample = nnx.List(), nnx.List()
        for level, mult in reversed(list(enumerate(mults))):
            cout = ch * mult
            attend = res in config.attention_resolutions
            ins = []
            for _ in range(n + 1):
                ins.append(cin + skips.pop())
                cin = cout
            self.up.append(Level(ins, cout, n + 1, emb_dim, attend, **kw))
            if level > 0:
                self.upsample.append(nnx.Conv(cout, cout, (3, 3), dtype=dtype, rngs=rngs))
                res *= 2
        self.norm_out = nnx.GroupNorm(cin, _groups(cin), dtype=dtype, rngs=rngs)
        self.conv_out = nnx.Conv(cin, NUM_OBJECT_CHANNELS, (3, 3),
                                 kernel_init=nnx.initializers.zeros, dtype=dtype, rngs=rngs)
        self.channels = ch

    def __call__(self, x_t, t, hand, tokens):
        """x_t (B,H,W,5), t (B,) in [0, T), hand (B,H,W,7), tokens (B,L) -> (B,H,W,5) f32."""
        emb, text, text_mask = conditioning(self, t, tokens)
        h = self.conv_in(jnp.concatenate([x_t, hand], axis=-1))
        h = unet_body(self, h, emb, text, text_mask, upsample_nearest)
        return self.conv_out(jax.nn.silu(self.norm_out(h))).astype(jnp.float32)


def conditioning(unet, t, tokens):
    """A UNet's (2D or 3D) conditioning: the timestep MLP's embedding plus the pooled prompt
    (B, 4 ch), and the text tokens (B,L,text_width) with their mask (B,L)."""
    text, text_mask = unet.text(tokens)
    pooled = jnp.sum(text * text_mask[..., None], 1) / jnp.sum(text_mask, 1)[:, None]
    emb = unet.time2(jax.nn.silu(unet.time1(timestep_embedding(t, unet.channels))))
    return emb + unet.text_pool(pooled), text, text_mask


def upsample_nearest(h):
    """(B,...,C) -> each spatial axis doubled by nearest-neighbour repetition."""
    shape = (h.shape[0],) + tuple(2 * n for n in h.shape[1:-1]) + (h.shape[-1],)
    return jax.image.resize(h, shape, "nearest")


def unet_body(unet, h, emb, text, text_mask, upsample):
    """The down, middle and up levels of a UNet (2D or 3D: the modules carry the
    dimension) with skip connections: h (B,...,C) after `conv_in` -> before `norm_out`."""
    skips = [h]
    for i, level in enumerate(unet.down):
        for b in range(level.num_blocks):
            h = level.block(b, h, emb, text, text_mask)
            skips.append(h)
        if i < len(unet.downsample):
            h = unet.downsample[i](h)
            skips.append(h)
    h = unet.mid.block(1, unet.mid.block(0, h, emb, text, text_mask), emb, text, text_mask)
    for i, level in enumerate(unet.up):
        for b in range(level.num_blocks):
            h = level.block(b, jnp.concatenate([h, skips.pop()], axis=-1), emb, text,
                            text_mask)
        if i < len(unet.upsample):
            h = unet.upsample[i](upsample(h))
    return h


def create_denoiser(config, key):
    """-> (graphdef, params): the UNet's static structure and its parameters (pure dict)."""
    return init_module(lambda rngs: UNet(config, rngs=rngs), key)


def denoiser_graphdef(config):
    """The UNet's graphdef alone (no parameters computed): for loading saved ones."""
    return module_graphdef(lambda rngs: UNet(config, rngs=rngs))


def make_denoise_fn(graphdef):
    """The pure denoiser `denoise(params, x_t, t, cond) -> (B,H,W,5)` for a graphdef;
    cond = {"hand": (B,H,W,7), "tokens": (B,L) int}."""

    def denoise(params, x_t, t, cond):
        model = nnx.merge(graphdef, params)
        return model(x_t, t, cond["hand"], cond["tokens"])

    return denoise


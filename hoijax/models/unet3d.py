"""G-HOP's 3D denoiser (docs/design.md §11): a conditional UNet over the interaction grid's
latent [object latent (D) ; hand skeletal field (20)] at the latent resolution
(B,r,r,r,D+20), predicting all D+20 channels (x0 or epsilon by the training config).

The 2D prior's UNet (`hoijax.models.unet`) built in 3D from the same pieces: the
sinusoidal timestep embedding and its MLP (a scale and shift in every residual block), the
byte-level text encoder (`hoijax.models.text`) with its pooled prompt added to the
timestep embedding, and the 2D `AttentionBlock` itself (self-attention over all voxels,
then cross-attention to the prompt tokens): a (B,D,H,W,C) grid is the same set of tokens
as the (B,D*H,W,C) image it reshapes to. Convolutions are `hoijax.models.vqvae.Conv3D`.
Residual branches end in zero-initialised layers (the 2D UNet's habit). The forward pass is
the 2D one (`unet.conditioning`, `unet.unet_body`); the parameter trees are unchanged.

    graphdef, params = create_denoiser(config.model, key)
    denoise = make_denoise_fn(graphdef)
    out = denoise(params, x_t, t, {"tokens": tokens})   # (B,r,r,r,C)
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from hoijax.models.build import init_module
from hoijax.models.text import TextEncoder
from hoijax.models.unet import AttentionBlock, _groups, conditioning, unet_body
from hoijax.models.vqvae import Conv3D, upsample


class TimeResBlock3D(nnx.Module):
    """GroupNorm-SiLU-conv, timestep scale-shift, GroupNorm-SiLU-conv (zero init) + skip."""

    def __init__(self, cin, cout, emb_dim, *, rngs):
        self.norm1 = nnx.GroupNorm(cin, _groups(cin), rngs=rngs)
        self.conv1 = Conv3D(cin, cout, rngs=rngs)
        self.emb = nnx.Linear(emb_dim, 2 * cout, rngs=rngs)
        self.norm2 = nnx.GroupNorm(cout, _groups(cout), rngs=rngs)
        self.conv2 = Conv3D(cout, cout, zero=True, rngs=rngs)
        self.skip = Conv3D(cin, cout, kernel=1, rngs=rngs) if cin != cout else None

    def __call__(self, x, emb):
        h = self.conv1(jax.nn.silu(self.norm1(x)))
        scale, shift = jnp.split(self.emb(jax.nn.silu(emb))[:, None, None, None, :], 2, -1)
        h = self.conv2(jax.nn.silu(self.norm2(h) * (1 + scale) + shift))
        return (x if self.skip is None else self.skip(x)) + h


def attend3d(block, x, text, text_mask):
    """The 2D AttentionBlock on a (B,D,H,W,C) grid, as the (B,D*H,W,C) image."""
    b, d, h, w, c = x.shape
    return block(x.reshape(b, d * h, w, c), text, text_mask).reshape(x.shape)


class Level3D(nnx.Module):
    """The residual (+ attention) blocks of one resolution."""

    def __init__(self, channels_in, channels, emb_dim, attend, text_width, num_heads, *,
                 rngs):
        self.blocks = nnx.List([TimeResBlock3D(cin, channels, emb_dim, rngs=rngs)
                                for cin in channels_in])
        self.attns = nnx.List([AttentionBlock(channels, text_width, num_heads, rngs=rngs)
                               for _ in channels_in] if attend else [])
        self.num_blocks = len(channels_in)

    def block(self, i, x, emb, text, text_mask):
        x = self.blocks[i](x, emb)
        if len(self.attns):
            x = attend3d(self.attns[i], x, text, text_mask)
        return x


class UNet3D(nnx.Module):
    """`config` fields: in_channels, channels, channel_mult, num_res_blocks,
    attention_resolutions, num_heads, text_width, text_depth, resolution."""

    def __init__(self, config, *, rngs):
        ch = config.channels
        emb_dim = 4 * ch
        mults = tuple(config.channel_mult)
        self.time1 = nnx.Linear(ch, emb_dim, rngs=rngs)
        self.time2 = nnx.Linear(emb_dim, emb_dim, rngs=rngs)
        self.text = TextEncoder(config.text_width, config.text_depth, config.num_heads,
                                rngs=rngs)
        self.text_pool = nnx.Linear(config.text_width, emb_dim, rngs=rngs)
        self.conv_in = Conv3D(config.in_channels, ch, rngs=rngs)
        kw = dict(text_width=config.text_width, num_heads=config.num_heads, rngs=rngs)
        n = config.num_res_blocks
        self.down, self.downsample = nnx.List(), nnx.List()
        skips, cin, res = [ch], ch, config.resolution
        for level, mult in enumerate(mults):
            cout = ch * mult
            self.down.append(Level3D([cin] + [cout] * (n - 1), cout, emb_dim,
                                     res in config.attention_resolutions, **kw))
            skips += [cout] * n
            cin = cout
            if level < len(mults) - 1:
                self.downsample.append(Conv3D(cout, cout, stride=2, rngs=rngs))
                skips.append(cout)
                res //= 2
        self.mid = Level3D([cin, cin], cin, emb_dim, True, **kw)
        self.up, self.upsample = nnx.List(), nnx.List()
        for level, mult in reversed(list(enumerate(mults))):
            cout = ch * mult
            ins = []
            for _ in range(n + 1):
                ins.append(cin + skips.pop())
                cin = cout
            self.up.append(Level3D(ins, cout, emb_dim, res in config.attention_resolutions,
                                   **kw))
            if level > 0:
                self.upsample.append(Conv3D(cout, cout, rngs=rngs))
                res *= 2
        self.norm_out = nnx.GroupNorm(cin, _groups(cin), rngs=rngs)
        self.conv_out = Conv3D(cin, config.in_channels, zero=True, rngs=rngs)
        self.channels = ch

    def __call__(self, x_t, t, tokens):
        """x_t (B,r,r,r,C), t (B,) in [0, T), tokens (B,L) -> (B,r,r,r,C) float32."""
        emb, text, text_mask = conditioning(self, t, tokens)
        h = unet_body(self, self.conv_in(x_t), emb, text, text_mask, upsample)
        return self.conv_out(jax.nn.silu(self.norm_out(h))).astype(jnp.float32)


def create_denoiser(config, key):
    """-> (graphdef, params pure dict)."""
    return init_module(lambda rngs: UNet3D(config, rngs=rngs), key)


def make_denoise_fn(graphdef):
    """`denoise(params, x_t, t, cond) -> (B,r,r,r,C)`; cond = {"tokens": (B,L) int}."""

    def denoise(params, x_t, t, cond):
        return nnx.merge(graphdef, params)(x_t, t, cond["tokens"])

    return denoise

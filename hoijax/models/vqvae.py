"""G-HOP's 3D VQ-VAE (docs/design.md §11): compresses the interaction grid's object channel
(a truncated SDF, (B,R,R,R) in [-1, 1]) to a latent (B,r,r,r,D), r = R / (stem_stride 2^(levels-1)).

Encoder: conv (stride 1, or 2 on the CPU config), then per level residual blocks and a
stride-2 conv (none after the last), a middle block, GroupNorm-SiLU-conv to D channels:
the *pre-quantisation* latent z, a smooth function of the input (SDS in 3D
differentiates through it). Quantiser: each
latent vector snaps to its nearest codebook entry e; the decoder sees z + sg(e - z)
(straight-through: the forward value is e, the gradient flows to z as if unquantised).
Losses: |sg(z) - e|^2 moves the codebook, beta |z - sg(e)|^2 (commitment) keeps the
encoder near its codes. Dead codes (EMA usage below a threshold) are re-initialised to
random encoder outputs of the batch (`reinit_dead_codes`), so the codebook does not
collapse onto a few entries. The latent is scaled to unit standard deviation for the
diffusion model by a factor measured on the training set after training
(`latent_std`, kept beside the parameters).

Reference (`vq-f4`): 64^3 -> 16^3 x 3, codebook 8192, channels 64 x (1, 2, 4), one res
block per level. Use it through pure functions:

    graphdef, params = create_vqvae(config, key)
    vq = make_vqvae_fns(graphdef)
    z = vq.encode(params, x)              # (B,r,r,r,D) pre-quantisation, differentiable
    x_hat, aux = vq.forward(params, x)    # aux: indices, codebook / commitment losses
    x_hat = vq.decode(params, z)          # quantises first (quantize=False skips it)
"""
from __future__ import annotations

import math
import jax
import jax.numpy as jnp
from flax import nnx

from hoijax.models.build import init_module


def _groups(channels):
    return math.gcd(8, channels)


def conv3d(x, kernel, stride=1):
    """A 3D convolution, 'SAME' padding, as one 2D convolution over depth-stacked slices.

    x (B,D,H,W,C), kernel (3,3,3,C,O) (or (1,1,1,C,O)) -> (B,D/stride,H/stride,W/stride,O).
    XLA:CPU runs 2D convolutions several times faster than 3D ones (measured 5x forward,
    3.5x forward+backward at 32^3 x 16 channels), so the three depth taps are stacked
    into channels: same result as lax's 3D convolution to float rounding."""
    if kernel.shape[0] == 1:
        return jnp.einsum("bdhwc,co->bdhwo", x[:, ::stride, ::stride, ::stride],
                          kernel[0, 0, 0])
    b, d, h, w, c = x.shape
    pad = (1, 1) if stride == 1 else (0, 1)  # lax 'SAME' for kernel 3
    xp = jnp.pad(x, ((0, 0), pad, (0, 0), (0, 0), (0, 0)))
    d_out = -(-d // stride)
    taps = [xp[:, i:i + stride * (d_out - 1) + 1:stride] for i in range(3)]
    stack = jnp.concatenate(taps, -1).reshape(b * d_out, h, w, 3 * c)
    k2 = jnp.transpose(kernel, (1, 2, 0, 3, 4)).reshape(3, 3, 3 * c, kernel.shape[-1])
    y = jax.lax.conv_general_dilated(stack, k2.astype(x.dtype), (stride, stride), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y.reshape((b, d_out) + y.shape[1:])


class Conv3D(nnx.Module):
    """(B,D,H,W,Cin) -> (B,D',H',W',Cout): `conv3d` plus a bias."""

    def __init__(self, cin, cout, *, kernel=3, stride=1, zero=False, rngs):
        init = nnx.initializers.zeros if zero else nnx.initializers.lecun_normal()
        self.kernel = nnx.Param(init(rngs.params(), (kernel,) * 3 + (cin, cout)))
        self.bias = nnx.Param(jnp.zeros((cout,)))
        self.stride = stride

    def __call__(self, x):
        return conv3d(x, self.kernel[...], self.stride) + self.bias[...]


def _conv(cin, cout, *, kernel=3, stride=1, zero=False, rngs):
    return Conv3D(cin, cout, kernel=kernel, stride=stride, zero=zero, rngs=rngs)


class ResBlock3D(nnx.Module):
    """GroupNorm-SiLU-conv x2 (the second zero-initialised) + skip; (B,D,H,W,C)."""

    def __init__(self, cin, cout, *, rngs):
        self.norm1 = nnx.GroupNorm(cin, _groups(cin), rngs=rngs)
        self.conv1 = _conv(cin, cout, rngs=rngs)
        self.norm2 = nnx.GroupNorm(cout, _groups(cout), rngs=rngs)
        self.conv2 = _conv(cout, cout, zero=True, rngs=rngs)
        self.skip = _conv(cin, cout, kernel=1, rngs=rngs) if cin != cout else None

    def __call__(self, x):
        h = self.conv1(jax.nn.silu(self.norm1(x)))
        h = self.conv2(jax.nn.silu(self.norm2(h)))
        return (x if self.skip is None else self.skip(x)) + h


def upsample(x):
    """(B,D,H,W,C) -> (B,2D,2H,2W,C) nearest."""
    for axis in (1, 2, 3):
        x = jnp.repeat(x, 2, axis=axis)
    return x


class Encoder(nnx.Module):
    def __init__(self, config, *, rngs):
        chans = [config.channels * m for m in config.channel_mult]
        # A stride-2 stem keeps every wide convolution off the full-resolution grid (8x
        # fewer voxels): on a CPU the 32^3 level cost more than all the others together.
        self.conv_in = _conv(1, chans[0], stride=config.stem_stride, rngs=rngs)
        self.blocks, self.down = nnx.List(), nnx.List()
        cin = chans[0]
        for level, c in enumerate(chans):
            for _ in range(config.num_res_blocks):
                self.blocks.append(ResBlock3D(cin, c, rngs=rngs))
                cin = c
            if level < len(chans) - 1:
                self.down.append(_conv(c, c, stride=2, rngs=rngs))
        self.mid = ResBlock3D(cin, cin, rngs=rngs)
        self.norm_out = nnx.GroupNorm(cin, _groups(cin), rngs=rngs)
        self.conv_out = _conv(cin, config.latent_dim, rngs=rngs)
        self.per_level = config.num_res_blocks

    def __call__(self, x):
        h = self.conv_in(x)
        for i, block in enumerate(self.blocks):
            h = block(h)
            level = i // self.per_level
            if (i + 1) % self.per_level == 0 and level < len(self.down):
                h = self.down[level](h)
        return self.conv_out(jax.nn.silu(self.norm_out(self.mid(h))))


class Decoder(nnx.Module):
    def __init__(self, config, *, rngs):
        chans = [config.channels * m for m in config.channel_mult][::-1]
        self.conv_in = _conv(config.latent_dim, chans[0], rngs=rngs)
        self.mid = ResBlock3D(chans[0], chans[0], rngs=rngs)
        self.blocks, self.up = nnx.List(), nnx.List()
        cin = chans[0]
        for level, c in enumerate(chans):
            for _ in range(config.num_res_blocks):
                self.blocks.append(ResBlock3D(cin, c, rngs=rngs))
                cin = c
            if level < len(chans) - 1:
                self.up.append(_conv(c, c, rngs=rngs))
        self.norm_out = nnx.GroupNorm(cin, _groups(cin), rngs=rngs)
        # With a strided stem the head upsamples to full resolution, then a narrow conv
        # pair refines there (the surface's sub-latent detail).
        self.stem_stride = config.stem_stride
        head = max(cin // 2, 4)
        self.head = _conv(cin, head, rngs=rngs) if config.stem_stride > 1 else None
        self.conv_out = _conv(head if self.head is not None else cin, 1, rngs=rngs)
        self.per_level = config.num_res_blocks

    def __call__(self, z):
        h = self.mid(self.conv_in(z))
        for i, block in enumerate(self.blocks):
            h = block(h)
            level = i // self.per_level
            if (i + 1) % self.per_level == 0 and level < len(self.up):
                h = self.up[level](upsample(h))
        h = jax.nn.silu(self.norm_out(h))
        if self.head is not None:
            h = jax.nn.silu(self.head(upsample(h)))
        return self.conv_out(h)


class VQVAE(nnx.Module):
    """`config` fields: channels, channel_mult, num_res_blocks, latent_dim, codebook_size,
    stem_stride (1 or 2). Downsampling: stem_stride x 2^(len(channel_mult) - 1)."""

    def __init__(self, config, *, rngs):
        self.encoder = Encoder(config, rngs=rngs)
        self.decoder = Decoder(config, rngs=rngs)
        k = config.codebook_size
        self.codebook = nnx.Param(jax.random.uniform(
            rngs.params(), (k, config.latent_dim), minval=-1.0 / k, maxval=1.0 / k))


def quantize(codebook, z, beta=0.25):
    """Nearest-code quantisation with the straight-through estimator.

    codebook (K,D), z (...,D) -> (z_st (...,D) equal to the codes in value, gradient of
    the identity to z; aux dict(indices (...), codebook_loss, commitment_loss))."""
    flat = z.reshape(-1, z.shape[-1])
    d2 = (jnp.sum(flat ** 2, -1, keepdims=True) - 2 * flat @ codebook.T
          + jnp.sum(codebook ** 2, -1)[None])
    indices = jnp.argmin(d2, -1)
    codes = codebook[indices].reshape(z.shape)
    codebook_loss = jnp.mean((jax.lax.stop_gradient(z) - codes) ** 2)
    commitment = jnp.mean((z - jax.lax.stop_gradient(codes)) ** 2)
    z_st = z + jax.lax.stop_gradient(codes - z)
    return z_st, dict(indices=indices.reshape(z.shape[:-1]), codebook_loss=codebook_loss,
                      commitment_loss=beta * commitment)


def code_usage(indices, codebook_size):
    """(...) int code indices -> (K,) fraction of the latent vectors using each code."""
    counts = jnp.zeros((codebook_size,)).at[indices.reshape(-1)].add(1.0)
    return counts / indices.size


def reinit_dead_codes(codebook, usage, z, key, threshold):
    """Re-initialises codes whose EMA usage (K,) is below `threshold` (a fraction of the
    latent vectors) to random latent vectors of z (...,D) plus a little noise; their usage
    is reset to the threshold so they get a few steps to attract vectors. Returns
    (codebook, usage, number re-initialised)."""
    flat = jax.lax.stop_gradient(z.reshape(-1, z.shape[-1]))
    k_pick, k_noise = jax.random.split(key)
    picks = flat[jax.random.randint(k_pick, (codebook.shape[0],), 0, flat.shape[0])]
    picks = picks + 0.01 * jnp.std(flat) * jax.random.normal(k_noise, picks.shape)
    dead = usage < threshold
    codebook = jnp.where(dead[:, None], picks, codebook)
    usage = jnp.where(dead, threshold, usage)
    return codebook, usage, jnp.sum(dead)


class VQFns:
    """The pure functions of one VQ-VAE graphdef (hashable by identity, so jitted
    wrappers can be cached per model)."""

    def __init__(self, encode, decode, forward):
        self.encode, self.decode, self.forward = encode, decode, forward


def create_vqvae(config, key):
    """-> (graphdef, params pure dict)."""
    return init_module(lambda rngs: VQVAE(config, rngs=rngs), key)


def make_vqvae_fns(graphdef, beta=0.25):
    """Pure functions of a VQ-VAE graphdef: encode, quantize, decode, forward."""

    def model(params):
        return nnx.merge(graphdef, params)

    def encode(params, x):
        """(B,R,R,R) grid -> (B,r,r,r,D) pre-quantisation latent."""
        return model(params).encoder(x[..., None])

    def decode(params, z, quantize_first=True):
        """(B,r,r,r,D) latent -> (B,R,R,R) grid (quantised first unless told not to)."""
        if quantize_first:
            z, _ = quantize(params["codebook"], z, beta)
        return model(params).decoder(z)[..., 0]

    def forward(params, x):
        """(B,R,R,R) -> (reconstruction (B,R,R,R), aux with z and the quantiser's)."""
        m = model(params)
        z = m.encoder(x[..., None])
        z_q, aux = quantize(params["codebook"], z, beta)
        return m.decoder(z_q)[..., 0], dict(aux, z=z)

    return VQFns(encode, decode, forward)


"""Prompt conditioning: a byte tokenizer and a small transformer encoder.

Prompts are `"an image of a hand grasping a {category}"`; an unknown category gets the
null prompt "" (classifier-free guidance's unconditional branch), and training drops the
prompt to the null one with probability `PROMPT_DROPOUT`. Tokens are UTF-8 bytes (any
category word works, no vocabulary file) after a BOS token that is never masked, so the
null prompt still gives the cross-attention one key to attend to.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

MAX_TOKENS = 48  # BOS + up to 47 bytes; longer prompts are cut
PAD, BOS = 0, 1
VOCAB = 258  # PAD, BOS, bytes shifted by 2
PROMPT_DROPOUT = 0.2
NULL_PROMPT = ""


def prompt(category: str | None) -> str:
    """The text prompt for a category (None or "" -> the null prompt)."""
    return f"an image of a hand grasping a {category}" if category else NULL_PROMPT


def tokenize(texts) -> np.ndarray:
    """list of str (or one str) -> (B, MAX_TOKENS) int32: BOS, bytes + 2, then PAD."""
    single = isinstance(texts, str)
    texts = [texts] if single else list(texts)
    out = np.full((len(texts), MAX_TOKENS), PAD, np.int32)
    for i, text in enumerate(texts):
        codes = np.frombuffer(text.encode("utf-8"), np.uint8)[:MAX_TOKENS - 1]
        out[i, 0] = BOS
        out[i, 1:1 + len(codes)] = codes.astype(np.int32) + 2
    return out[0] if single else out


def category_tokens(categories) -> np.ndarray:
    """(C+1, MAX_TOKENS): the prompt of each category, then the null prompt (last row), so
    a category index `len(categories)` means "unknown"."""
    return tokenize([prompt(c) for c in categories] + [NULL_PROMPT])


def drop_prompts(key, tokens, rate=PROMPT_DROPOUT):
    """(B, L) tokens with each row replaced by the null prompt with probability `rate`."""
    null = jnp.asarray(tokenize(NULL_PROMPT))
    drop = jax.random.bernoulli(key, rate, tokens.shape[:1])
    return jnp.where(drop[:, None], null[None], tokens)


def attention(q, k, v, mask=None):
    """Scaled dot-product attention. q (B,N,H,D), k v (B,M,H,D), mask (B,M) bool -> (B,N,H,D).

    Softmax in float32 whatever the input dtype."""
    logits = jnp.einsum("bnhd,bmhd->bhnm", q, k).astype(jnp.float32) / np.sqrt(q.shape[-1])
    if mask is not None:
        logits = jnp.where(mask[:, None, None, :], logits, -1e9)
    weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
    return jnp.einsum("bhnm,bmhd->bnhd", weights, v)


class MultiHeadAttention(nnx.Module):
    """Attention of (B,N,C) queries over (B,M,Ck) context; output projection zero-initialised
    when `zero_out` (residual branches start as the identity)."""

    def __init__(self, channels, context_channels, num_heads, *, zero_out=False, dtype=None,
                 rngs):
        self.num_heads = num_heads
        self.q = nnx.Linear(channels, channels, use_bias=False, dtype=dtype, rngs=rngs)
        self.kv = nnx.Linear(context_channels, 2 * channels, use_bias=False, dtype=dtype,
                             rngs=rngs)
        init = nnx.initializers.zeros if zero_out else nnx.initializers.lecun_normal()
        self.out = nnx.Linear(channels, channels, kernel_init=init, dtype=dtype, rngs=rngs)

    def __call__(self, x, context, mask=None):
        b, n, c = x.shape
        h = self.num_heads
        q = self.q(x).reshape(b, n, h, c // h)
        k, v = jnp.split(self.kv(context), 2, axis=-1)
        k = k.reshape(b, context.shape[1], h, c // h)
        v = v.reshape(b, context.shape[1], h, c // h)
        return self.out(attention(q, k, v, mask).reshape(b, n, c))


class TransformerLayer(nnx.Module):
    def __init__(self, width, num_heads, *, dtype=None, rngs):
        self.norm1 = nnx.LayerNorm(width, dtype=dtype, rngs=rngs)
        self.attn = MultiHeadAttention(width, width, num_heads, dtype=dtype, rngs=rngs)
        self.norm2 = nnx.LayerNorm(width, dtype=dtype, rngs=rngs)
        self.mlp1 = nnx.Linear(width, 4 * width, dtype=dtype, rngs=rngs)
        self.mlp2 = nnx.Linear(4 * width, width, dtype=dtype, rngs=rngs)

    def __call__(self, x, mask):
        y = self.norm1(x)
        x = x + self.attn(y, y, mask)
        return x + self.mlp2(jax.nn.gelu(self.mlp1(self.norm2(x))))


class TextEncoder(nnx.Module):
    """(B, MAX_TOKENS) int tokens -> (B, MAX_TOKENS, width) features and (B, MAX_TOKENS)
    bool mask (True = a real token)."""

    def __init__(self, width=64, depth=2, num_heads=4, *, dtype=None, rngs):
        self.embed = nnx.Embed(VOCAB, width, dtype=dtype, rngs=rngs)
        self.position = nnx.Param(0.02 * jax.random.normal(rngs.params(), (MAX_TOKENS, width)))
        self.layers = nnx.List([TransformerLayer(width, num_heads, dtype=dtype, rngs=rngs)
                                for _ in range(depth)])
        self.norm = nnx.LayerNorm(width, dtype=dtype, rngs=rngs)

    def __call__(self, tokens):
        mask = tokens != PAD
        x = self.embed(tokens) + self.position[...].astype(self.embed.dtype or jnp.float32)
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x), mask

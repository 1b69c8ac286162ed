"""Attention arrays and tokens for tests: softmax rows that differ per seed."""

import numpy as np

UINT8_BOUND = 1 / 510 + 1e-6  # the abs bound of uint8 and of log16 (the default), plus float32 rounding


def softmax_attention(shape, seed=0, sharpness=3.0):
    """Random softmax rows of any shape `[..., q, k]`, float32."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=shape).astype(np.float32) * sharpness
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def attention(seed=0, layers=2, heads=3, n=5):
    """A softmax attention `[layers, heads, n, n]` that differs per seed."""
    return softmax_attention((layers, heads, n, n), seed=seed)


def peaky_attention(layers, heads, n, seed, sharpness=6.0):
    """Peaky softmax attention [layers, heads, n, n]: a few visible lines per row, as in real heads."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((layers, heads, n, n)).astype(np.float32) * sharpness / 2
    idx = np.arange(n)
    for h in range(heads):  # some structure: every head also looks at a fixed offset
        logits[:, h, idx, (idx + h - heads // 2) % n] += sharpness
    logits -= logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=-1, keepdims=True)


def tokens_for(n):
    """`[CLS] w0 ... [SEP]`: n tokens."""
    return ["[CLS]"] + ["w%d" % i for i in range(n - 2)] + ["[SEP]"]

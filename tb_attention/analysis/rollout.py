"""Attention rollout across layers (Abnar & Zuidema 2020, "Quantifying Attention Flow in
Transformers"): each layer's heads averaged and the residual connection added as an identity,
0.5 A + 0.5 I with rows renormalised, multiplied layer by layer. docs/patterns.md has the details.
"""

import math
import numbers

import numpy as np

from tb_attention.inputs.attention import parse_attention
from tb_attention.inputs.checks import check_kept_rows, row_namer

RESIDUAL = 0.5  # the paper's weight of the identity (the residual stream)


def parse_residual(residual):
    if isinstance(residual, bool) or not isinstance(residual, numbers.Real) or not 0 <= residual <= 1:
        raise ValueError("residual must be a number in [0, 1] (the identity's weight), got %r" % (residual,))
    return float(residual)


def augmented(layer, residual=RESIDUAL):
    """float64 `[q, q]`: (1 - residual) x mean over heads of `layer` [heads, q, q] + residual x I,
    rows renormalised (stored rows that lost weight to quantisation or sparsity sum to 1 again)."""
    heads, q, k = layer.shape
    if q != k:
        raise ValueError("attention rollout needs self-attention (as many keys as queries); got [%d, %d]" % (q, k))
    a = np.mean(layer, axis=0, dtype=np.float64)
    a *= 1.0 - residual
    a[np.diag_indices(q)] += residual
    sums = a.sum(axis=-1, keepdims=True)
    # An all-zero row (only with residual=0, e.g. a sparse row that kept nothing) stays zero.
    np.divide(a, sums, out=a, where=sums > 0)
    return a


class Rollout:
    """Rollout built one layer at a time (`add(layer)` with `[heads, q, q]`), so a stored record
    never has to be read whole; `layers` holds float32 `[q, q]` rollout up to each layer."""

    def __init__(self, residual=RESIDUAL):
        self.residual = parse_residual(residual)
        self.joint = None
        self.layers = []
        self.augmented = []

    def add(self, layer):
        """Add the next layer, `[heads, q, q]`."""
        return self.add_mean(np.mean(np.asarray(layer, dtype=np.float32), axis=0, dtype=np.float64))

    def add_mean(self, mean):
        """Add the next layer as its mean over heads, `[q, q]` (e.g. summed a block of heads at a time)."""
        a = augmented(np.asarray(mean)[None], self.residual)
        if self.joint is not None and self.joint.shape != a.shape:
            raise ValueError("layer %d is %s, earlier layers %s" % (len(self.layers), a.shape, self.joint.shape))
        # Input tokens on the right: row i of joint is position i's mix of input tokens.
        self.joint = a if self.joint is None else a @ self.joint
        self.augmented.append(a)
        self.layers.append(self.joint.astype(np.float32))
        return self

    def result(self):
        """float32 `[layers, q, q]`."""
        return np.stack(self.layers)


def _query_count(attention):
    first = attention[0] if isinstance(attention, (tuple, list)) and attention else attention
    shape = getattr(first, "shape", None)
    if shape is None:
        shape = np.shape(first)
    if len(shape) < 2:
        raise ValueError("attention must be [layers, heads, q, k] or Hugging Face outputs.attentions")
    return int(shape[-2])


def self_attention_layers(attention, example=0, attention_mask=None, strict=True):
    """(float32 `[heads, q, q]` per layer, validated as `add_attention` validates them) of any form
    `add_attention` takes (Hugging Face `outputs.attentions`, `[L, H, q, k]`, `[L, B, H, q, k]`).
    `strict=False` takes rows that sum to less than 1 (a sparse record's kept weights)."""
    q = _query_count(attention)
    placeholders = ["t%d" % i for i in range(q)]  # rollout needs no tokens; parse_attention() wants some
    part = parse_attention(attention, placeholders, attention_mask=attention_mask, example=example, max_tokens=math.inf)
    layers = []
    for index in range(part.shape[0]):
        if strict:
            part.check_layer(index, None, row_namer(index))
        layer = part.float_layer(index)
        if not strict:
            check_kept_rows(layer, index)
        layers.append(layer)
    return layers


def attention_rollout(attentions, *, example=0, attention_mask=None, residual=RESIDUAL, strict=True):
    """Attention rollout up to each layer: float32 `[layers, q, q]`, where `[l, i, j]` is how much
    position i after layer l draws on input token j (rows sum to 1).

    `attentions`: any form `add_attention` takes (Hugging Face `outputs.attentions`, arrays or
    tensors `[L, H, q, q]` / `[L, B, H, q, q]`), self-attention only; `example` picks the batch row
    and `attention_mask` drops padding, as there. Each layer's heads are averaged and the residual
    added: (1 - residual) A + residual I with rows renormalised (Abnar & Zuidema 2020 use 0.5;
    residual=0 is their "raw attention" product). Rows must sum to 1 unless `strict=False`, which
    takes the rows of a sparse record as read back (`record.attention`: the dropped keys are 0;
    renormalised here). Raises ValueError/TypeError for bad input."""
    rollout = Rollout(residual)
    for layer in self_attention_layers(attentions, example, attention_mask, strict):
        rollout.add(layer)
    return rollout.result()

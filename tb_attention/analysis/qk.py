"""Attention rebuilt from a head's stored queries and keys (docs/format.md, "Queries and keys"):
softmax(q·k·scaling, soft-capped, + the mask), the bound within which it must equal the stored
attention, and what each dimension of the vectors contributes to a query's scores (bertviz's
neuron view, for any model whose queries and keys the record keeps; and how that changed between
two steps).

The bound: a float16 value is within UNIT of its float32 (relative; subnormals within
SUBNORMAL_ERROR), so a stored dot product q·k is within `S·(2·UNIT + ...)` of the model's, where
`S = Σ_c |q_c k_c|`; a score error of at most Δ on every key of a row changes each softmax weight
by a factor within `exp(±2Δ)`. Add the float32 softmax's rounding, the model dtype's rounding of
scores and weights, and the stored attention's own precision bound."""

import numpy as np

from tb_attention.format import precision as precisions
from tb_attention.format import qk as qk_format
from tb_attention.format.masking import hidden_keys

FLOAT32_UNIT = 2.0**-24
# Unit roundoff of the model's dtype beyond float32 (scores and weights rounded to it).
MODEL_UNIT = {None: 0.0, "float32": 0.0, "bfloat16": 2.0**-8, "float16": 2.0**-11}


def mask_of(part, layer):
    """Bool `[queries, keys]` of what the mask of stored layer `layer` hides (records.Part)."""
    window = (part.windows or [None] * part.shape[0])[layer]
    return hidden_keys(part.causal, window, (0, part.shape[2]), (0, part.shape[3]))


def head_scores(queries, keys, scaling, softcap=None, hidden=None):
    """(dots, logits, weights), float32 `[heads, rows, keys]` of float32 queries `[heads, rows, d]`
    and keys `[heads, keys, d]`: q·k, the scores the softmax takes (q·k·scaling, soft-capped,
    -inf where `hidden` [rows, keys] says the mask hides the key) and the softmax (0 for a row
    that sees no key). Computed in float64."""
    dots = np.einsum("hrd,hkd->hrk", queries.astype(np.float64), keys.astype(np.float64))
    logits = dots * scaling
    if softcap is not None:
        logits = np.tanh(logits / softcap) * softcap
    if hidden is not None:
        logits = np.where(hidden[None], -np.inf, logits)
    top = logits.max(axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    weights = np.exp(logits - top)
    total = weights.sum(axis=-1, keepdims=True)
    weights = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
    return dots.astype(np.float32), logits.astype(np.float32), weights.astype(np.float32)


def tolerance(queries, keys, scaling, weights, logits, attention_precision, dtype=None, exponents=(0, 0)):
    """Float32 `[heads, rows, keys]`: how far the stored attention may be from `weights` (the
    softmax rebuilt from the stored float16 vectors, `head_scores`) and still be the same
    attention, given the stored precisions and the model's dtype (docs/format.md)."""
    q = np.abs(queries.astype(np.float64))
    k = np.abs(keys.astype(np.float64))
    d = q.shape[-1]
    e_q, e_k = (qk_format.SUBNORMAL_ERROR * 2.0**e for e in exponents)
    unit = MODEL_UNIT[dtype]
    sums = np.einsum("hrd,hkd->hrk", q, k)  # S = Σ|q_c k_c|
    stored = sums * (2.01 * qk_format.UNIT + (d + 2) * FLOAT32_UNIT)
    stored += e_q * k.sum(-1)[:, None, :] + e_k * q.sum(-1)[:, :, None] + d * e_q * e_k
    dots = np.einsum("hrd,hkd->hrk", queries.astype(np.float64), keys.astype(np.float64))
    delta = scaling * stored
    delta += unit * (np.abs(dots) * scaling + delta)  # the model rounded its scores to its dtype
    finite = np.isfinite(logits)
    row_delta = np.where(finite, delta, 0.0).max(axis=-1, keepdims=True)
    seen = finite.sum(axis=-1, keepdims=True)
    largest = np.where(finite, np.abs(logits), 0.0).max(axis=-1, keepdims=True)
    rounding = unit + (seen + 3 + 2 * largest) * FLOAT32_UNIT  # float32 softmax, weights in the dtype
    bound = weights * np.expm1(2 * row_delta + rounding)
    return (bound + precisions.error_bound(attention_precision) + FLOAT32_UNIT).astype(np.float32)


def dimension_terms(query, keys, scaling):
    """Float32 `[keys, d]`: each dimension's term of each key's scaled score, scaling·q_c·k_c (they
    sum to q·k·scaling, before any soft-cap): bertviz's q∘k, scaled."""
    return (np.float64(scaling) * query.astype(np.float64)[None, :] * keys.astype(np.float64)).astype(np.float32)


def contributions(terms, weights):
    """Float32 `[d]`: each dimension's share of the attention-weighted mean score of the query,
    Σ_j weight_j · term_jc (dimensions that make the head attend where it does stand out)."""
    return (weights.astype(np.float64) @ terms.astype(np.float64)).astype(np.float32)


def dimension_change(terms_a, terms_b, visible):
    """Float32 `[d]`: how much each dimension's terms changed between two steps, the root mean
    square over the keys the query sees of (term at B - term at A)."""
    diff = (terms_b.astype(np.float64) - terms_a.astype(np.float64))[visible]
    if not diff.size:
        return np.zeros(terms_a.shape[1], dtype=np.float32)
    return np.sqrt((diff**2).mean(axis=0)).astype(np.float32)


def layer_terms(part, layer):
    """(scaling, softcap) of stored layer `layer` of a part (records.Part) that keeps its vectors."""
    field = part.qk
    i = field["layers"].index(layer)
    softcap = field.get("softcap")
    return field["scaling"][i], None if softcap is None else softcap[i]


def rebuilt(stored, layer, heads=None):
    """(dots, logits, weights, tolerance) of the heads (default: those with vectors) of stored
    layer `layer` of a StoredPart, rebuilt from its stored queries and keys (`head_scores`,
    `tolerance`): float32 `[heads, queries, keys]`."""
    queries, keys = stored.qk(layer, heads)
    part = stored.part
    scaling, softcap = layer_terms(part, layer)
    dots, logits, weights = head_scores(queries, keys, scaling, softcap, mask_of(part, layer))
    exponents = part.qk["exponents"][part.qk["layers"].index(layer)]
    bound = tolerance(queries, keys, scaling, weights, logits, part.precision, part.qk.get("dtype"), exponents)
    return dots, logits, weights, bound

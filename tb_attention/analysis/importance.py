"""Head importance as the panel and the labels read it: normalised per layer by the l2 norm (as
Michel et al. 2019 do before ranking heads across layers), ranked, and matched to the layers
and heads an attention record stores. The raw values (the expected absolute gradient) are what
a record stores; everything here is derived from them."""

import numpy as np

# The metric name of normalised importance beside the pattern scores (docs/patterns.md), and the
# label a head gets when its normalised importance is above IMPORTANT_THRESHOLD: more than a
# quarter of its layer's squared importance (a layer of H equally important heads gives each
# 1/sqrt(H): 0.29 for 12 heads, 0.18 for 32).
METRIC = "importance"
IMPORTANT_THRESHOLD = 0.5


def normalize(values):
    """Float32 `[layers, heads]`: each layer's importance divided by its l2 norm (a layer whose
    importance is all 0 stays 0)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError("importance must be [layers, heads], got shape %s" % (values.shape,))
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    return np.divide(values, norms, out=np.zeros_like(values), where=norms > 0).astype(np.float32)


def ranking(normalized):
    """Flat indices (layer * heads + head) from the most to the least important head; ties keep
    the lower index first."""
    flat = np.asarray(normalized, dtype=np.float64).ravel()
    return np.argsort(-flat, kind="stable")


def for_part(values, rows, kind, layer_ids=None, head_ids=None):
    """The rows of `values` ([layers, heads], one row per `rows` entry; `rows` None: every row a
    self-attention layer) of attention `kind`, restricted to a record's stored `layer_ids` /
    `head_ids` (None: all); None when the record's layers or heads are not all there."""
    values = np.asarray(values)
    if rows is None:
        picked = values if kind in (None, "self") else None
    else:
        by_layer = {layer: i for i, (k, layer) in enumerate(rows) if k == kind}
        picked = values[[by_layer[layer] for layer in sorted(by_layer)]] if by_layer else None
    if picked is None:
        return None
    layers, heads = picked.shape
    layer_ids = range(layers) if layer_ids is None else layer_ids
    head_ids = range(heads) if head_ids is None else head_ids
    if any(i >= layers for i in layer_ids) or any(h >= heads for h in head_ids):
        return None
    return picked[np.ix_(list(layer_ids), list(head_ids))]

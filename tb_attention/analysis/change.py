"""How much a head changed between two records of the same input."""

import math

import numpy as np

from tb_attention.analysis.reductions import row_reductions


def head_change(a, b):
    """Jensen-Shannon divergence (nats, in [0, ln 2]) between the attention rows of the same head
    in two records of the same input, averaged over query rows: float32 `[layers, heads]`."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 4 or a.shape != b.shape:
        raise ValueError(
            "head_change needs two attention arrays [layers, heads, q, k] of the same shape, "
            "got %s and %s" % (a.shape, b.shape)
        )
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    mixture = np.add(a, b)
    mixture *= 0.5
    # JS(P, Q) = H(M) - (H(P) + H(Q)) / 2 with M = (P + Q) / 2; entropies use 0 ln 0 = 0, so
    # disjoint rows give ln 2 and identical rows give exactly 0 (M is then bit-identical to P).
    js = row_reductions(mixture)[0] - 0.5 * (row_reductions(a)[0] + row_reductions(b)[0])
    np.clip(js, 0.0, math.log(2.0), out=js)
    return js.mean(axis=-1, dtype=np.float64).astype(np.float32)

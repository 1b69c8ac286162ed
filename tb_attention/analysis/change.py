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


def kept_keys(blocks):
    """(counts `[heads, q]`, key indices, weights) of a whole sparse layer, from the per-block
    tuples of `read_attention(...).sparse_layer(i)` (blocks in head order)."""
    return tuple(np.concatenate([block[i] for block in blocks]) for i in (1, 3, 4))


def sparse_head_change(a, b, q, k):
    """`head_change` of two sparse records of one layer without densifying them: float32 `[heads]`.

    `a` and `b` are (counts `[heads, q]`, key indices, weights) as stored (`kept_keys`), rows in order and
    indices ascending within each row. Keys a record dropped weigh 0, as in the dense form.
    Per row, JS = ln 2 / 2 (mass of P + mass of Q) + 1/2 sum over keys both kept of
    p ln(p / (p + q)) + q ln(q / (p + q)): a key only one side kept adds its weight times ln 2 / 2.
    """
    (counts_a, idx_a, w_a), (counts_b, idx_b, w_b) = a, b
    counts_a, counts_b = np.asarray(counts_a), np.asarray(counts_b)
    if counts_a.shape != counts_b.shape or counts_a.ndim != 2 or counts_a.shape[1] != q:
        raise ValueError(
            "sparse_head_change needs counts [heads, %d] of the same shape, got %s and %s"
            % (q, counts_a.shape, counts_b.shape)
        )
    heads = counts_a.shape[0]
    rows = heads * q

    # A kept weight's key is row * k + index, ascending; int32 where it fits (searched faster).
    key_dtype = np.int32 if rows * k < 2**31 else np.int64

    def keyed(counts, indices, weights):
        row = np.repeat(np.arange(rows, dtype=key_dtype), counts.ravel().astype(np.int64))
        return row * key_dtype(k) + np.asarray(indices, dtype=key_dtype), row, np.asarray(weights, dtype=np.float64)

    key_a, row_a, p = keyed(counts_a, idx_a, w_a)
    key_b, row_b, w = keyed(counts_b, idx_b, w_b)
    js = 0.5 * math.log(2.0) * (np.bincount(row_a, p, minlength=rows) + np.bincount(row_b, w, minlength=rows))
    if key_a.size and key_b.size:
        at = np.minimum(np.searchsorted(key_b, key_a), key_b.size - 1)
        both = key_b[at] == key_a
        ps, qs = p[both], w[at[both]]
        s = ps + qs
        with np.errstate(divide="ignore", invalid="ignore"):
            # 0 ln 0 = 0: a weight quantised to 0 adds nothing.
            shared = ps * np.log(np.where(ps > 0, ps / s, 1.0)) + qs * np.log(np.where(qs > 0, qs / s, 1.0))
        js += np.bincount(row_a[both], 0.5 * shared, minlength=rows)
    np.clip(js, 0.0, math.log(2.0), out=js)
    return js.reshape(heads, q).mean(axis=1).astype(np.float32)

"""Per-row passes over attention that several scores share: entropy, max weight, column sums,
and sums of weights over boolean masks of (query, key) pairs."""

import numpy as np

# Row blocks of about this many bytes stay in the L2 cache while several reductions run over them.
_BLOCK_BYTES = 1 << 18
# Above this many weights, heads are split across threads (numpy releases the GIL in its loops).
_THREAD_MIN_WEIGHTS = 1 << 22
_MAX_THREADS = 4


def pair_scores(flat, shape, masks):
    """Per mask name: mean over queries with at least one target of sum_{j: mask[i, j]} a_ij
    (NaN when no query has a target). `flat` is the attention as [layers * heads, q * k];
    each mask a boolean [q, k]."""
    layers, heads, q, k = shape
    names = list(masks)
    stacked = np.stack([masks[n].ravel() for n in names])  # [metrics, q * k]
    union = np.flatnonzero(stacked.any(axis=0))
    if 4 * union.size < q * k:
        # Sparse (the usual case): gather the weights of every pair once (np.take is much faster
        # than fancy indexing here), then sum each metric's pairs with one small product.
        totals = np.take(flat, union, axis=1) @ stacked[:, union].T.astype(np.float32)
    else:
        # Dense (e.g. one token repeated throughout): one pass of a matrix product.
        totals = flat @ stacked.T.astype(np.float32)
    out = {}
    for c, name in enumerate(names):
        valid = int(np.count_nonzero(masks[name].any(axis=1)))
        if valid:
            out[name] = (totals[:, c] / valid).astype(np.float32).reshape(layers, heads)
        else:
            out[name] = np.full((layers, heads), np.nan, dtype=np.float32)
    return out


def _head_reductions(rows, entropy, maximum, column_sums, heads):
    """For heads `heads` of `rows` [heads, q, k]: per-row entropy and max, per-head column sums."""
    q, k = rows.shape[1:]
    block = max(1, min(q, _BLOCK_BYTES // (4 * k)))
    buf = np.empty((block, k), dtype=np.float32)
    tiny = np.finfo(np.float32).tiny
    for h in heads:
        column_sums[h] = 0.0
        for start in range(0, q, block):
            r = rows[h, start : start + block]
            b = buf[: r.shape[0]]
            maximum[h, start : start + block] = r.max(axis=1)
            column_sums[h] += r.sum(axis=0)  # float32 per block, float64 across blocks
            # -a ln a with 0 ln 0 = 0: ln(a + tiny) is finite, equals ln a for every normal a
            # (tiny is below half an ulp), and 0 times it is 0.
            np.add(r, tiny, out=b)
            np.log(b, out=b)
            entropy[h, start : start + block] = -np.einsum("ij,ij->i", b, r)


def row_reductions(attention):
    """(entropy [L, H, q] nats, max weight [L, H, q], column sums [L, H, k] float64), one pass."""
    layers, heads, q, k = attention.shape
    rows = attention.reshape(layers * heads, q, k)
    if rows.dtype != np.float32:
        rows = rows.astype(np.float32)
    entropy = np.empty((layers * heads, q), dtype=np.float32)
    maximum = np.empty((layers * heads, q), dtype=np.float32)
    column_sums = np.empty((layers * heads, k), dtype=np.float64)
    parts = 1
    if rows.size >= _THREAD_MIN_WEIGHTS:
        import os

        parts = max(1, min(_MAX_THREADS, os.cpu_count() or 1, layers * heads))
    chunks = [c for c in np.array_split(np.arange(layers * heads), parts) if c.size]
    if len(chunks) == 1:
        _head_reductions(rows, entropy, maximum, column_sums, chunks[0])
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(chunks)) as pool:
            list(pool.map(lambda c: _head_reductions(rows, entropy, maximum, column_sums, c), chunks))
    return (
        entropy.reshape(layers, heads, q),
        maximum.reshape(layers, heads, q),
        column_sums.reshape(layers, heads, k),
    )

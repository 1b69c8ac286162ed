"""Per-row passes over attention (numpy, optionally threaded) that several scores share: entropy,
max weight, column sums and the block sums the span needs; and the causal check of a row block."""

import numpy as np

from tb_attention.analysis.span import GROUP

# Row blocks of about this many bytes stay in the L2 cache while several reductions run over them.
_BLOCK_BYTES = 1 << 18
# Above this many weights, heads are split across threads (numpy releases the GIL in its loops).
_THREAD_MIN_WEIGHTS = 1 << 22
_MAX_THREADS = 4
_OFFSETS = np.arange(GROUP, dtype=np.float32)


def _group_sums(r, sums, moments):
    """Into sums / moments [rows, ceil(k / GROUP)]: each row's sum over every block of GROUP keys
    (the sink, key 0, left out) and sum_j a_j (j - block start) within each block."""
    k = r.shape[1]
    full = k // GROUP
    if full:
        # einsum, not a matrix-vector product: BLAS would wake its threads for every chunk, and
        # on a busy machine waiting for them costs more than the sums.
        blocks = r[:, : full * GROUP].reshape(r.shape[0], full, GROUP)  # a view
        np.einsum("rbg->rb", blocks, out=sums[:, :full])
        np.einsum("rbg,g->rb", blocks, _OFFSETS, out=moments[:, :full])
    if k > full * GROUP:
        tail = r[:, full * GROUP :]
        sums[:, full] = tail.sum(axis=1)
        moments[:, full] = np.einsum("rg,g->r", tail, _OFFSETS[: tail.shape[1]])
    sums[:, 0] = r[:, 1 : min(GROUP, k)].sum(axis=1)


def _head_reductions(rows, out, heads):
    """For heads `heads` of `rows` [heads, q, k]: per-row entropy and max, per-head column sums
    (and, if `out` has them, per-row block sums and moments)."""
    q, k = rows.shape[1:]
    block = max(1, min(q, _BLOCK_BYTES // (4 * k)))
    buf = np.empty((block, k), dtype=np.float32)
    tiny = np.finfo(np.float32).tiny
    entropy, maximum, column_sums = out["entropy"], out["maximum"], out["column_sums"]
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
            if "sums" in out:
                _group_sums(r, out["sums"][h, start : start + block], out["moments"][h, start : start + block])


def row_reductions(attention, threads=None, groups=False):
    """(entropy [L, H, q] nats, max weight [L, H, q], column sums [L, H, k] float64), one pass;
    with `groups`, also each row's block sums and moments [L, H, q, ceil(k / GROUP)] (span.py).

    Large inputs are split across up to `threads` threads (default: up to 4, by the CPUs)."""
    layers, heads, q, k = attention.shape
    rows = attention.reshape(layers * heads, q, k)
    if rows.dtype != np.float32:
        rows = rows.astype(np.float32)
    out = {
        "entropy": np.empty((layers * heads, q), dtype=np.float32),
        "maximum": np.empty((layers * heads, q), dtype=np.float32),
        "column_sums": np.empty((layers * heads, k), dtype=np.float64),
    }
    if groups:
        out["sums"] = np.empty((layers * heads, q, -(-k // GROUP)), dtype=np.float32)
        out["moments"] = np.empty_like(out["sums"])
    parts = 1
    if rows.size >= _THREAD_MIN_WEIGHTS:
        import os

        parts = max(1, min(threads or _MAX_THREADS, os.cpu_count() or 1, layers * heads))
    chunks = [c for c in np.array_split(np.arange(layers * heads), parts) if c.size]
    if len(chunks) == 1:
        _head_reductions(rows, out, chunks[0])
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(chunks)) as pool:
            list(pool.map(lambda c: _head_reductions(rows, out, c), chunks))
    shaped = [out[name].reshape((layers, heads) + out[name].shape[1:]) for name in out]
    return tuple(shaped)


def upper_nonzero(block, row_start=0, rows=64):
    """Whether any weight of `block` [heads, rows, k] (query rows row_start onwards) lies above
    the diagonal, key j > query i, and is non-zero (numpy); a causal mask leaves them exactly 0.
    Per block of rows: the keys right of the block (a view, no copy), then the block's own
    diagonal square; the scan stops at the first non-zero."""
    n, k = block.shape[1:]
    for start in range(0, n, rows):
        end = min(n, start + rows)
        first, last = row_start + start, row_start + end  # the global rows of this piece
        if last < k and block[:, start:end, last:].any():
            return True
        if np.triu(block[:, start:end, first:last], 1).any():
            return True
    return False

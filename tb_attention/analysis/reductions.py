"""Per-row passes over attention (numpy, optionally threaded) that several scores share: entropy,
max weight, column sums and the sums the span needs; and the causal check of a row block."""

import numpy as np

from tb_attention.analysis.span import GROUP

# Row blocks of about this many bytes stay in the L2 cache while several reductions run over them.
_BLOCK_BYTES = 1 << 18
# Above this many weights, heads are split across threads (numpy releases the GIL in its loops).
_THREAD_MIN_WEIGHTS = 1 << 22
_MAX_THREADS = 4
# The span's distance sums accumulate in float32 over at most this many keys, then in float64.
_SEGMENT = 4096


class _SpanSums:
    """Per row of a block whose first row is query `row_start` (span.py): the sums over blocks of
    GROUP keys, the sink (key 0) left out, and sum_{j >= 1} a_j |i - j|. |i - j| is read from one
    vector of |t| (a Toeplitz view), so no rows x keys distance array is made."""

    def __init__(self, rows, keys, row_start):
        self.rows, self.keys = rows, keys
        # u[t] = |j - i| for t = j - (i - row_start) + rows - 1.
        self.u = np.abs(np.arange(keys + rows - 1) - (rows - 1) - row_start).astype(np.float32)
        self._views = {}

    def _distances(self, start, count, first, size, segments=1):
        """|i - j| for rows start..start+count, keys first..first+size*segments, as a read-only
        [count, segments, size] view (rows step -1 through u); made once per row offset."""
        key = (start, count, first)
        if key not in self._views:
            t0 = self.rows - 1 - start + first  # t0 - count + 1 >= first >= 1, and the last
            # index t0 + segments * size - 1 < len(u): the view stays inside u
            self._views[key] = np.lib.stride_tricks.as_strided(
                self.u[t0:], (count, segments, size), (-4, 4 * size, 4), writeable=False
            )
        return self._views[key]

    def __call__(self, r, start, sums, distance):
        count, k = r.shape
        full = k // GROUP
        if full:  # einsum, not BLAS: its threads would be woken for every chunk of rows
            np.einsum("rbg->rb", r[:, : full * GROUP].reshape(count, full, GROUP), out=sums[:, :full])
        if k > full * GROUP:
            sums[:, full] = r[:, full * GROUP :].sum(axis=1)
        sums[:, 0] = r[:, 1 : min(GROUP, k)].sum(axis=1)
        # float32 products summed over _SEGMENT keys at a time, the segments in float64.
        segments = (k - 1) // _SEGMENT
        distance[:] = 0.0
        if segments:
            x = r[:, 1 : 1 + segments * _SEGMENT].reshape(count, segments, _SEGMENT)
            d = self._distances(start, count, 1, _SEGMENT, segments)
            distance += np.einsum("rsc,rsc->rs", x, d).sum(axis=1, dtype=np.float64)
        first = 1 + segments * _SEGMENT
        if first < k:
            d = self._distances(start, count, first, k - first)[:, 0]
            distance += np.einsum("rc,rc->r", r[:, first:], d)


def _head_reductions(rows, out, heads):
    """For heads `heads` of `rows` [heads, q, k]: per-row entropy and max, per-head column sums
    (and, if `out` has them, per-row span sums)."""
    q, k = rows.shape[1:]
    block = max(1, min(q, _BLOCK_BYTES // (4 * k)))
    buf = np.empty((block, k), dtype=np.float32)
    tiny = np.finfo(np.float32).tiny
    entropy, maximum, column_sums = out["entropy"], out["maximum"], out["column_sums"]
    span_sums = out.get("span")
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
            if span_sums is not None:
                where = (h, slice(start, start + block))
                span_sums(r, start, out["sums"][where], out["distance"][where])


def row_reductions(attention, threads=None, span_from=None):
    """(entropy [L, H, q] nats, max weight [L, H, q], column sums [L, H, k] float64), one pass;
    with `span_from` (the query index of the first row), also each row's block sums [L, H, q,
    ceil(k / GROUP)] and distance sums [L, H, q] (span.py).

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
    if span_from is not None:
        out["sums"] = np.empty((layers * heads, q, -(-k // GROUP)), dtype=np.float32)
        out["distance"] = np.empty((layers * heads, q), dtype=np.float64)
        out["span"] = _SpanSums(q, k, span_from)
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
    out.pop("span", None)
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

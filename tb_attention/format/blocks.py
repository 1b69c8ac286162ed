"""What a v2 payload chunk holds (docs/format.md): a block of heads of one layer, dense, in the
record's precision; or a layer's thumbnails, max-pooled. Pure numpy, shared by writer and readers."""

import numpy as np

from tb_attention.format import precision as precisions
from tb_attention.format.errors import FormatError

BLOCK_BYTES = 16 << 20  # a dense block holds at most this much, so a reader fetches one at a time
THUMBNAIL = 64  # thumbnails are at most THUMBNAIL x THUMBNAIL per head
THUMBNAIL_DTYPE = np.dtype("<f2")  # exact enough for every colour scale the panel offers


def heads_per_block(heads, q, k, precision):
    """How many heads one dense block holds (at least one)."""
    per_head = q * k * precisions.dtype(precision).itemsize
    return max(1, min(heads, BLOCK_BYTES // max(1, per_head)))


def block_ranges(heads, head_block):
    """[(first head, end head)] of each block of a layer."""
    return [(h, min(heads, h + head_block)) for h in range(0, heads, head_block)]


def encode_dense(weights, precision):
    """Raw bytes of float weights `[heads, q, k]` in the stored precision."""
    return precisions.pack(precisions.quantize(weights, precision), precision)


def dense_nbytes(heads, q, k, precision):
    return heads * q * k * precisions.dtype(precision).itemsize


def stored_dense(raw, heads, q, k, precision):
    """`[heads, q, k]` of a dense block's raw bytes, as stored (the precision's dtype)."""
    if len(raw) != dense_nbytes(heads, q, k, precision):
        raise FormatError(
            "attention block holds %d bytes, expected %d" % (len(raw), dense_nbytes(heads, q, k, precision))
        )
    return precisions.unpack(raw, precision, heads * q * k).reshape(heads, q, k)


def decode_dense(raw, heads, q, k, precision):
    """Float32 `[heads, q, k]` of a dense block's raw bytes."""
    return precisions.dequantize(stored_dense(raw, heads, q, k, precision), precision)


def thumbnail_shape(q, k, size=THUMBNAIL):
    return min(q, size), min(k, size)


def stores_thumbnails(q, k, precision):
    """Whether a record keeps thumbnails: only when they are small beside the layer (a sixteenth
    or less); shorter records cost more as thumbnails, and readers pool their layers instead."""
    rows, cols = thumbnail_shape(q, k)
    return 16 * rows * cols * THUMBNAIL_DTYPE.itemsize <= q * k * precisions.dtype(precision).itemsize


def pool_bins(n, bins):
    """[(start, end)] of each pooled cell along an axis of n: torch's adaptive pooling bins
    (floor(i n / bins) to ceil((i + 1) n / bins)), so every writer path pools alike."""
    return [((i * n) // bins, -(-((i + 1) * n) // bins)) for i in range(bins)]


def pool_max(weights, rows, cols):
    """`[heads, q, k]` max-pooled to `[heads, rows, cols]` (strong cells are not averaged away)."""
    heads, q, k = weights.shape
    if rows < q:
        weights = np.stack([weights[:, a:b].max(axis=1) for a, b in pool_bins(q, rows)], axis=1)
    if cols < k:
        weights = np.stack([weights[:, :, a:b].max(axis=2) for a, b in pool_bins(k, cols)], axis=2)
    return weights


def encode_thumbnails(weights, size=THUMBNAIL):
    """Raw bytes of a layer's thumbnails `[heads, rows, cols]`."""
    heads, q, k = weights.shape
    rows, cols = thumbnail_shape(q, k, size)
    return np.ascontiguousarray(pool_max(weights, rows, cols), dtype=THUMBNAIL_DTYPE).tobytes()


def decode_thumbnails(raw, heads, rows, cols):
    expected = heads * rows * cols * THUMBNAIL_DTYPE.itemsize
    if len(raw) != expected:
        raise FormatError("attention thumbnails hold %d bytes, expected %d" % (len(raw), expected))
    return np.frombuffer(raw, dtype=THUMBNAIL_DTYPE).reshape(heads, rows, cols).astype(np.float32)


# -- sparse blocks: per query row, the strongest keys only (docs/format.md) ------------------------


def index_dtype(keys):
    return np.dtype("<u2") if keys <= 1 << 16 else np.dtype("<u4")


COUNT_DTYPE = np.dtype("<u4")
KEPT_DTYPE = np.dtype("<f4")


def sparse_nbytes(heads, q, k, nnz, precision):
    return heads * q * (COUNT_DTYPE.itemsize + KEPT_DTYPE.itemsize) + nnz * (
        index_dtype(k).itemsize + precisions.dtype(precision).itemsize
    )


def encode_sparse(counts, kept, indices, values, k, precision):
    """Raw bytes of a sparse block: keys kept per row (uint32 [heads * q]), the weight they hold
    before quantising (float32 [heads * q]), their key indices, ascending within each row
    (uint16, or uint32 past 65536 keys, [nnz]), and their weights in the precision ([nnz])."""
    return b"".join(
        (
            np.ascontiguousarray(counts, dtype=COUNT_DTYPE).tobytes(),
            np.ascontiguousarray(kept, dtype=KEPT_DTYPE).tobytes(),
            np.ascontiguousarray(indices, dtype=index_dtype(k)).tobytes(),
            precisions.pack(precisions.quantize(np.asarray(values, dtype=np.float32), precision), precision),
        )
    )


def decode_sparse(raw, heads, q, k, nnz, precision, stored=False):
    """(counts [heads, q], kept mass [heads, q], indices [nnz], weights [nnz]: float32, or as
    stored with `stored=True`)."""
    if len(raw) != sparse_nbytes(heads, q, k, nnz, precision):
        raise FormatError(
            "sparse attention block holds %d bytes, expected %d"
            % (len(raw), sparse_nbytes(heads, q, k, nnz, precision))
        )
    rows = heads * q
    counts = np.frombuffer(raw, COUNT_DTYPE, rows, 0)
    kept = np.frombuffer(raw, KEPT_DTYPE, rows, rows * COUNT_DTYPE.itemsize)
    offset = rows * (COUNT_DTYPE.itemsize + KEPT_DTYPE.itemsize)
    indices = np.frombuffer(raw, index_dtype(k), nnz, offset)
    values = precisions.unpack(raw, precision, nnz, offset + nnz * index_dtype(k).itemsize)
    if int(counts.sum(dtype=np.int64)) != nnz or (nnz and int(indices.max()) >= k):
        raise FormatError("sparse attention block is inconsistent (its counts or key indices are out of range)")
    return (
        counts.reshape(heads, q),
        kept.reshape(heads, q),
        indices,
        values if stored else precisions.dequantize(values, precision),
    )


def densify(counts, indices, values, heads, q, k):
    """`[heads, q, k]` (of the values' dtype) with the kept weights in place, zeros elsewhere."""
    out = np.zeros((heads * q, k), dtype=values.dtype)
    rows = np.repeat(np.arange(heads * q), counts.ravel().astype(np.int64))
    out[rows, indices.astype(np.int64)] = values
    return out.reshape(heads, q, k)


def strongest(rows, threshold, limit):
    """Bool `[R, k]`: each row's `limit` strongest keys, given its limit-th largest weight
    (`threshold`, `[R, 1]`): every key above it, then keys equal to it from the lowest index."""
    keep = rows > threshold
    ties = rows == threshold
    need = limit - keep.sum(axis=1)
    keep |= ties & (np.cumsum(ties, axis=1) <= need[:, None])
    return keep


def kept_keys(row_index, indices, values, rows):
    """(counts, kept mass, indices, weights) of the keys kept in `rows` rows (row-major, key
    indices ascending within each row), zero weights dropped; the kept mass summed in order."""
    nonzero = values > 0
    row_index, indices, values = row_index[nonzero], indices[nonzero], values[nonzero]
    kept = np.bincount(row_index, weights=values.astype(np.float64), minlength=rows)
    return np.bincount(row_index, minlength=rows), kept.astype(np.float32), indices, values


def select_keys(weights, top_k=None, top_mass=None):
    """The keys a sparse block keeps of float32 `[heads, q, k]`: per row the `top_k` strongest
    (ties at the threshold to the lower key index), or the fewest strongest holding `top_mass`
    of the row's weight (at most `top_k` when both are given); never a zero weight. Returns
    (counts, kept mass, indices, weights), row-major, indices ascending within each row.
    (The writer selects in torch when it is installed: writing/layer_encoding.py, the same keys.)"""
    heads, q, k = weights.shape
    rows = weights.reshape(heads * q, k)
    limit = k if top_k is None else min(int(top_k), k)
    if top_mass is None:
        if limit < k:
            threshold = np.partition(rows, k - limit, axis=1)[:, k - limit, None]  # the limit-th largest
            keep = strongest(rows, threshold, limit)
        else:
            keep = np.ones(rows.shape, dtype=bool)
    else:
        order = np.argsort(-rows, axis=1, kind="stable")
        ranked = np.take_along_axis(rows, order, axis=1)
        before = np.cumsum(ranked, axis=1, dtype=np.float64) - ranked  # weight held by stronger keys
        take = (before < top_mass * rows.sum(axis=1, dtype=np.float64)[:, None]) & (np.arange(k) < limit)
        keep = np.zeros(rows.shape, dtype=bool)
        np.put_along_axis(keep, order, take, axis=1)
    row_index, indices = np.nonzero(keep)
    return kept_keys(row_index, indices, rows[row_index, indices], heads * q)

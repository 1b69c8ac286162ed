"""Decoding a stored part's layers: format-1 layer blobs, format-2 blocks of heads, dense or
sparse (docs/format.md). Each function takes a `StoredPart` (its header part, its record's format
version and its `RecordBytes`) and reads only the blocks that hold the heads asked for."""

import zlib

import numpy as np

from tb_attention.format import blocks, layers_v1, payload
from tb_attention.format import precision as precisions
from tb_attention.format.errors import FormatError


def v1_blob(stored, layer):
    """The zlib blob of a format-1 layer, checked to inflate to its size."""
    part = stored.part
    blob = stored.bytes.blob(part.layout["blob_base"] + layer)
    layers_v1.inflate_layer(blob, part.shape, part.precision)
    return blob


def _v1_layer(stored, layer, heads, as_stored):
    part = stored.part
    blob = stored.bytes.blob(part.layout["blob_base"] + layer)
    if as_stored:
        raw = layers_v1.inflate_layer(blob, part.shape, part.precision)
        full = np.frombuffer(raw, dtype=precisions.dtype(part.precision)).reshape(part.shape[1:])
    else:
        full = layers_v1.decode_layer(blob, part.shape, part.precision)
    return full if heads is None else full[heads]


def bands(part):
    """[(first row, end row)] of the chunks of each block of heads: one band of every stored row,
    or (format 3) bands of `band_rows` rows over the rows kept in detail."""
    r0, r1 = part.layout.get("detail_rows") or (0, part.shape[2])
    step = part.layout.get("band_rows") or (r1 - r0)
    return [(a, min(r1, a + step)) for a in range(r0, r1, step)]


def band_chunks(stored, layer, heads=None, rows=None):
    """[(verified zstd chunk, (first head, end head), (first row, end row), raw size, nnz)] of the
    chunks of a format-2/3 layer that hold `heads` (default all) and rows in [rows) (default all)."""
    part = stored.part
    _, n_heads, _, k = part.shape
    head_block = part.layout["head_block"]
    needed = None if heads is None else {h // head_block for h in heads}
    banded = "band_rows" in part.layout
    nnz_table = part.layout.get("nnz")
    out = []
    for b, (h0, h1) in enumerate(blocks.block_ranges(n_heads, head_block)):
        if needed is not None and b not in needed:
            continue
        refs = part.layout["blocks"][layer][b]
        counts = nnz_table[layer][b] if nnz_table else None
        for i, (r0, r1) in enumerate(bands(part)):
            if rows is not None and (r1 <= rows[0] or r0 >= rows[1]):
                continue
            ref = refs[i] if banded else refs
            nnz = (counts[i] if banded else counts) if nnz_table else None
            data = stored.bytes.chunk(ref, "layer %d heads %d-%d rows %d-%d" % (layer, h0, h1 - 1, r0, r1 - 1))
            size = (
                blocks.dense_nbytes(h1 - h0, r1 - r0, k, part.precision)
                if nnz is None
                else blocks.sparse_nbytes(h1 - h0, r1 - r0, k, nnz, part.precision)
            )
            out.append((data, (h0, h1), (r0, r1), size, nnz))
    return out


def block_chunks(stored, layer, heads=None):
    """[(verified zstd chunk, (first head, end head), raw size, nnz)] of the blocks of a
    format-2 layer that hold `heads` (every block by default); a block in bands has no one chunk."""
    if "band_rows" in stored.part.layout or "detail_rows" in stored.part.layout:
        raise FormatError("this record keeps its rows in bands: read its chunks with band_chunks")
    return [(data, hs, size, nnz) for data, hs, _, size, nnz in band_chunks(stored, layer, heads)]


def decoded_bands(stored, layer, heads=None, rows=None, as_stored=False):
    """[((first head, end head), (first row, end row), decoded)] of the chunks holding `heads` and
    `rows`: dense arrays `[heads, rows, k]`, or (counts, kept, indices, values) of sparse ones."""
    return list(iter_decoded_bands(stored, layer, heads, rows, as_stored))


def iter_decoded_bands(stored, layer, heads=None, rows=None, as_stored=False):
    """`decoded_bands`, one chunk decoded at a time (a reader that folds each into its answer
    holds one decoded chunk, not all of them)."""
    part = stored.part
    k = part.shape[3]
    for data, (h0, h1), (r0, r1), size, nnz in band_chunks(stored, layer, heads, rows):
        what = "layer %d heads %d-%d rows %d-%d" % (layer, h0, h1 - 1, r0, r1 - 1)
        raw = payload.decompress(data, size, what)
        if nnz is None:
            decoded = (
                blocks.stored_dense(raw, h1 - h0, r1 - r0, k, part.precision)
                if as_stored
                else blocks.decode_dense(raw, h1 - h0, r1 - r0, k, part.precision)
            )
        else:
            decoded = blocks.decode_sparse(raw, h1 - h0, r1 - r0, k, nnz, part.precision, stored=as_stored)
        yield (h0, h1), (r0, r1), decoded


def _decoded(stored, layer, heads, as_stored):
    """{first head of block: decoded block} of the blocks holding `heads`, every row (rows kept in
    no band are 0): dense arrays, or (counts, kept, indices, values) for sparse blocks."""
    part = stored.part
    q, k = part.shape[2:]
    pieces = {}
    for (h0, h1), rows, decoded in decoded_bands(stored, layer, heads, None, as_stored):
        pieces.setdefault(h0, []).append((h1, rows, decoded))
    if part.encoding != "sparse":
        out = {}
        for h0, items in pieces.items():
            h1, _, first = items[0]
            if len(items) == 1 and first.shape[1] == q:
                out[h0] = first
                continue
            block = np.zeros((h1 - h0, q, k), dtype=first.dtype)
            for _, (r0, r1), decoded in items:
                block[:, r0:r1] = decoded
            out[h0] = block
        return out
    return {h0: _joined_sparse(items, q) for h0, items in pieces.items()}


def _joined_sparse(items, q):
    """One sparse block of every row from its bands `[(end head, rows, decoded)]` (rows kept in no
    band: no keys, kept weight 0); entries in (head, row) order as every sparse block holds them."""
    heads = items[0][2][0].shape[0]
    counts = np.zeros((heads, q), dtype=items[0][2][0].dtype)
    kept = np.zeros((heads, q), dtype=np.float32)
    per_head = [[] for _ in range(heads)]
    for _, (r0, r1), (c, m, indices, values) in sorted(items, key=lambda item: item[1]):
        counts[:, r0:r1], kept[:, r0:r1] = c, m
        offsets = np.concatenate([[0], np.cumsum(c.sum(axis=1, dtype=np.int64))])
        for j in range(heads):
            per_head[j].append((indices[offsets[j] : offsets[j + 1]], values[offsets[j] : offsets[j + 1]]))
    indices = np.concatenate([piece[0] for pieces in per_head for piece in pieces])
    values = np.concatenate([piece[1] for pieces in per_head for piece in pieces])
    return counts, kept, indices, values


def _gather(part, decoded, heads, per_head):
    head_block = part.layout["head_block"]
    return np.stack([per_head(decoded[h - h % head_block], h % head_block) for h in heads])


def dense_layer(stored, layer, heads, as_stored):
    """`[len(heads), q, k]` of one layer (`heads`: a list, or None for all): float32 weights, or
    the stored values (`as_stored`: the precision's dtype); sparse records densified."""
    part = stored.part
    if stored.version <= 1:
        return _v1_layer(stored, layer, heads, as_stored)
    heads = list(range(part.shape[1])) if heads is None else heads
    decoded = _decoded(stored, layer, heads, as_stored)
    if part.encoding == "sparse":
        _, _, q, k = part.shape
        decoded = {h0: blocks.densify(c, i, v, c.shape[0], q, k) for h0, (c, _, i, v) in decoded.items()}
    return _gather(part, decoded, heads, lambda block, h: block[h])


def kept_mass(stored, layer, heads):
    """Float32 `[len(heads), q]`: the weight each row of a sparse layer kept (before quantising)."""
    heads = list(range(stored.part.shape[1])) if heads is None else heads
    return _gather(stored.part, _decoded(stored, layer, heads, False), heads, lambda block, h: block[1][h])


def sparse_layer(stored, layer):
    """[((first head, end head), counts, kept, indices, float32 weights)] of each block of a
    sparse layer, as stored (counts and kept `[heads, q]`; indices ascending within rows)."""
    part = stored.part
    decoded = _decoded(stored, layer, None, False)
    head_block = part.layout["head_block"]
    return [((h0, min(part.shape[1], h0 + head_block)),) + tuple(decoded[h0]) for h0 in sorted(decoded)]


def encoded_layer(stored, layer):
    """A whole layer's stored bytes as they may be sent on: (content-coding, bytes, a function
    giving the raw array bytes), checked to decode to the layer's size; None for a sparse layer
    (its stored form is no array)."""
    part = stored.part
    if stored.version <= 1:
        blob = v1_blob(stored, layer)
        return "deflate", bytes(blob), lambda: zlib.decompress(blob)
    if part.encoding != "dense" or "band_rows" in part.layout or "detail_rows" in part.layout:
        return None
    chunks = block_chunks(stored, layer)
    for data, (h0, h1), size, _ in chunks:  # a frame of the wrong size must fail here, not in a client
        if payload.frame_size(data) != size:
            raise FormatError("layer %d heads %d-%d: payload chunk has the wrong size" % (layer, h0, h1 - 1))

    def raw():
        return b"".join(payload.decompress(data, size, "layer %d" % layer) for data, _, size, _ in chunks)

    return "zstd", b"".join(c[0] for c in chunks), raw


def sparse_rows(stored, layer, rows, heads=None, as_stored=False):
    """[((first head, end head), counts, kept, indices, weights)] of a sparse layer's query rows
    [rows) only, of the blocks holding `heads` (default all): counts and kept `[heads, rows]`
    (rows kept in no band: no keys, kept weight 0), weights float32 or as stored (`as_stored`),
    reading only the chunks that hold them."""
    r0, r1 = rows
    pieces = {}
    for (h0, h1), (b0, b1), decoded in decoded_bands(stored, layer, heads, rows, as_stored):
        pieces.setdefault((h0, h1), []).append((h1, (b0, b1), _cut_rows(decoded, (max(r0, b0) - b0, min(r1, b1) - b0))))
    out = []
    for (h0, h1), items in sorted(pieces.items()):
        shifted = [(end, (max(r0, b0) - r0, min(r1, b1) - r0), d) for end, (b0, b1), d in items]
        out.append(((h0, h1),) + _joined_sparse(shifted, r1 - r0))
    return out


def _cut_rows(decoded, rows):
    """A decoded sparse band (counts, kept, indices, values) cut to its rows [rows)."""
    counts, kept, indices, values = decoded
    a, z = rows
    per_row = counts.shape[1]
    offsets = np.concatenate([[0], np.cumsum(counts.ravel(), dtype=np.int64)])
    keep = np.concatenate(
        [np.arange(offsets[j * per_row + a], offsets[j * per_row + z]) for j in range(counts.shape[0])]
    )
    return counts[:, a:z], kept[:, a:z], indices[keep], values[keep]


def dense_rows(stored, layer, heads, rows, as_stored):
    """`[len(heads), rows, k]` of query rows [rows) of a format-2/3 layer (rows kept in no band
    and keys a sparse row dropped: 0), reading only the chunks that hold them."""
    part = stored.part
    _, n_heads, _, k = part.shape
    heads = list(range(n_heads)) if heads is None else heads
    r0, r1 = rows
    dtype = precisions.dtype(part.precision) if as_stored else np.float32
    out = np.zeros((len(heads), r1 - r0, k), dtype=dtype)
    slots = {}
    for i, h in enumerate(heads):
        slots.setdefault(h, []).append(i)
    for (h0, h1), (b0, b1), decoded in decoded_bands(stored, layer, heads, rows, as_stored):
        a, z = max(r0, b0), min(r1, b1)
        if part.encoding == "sparse":
            counts, _, indices, values = _cut_rows(decoded, (a - b0, z - b0))
            decoded = blocks.densify(counts, indices, values, h1 - h0, z - a, k)
            a0 = 0
        else:
            a0 = a - b0
        for h in range(h0, h1):
            for i in slots.get(h, ()):
                out[i, a - r0 : z - r0] = decoded[h - h0, a0 : a0 + z - a]
    return out

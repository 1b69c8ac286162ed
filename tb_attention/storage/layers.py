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


def block_chunks(stored, layer, heads=None):
    """[(verified zstd chunk, (first head, end head), raw size, nnz)] of the blocks of a
    format-2 layer that hold `heads` (every block by default)."""
    part = stored.part
    _, n_heads, q, k = part.shape
    head_block = part.layout["head_block"]
    needed = None if heads is None else {h // head_block for h in heads}
    nnz_table = part.layout.get("nnz")
    out = []
    for b, ((h0, h1), ref) in enumerate(zip(blocks.block_ranges(n_heads, head_block), part.layout["blocks"][layer])):
        if needed is None or b in needed:
            data = stored.bytes.chunk(ref, "layer %d heads %d-%d" % (layer, h0, h1 - 1))
            nnz = nnz_table[layer][b] if nnz_table else None
            size = (
                blocks.dense_nbytes(h1 - h0, q, k, part.precision)
                if nnz is None
                else blocks.sparse_nbytes(h1 - h0, q, k, nnz, part.precision)
            )
            out.append((data, (h0, h1), size, nnz))
    return out


def _decoded(stored, layer, heads, as_stored):
    """{first head of block: decoded block} of the blocks holding `heads`: dense arrays, or
    (counts, kept, indices, values) for sparse blocks."""
    part = stored.part
    _, _, q, k = part.shape
    out = {}
    for data, (h0, h1), size, nnz in block_chunks(stored, layer, heads):
        raw = payload.decompress(data, size, "layer %d heads %d-%d" % (layer, h0, h1 - 1))
        if nnz is None:
            out[h0] = (
                blocks.stored_dense(raw, h1 - h0, q, k, part.precision)
                if as_stored
                else blocks.decode_dense(raw, h1 - h0, q, k, part.precision)
            )
        else:
            out[h0] = blocks.decode_sparse(raw, h1 - h0, q, k, nnz, part.precision, stored=as_stored)
    return out


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
    if part.encoding != "dense":
        return None
    chunks = block_chunks(stored, layer)
    for data, (h0, h1), size, _ in chunks:  # a frame of the wrong size must fail here, not in a client
        if payload.frame_size(data) != size:
            raise FormatError("layer %d heads %d-%d: payload chunk has the wrong size" % (layer, h0, h1 - 1))

    def raw():
        return b"".join(payload.decompress(data, size, "layer %d" % layer) for data, _, size, _ in chunks)

    return "zstd", b"".join(c[0] for c in chunks), raw

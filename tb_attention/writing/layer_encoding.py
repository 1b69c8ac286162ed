"""One layer of a record, encoded for its payload: blocks of heads (dense in the precision, or
sparse: the strongest keys per row) and thumbnails. In numpy for CPU inputs (on the writer's
background threads), in torch on the tensor's own device for GPU inputs, so a GPU layer reaches
the host only in its stored form."""

import dataclasses
from typing import Optional

import numpy as np

from tb_attention.format import blocks, log16
from tb_attention.format import precision as precisions
from tb_attention.format.payload import compress
from tb_attention.writing import scratch


@dataclasses.dataclass
class EncodedBlock:
    """One block of heads of one layer, encoded: its payload chunk (compressed on the encoding
    threads), or its raw bytes for the writer thread to compress (GPU blocks, encoded on the
    caller's thread, which must not wait for compression), the weights a sparse block keeps, and
    the block's raw thumbnails (float16 [heads, rows, cols])."""

    chunk: Optional[bytes]
    nnz: Optional[int]
    thumbnails: Optional[bytes]  # None when the record keeps none (blocks.stores_thumbnails)
    raw: Optional[bytes] = None

    @property
    def nbytes(self):
        return len(self.chunk or self.raw) + len(self.thumbnails or b"")

    def compressed(self):
        return self.chunk if self.chunk is not None else compress(self.raw)


def head_block(plan):
    """Heads per block: dense blocks stay under the block bound, sparse ones follow the same
    split (their size depends on the weights)."""
    _, heads, q, k = plan.shape
    return blocks.heads_per_block(heads, q, k, plan.precision)


def _thumbnails(weights, plan, encode):
    _, q, k = weights.shape
    return encode(weights) if blocks.stores_thumbnails(q, k, plan.precision) else None


def encode_numpy(weights, plan):
    """EncodedBlock of float32 `[heads, q, k]` (one block of the plan's heads of one layer)."""
    k = weights.shape[2]
    thumbnails = _thumbnails(weights, plan, blocks.encode_thumbnails)
    if plan.sparse:
        counts, kept, indices, values = select(weights, plan.top_k, plan.top_mass)
        return EncodedBlock(
            compress(blocks.encode_sparse(counts, kept, indices, values, k, plan.precision)),
            int(indices.size),
            thumbnails,
        )
    return EncodedBlock(compress(blocks.encode_dense(weights, plan.precision)), None, thumbnails)


_LOG16_TABLES = {}  # device: log16's code table there


def _log16_codes(device):
    """log16's code table (by a float32's top 16 bits) as an int16 tensor on `device`."""
    import torch

    table = _LOG16_TABLES.get(device)
    if table is None:
        table = _LOG16_TABLES[device] = torch.from_numpy(log16.codes().view(np.int16)).to(device)
    return table


def quantize_torch(x, precision):
    """A torch block in the stored dtype of `precision`, on its device (log16: int16 codes, in
    this thread's scratch buffer: valid until the next call here)."""
    import torch

    if precision == "log16":
        # A float32's top 16 bits (the high half of each little-endian word) index the code table,
        # as int32 (index_select takes them: no int64 copy).
        n = x.numel()
        top = scratch.get("log16 index", (n,), torch.int32, x.device)
        top.view(x.shape).copy_(x.float().contiguous().view(torch.uint16)[..., 1::2])
        codes = scratch.get("log16 codes", (n,), torch.int16, x.device)
        torch.index_select(_log16_codes(x.device), 0, top, out=codes)
        return codes.view(x.shape)  # int16 here, uint16 once on the host
    if precision == "uint8":
        return (x.float() * 255.0).round_().clamp_(0, 255).to(torch.uint8)
    return x.to(torch.float16 if precision == "float16" else torch.float32)


def _top_k(rows, limit):
    """(key indices, weights), numpy `[R, limit]`, indices ascending within each row: each row's
    `limit` strongest keys (limit < k), ties at the threshold to the lower key index (as
    blocks.select_keys). torch.topk runs on the rows' device; what follows is small."""
    import torch

    values, indices = torch.topk(rows, limit + 1, dim=1)  # sorted: the threshold, and the next
    threshold, after = values[:, limit - 1], values[:, limit]
    # topk breaks ties as it likes: redo the rows where a key left out ties with the threshold
    # (a zero threshold is no tie: zeros are never kept).
    tied = ((after == threshold) & (threshold > 0)).nonzero()[:, 0]
    values, indices = values[:, :limit].cpu().numpy(), indices[:, :limit].cpu().numpy()
    if len(tied):
        sub = rows[tied].cpu().numpy()
        r = tied.cpu().numpy()
        chosen = blocks.strongest(sub, values[r, limit - 1 :], limit)
        indices[r] = np.nonzero(chosen)[1].reshape(len(r), limit)
        values[r] = np.take_along_axis(sub, indices[r], axis=1)
    order = np.argsort(indices, axis=1)
    return np.take_along_axis(indices, order, axis=1), np.take_along_axis(values, order, axis=1)


def select_torch(x, top_k, top_mass):
    """blocks.select_keys in torch, on x's device (the same keys and weights); results as numpy."""
    import torch

    heads, q, k = x.shape
    rows = x.float().reshape(heads * q, k)
    limit = k if top_k is None else min(int(top_k), k)
    if top_mass is None and limit < k:
        indices, values = _top_k(rows, limit)
        row_index = np.repeat(np.arange(heads * q), limit)
        return blocks.kept_keys(row_index, indices.reshape(-1), values.reshape(-1), heads * q)
    if top_mass is None:
        keep = torch.ones_like(rows, dtype=torch.bool)
    else:
        values, order = torch.sort(rows, dim=1, descending=True, stable=True)
        before = torch.cumsum(values, dim=1, dtype=torch.float64) - values  # weight held by stronger keys
        take = before < top_mass * rows.sum(dim=1, dtype=torch.float64)[:, None]
        take[:, limit:] = False
        keep = torch.zeros_like(rows, dtype=torch.bool).scatter_(1, order, take)
    row_index, indices = keep.nonzero(as_tuple=True)  # row-major: key indices ascending in each row
    values = rows[row_index, indices]
    return blocks.kept_keys(row_index.cpu().numpy(), indices.cpu().numpy(), values.cpu().numpy(), heads * q)


def select(weights, top_k, top_mass):
    """The keys a sparse block keeps of float32 numpy `[heads, q, k]` (blocks.select_keys): in
    torch when it is installed (on the CPU, no copy: numpy's partition is ~20 times slower)."""
    try:
        import torch
    except ImportError:
        return blocks.select_keys(weights, top_k, top_mass)
    # torch.from_numpy shares the memory; it warns for read-only arrays, which then are copied.
    return select_torch(torch.from_numpy(np.require(weights, requirements="W")), top_k, top_mass)


def _thumbnails_torch(x):
    import torch

    heads, q, k = x.shape
    rows, cols = blocks.thumbnail_shape(q, k)
    pooled = torch.nn.functional.adaptive_max_pool2d(x.float()[None], (rows, cols))[0]
    return pooled.to(torch.float16).cpu().numpy().astype(blocks.THUMBNAIL_DTYPE).tobytes()


def encode_torch(x, plan):
    """EncodedBlock of a torch tensor `[heads, q, k]` on any device, encoded there."""
    k = x.shape[2]
    if plan.sparse:
        counts, kept, indices, values = select_torch(x, plan.top_k, plan.top_mass)
        raw, nnz = blocks.encode_sparse(counts, kept, indices, values, k, plan.precision), int(indices.size)
    else:
        stored = quantize_torch(x, plan.precision).cpu().numpy().view(precisions.dtype(plan.precision))
        raw, nnz = precisions.pack(stored, plan.precision), None
    return EncodedBlock(None, nnz, _thumbnails(x, plan, _thumbnails_torch), raw=raw)

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


def _quantize_torch(x, precision):
    import torch

    if precision == "log16":
        top = x.float().contiguous().view(torch.int32).bitwise_right_shift(16).bitwise_and_(0xFFFF)
        return _log16_codes(x.device)[top.long()]  # int16 here, uint16 once on the host
    if precision == "uint8":
        return (x.float() * 255.0).round_().clamp_(0, 255).to(torch.uint8)
    return x.to(torch.float16 if precision == "float16" else torch.float32)


def _top_k(rows, limit):
    """(key indices [R, limit], ascending within each row; their weights): each row's `limit`
    strongest keys, ties at the threshold going to the lower key index (as blocks.select_keys)."""
    import torch

    values, indices = torch.topk(rows, limit, dim=1, sorted=False)
    threshold = values.amin(dim=1, keepdim=True)
    # topk breaks ties as it likes: redo the rows where more keys tie at the threshold than it kept
    # (a zero threshold is no tie: zeros are never kept).
    tied = (torch.count_nonzero(rows >= threshold, dim=1) > limit) & (threshold[:, 0] > 0)
    if bool(tied.any()):
        r = tied.nonzero()[:, 0]
        sub, at = rows[r], threshold[r]
        ties = sub == at
        need = limit - torch.count_nonzero(sub > at, dim=1)
        chosen = (sub > at) | (ties & (ties.cumsum(dim=1) <= need[:, None]))
        indices[r] = chosen.nonzero()[:, 1].reshape(len(r), limit)
        values[r] = sub.gather(1, indices[r])
    indices, order = torch.sort(indices, dim=1)
    return indices, values.gather(1, order)


def _select_torch(x, top_k, top_mass):
    """blocks.select_keys in torch, on x's device (the same keys and weights); results as numpy."""
    import torch

    heads, q, k = x.shape
    rows = x.float().reshape(heads * q, k)
    limit = k if top_k is None else min(int(top_k), k)
    if top_mass is None:
        indices, values = _top_k(rows, limit)
        keep = values > 0
    else:
        values, indices = torch.sort(rows, dim=1, descending=True, stable=True)
        values, indices = values[:, :limit], indices[:, :limit]
        before = torch.cumsum(values, dim=1, dtype=torch.float64) - values
        keep = (before < top_mass * rows.sum(dim=1, dtype=torch.float64)[:, None]) & (values > 0)
        # Row-major, ascending key index within each row (as the numpy path), kept entries only.
        order = torch.argsort(torch.where(keep, indices, k), dim=1)
        indices, values, keep = (t.gather(1, order) for t in (indices, values, keep))
    counts = keep.sum(dim=1)
    kept = (values.double() * keep).sum(dim=1)
    return (counts.cpu().numpy(), kept.float().cpu().numpy(), indices[keep].cpu().numpy(), values[keep].cpu().numpy())


def select(weights, top_k, top_mass):
    """The keys a sparse block keeps of float32 numpy `[heads, q, k]` (blocks.select_keys): in
    torch when it is installed (on the CPU, no copy: numpy's partition is ~20 times slower)."""
    try:
        import torch
    except ImportError:
        return blocks.select_keys(weights, top_k, top_mass)
    # torch.from_numpy shares the memory; it warns for read-only arrays, which then are copied.
    return _select_torch(torch.from_numpy(np.require(weights, requirements="W")), top_k, top_mass)


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
        counts, kept, indices, values = _select_torch(x, plan.top_k, plan.top_mass)
        raw, nnz = blocks.encode_sparse(counts, kept, indices, values, k, plan.precision), int(indices.size)
    else:
        stored = _quantize_torch(x, plan.precision).cpu().numpy().view(precisions.dtype(plan.precision))
        raw, nnz = precisions.pack(stored, plan.precision), None
    return EncodedBlock(None, nnz, _thumbnails(x, plan, _thumbnails_torch), raw=raw)

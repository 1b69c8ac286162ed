"""Payload chunks filled from blocks of query rows: one chunk holds heads [h0, h1) x rows
[r0, r1) of one layer (a block of heads, and a band of rows in long records), dense in the
record's precision or sparse (per row its strongest keys and the weight they hold). Blocks are
encoded on the tensors' device; a chunk's bytes reach the host once it is complete and are
compressed on the encoding threads."""

import numpy as np

from tb_attention.format import blocks
from tb_attention.format import precision as precisions
from tb_attention.format.payload import compress
from tb_attention.writing.threads import encoding_pool


def quantize_torch(x, precision):
    """A torch block in the stored dtype of `precision`, on its device."""
    import torch

    if precision == "uint8":
        return (x.float() * 255.0).round_().clamp_(0, 255).to(torch.uint8)
    return x.to(torch.float16 if precision == "float16" else torch.float32)


def select_torch(x, top_k, top_mass):
    """`blocks.select_keys` of a torch block `[heads, rows, keys]`, on its device: (counts, kept,
    indices, values) as numpy, rows in order, key indices ascending within each row."""
    import torch

    heads, q, k = x.shape
    rows = x.float().reshape(heads * q, k)
    limit = k if top_k is None else min(int(top_k), k)
    if limit == 0:
        empty = np.zeros(heads * q)
        return empty.astype(np.uint32), empty.astype(np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32)
    if top_mass is None:
        values, indices = torch.topk(rows, limit, dim=1, sorted=False)
        keep = values > 0
    else:
        values, indices = torch.sort(rows, dim=1, descending=True, stable=True)
        values, indices = values[:, :limit], indices[:, :limit]
        before = torch.cumsum(values, dim=1, dtype=torch.float64) - values
        keep = (before < top_mass * rows.sum(dim=1, dtype=torch.float64)[:, None]) & (values > 0)
    order = torch.argsort(torch.where(keep, indices, k), dim=1)
    indices, values, keep = (t.gather(1, order) for t in (indices, values, keep))
    kept = (values.double() * keep).sum(dim=1)
    return (
        keep.sum(dim=1).cpu().numpy(),
        kept.float().cpu().numpy(),
        indices[keep].cpu().numpy(),
        values[keep].cpu().numpy(),
    )


class Chunk:
    """One chunk being filled: heads x rows of one layer; `add` takes slices of blocks."""

    def __init__(self, heads, rows, keys, plan):
        self.heads, self.rows, self.keys, self.plan = heads, rows, keys, plan
        self.missing = heads * rows
        if plan.sparse:
            self.pieces = [[] for _ in range(heads)]  # per head: (row offset, counts, kept, indices, values)
            self.dense = None
        else:
            self.dense = np.zeros((heads, rows, keys), dtype=precisions.dtype(plan.precision))
        self.nnz = None

    def add(self, head, row, weights, key_start=0):
        """Heads [head, head + n) x rows [row, row + m) of this chunk (chunk coordinates), torch
        weights of keys [key_start, key_start + width) (the others are 0)."""
        n, m, width = weights.shape
        if self.dense is not None:
            stored = quantize_torch(weights, self.plan.precision).cpu().numpy()
            self.dense[head : head + n, row : row + m, key_start : key_start + width] = stored
        else:
            counts, kept, indices, values = select_torch(weights, self.plan.top_k, self.plan.top_mass)
            indices = indices + key_start
            offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
            for i in range(n):
                a, b = offsets[i * m], offsets[(i + 1) * m]
                piece = (row, counts[i * m : (i + 1) * m], kept[i * m : (i + 1) * m], indices[a:b], values[a:b])
                self.pieces[head + i].append(piece)
        self.missing -= n * m
        return self.missing == 0

    def raw(self):
        """The chunk's bytes (format/blocks.py), once complete."""
        if self.dense is not None:
            return self.dense.tobytes()
        parts = [sorted(p, key=lambda piece: piece[0]) for p in self.pieces]
        flat = [piece for head in parts for piece in head]
        counts, kept, indices, values = (np.concatenate([piece[i] for piece in flat]) for i in range(1, 5))
        self.nnz = int(indices.size)
        return blocks.encode_sparse(counts, kept, indices, values, self.keys, self.plan.precision)


def compress_later(raw):
    """A future of the compressed chunk (the encoding threads compress while blocks are computed)."""
    pool, _ = encoding_pool()
    return pool.submit(compress, raw)

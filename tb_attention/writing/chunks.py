"""Payload chunks filled from blocks of query rows: one chunk holds heads [h0, h1) x rows
[r0, r1) of one layer (a block of heads, and a band of rows in long records), dense in the
record's precision or sparse (per row its strongest keys and the weight they hold). Blocks are
encoded on the tensors' device; a chunk's bytes reach the host once it is complete and are
compressed on the encoding threads."""

import collections

import numpy as np

from tb_attention.format import blocks
from tb_attention.format import precision as precisions
from tb_attention.format.payload import compress
from tb_attention.writing.layer_encoding import quantize_torch, select_torch
from tb_attention.writing.threads import encoding_pool


class Chunk:
    """One chunk being filled: heads x rows of one layer; `add` takes slices of blocks."""

    def __init__(self, heads, rows, keys, plan, buffer=None):
        """`buffer`: a spare dense buffer of this shape to reuse (zeroed here)."""
        self.heads, self.rows, self.keys, self.plan = heads, rows, keys, plan
        self.missing = heads * rows
        if plan.sparse:
            self.pieces = [[] for _ in range(heads)]  # per head: (row offset, counts, kept, indices, values)
            self.dense = None
        else:
            dtype = precisions.dtype(plan.precision)
            if buffer is not None and buffer.shape == (heads, rows, keys) and buffer.dtype == dtype:
                buffer.fill(0)
                self.dense = buffer
            else:
                self.dense = np.zeros((heads, rows, keys), dtype=dtype)
        self.nnz = None

    def add(self, head, row, weights, key_start=0):
        """Heads [head, head + n) x rows [row, row + m) of this chunk (chunk coordinates), torch
        weights of keys [key_start, key_start + width) (the others are 0)."""
        n, m, width = weights.shape
        if width == 0:  # rows that see no key: nothing stored, weight 0
            if self.dense is None:
                zeros = np.zeros(m, dtype=np.int64)
                for i in range(n):
                    self.pieces[head + i].append((row, zeros, zeros.astype(np.float32), zeros[:0], zeros[:0]))
        elif self.dense is not None:
            stored = quantize_torch(weights, self.plan.precision).cpu().numpy()
            self.dense[head : head + n, row : row + m, key_start : key_start + width] = stored.view(self.dense.dtype)
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
            return precisions.pack(self.dense, self.plan.precision)
        parts = [sorted(p, key=lambda piece: piece[0]) for p in self.pieces]
        flat = [piece for head in parts for piece in head]
        counts, kept, indices, values = (np.concatenate([piece[i] for piece in flat]) for i in range(1, 5))
        self.nnz = int(indices.size)
        return blocks.encode_sparse(counts, kept, indices, values, self.keys, self.plan.precision)


# Raw chunks waiting for the encoding threads to compress them hold at most this much: past it the
# caller waits (those threads run at the lowest priority and can fall behind the blocks).
PENDING_RAW_BYTES = 64 << 20


class Compressor:
    """Compresses chunks on the encoding threads while blocks are computed, never holding more than
    PENDING_RAW_BYTES of raw chunks waiting: `later(raw)` is a future of the compressed bytes."""

    def __init__(self, limit=PENDING_RAW_BYTES):
        self.limit = limit
        self.pending = collections.deque()  # (future, raw size), oldest first
        self.bytes = 0

    def later(self, raw):
        pool, _ = encoding_pool()
        future = pool.submit(compress, raw)
        self.pending.append((future, len(raw)))
        self.bytes += len(raw)
        while self.pending and (self.bytes > self.limit or self.pending[0][0].done()):
            done, size = self.pending.popleft()
            done.result()  # waits for the oldest when over the limit
            self.bytes -= size
        return future

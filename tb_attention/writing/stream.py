"""A record part built from blocks of query rows as they are computed (the capture path, and
long inputs): each block goes to the caller's consumers (pattern scores), to the max-pooled
overview grids, and into the payload chunks of the rows the record keeps in detail. A block is
never kept: what stays is the stored form (chunks, compressed on the encoding threads) and one
pooled grid per head of the layer being built."""

import dataclasses
from typing import List, Optional, Tuple

import numpy as np

from tb_attention.format import blocks
from tb_attention.writing import scratch
from tb_attention.writing.chunks import Chunk, Compressor
from tb_attention.writing.pooling import MaxGrid, coarser, factor_for, grid_shape

# Records whose one head's rows take more than this are stored in bands of BAND_ROWS rows, so a
# reader fetches a region of the matrix without decompressing whole heads.
BAND_THRESHOLD_BYTES = blocks.BLOCK_BYTES
BAND_ROWS = 256
# Overview levels stop at this many cells per side (the finest), and thumbnails at THUMBNAIL.
OVERVIEW_CELLS = 1024
OVERVIEW_MIN_QUERIES = 4096  # shorter records are read whole: no overview needed


@dataclasses.dataclass
class Layout:
    """How a part's stored form is cut: blocks of heads, bands of rows, levels of the overview."""

    head_block: int
    band_rows: Optional[int]  # None: a chunk holds every detail row
    detail: Tuple[int, int]  # query rows [r0, r1) kept in detail
    overview: List[int]  # pooling factors, finest first ([] for none)
    thumbnail: Optional[int]  # the thumbnails' pooling factor, None for none
    rows: int = 0  # query rows of the part

    @property
    def plain(self):
        """Whether it is format 2's layout: blocks of heads of every row, no overview."""
        return self.band_rows is None and not self.overview and self.detail == (0, self.rows)

    def bands(self):
        r0, r1 = self.detail
        step = self.band_rows or max(1, r1 - r0)
        return [(a, min(r1, a + step)) for a in range(r0, r1, step)]


def layout_for(plan, detail=None, overview_cells=OVERVIEW_CELLS):
    """The Layout of a PartPlan: bands past BAND_THRESHOLD_BYTES per head, an overview for long
    records, thumbnails when they are small beside the layer."""
    _, heads, q, k = plan.shape
    itemsize = blocks.dense_nbytes(1, 1, 1, plan.precision)
    per_head = q * k * itemsize
    band_rows = BAND_ROWS if per_head > BAND_THRESHOLD_BYTES else None
    head_block = 1 if band_rows else blocks.heads_per_block(heads, q, k, plan.precision)
    overview = []
    if q >= OVERVIEW_MIN_QUERIES:
        finest = max(2, factor_for(max(q, k), overview_cells))  # factor 1 would be the dense record
        overview = [finest * 4**i for i in range(8) if -(-max(q, k) // (finest * 4**i)) >= blocks.THUMBNAIL]
    thumbnail = factor_for(max(q, k), blocks.THUMBNAIL) if blocks.stores_thumbnails(q, k, plan.precision) else None
    return Layout(head_block, band_rows, detail or (0, q), overview, thumbnail, q)


class PartBuilder:
    """One part of a record, built from blocks `add(layer, head, row, weights)` in the stored
    layer and head numbering (torch `[heads, rows, keys]` on any device)."""

    def __init__(self, plan, layout, consumers=()):
        self.plan, self.layout, self.consumers = plan, layout, list(consumers)
        _, heads, q, k = plan.shape
        self.ranges = blocks.block_ranges(heads, layout.head_block)
        self.bands = layout.bands()
        self.open = {}  # (layer, block, band) -> Chunk being filled
        self.chunks = {}  # (layer, block, band) -> (future of compressed bytes, nnz)
        self.grids = {}  # layer -> MaxGrid of the finest pooling the part stores
        self.compressor = Compressor()
        self.spare = []  # dense chunk buffers to reuse (fresh ones of varying age fragment the heap)
        self.pooled = {}  # layer -> {"thumbnails": future, "overview": [future per head]}

    def _finest(self):
        factors = self.layout.overview + ([self.layout.thumbnail] if self.layout.thumbnail else [])
        return min(factors) if factors else None

    def add(self, layer, head, row, weights, key_start=0):
        """Block `[heads, rows, width]` of keys [key_start, key_start + width) (others are 0)."""
        if self.consumers:
            full = full_width(weights, key_start, self.plan.keys)
            for consumer in self.consumers:
                consumer.add_block(layer, head, row, full)
        finest = self._finest()
        if finest is not None:
            grid = self.grids.get(layer)
            if grid is None:
                _, heads, q, k = self.plan.shape
                grid = self.grids[layer] = MaxGrid(heads, q, k, finest, weights.device)
            grid.add(head, row, weights, key_start)
        self._store(layer, head, row, weights, key_start)

    def _store(self, layer, head, row, weights, key_start):
        d0, d1 = self.layout.detail
        rows = weights.shape[1]
        if row + rows <= d0 or row >= d1:
            return
        for b, (h0, h1) in enumerate(self.ranges):
            a, z = max(h0, head), min(h1, head + weights.shape[0])
            if a >= z:
                continue
            for band, (r0, r1) in enumerate(self.bands):
                s, e = max(r0, row), min(r1, row + rows)
                if s < e:
                    block = weights[a - head : z - head, s - row : e - row]
                    self._fill(layer, b, band, a - h0, s - r0, block, key_start)

    def _fill(self, layer, b, band, head, row, weights, key_start):
        key = (layer, b, band)
        chunk = self.open.get(key)
        if chunk is None:
            h0, h1 = self.ranges[b]
            r0, r1 = self.bands[band]
            buffer = self.spare.pop() if self.spare else None
            chunk = self.open[key] = Chunk(h1 - h0, r1 - r0, self.plan.keys, self.plan, buffer)
        if chunk.add(head, row, weights, key_start):
            raw = chunk.raw()
            if chunk.dense is not None:
                self.spare.append(chunk.dense)
            self.chunks[key] = (self.compressor.later(raw), chunk.nnz)
            del self.open[key]

    def end_layer(self, layer):
        """Layer `layer` is complete: its pooled grids become thumbnails and overview levels."""
        missing = [key for key in self.open if key[0] == layer]
        if missing:
            raise RuntimeError("layer %d ended with %d chunks incomplete" % (layer, len(missing)))
        grid = self.grids.pop(layer, None)
        if grid is None:
            return
        out = {}
        finest = grid.factor
        if self.layout.thumbnail:
            thumbs = coarser(grid.values, self.layout.thumbnail // finest)
            out["thumbnails"] = self.compressor.later(_float16(thumbs).tobytes())
        if self.layout.overview:
            levels = [coarser(grid.values, f // finest) for f in self.layout.overview]
            out["overview"] = [
                self.compressor.later(b"".join(_float16(level[h]).tobytes() for level in levels))
                for h in range(grid.values.shape[0])
            ]
        self.pooled[layer] = out

    def nbytes(self):
        """Host bytes this part holds until written (compressed chunks done so far)."""
        futures = [f for f, _ in self.chunks.values()]
        for pooled in self.pooled.values():
            futures += ([pooled["thumbnails"]] if "thumbnails" in pooled else []) + pooled.get("overview", [])
        return sum(len(f.result()) for f in futures)

    def write(self, payload_file):
        """Append every chunk to the payload file (on the writer thread); the part's layout fields
        for its header: block table (and nnz), thumbnails, overview."""
        layers = self.plan.shape[0]
        table, nnz = [], []
        for layer in range(layers):
            refs = [[] for _ in self.ranges]
            counts = [[] for _ in self.ranges]
            for b in range(len(self.ranges)):
                for band in range(len(self.bands)):
                    future, n = self.chunks[(layer, b, band)]
                    refs[b].append(payload_file.append_compressed(future.result()))
                    counts[b].append(n)
            table.append(refs if self.layout.band_rows else [r[0] for r in refs])
            nnz.append(counts if self.layout.band_rows else [c[0] for c in counts])
        fields = {"head_block": self.layout.head_block, "blocks": table}
        if self.plan.sparse:
            fields["nnz"] = nnz
        if self.layout.band_rows:
            fields["band_rows"] = self.layout.band_rows
        if self.layout.detail != (0, self.plan.queries):
            fields["detail_rows"] = list(self.layout.detail)
        fields.update(self._pooled_fields(payload_file))
        return fields

    def _pooled_fields(self, payload_file):
        _, _, q, k = self.plan.shape
        out = {}
        if self.layout.thumbnail and self.pooled:
            chunks = [
                payload_file.append_compressed(self.pooled[layer]["thumbnails"].result())
                for layer in sorted(self.pooled)
            ]
            out["thumbnails"] = {
                "size": list(grid_shape(q, k, self.layout.thumbnail)),
                "factor": self.layout.thumbnail,
                "chunks": chunks,
            }
        if self.layout.overview and self.pooled:
            chunks = [
                [payload_file.append_compressed(f.result()) for f in self.pooled[layer]["overview"]]
                for layer in sorted(self.pooled)
            ]
            out["overview"] = {
                "factors": list(self.layout.overview),
                "sizes": [list(grid_shape(q, k, f)) for f in self.layout.overview],
                "chunks": chunks,
            }
        return out


def full_width(weights, key_start, keys):
    """A block widened to every key (zeros outside its range), for consumers that take whole rows
    (in a reused scratch buffer: valid until the next block)."""
    width = weights.shape[-1]
    if key_start == 0 and width == keys:
        return weights
    full = scratch.get("full width", weights.shape[:-1] + (keys,), weights.dtype, weights.device)
    full[..., :key_start].zero_()
    full[..., key_start + width :].zero_()
    full[..., key_start : key_start + width] = weights
    return full


def _float16(tensor):
    return np.ascontiguousarray(tensor.to("cpu").numpy(), dtype=blocks.THUMBNAIL_DTYPE)

"""What a record stores, decided on the bytes it will have on disk (and so in host memory until
written: chunks are compressed as they are made), estimated from a sample of its weights:

1. dense, when the whole record compresses into the budget (a record that compresses well stays
   dense);
2. else, per query row, its strongest keys and the weight they hold (DEFAULT_TOP_K, down to
   MIN_TOP_K when that does not fit), beside a max-pooled overview of every head;
3. else DEFAULT_TOP_K keys per row for a window of the last query rows only (the others through
   the overview and thumbnails).

The log says what was chosen (docs/format.md, "Long inputs: the byte budget")."""

import dataclasses
import logging
import math

import numpy as np

from tb_attention.format import blocks, payload
from tb_attention.writing.stream import BAND_ROWS, layout_for

logger = logging.getLogger("tb_attention")

# The most keys per row a sparse record keeps unless the caller asks for more: a 32k-token row's
# strongest 32 keys hold most of its weight in trained heads, and more costs bytes on every row.
DEFAULT_TOP_K = 32
# Fewer keys than this per row say little (the strongest is often just the sink): past it, the
# record keeps DEFAULT_TOP_K keys for a window of the last rows instead.
MIN_TOP_K = 8
# Compressed overview bytes per raw byte (float16 max-pooled cells; a causal half compresses away).
OVERVIEW_RATIO = 0.6
OVERVIEW_SHARE = 0.25  # the overview takes at most this share of the budget


@dataclasses.dataclass
class Costs:
    """Bytes on disk, measured by encoding and compressing a sample of the record's weights."""

    dense_per_weight: float
    row_overhead: float  # a sparse row's bytes beside its entries
    per_entry: float  # a sparse row's bytes per kept key

    def sparse_per_row(self, top_k):
        return self.row_overhead + self.per_entry * top_k


def _compressed(raw):
    return len(payload.compress(raw))


def measure_costs(sample, precision):
    """Costs of float32 weights `sample` `[heads, rows, keys]` (numpy), a few rows of the record."""
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    heads, rows, keys = sample.shape
    dense = _compressed(blocks.encode_dense(sample, precision)) / sample.size
    sizes = {}
    for top_k in (4, 64):
        counts, kept, indices, values = blocks.select_keys(sample, top_k=min(top_k, keys))
        raw = blocks.encode_sparse(counts, kept, indices, values, keys, precision)
        sizes[top_k] = (_compressed(raw) / (heads * rows), max(1.0, indices.size / (heads * rows)))
    (b4, n4), (b64, n64) = sizes[4], sizes[64]
    per_entry = max(0.5, (b64 - b4) / max(1.0, n64 - n4))
    return Costs(dense, max(1.0, b4 - per_entry * n4), per_entry)


def _overview_bytes(layout, shape):
    layers, heads, q, k = shape
    cells = sum(math.ceil(q / f) * math.ceil(k / f) for f in layout.overview)
    return layers * heads * cells * blocks.THUMBNAIL_DTYPE.itemsize * OVERVIEW_RATIO


def _mb(n):
    return "%.0f MB" % (n / 1e6) if n >= 1e7 else "%.1f MB" % (n / 1e6)


def plan_storage(plan, costs, max_bytes, what="attention"):
    """(PartPlan, Layout) of a dense PartPlan within `max_bytes` on disk (None: no limit). A plan
    with the caller's own sparse rule keeps it."""
    layers, heads, q, k = plan.shape
    dense = layers * heads * q * k * costs.dense_per_weight
    if plan.sparse:
        per_row = costs.sparse_per_row(min(plan.top_k or k, k)) if plan.top_mass is None else None
        if max_bytes is not None and per_row is not None and layers * heads * q * per_row > max_bytes:
            raise ValueError(
                "%s would take about %s on disk even sparse, over max_bytes=%s: pass layers= or heads= to log a "
                "subset, a smaller top_k=, or max_bytes=None to store it all"
                % (what, _mb(layers * heads * q * per_row), _mb(max_bytes))
            )
        return plan, layout_for(plan)
    if max_bytes is None or dense <= max_bytes:
        return plan, layout_for(plan)
    overview_cells = 1024
    layout = layout_for(plan, overview_cells=overview_cells)
    while layout.overview and _overview_bytes(layout, plan.shape) > OVERVIEW_SHARE * max_bytes and overview_cells > 64:
        overview_cells //= 2
        layout = layout_for(plan, overview_cells=overview_cells)
    left = max_bytes - _overview_bytes(layout, plan.shape)
    rows = layers * heads * q
    top_k = DEFAULT_TOP_K
    while top_k > MIN_TOP_K and rows * costs.sparse_per_row(top_k) > left:
        top_k //= 2
    sparse = dataclasses.replace(plan, top_k=min(top_k, k))
    detail = (0, q)
    if rows * costs.sparse_per_row(top_k) > left:
        top_k = min(DEFAULT_TOP_K, k)
        sparse = dataclasses.replace(plan, top_k=top_k)
        keep = int(left / (layers * heads * costs.sparse_per_row(top_k)))
        keep = max(BAND_ROWS, keep // BAND_ROWS * BAND_ROWS) if keep >= BAND_ROWS else max(1, keep)
        detail = (max(0, q - keep), q)
    layout = layout_for(sparse, detail=detail, overview_cells=overview_cells)
    _say(what, dense, max_bytes, sparse, layout, costs)
    return sparse, layout


def _say(what, dense, max_bytes, plan, layout, costs):
    layers, heads, q, k = plan.shape
    r0, r1 = layout.detail
    rows = "every query row" if (r0, r1) == (0, q) else "query rows %d-%d (the last %d)" % (r0, r1 - 1, r1 - r0)
    overview = (
        ", and a max-pooled overview of every head (%d x %d cells at its finest)"
        % (math.ceil(q / layout.overview[0]), math.ceil(k / layout.overview[0]))
        if layout.overview
        else ""
    )
    estimate = layers * heads * (r1 - r0) * costs.sparse_per_row(plan.top_k)
    logger.warning(
        "tb_attention: %s would take about %s on disk dense, over max_bytes=%s: storing the %d strongest keys "
        "of %s (about %s, each row's kept weight recorded)%s; pass top_k=, layers=, heads= or max_bytes=None "
        "to choose",
        what,
        _mb(dense),
        _mb(max_bytes),
        plan.top_k,
        rows,
        _mb(estimate),
        overview,
    )

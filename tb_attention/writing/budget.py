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


# Estimates from a small sample are multiplied by this: a record must not outgrow its budget.
MARGIN = 1.25


@dataclasses.dataclass
class Costs:
    """Bytes on disk, measured by encoding and compressing a sample of the record's weights."""

    dense_per_weight: float
    per_row: dict  # top_k -> bytes of a sparse row keeping (at most) that many keys
    last_rows: dict  # the same, of the sample's last rows (a causal row sees more keys the later it is)

    def sparse_per_row(self, top_k, last=False):
        table = self.last_rows if last else self.per_row
        near = min(table, key=lambda t: abs(t - top_k))
        return table[near] * max(1.0, top_k / near)


def _compressed(raw):
    return len(payload.compress(raw))


def _sparse_row_bytes(sample, top_k, precision):
    heads, rows, keys = sample.shape
    counts, kept, indices, values = blocks.select_keys(sample, top_k=min(top_k, keys))
    return MARGIN * _compressed(blocks.encode_sparse(counts, kept, indices, values, keys, precision)) / (heads * rows)


def measure_costs(sample, precision, top_ks=(8, 16, 32), last_rows=16):
    """Costs of float32 weights `sample` `[heads, rows, keys]` (numpy: a few spans of rows of the
    record, the last span its last rows), with MARGIN added."""
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    dense = _compressed(blocks.encode_dense(sample, precision)) / sample.size
    tail = np.ascontiguousarray(sample[:, -last_rows:])
    return Costs(
        MARGIN * dense,
        {t: _sparse_row_bytes(sample, t, precision) for t in top_ks},
        {t: _sparse_row_bytes(tail, t, precision) for t in top_ks},
    )


def sample_rows(start, end, spans=4, rows=16):
    """Row ranges spread over [start, end): where a plan samples a record's weights."""
    n = end - start
    if n <= spans * rows:
        return [(start, end)]
    firsts = [start + (n - rows) * i // (spans - 1) for i in range(spans)]
    return [(a, a + rows) for a in firsts]


def plan_parts(plans, sample, max_bytes, what="attention"):
    """[(PartPlan, Layout)] of each part's plan (`plan.plan_record`'s, unbudgeted) within
    `max_bytes` on disk, shared by the parts in proportion to their size; `sample(i, heads,
    row_ranges)` gives float32 numpy `[heads, rows, keys]` of part i's first stored layer."""
    sizes = [p.dense_bytes() for p in plans]
    out = []
    for i, plan in enumerate(plans):
        share = None if max_bytes is None else max(1, int(max_bytes * sizes[i] / max(1, sum(sizes))))
        heads = sorted({plan.head_ids[0], plan.head_ids[-1]})
        costs = measure_costs(sample(i, heads, sample_rows(0, plan.queries)), plan.precision)
        out.append(plan_storage(plan, costs, share, what if len(plans) == 1 else "%s (part %d)" % (what, i)))
    return out


def _pooled_bytes(layout, shape):
    """Estimated bytes on disk of a layout's overview levels and thumbnails (float16 cells)."""
    layers, heads, q, k = shape
    factors = list(layout.overview) + ([layout.thumbnail] if layout.thumbnail else [])
    cells = sum(math.ceil(q / f) * math.ceil(k / f) for f in factors)
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
    if max_bytes is None or dense + _pooled_bytes(layout_for(plan), plan.shape) <= max_bytes:
        return plan, layout_for(plan)
    overview_cells = 1024
    layout = layout_for(plan, overview_cells=overview_cells)
    while layout.overview and _pooled_bytes(layout, plan.shape) > OVERVIEW_SHARE * max_bytes and overview_cells > 64:
        overview_cells //= 2
        layout = layout_for(plan, overview_cells=overview_cells)
    left = max_bytes - _pooled_bytes(layout, plan.shape)
    rows = layers * heads * q
    top_k = DEFAULT_TOP_K
    while top_k > MIN_TOP_K and rows * costs.sparse_per_row(top_k) > left:
        top_k //= 2
    sparse = dataclasses.replace(plan, top_k=min(top_k, k))
    detail = (0, q)
    if rows * costs.sparse_per_row(top_k) > left:
        top_k = min(DEFAULT_TOP_K, k)
        sparse = dataclasses.replace(plan, top_k=top_k)
        keep = int(left / (layers * heads * costs.sparse_per_row(top_k, last=True))) if left > 0 else 0
        if keep < 1:
            raise ValueError(
                "%s cannot fit max_bytes=%s on disk, not even one query row's strongest keys beside the overview: "
                "pass layers= or heads= to log a subset, or a larger max_bytes" % (what, _mb(max_bytes))
            )
        keep = keep // BAND_ROWS * BAND_ROWS if keep >= BAND_ROWS else keep
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
    estimate = layers * heads * (r1 - r0) * costs.sparse_per_row(plan.top_k, last=(r0, r1) != (0, q))
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


# Queries and keys take at most this share of a record's budget; the attention gets the rest.
QK_SHARE = 0.5
QK_MARGIN = 1.05  # estimates from one whole layer's chunk, compressed: float16 compresses evenly


def spread(count, keep):
    """`keep` of positions 0..count-1, evenly spread, the first and the last included."""
    if keep >= count:
        return list(range(count))
    if keep == 1:
        return [count - 1]
    return sorted({round(i * (count - 1) / (keep - 1)) for i in range(keep)})


def fit_qk(plan, layer_bytes, max_bytes, what="attention"):
    """(QKPlan, its bytes on disk) within QK_SHARE of `max_bytes` (None: no limit), one layer's
    chunk taking `layer_bytes`: every layer asked for, else as many as fit, evenly spread over
    them (the log says which); ValueError when not even one fits."""
    per_layer = layer_bytes * QK_MARGIN
    wanted = len(plan.layers)
    if max_bytes is None or wanted * per_layer <= QK_SHARE * max_bytes:
        return plan, wanted * per_layer
    keep = int(QK_SHARE * max_bytes // per_layer)
    if keep < 1:
        raise ValueError(
            "%s: the queries and keys of one layer take about %s on disk, over half of max_bytes=%s: pass "
            "qk={'heads': [...]} for fewer heads, or a larger max_bytes" % (what, _mb(per_layer), _mb(max_bytes))
        )
    layers = [plan.layers[i] for i in spread(wanted, keep)]
    logger.warning(
        "tb_attention: %s: the queries and keys of %d layers would take about %s on disk, over half of max_bytes=%s: "
        "keeping those of %d stored layers %s (evenly spread); pass qk={'layers': [...]} or max_bytes= to choose",
        what,
        wanted,
        _mb(wanted * per_layer),
        _mb(max_bytes),
        len(layers),
        layers,
    )
    return dataclasses.replace(plan, layers=layers), len(layers) * per_layer

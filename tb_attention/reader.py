"""`read_attention`: logged attention back in Python (notebooks, analysis, tests).

Built on TensorBoard's own event loading (`EventMultiplexer` and its data provider), so it reads
exactly what the TensorBoard server reads, from any logdir TensorBoard's Python loader can open.
Records are lazy: their index comes with the listing, their layers are read when asked for.
"""

import dataclasses
import functools
import os
from typing import List, Optional, Tuple

import numpy as np

from tb_attention.analysis import qk as qk_analysis
from tb_attention.analysis.importance import normalize
from tb_attention.format import metadata
from tb_attention.storage.rundirs import RunDirectories
from tb_attention.storage.store import AttentionStore


class AttentionRecord:
    """One logged step of one tag, as one attention kind (`kinds` lists the record's kinds).

    `tokens`, `key_tokens`, `sentence_b_start`, `precision`, `patterns` (metric -> float32
    `[layers, heads]`, as computed when logged, from the full weights), `layer_ids` / `head_ids`
    (the model's numbers of the stored layers and heads), `encoding` ("dense" or "sparse") and
    `sparse` (its rule) are read with the listing; for a set of examples (`score_examples=`)
    `patterns` are the mean over the set and `example_scores` says how many examples define
    each score, their spread and the half width of the mean's confidence interval
    ({"examples", "level", "count", "std", "half"}; None for other records); `layer(i)` reads one layer (float32
    `[heads, queries, keys]`; a sparse record densified, zeros where keys were dropped),
    `attention` the whole part `[layers, heads, queries, keys]`; for sparse records
    `kept_mass(i)` is the weight each query row kept `[heads, queries]` and `sparse_layer(i)` the
    stored form. Records logged with `qk=` (or `queries=`/`keys=`) keep the queries and keys of
    `qk_layers` (stored layer indices) for `qk_heads`: `qk(i)` reads them, `qk_attention(i)`
    rebuilds the attention from them; `qk_info` says how (scaling, rotary, precision, ...).
    """

    def __init__(self, tag, stored):
        self._stored = stored  # storage.stored_part.StoredPart
        record, part = stored.record, stored.part
        self.run, self.tag, self.step, self.wall_time = stored.run, tag, record.ref.step, record.ref.wall_time
        self.kind, self.kinds = part.kind, list(record.parts)
        self.tokens, self.key_tokens = part.tokens, part.key_tokens
        self.sentence_b_start, self.precision = part.sentence_b_start, part.precision
        self.shape, self.layer_ids, self.head_ids = part.shape, part.layer_ids, part.head_ids
        self.patterns, self.example_scores = part.patterns, part.example_scores
        self.encoding, self.sparse = part.encoding, part.sparse
        self.kv_heads, self.windows, self.causal = part.kv_heads, part.windows, part.causal
        self.qk_layers, self.qk_heads = stored.qk_layers(), stored.qk_heads()
        self.qk_info = None if not part.qk else {k: v for k, v in part.qk.items() if k != "chunks"}

    def layer(self, index, heads=None):
        """Float32 `[heads, queries, keys]` of stored layer `index` (the given heads, else all)."""
        return self._stored.layer(index, heads)

    def region(self, index, heads=None, rows=None, keys=None, factor=1):
        """Float32 `[heads, rows', keys']`: the max-pooled cells of `factor` (a power of two) over
        query rows [rows) x keys [keys) of stored layer `index` (default the whole layer), read
        from the stored overview or detail of a long record; NaN where the record stores nothing."""
        _, _, q, k = self.shape
        return self._stored.region(index, heads, rows or (0, q), keys or (0, k), factor)

    def kept_mass(self, index, heads=None):
        """Float32 `[heads, queries]`: the weight each row of stored layer `index` kept (before
        quantising), or None for a dense record (every row keeps all its weight)."""
        return self._stored.kept_mass(index, heads)

    def sparse_layer(self, index):
        """The stored form of a sparse layer: per block of heads `((first, end), counts [heads,
        queries], kept [heads, queries], key indices, float32 weights)`, rows in order and key
        indices ascending within each row (`counts` says how many belong to each row)."""
        return self._stored.sparse_layer(index)

    def qk(self, index, heads=None):
        """(queries, keys): float32 `[heads, queries, head_dim]` and `[heads, keys, head_dim]` of
        stored layer `index` (the heads given, else `qk_heads`), after rotary embedding; each
        head's keys are those of the KV head it reads (grouped-query attention)."""
        return self._stored.qk(index, heads)

    def qk_attention(self, index, heads=None):
        """(weights, tolerance): float32 `[heads, queries, keys]` rebuilt from the stored queries
        and keys, softmax(q·k·scaling, soft-capped, + the mask), and the bound within which the
        stored attention of those heads equals it (docs/format.md, "Queries and keys")."""
        _, _, weights, bound = qk_analysis.rebuilt(self._stored, index, heads)
        return weights, bound

    @functools.cached_property
    def attention(self):
        """Float32 `[layers, heads, queries, keys]` of the whole part (read on first use)."""
        return self._stored.attention()

    def part(self, kind):
        """This step as another attention kind of the same record (e.g. "cross"); KeyError names
        the kinds it has."""
        return AttentionRecord(self.tag, self._stored.other(kind))

    def __repr__(self):
        return "AttentionRecord(run=%r, tag=%r, step=%d, kind=%r, shape=%s)" % (
            self.run,
            self.tag,
            self.step,
            self.kind,
            list(self.shape),
        )


def _data_provider(logdir, run=None):
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer

    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        tensor_size_guidance={metadata.PLUGIN_NAME: 0}  # 0: keep every step
    )
    if run is None or run == ".":
        multiplexer.AddRunsFromDirectory(logdir)
    else:  # a run is one directory: load only that one, under its usual name
        multiplexer.AddRun(
            os.path.join(logdir, run) if "://" not in logdir else logdir.rstrip("/") + "/" + run, name=run
        )
    multiplexer.Reload()
    return data_provider.MultiplexerDataProvider(multiplexer, logdir)


def read_attention(logdir, run=None, tag=None, step=None, kind=None):
    """Yield an `AttentionRecord` per logged (run, tag, step), in that order.

    `run`, `tag` and `step` filter (run names are relative to `logdir`, "." for the top); `kind`
    picks the attention kind of encoder-decoder records ("encoder", "decoder", "cross"; default:
    the first logged). Layers are read only when a record's `layer(i)` or `attention` is used.
    """
    from tensorboard import context

    ctx = context.RequestContext()
    store = AttentionStore(_data_provider(logdir, run), RunDirectories(logdir=logdir))
    for run_name, tags in sorted(store.tags(ctx, "").items()):
        if run is not None and run_name != run:
            continue
        for tag_name in sorted(tags):
            if tag is not None and tag_name != tag:
                continue
            for ref in store.steps(ctx, "", run_name, tag_name):
                if step is not None and ref.step != step:
                    continue
                record = store.index.record(ctx, ref)
                if kind is not None and kind not in record.parts:
                    continue
                yield AttentionRecord(tag_name, store.open(ctx, run_name, record, kind))


@dataclasses.dataclass
class ImportanceRecord:
    """One logged step of a head-importance tag: `values` (float32 `[layers, heads]`, raw: the
    expected absolute gradient), `rows` (None, or the (kind, layer) of each row), the `loss`
    (every head on), `examples` and `batches` it was measured on, and the `ablation` check
    (docs/format.md) when one was made; `normalized` is each layer divided by its l2 norm."""

    run: str
    tag: str
    step: int
    wall_time: float
    values: np.ndarray
    rows: Optional[List[Tuple[str, int]]]
    loss: Optional[float]
    examples: Optional[int]
    batches: Optional[int]
    ablation: Optional[dict]

    @property
    def normalized(self):
        return normalize(self.values)


def read_importance(logdir, run=None, tag=None):
    """Yield an `ImportanceRecord` per logged (run, tag, step) of head importance, in that order."""
    from tensorboard import context

    ctx = context.RequestContext()
    store = AttentionStore(_data_provider(logdir, run), RunDirectories(logdir=logdir))
    for run_name, tags in sorted(store.importance_tags(ctx, "").items()):
        if run is not None and run_name != run:
            continue
        for tag_name in tags:
            if tag is not None and tag_name != tag:
                continue
            for s in store.importance(ctx, "", run_name, tag_name):
                r = s.record
                yield ImportanceRecord(
                    run_name,
                    tag_name,
                    s.step,
                    s.wall_time,
                    r["values"],
                    r["rows"],
                    r["loss"],
                    r["examples"],
                    r["batches"],
                    r["ablation"],
                )

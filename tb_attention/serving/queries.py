"""What each route answers, as plain functions of the store: testable without HTTP, cached where
the answer can only change with the records it reads (docs/http_api.md)."""

import dataclasses
import logging
import zlib
from typing import Callable, Optional

import numpy as np

from tb_attention.analysis.tokens import DEFAULT_SPECIAL_TOKENS, word_ids
from tb_attention.format import payload, precision
from tb_attention.format.errors import FormatError
from tb_attention.storage.cache import LRU
from tb_attention.storage.errors import NotFound

logger = logging.getLogger(__name__)
ANSWER_CACHE_BYTES = 64 << 20


def _with_word_ids(described):
    """A part as /steps lists it, with the word of each query (and cross-attention key) token:
    the panel groups word pieces by these ids and keeps no copy of the rule."""
    described["word_ids"] = word_ids(described["tokens"], DEFAULT_SPECIAL_TOKENS).tolist()
    keys = described["key_tokens"]
    described["key_word_ids"] = None if keys is None else word_ids(keys, DEFAULT_SPECIAL_TOKENS).tolist()
    return described


class BadRequest(ValueError):
    """A request that cannot be answered as asked: a missing or malformed parameter, or two
    records that cannot be compared (HTTP 400)."""


@dataclasses.dataclass
class ArrayPayload:
    """A little-endian array for a binary route: its raw bytes (made on demand), or already
    encoded bytes with their HTTP content-coding, which may be sent as they are."""

    shape: tuple
    dtype: str  # uint8, float16, float32
    scale: float  # weight = value * scale
    raw: Callable[[], bytes]
    encoded: Optional[tuple] = None  # (content-coding, bytes)
    precision: Optional[str] = None


def _stored_payload(shape, part_precision, raw, encoded=None):
    return ArrayPayload(
        shape, precision.dtype(part_precision).name, precision.scale(part_precision), raw, encoded, part_precision
    )


def _float16_payload(values):
    values = np.ascontiguousarray(values, dtype="<f2")
    return ArrayPayload(values.shape, "float16", 1.0, values.tobytes)


def _query_rows(queries, q_start, q_end):
    """(first, end) of the query rows asked for, or None for all of them."""
    if q_start is None and q_end is None:
        return None
    first = 0 if q_start is None else q_start
    end = queries if q_end is None else q_end
    if not 0 <= first < end <= queries:
        raise BadRequest(
            "query rows [%d, %d) are out of range: the layer has %d queries (0 <= q_start < q_end <= %d)"
            % (first, end, queries, queries)
        )
    return first, end


def _sparse_rows(blocks_of_layer, wanted, rows, k, reduce, part_precision):
    """Rows [r0, r1) of the `wanted` heads of a sparse layer, densified (stored dtype), or their
    mean over `wanted` (float32 `[1, rows, k]`); only the kept weights of those rows are touched."""
    r0, r1 = rows
    n = r1 - r0
    mult = {}
    for h in wanted:
        mult[h] = mult.get(h, 0) + 1
    out = np.zeros(
        (1 if reduce else len(wanted), n, k), dtype=np.float32 if reduce else precision.dtype(part_precision)
    )
    for (h0, h1), counts, _, indices, weights in blocks_of_layer:
        q = counts.shape[1]
        offsets = np.zeros(counts.size + 1, dtype=np.int64)
        np.cumsum(counts.ravel(), out=offsets[1:])
        for h in range(h0, h1):
            if h not in mult:
                continue
            j = h - h0
            a, b = offsets[j * q + r0], offsets[j * q + r1]
            flat = np.repeat(np.arange(n, dtype=np.int64) * k, counts[j, r0:r1].astype(np.int64)) + indices[a:b]
            if reduce:
                out[0].reshape(-1)[flat] += weights[a:b] * np.float32(mult[h])  # keys are unique within a row
            else:
                stored = precision.quantize(weights[a:b], part_precision)
                for slot in (i for i, x in enumerate(wanted) if x == h):
                    out[slot].reshape(-1)[flat] = stored
    if reduce:
        out /= np.float32(len(wanted))
    return out


class AttentionQueries:
    """The plugin's answers over an `AttentionStore`."""

    def __init__(self, store, cache_bytes=ANSWER_CACHE_BYTES):
        self.store = store
        self._answers = LRU(1024, cache_bytes)  # (route, records...) -> answer

    # -- listings ------------------------------------------------------------------------------

    def tags(self, ctx, experiment_id):
        """Runs and their attention tags."""
        return {
            "runs": {
                run: {
                    tag: {
                        "max_step": series.max_step,
                        "max_wall_time": series.max_wall_time,
                        "display_name": series.display_name or tag,
                    }
                    for tag, series in tags.items()
                }
                for run, tags in self.store.tags(ctx, experiment_id).items()
            }
        }

    def _readable(self, ctx, run, tag, refs):
        """Decoded records of every step whose header decodes; unreadable ones are logged, skipped."""
        out = []
        for ref in refs:
            try:
                out.append(self.store.record(ctx, ref))
            except FormatError as e:
                logger.warning("skipping unreadable attention record %s/%s@%d: %s", run, tag, ref.step, e)
        return out

    def steps(self, ctx, experiment_id, run, tag):
        """Every readable step of a (run, tag): its attention kinds, each with tokens and shape."""
        records = self._readable(ctx, run, tag, self.store.steps(ctx, experiment_id, run, tag))
        return {
            "run": run,
            "tag": tag,
            "steps": [
                {
                    "step": r.ref.step,
                    "wall_time": r.ref.wall_time,
                    "kinds": list(r.parts),
                    "parts": {kind: _with_word_ids(part.describe()) for kind, part in r.parts.items()},
                }
                for r in records
            ],
        }

    def _record_part(self, ctx, experiment_id, run, tag, step, kind):
        record = self.store.record(ctx, self.store.find_step(ctx, experiment_id, run, tag, step))
        try:
            return record, record.part(kind)
        except KeyError as e:
            raise NotFound(e.args[0]) from None

    # -- binary --------------------------------------------------------------------------------

    def layer(
        self,
        ctx,
        experiment_id,
        run,
        tag,
        step,
        layer,
        kind=None,
        heads=None,
        form=None,
        reduce=None,
        q_start=None,
        q_end=None,
    ):
        """One layer of one step (the given heads, else every head): `[heads, q, k]` dense (sparse
        records densified), or with form="kept" the weight each sparse row kept, `[heads, q]`.
        `q_start`/`q_end` keep the query rows [q_start, q_end); reduce="mean" averages the listed
        heads into one (float32 `[1, rows, k]`, or `[1, rows]` kept), one block at a time."""
        record, part = self._record_part(ctx, experiment_id, run, tag, step, kind)
        _, n_heads, q, k = part.shape
        if heads is not None and not all(0 <= h < n_heads for h in heads):
            raise NotFound("heads %s are out of range (0..%d)" % (list(heads), n_heads - 1))
        if reduce not in (None, "mean"):
            raise BadRequest("reduce must be mean, got %r" % reduce[:40])
        rows = _query_rows(q, q_start, q_end)
        count = n_heads if heads is None else len(heads)
        if form == "kept":
            kept = self.store.kept_mass(run, record, part, layer, heads)
            if kept is None:
                raise BadRequest("this record is dense: every query row keeps all of its weight")
            kept = np.asarray(kept, dtype=np.float32)[:, slice(*rows) if rows else slice(None)]
            if reduce:
                kept = kept.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
            return ArrayPayload(kept.shape, "float32", 1.0, np.ascontiguousarray(kept, dtype="<f4").tobytes)
        if form not in (None, "dense"):
            raise BadRequest("form must be dense or kept, got %r" % form)
        if reduce or rows:
            return self._layer_selection(ctx, run, record, part, layer, heads, rows or (0, q), reduce)
        if heads is None and record.version <= 1:
            blob = self.store.v1_blob(ctx, record, part, layer)
            return _stored_payload(
                (count, q, k), part.precision, lambda: zlib.decompress(blob), ("deflate", bytes(blob))
            )
        if heads is None and part.encoding == "dense":
            chunks = self.store.block_chunks(run, record, part, layer)
            for data, (h0, h1), size, _ in chunks:  # 422 rather than a 200 the panel cannot decode
                if payload.frame_size(data) != size:
                    raise FormatError("layer %d heads %d-%d: payload chunk has the wrong size" % (layer, h0, h1 - 1))

            def raw():
                return b"".join(payload.decompress(data, size, "layer %d" % layer) for data, _, size, _ in chunks)

            return _stored_payload((count, q, k), part.precision, raw, ("zstd", b"".join(c[0] for c in chunks)))
        stored = np.ascontiguousarray(self.store.layer(ctx, run, record, part, layer, heads, stored=True)).tobytes()
        return _stored_payload((count, q, k), part.precision, lambda: stored)

    def _layer_selection(self, ctx, run, record, part, layer, heads, rows, reduce):
        """Query rows [r0, r1) of the listed heads, as stored, or their mean (float32), read one
        block of heads at a time: a long layer is never densified whole."""
        _, n_heads, _, k = part.shape
        wanted = list(range(n_heads)) if heads is None else list(heads)
        if record.version >= 2 and part.encoding == "sparse":
            out = _sparse_rows(
                self.store.sparse_layer(run, record, part, layer), wanted, rows, k, reduce, part.precision
            )
        else:
            block = part.layout["head_block"] if record.version >= 2 else n_heads
            out = None
            for b in sorted({h // block for h in wanted}):
                slots = [i for i, h in enumerate(wanted) if h // block == b]
                values = self.store.layer(ctx, run, record, part, layer, [wanted[i] for i in slots], stored=not reduce)
                values = values[:, rows[0] : rows[1]]
                if reduce:
                    out = (
                        values.sum(axis=0, dtype=np.float32)
                        if out is None
                        else out + values.sum(axis=0, dtype=np.float32)
                    )
                else:
                    if out is None:
                        out = np.zeros((len(wanted),) + values.shape[1:], dtype=values.dtype)
                    out[slots] = values
            if reduce:
                out = (out / np.float32(len(wanted)))[None]
        if reduce:
            return ArrayPayload(
                out.shape, "float32", 1.0, np.ascontiguousarray(out, dtype="<f4").tobytes, None, part.precision
            )
        return _stored_payload(out.shape, part.precision, np.ascontiguousarray(out).tobytes)

    def thumbnails(self, ctx, experiment_id, run, tag, step, kind=None):
        """Every head of every layer, max-pooled to at most 64 x 64: float16 [layers, heads, r, c]."""
        record, part = self._record_part(ctx, experiment_id, run, tag, step, kind)
        key = ("thumbnails", record.ref.key, part.kind)
        cached = self._answers.get(key)
        if cached is None:
            cached = _float16_payload(self.store.thumbnails(ctx, run, record, part))
            self._answers.put(key, cached, 2 * int(np.prod(cached.shape)))
        return cached

    # -- analysis ------------------------------------------------------------------------------

    def patterns(self, ctx, experiment_id, run, tag, kind=None):
        """Head-pattern scores and labels of every step of a (run, tag), and the labelling rules."""
        refs = self.store.steps(ctx, experiment_id, run, tag)
        key = ("patterns", experiment_id, run, tag, kind, tuple(ref.key for ref in refs))
        cached = self._answers.get(key)
        if cached is not None:
            return cached
        from tb_attention.analysis import labels
        from tb_attention.format.scores import scores_to_json

        out = {"run": run, "tag": tag, "steps": [], "scores": [], "head_labels": [], "rules": labels.describe()}
        size = 0
        for record in self._readable(ctx, run, tag, refs):
            part = record.parts.get(kind) if kind else record.part()
            scores = part.patterns if part is not None else None
            out["steps"].append(record.ref.step)
            out["scores"].append(scores_to_json(scores) if scores else None)
            out["head_labels"].append(labels.labels_json(scores) if scores else None)
            size += 6 * record.nbytes  # decoded JSON takes about six times its text
        self._answers.put(key, out, size)
        return out

    # Rollout, flow and heads that formed: serving/analysis_queries.py.
    def rollout(self, ctx, experiment_id, run, tag, step, kind=None, layer=None):
        from tb_attention.serving import analysis_queries

        return analysis_queries.rollout(self, ctx, experiment_id, run, tag, step, kind, layer)

    def relevance(self, ctx, experiment_id, run, tag, query, layer=None, kind=None, method=None):
        from tb_attention.serving import analysis_queries

        return analysis_queries.relevance(self, ctx, experiment_id, run, tag, query, layer, kind, method)

    def formed(self, ctx, experiment_id, run, tag, kind=None, step_a=None, step_b=None):
        from tb_attention.serving import analysis_queries

        return analysis_queries.formed(self, ctx, experiment_id, run, tag, kind, step_a, step_b)

    def change(self, ctx, experiment_id, a, b, kind=None):
        """Per-head Jensen-Shannon divergence between records `a` and `b`, each (run, tag, step)."""
        record_a, part_a = self._record_part(ctx, experiment_id, *a, kind)
        record_b, part_b = self._record_part(ctx, experiment_id, *b, part_a.kind)
        key = ("change", record_a.ref.key, record_b.ref.key, part_a.kind)
        cached = self._answers.get(key)
        if cached is None:
            cached = self._compute_change(ctx, (a[0], record_a, part_a), (b[0], record_b, part_b))
            self._answers.put(key, cached, 64 * part_a.shape[0] * part_a.shape[1])
        return cached

    def _compute_change(self, ctx, a, b):
        from tb_attention.analysis.change import head_change, kept_keys, sparse_head_change

        (run_a, record_a, part_a), (run_b, record_b, part_b) = a, b
        if part_a.shape != part_b.shape:
            raise BadRequest(
                "the two records differ in shape (%s vs %s): compare records of the same input"
                % (list(part_a.shape), list(part_b.shape))
            )
        layers, heads, q, k = part_a.shape
        if part_a.encoding == part_b.encoding == "sparse":
            # Over the kept keys only: a 2048-token record keeps 32 of each row's 2048.
            js = np.array(
                [
                    sparse_head_change(
                        kept_keys(self.store.sparse_layer(run_a, record_a, part_a, li)),
                        kept_keys(self.store.sparse_layer(run_b, record_b, part_b, li)),
                        q,
                        k,
                    )
                    for li in range(layers)
                ]
            ).round(6)
        else:
            # One block of heads at a time: two whole long records in float32 could take gigabytes.
            per_block = max(1, min(heads, (64 << 20) // (4 * q * k)))
            js = np.array(
                [
                    np.concatenate(
                        [
                            head_change(
                                self.store.layer(ctx, run_a, record_a, part_a, li, hs)[None],
                                self.store.layer(ctx, run_b, record_b, part_b, li, hs)[None],
                            )[0]
                            for hs in (list(range(h, min(heads, h + per_block))) for h in range(0, heads, per_block))
                        ]
                    )
                    for li in range(layers)
                ]
            ).round(6)
        order = np.argsort(-js, axis=None)
        return {
            "kind": part_a.kind,
            "js": js.tolist(),
            "layer_mean": js.mean(axis=1).round(6).tolist(),
            "ranking": [
                {"layer": int(i // js.shape[1]), "head": int(i % js.shape[1]), "js": float(js.flat[i])} for i in order
            ],
            "same_tokens": part_a.tokens == part_b.tokens and part_a.key_tokens == part_b.key_tokens,
        }

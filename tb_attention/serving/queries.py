"""What each route answers, as plain functions of the store: testable without HTTP, cached where
the answer can only change with the records it reads (docs/http_api.md)."""

import numpy as np

from tb_attention.format import precision
from tb_attention.serving.arrays import float_payload, stored_payload
from tb_attention.serving.errors import BadRequest
from tb_attention.storage.cache import LRU
from tb_attention.storage.errors import NotFound

ANSWER_CACHE_BYTES = 64 << 20


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
        self.cache = LRU(1024, cache_bytes)  # (route, records...) -> answer

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

    def steps(self, ctx, experiment_id, run, tag):
        """Every readable step of a (run, tag): its attention kinds, each with tokens and shape."""
        records = self.store.records(ctx, run, tag, self.store.steps(ctx, experiment_id, run, tag))
        return {
            "run": run,
            "tag": tag,
            "steps": [
                {
                    "step": r.ref.step,
                    "wall_time": r.ref.wall_time,
                    "kinds": list(r.parts),
                    "parts": {kind: part.describe() for kind, part in r.parts.items()},
                }
                for r in records
            ],
        }

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
        stored = self.store.part(ctx, experiment_id, run, tag, step, kind)
        _, n_heads, q, k = stored.part.shape
        if heads is not None and not all(0 <= h < n_heads for h in heads):
            raise NotFound("heads %s are out of range (0..%d)" % (list(heads), n_heads - 1))
        if reduce not in (None, "mean"):
            raise BadRequest("reduce must be mean, got %r" % reduce[:40])
        rows = _query_rows(q, q_start, q_end)
        count = n_heads if heads is None else len(heads)
        if form == "kept":
            kept = stored.kept_mass(layer, heads)
            if kept is None:
                raise BadRequest("this record is dense: every query row keeps all of its weight")
            kept = np.asarray(kept, dtype=np.float32)[:, slice(*rows) if rows else slice(None)]
            if reduce:
                kept = kept.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
            return float_payload(kept)
        if form not in (None, "dense"):
            raise BadRequest("form must be dense or kept, got %r" % form)
        if reduce or rows:
            return self._layer_selection(stored, layer, heads, rows or (0, q), reduce)
        encoded = stored.encoded_layer(layer) if heads is None else None
        if encoded is not None:
            coding, data, raw = encoded
            return stored_payload((count, q, k), stored.part.precision, raw, (coding, data))
        values = np.ascontiguousarray(stored.layer(layer, heads, stored=True)).tobytes()
        return stored_payload((count, q, k), stored.part.precision, lambda: values)

    def _layer_selection(self, stored, layer, heads, rows, reduce):
        """Query rows [r0, r1) of the listed heads, as stored, or their mean (float32), read one
        block of heads at a time: a long layer is never densified whole."""
        part = stored.part
        _, n_heads, _, k = part.shape
        wanted = list(range(n_heads)) if heads is None else list(heads)
        if part.encoding == "sparse":
            out = _sparse_rows(stored.sparse_layer(layer), wanted, rows, k, reduce, part.precision)
        else:
            block = stored.head_block()
            out = None
            for b in sorted({h // block for h in wanted}):
                slots = [i for i, h in enumerate(wanted) if h // block == b]
                values = stored.layer(layer, [wanted[i] for i in slots], stored=not reduce)
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
            return float_payload(out, part_precision=part.precision)
        return stored_payload(out.shape, part.precision, np.ascontiguousarray(out).tobytes)

    def thumbnails(self, ctx, experiment_id, run, tag, step, kind=None):
        """Every head of every layer, max-pooled to at most 64 x 64: float16 [layers, heads, r, c]."""
        stored = self.store.part(ctx, experiment_id, run, tag, step, kind)
        key = ("thumbnails",) + stored.key
        cached = self.cache.get(key)
        if cached is None:
            cached = float_payload(stored.thumbnails(), "float16")
            self.cache.put(key, cached, 2 * int(np.prod(cached.shape)))
        return cached

    # -- analysis ------------------------------------------------------------------------------

    def patterns(self, ctx, experiment_id, run, tag, kind=None):
        """Head-pattern scores and labels of every step of a (run, tag), and the labelling rules."""
        refs = self.store.steps(ctx, experiment_id, run, tag)
        key = ("patterns", experiment_id, run, tag, kind, tuple(ref.key for ref in refs))
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        from tb_attention.analysis import labels
        from tb_attention.format.scores import scores_to_json

        out = {"run": run, "tag": tag, "steps": [], "scores": [], "head_labels": [], "rules": labels.describe()}
        size = 0
        for record in self.store.records(ctx, run, tag, refs):
            part = record.parts.get(kind) if kind else record.part()
            scores = part.patterns if part is not None else None
            out["steps"].append(record.ref.step)
            out["scores"].append(scores_to_json(scores) if scores else None)
            out["head_labels"].append(labels.labels_json(scores) if scores else None)
            size += 6 * record.nbytes  # decoded JSON takes about six times its text
        self.cache.put(key, out, size)
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
        stored_a = self.store.part(ctx, experiment_id, *a, kind)
        stored_b = self.store.part(ctx, experiment_id, *b, stored_a.part.kind)
        key = ("change",) + stored_a.key + stored_b.key
        cached = self.cache.get(key)
        if cached is None:
            cached = self._compute_change(stored_a, stored_b)
            self.cache.put(key, cached, 64 * stored_a.part.shape[0] * stored_a.part.shape[1])
        return cached

    def _compute_change(self, stored_a, stored_b):
        from tb_attention.analysis.change import head_change, kept_keys, sparse_head_change

        part_a, part_b = stored_a.part, stored_b.part
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
                    sparse_head_change(kept_keys(stored_a.sparse_layer(li)), kept_keys(stored_b.sparse_layer(li)), q, k)
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
                            head_change(stored_a.layer(li, hs)[None], stored_b.layer(li, hs)[None])[0]
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

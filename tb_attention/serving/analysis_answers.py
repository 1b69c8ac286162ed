"""The analysis routes' answers (docs/http_api.md): the stored pattern scores and labels of every
step, the heads that formed between two steps, how much each head changed between two records,
and attention rollout and flow computed on the server from a record's stored layers, one layer
(a block of heads) at a time. Cached where an answer can only change with the records it reads."""

import numpy as np

from tb_attention.analysis import labels
from tb_attention.analysis.change import head_change, kept_keys, sparse_head_change
from tb_attention.analysis.example_stats import bands
from tb_attention.analysis.flow import MAX_FLOW_TOKENS, flow_relevance
from tb_attention.analysis.formed import formed_heads
from tb_attention.analysis.groups import group_scores, kv_groups
from tb_attention.analysis.rollout import Rollout
from tb_attention.format.scores import scores_to_json
from tb_attention.serving.arrays import float_payload
from tb_attention.serving.errors import BadRequest
from tb_attention.serving.importance_answers import ImportanceAnswers, merge_importance
from tb_attention.serving.requests import SeriesRequest
from tb_attention.storage.errors import NotFound

# Rollout multiplies q x q matrices once per layer: 1024 tokens x 32 layers is ~70 GFLOP, a few
# seconds on two cores; longer records are refused rather than left to time out.
MAX_ROLLOUT_TOKENS = 1024


def _check_rollout(part):
    _, _, q, k = part.shape
    if part.cross or q != k:
        raise BadRequest("rollout needs self-attention: attention of kind %r is cross-attention" % part.kind)
    if q > MAX_ROLLOUT_TOKENS:
        raise BadRequest(
            "rollout of %d tokens is refused (at most %d): it multiplies %d x %d matrices per layer"
            % (q, MAX_ROLLOUT_TOKENS, q, q)
        )


def _head_mean(stored, layer):
    """float64 `[q, q]`: the mean over the stored heads of one layer, read a block of heads at a
    time (32 heads of 1024 tokens would be 134 MB of float32 at once)."""
    _, heads, q, _ = stored.part.shape
    per_block = max(1, min(heads, (32 << 20) // (4 * q * q)))
    total = np.zeros((q, q))
    for h in range(0, heads, per_block):
        total += stored.layer(layer, list(range(h, min(heads, h + per_block)))).sum(axis=0, dtype=np.float64)
    return total / heads


def _js_per_head(stored_a, stored_b):
    """float64 `[layers, heads]` Jensen-Shannon divergence between two parts of one shape."""
    layers, heads, q, k = stored_a.part.shape
    if stored_a.part.encoding == stored_b.part.encoding == "sparse":
        # Over the kept keys only: a 2048-token record keeps 32 of each row's 2048.
        return np.array(
            [
                sparse_head_change(kept_keys(stored_a.sparse_layer(li)), kept_keys(stored_b.sparse_layer(li)), q, k)
                for li in range(layers)
            ]
        )
    # One block of heads at a time: two whole long records in float32 could take gigabytes.
    per_block = max(1, min(heads, (64 << 20) // (4 * q * k)))
    blocks = [list(range(h, min(heads, h + per_block))) for h in range(0, heads, per_block)]
    return np.array(
        [
            np.concatenate(
                [head_change(stored_a.layer(li, hs)[None], stored_b.layer(li, hs)[None])[0] for hs in blocks]
            )
            for li in range(layers)
        ]
    )


def _examples_json(part):
    """A set of examples' statistics for the panel: per metric the examples defining each score,
    their spread and the interval's bounds (low, high); None for a probe's record."""
    summary = part.example_scores
    if not summary:
        return None
    interval = bands(part.patterns, summary)
    return {
        "examples": summary["examples"],
        "level": summary["level"],
        "count": {m: v.astype(int).tolist() for m, v in summary["count"].items()},
        "std": scores_to_json(summary["std"]),
        "low": scores_to_json({m: lo for m, (lo, _) in interval.items()}),
        "high": scores_to_json({m: hi for m, (_, hi) in interval.items()}),
    }


def _groups_json(part):
    """Scores by KV head when the record knows its query heads' KV heads (grouped-query
    attention): each group's query heads, its mean scores and the labels they give."""
    if not part.kv_heads or not part.patterns:
        return None
    scores = group_scores(part.patterns, part.kv_heads)
    return {
        "kv_heads": [kv for kv, _ in kv_groups(part.kv_heads)],
        "members": [members for _, members in kv_groups(part.kv_heads)],
        "scores": scores_to_json(scores),
        "labels": labels.labels_json(scores),
    }


def _extras(part):
    """(a set of examples' statistics, the KV head of each head, the scores by KV head) of a part
    as /patterns lists them (None where the part has none)."""
    if part is None:
        return None, None, None
    scored = bool(part.patterns)
    return (_examples_json(part) if scored else None), part.kv_heads, (_groups_json(part) if scored else None)


class AnalysisAnswers:
    """The analysis routes' answers over an `AttentionStore`, cached in `cache` (an LRU shared
    with the other routes)."""

    def __init__(self, store, cache):
        self.store, self.cache = store, cache
        self.importances = ImportanceAnswers(store, cache)

    def importance(self, ctx, experiment_id, request):
        """A run's head importance over its steps (serving/importance_answers.py)."""
        return self.importances.importance(ctx, experiment_id, request)

    def patterns(self, ctx, experiment_id, request):
        """Head-pattern scores and labels of every step of a (run, tag), and the labelling rules;
        the run's head importance (normalised per layer) is one more metric where it was logged."""
        run, tag, kind = request.run, request.tag, request.kind
        refs = self.store.steps(ctx, experiment_id, run, tag)
        read, by_step = self.importances.normalized_by_step(ctx, experiment_id, run)
        key = ("patterns", experiment_id, run, tag, kind, tuple(ref.key for ref in refs), read)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        steps, scores, parts, extras, size = [], [], [], {}, 0
        for record in self.store.records(ctx, run, tag, refs):
            part = record.parts.get(kind) if kind else record.part()
            steps.append(record.ref.step)
            scores.append(part.patterns if part is not None else None)
            parts.append(None if part is None else (part.kind, part.layer_ids, part.head_ids))
            extras[record.ref.step] = _extras(part)
            size += 6 * record.nbytes  # decoded JSON takes about six times its text
        steps, scores = merge_importance(steps, scores, parts, by_step)
        out = {"run": run, "tag": tag, "steps": steps, "rules": labels.rules_json()}
        out["scores"] = [scores_to_json(s) if s else None for s in scores]
        out["head_labels"] = [labels.labels_json(s) if s else None for s in scores]
        for i, name in enumerate(("examples", "kv_heads", "groups")):
            out[name] = [extras.get(step, (None, None, None))[i] for step in steps]
        self.cache.put(key, out, size + 64 * len(by_step))
        return out

    def formed(self, ctx, experiment_id, request):
        """Heads that crossed a label's threshold between steps `step_a` and `step_b` (default the
        first and last logged), from the scores stored with each step."""
        body = self.patterns(ctx, experiment_id, SeriesRequest(run=request.run, tag=request.tag, kind=request.kind))
        answer = formed_heads(body["steps"], body["scores"], step_a=request.step_a, step_b=request.step_b)
        answer.update(run=request.run, tag=request.tag)
        kv = next((k for k in reversed(body["kv_heads"]) if k), None)  # the last step that knows them
        for entry in answer["formed"] + answer["lost"]:
            entry["kv_head"] = kv[entry["head"]] if kv and entry["head"] < len(kv) else None
        return answer

    def change(self, ctx, experiment_id, request):
        """Per-head Jensen-Shannon divergence between records A and B of a ChangeRequest."""
        a, b = request.a, request.b
        stored_a = self.store.part(ctx, experiment_id, run=a.run, tag=a.tag, step=a.step, kind=request.kind)
        stored_b = self.store.part(ctx, experiment_id, run=b.run, tag=b.tag, step=b.step, kind=stored_a.part.kind)
        key = ("change",) + stored_a.key + stored_b.key
        cached = self.cache.get(key)
        if cached is None:
            part_a, part_b = stored_a.part, stored_b.part
            if part_a.shape != part_b.shape:
                raise BadRequest(
                    "the two records differ in shape (%s vs %s): compare records of the same input"
                    % (list(part_a.shape), list(part_b.shape))
                )
            js = _js_per_head(stored_a, stored_b).round(6)
            cached = {
                "kind": part_a.kind,
                "js": js.tolist(),
                "layer_mean": js.mean(axis=1).round(6).tolist(),
                "ranking": [
                    {"layer": int(i // js.shape[1]), "head": int(i % js.shape[1]), "js": float(js.flat[i])}
                    for i in np.argsort(-js, axis=None)
                ],
                "same_tokens": part_a.tokens == part_b.tokens and part_a.key_tokens == part_b.key_tokens,
            }
            self.cache.put(key, cached, 64 * part_a.shape[0] * part_a.shape[1])
        return cached

    def _rollout_of(self, stored, augmented=False):
        """float32 `[layers, q, q]` rollout of a stored part (cached), reading one layer at a time;
        with `augmented`, the per-layer 0.5 A + 0.5 I matrices too (for flow: small inputs only)."""
        key = ("rollout",) + stored.key + (augmented,)
        cached = self.cache.get(key)
        if cached is None:
            rollout = Rollout()
            for layer in range(stored.part.shape[0]):
                rollout.add_mean(_head_mean(stored, layer))
            cached = (rollout.result(), rollout.augmented if augmented else None)
            layers, _, q, _ = stored.part.shape
            self.cache.put(key, cached, layers * q * q * (12 if augmented else 4))
        return cached

    def rollout(self, ctx, experiment_id, request):
        """Rollout up to each layer (or only up to `layer`): float32 `[layers or 1, q, q]`."""
        stored = self.store.part(
            ctx, experiment_id, run=request.run, tag=request.tag, step=request.step, kind=request.kind
        )
        _check_rollout(stored.part)
        values, _ = self._rollout_of(stored)
        if request.layer is not None:
            if request.layer >= values.shape[0]:
                raise NotFound("layer %d is out of range (0..%d)" % (request.layer, values.shape[0] - 1))
            values = values[request.layer : request.layer + 1]
        return float_payload(values)

    def _relevance_row(self, stored, query, layer, method):
        """Relevance of each input token for position `query` after `layer` (None: the last), or
        None when this record has no such position, layer or self-attention."""
        part = stored.part
        layers, _, q, k = part.shape
        if part.cross or q != k or query >= q or (layer is not None and layer >= layers):
            return None
        layer = layers - 1 if layer is None else layer
        if method == "rollout":
            return self._rollout_of(stored)[0][layer, query]
        if q > MAX_FLOW_TOKENS:
            raise BadRequest(
                "attention flow is computed for at most %d tokens (this record has %d): use method=rollout"
                % (MAX_FLOW_TOKENS, q)
            )
        key = ("flow",) + stored.key + (layer, query)
        row = self.cache.get(key)
        if row is None:
            augmented = self._rollout_of(stored, augmented=True)[1]
            row = flow_relevance(augmented, layer, [query])[0].astype(np.float32)
            self.cache.put(key, row, 4 * q)
        return row

    def relevance(self, ctx, experiment_id, request):
        """For every step of a (run, tag): how much position `query` after `layer` (default the
        last) draws on each input token, by rollout or flow."""
        run, tag = request.run, request.tag
        refs = self.store.steps(ctx, experiment_id, run, tag)
        out = dict(run=run, tag=tag, query=request.query, layer=request.layer, method=request.method)
        out.update(steps=[], relevance=[], tokens=None)
        for record in self.store.records(ctx, run, tag, refs):
            part = record.parts.get(request.kind) if request.kind else record.part()
            row = None
            if part is not None:
                if not part.cross:
                    _check_rollout(part)
                row = self._relevance_row(
                    self.store.open(ctx, run, record, part.kind), request.query, request.layer, request.method
                )
            out["steps"].append(record.ref.step)
            out["relevance"].append(None if row is None else np.round(row.astype(np.float64), 6).tolist())
            if row is not None:
                out["tokens"] = part.tokens
        return out

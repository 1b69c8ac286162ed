"""The head-importance answers (docs/http_api.md): a run's importance over its steps (/importance),
normalised per layer for the rows of one attention kind, and the normalised importance of each
step of a (run, tag)'s attention records, to put beside their pattern scores (/patterns)."""

from tb_attention.analysis import importance
from tb_attention.storage.errors import NotFound

DEFAULT_KIND_ORDER = ("self", "encoder", "decoder", "cross")


def _kind_of(rows, kind):
    """The attention kind whose rows to answer: `kind` if the record has it, else its first."""
    kinds = ["self"] if rows is None else sorted({k for k, _ in rows}, key=DEFAULT_KIND_ORDER.index)
    return kind if kind in kinds else kinds[0]


def _round(values, digits=6):
    return [[round(float(v), digits) for v in row] for row in values]


class ImportanceAnswers:
    """Importance records over an `AttentionStore`, answers cached in `cache` (an LRU shared with
    the other routes)."""

    def __init__(self, store, cache):
        self.store, self.cache = store, cache

    def series(self, ctx, experiment_id, run, tag=None):
        """(tag, [ImportanceStep]) of the run's importance tag `tag` (default its first), or (None,
        []) for a run without one; NotFound for a named tag the run does not have."""
        tags = self.store.importance_tags(ctx, experiment_id).get(run, [])
        if tag is None:
            tag = tags[0] if tags else None
        elif tag not in tags:
            raise NotFound("run %r has no head-importance tag %r" % (run, tag))
        return tag, ([] if tag is None else self.store.importance(ctx, experiment_id, run, tag))

    def importance(self, ctx, experiment_id, request):
        """Every step's raw and per-layer normalised importance of the rows of one attention
        kind, the loss and examples it was measured on and its ablation check."""
        tags = self.store.importance_tags(ctx, experiment_id).get(request.run, [])
        tag, steps = self.series(ctx, experiment_id, request.run, request.tag)
        out = {"run": request.run, "tag": tag, "tags": tags, "kind": None, "steps": [], "values": []}
        out.update(normalized=[], layers=[], loss=[], examples=[], ablation=[], threshold=None)
        out["threshold"] = importance.IMPORTANT_THRESHOLD
        for s in steps:
            record = s.record
            kind = _kind_of(record["rows"], request.kind)
            raw = importance.for_part(record["values"], record["rows"], kind)
            normalized = importance.for_part(importance.normalize(record["values"]), record["rows"], kind)
            out["kind"] = kind
            out["steps"].append(s.step)
            out["values"].append(_round(raw, 9))
            out["normalized"].append(_round(normalized))
            out["layers"].append(raw.shape[0])
            out["loss"].append(record["loss"])
            out["examples"].append(record["examples"])
            out["ablation"].append(record["ablation"])
        return out

    def normalized_by_step(self, ctx, experiment_id, run):
        """(a cache key of what was read, {step: (normalised values [rows, heads], rows)}) of the
        run's first importance tag."""
        tag, steps = self.series(ctx, experiment_id, run)
        key = (tag,) + tuple((s.step, s.wall_time) for s in steps)
        return key, {s.step: (importance.normalize(s.record["values"]), s.record["rows"]) for s in steps}


def merge_importance(steps, scores, parts, by_step):
    """The (steps, scores) of a /patterns answer with the normalised importance of each step
    added as metric `importance.METRIC`: at the attention steps (matched to each part's stored
    layers and heads: `parts[i]` is (kind, layer_ids, head_ids) or None), and at importance-only
    steps (as the last part's), the steps kept ascending."""
    by_step = dict(by_step)
    merged = []
    last = None
    for step, score, part in zip(steps, scores, parts):
        found = by_step.pop(step, None)
        if found is not None and part is not None:
            values = importance.for_part(found[0], found[1], *part)
            if values is not None:
                score = dict(score or {}, **{importance.METRIC: values})
        merged.append((step, score))
        last = part or last
    if last is not None:
        for step, (normalized, rows) in by_step.items():
            values = importance.for_part(normalized, rows, *last)
            if values is not None:
                merged.append((step, {importance.METRIC: values}))
    merged.sort(key=lambda item: item[0])
    return [step for step, _ in merged], [score for _, score in merged]

"""The analysis routes' answers (docs/http_api.md): attention rollout and flow computed on the
server from a record's stored layers, one layer at a time, and the heads that formed between two
steps. `AttentionQueries` delegates its `rollout`, `relevance` and `formed` methods here."""

import numpy as np

from tb_attention.serving.arrays import float_payload
from tb_attention.serving.errors import BadRequest
from tb_attention.storage.errors import NotFound

# Rollout multiplies q x q matrices once per layer: 1024 tokens x 32 layers is ~70 GFLOP, a few
# seconds on two cores; longer records are refused rather than left to time out.
MAX_ROLLOUT_TOKENS = 1024
METHODS = ("rollout", "flow")


def _self_part(queries, ctx, experiment_id, run, tag, step, kind):
    stored = queries.store.part(ctx, experiment_id, run, tag, step, kind)
    _check_part(stored.part)
    return stored


def _check_part(part):
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
        block = stored.layer(layer, list(range(h, min(heads, h + per_block))))
        total += block.sum(axis=0, dtype=np.float64)
    return total / heads


def _rollout_of(queries, stored, augmented=False):
    """float32 `[layers, q, q]` rollout of a record part (cached), reading one layer at a time;
    with `augmented`, the per-layer 0.5 A + 0.5 I matrices too (for flow: small inputs only)."""
    from tb_attention.analysis.rollout import Rollout

    key = ("rollout",) + stored.key + (augmented,)
    cached = queries.cache.get(key)
    if cached is None:
        rollout = Rollout()
        for layer in range(stored.part.shape[0]):
            rollout.add_mean(_head_mean(stored, layer))
        cached = (rollout.result(), rollout.augmented if augmented else None)
        layers, _, q, _ = stored.part.shape
        queries.cache.put(key, cached, layers * q * q * (12 if augmented else 4))
    return cached


def rollout(queries, ctx, experiment_id, run, tag, step, kind=None, layer=None):
    """Rollout up to each layer (or only up to `layer`): float32 `[layers or 1, q, q]`."""
    values, _ = _rollout_of(queries, _self_part(queries, ctx, experiment_id, run, tag, step, kind))
    if layer is not None:
        if layer >= values.shape[0]:
            raise NotFound("layer %d is out of range (0..%d)" % (layer, values.shape[0] - 1))
        values = values[layer : layer + 1]
    return float_payload(values)


def _relevance_row(queries, stored, query, layer, method):
    """Relevance of each input token for position `query` after `layer` (-1: the last), or None
    when this record has no such position, layer or self-attention."""
    from tb_attention.analysis.flow import MAX_FLOW_TOKENS, flow_relevance

    part = stored.part
    layers, _, q, k = part.shape
    if part.cross or q != k or query >= q or (layer is not None and layer >= layers):
        return None
    layer = layers - 1 if layer is None else layer
    if method == "rollout":
        return _rollout_of(queries, stored)[0][layer, query]
    if q > MAX_FLOW_TOKENS:
        raise BadRequest(
            "attention flow is computed for at most %d tokens (this record has %d): use method=rollout"
            % (MAX_FLOW_TOKENS, q)
        )
    key = ("flow",) + stored.key + (layer, query)
    row = queries.cache.get(key)
    if row is None:
        augmented = _rollout_of(queries, stored, augmented=True)[1]
        row = flow_relevance(augmented, layer, [query])[0].astype(np.float32)
        queries.cache.put(key, row, 4 * q)
    return row


def relevance(queries, ctx, experiment_id, run, tag, query, layer=None, kind=None, method=None):
    """For every step of a (run, tag): how much position `query` after `layer` (default the last)
    draws on each input token, by rollout or flow."""
    method = method or "rollout"
    if method not in METHODS:
        raise BadRequest("method must be rollout or flow, got %r" % method[:40])
    refs = queries.store.steps(ctx, experiment_id, run, tag)
    out = {
        "run": run,
        "tag": tag,
        "query": query,
        "layer": layer,
        "method": method,
        "steps": [],
        "relevance": [],
        "tokens": None,
    }
    for record in queries.store.records(ctx, run, tag, refs):
        part = record.parts.get(kind) if kind else record.part()
        if part is not None and not part.cross:
            _check_part(part)
        row = (
            None
            if part is None
            else _relevance_row(queries, queries.store.open(ctx, run, record, part.kind), query, layer, method)
        )
        out["steps"].append(record.ref.step)
        out["relevance"].append(None if row is None else np.round(row.astype(np.float64), 6).tolist())
        if row is not None:
            out["tokens"] = part.tokens
    return out


def formed(queries, ctx, experiment_id, run, tag, kind=None, step_a=None, step_b=None):
    """Heads that crossed a label's threshold between steps `step_a` and `step_b` (default the first
    and last logged), from the scores stored with each step."""
    from tb_attention.analysis.formed import formed_heads

    if step_a is not None and step_b is not None and step_a > step_b:
        raise BadRequest("step_a=%d is after step_b=%d" % (step_a, step_b))
    body = queries.patterns(ctx, experiment_id, run, tag, kind)
    answer = formed_heads(body["steps"], body["scores"], step_a=step_a, step_b=step_b)
    answer.update(run=run, tag=tag)
    return answer

"""The answer of /qk (docs/http_api.md): bertviz's neuron view of one head and one query, from the
stored queries and keys of any model (analysis/qk.py): the query vector, each key vector, each
dimension's term of each score (scaling·q_c·k_c), q·k, the scores, their softmax beside the stored
attention (and the bound within which they agree), each dimension's contribution, and, against
another step, how much each dimension's terms changed. Large arrays go as base64 float32."""

import base64

import numpy as np

from tb_attention.analysis import qk as qk_analysis
from tb_attention.serving.errors import BadRequest
from tb_attention.storage.errors import NotFound


def _b64(values):
    return base64.b64encode(np.ascontiguousarray(values, dtype="<f4").tobytes()).decode("ascii")


def _floats(values):
    return [float(v) for v in np.asarray(values, dtype=np.float32)]


def _one_step(stored, layer, head, query):
    """The per-step fields of the answer, and (terms, visible) for comparing steps."""
    part = stored.part
    dots, logits, weights, bound = (a[0, query] for a in qk_analysis.rebuilt(stored, layer, [head]))
    queries, keys = stored.qk(layer, [head])
    q, k = queries[0, query], keys[0]
    scaling, _ = qk_analysis.layer_terms(part, layer)
    terms = qk_analysis.dimension_terms(q, k, scaling)
    contributions = qk_analysis.contributions(terms, weights)
    visible = np.isfinite(logits)
    out = {
        "step": stored.step,
        "q": _floats(q),
        "keys": _b64(k),
        "terms": _b64(terms),
        "dots": _floats(dots),
        "logits": [float(v) if ok else None for v, ok in zip(logits, visible)],
        "weights": _floats(weights),
        "stored": _floats(stored.rows(layer, [head], (query, query + 1))[0, 0]),
        "tolerance": _floats(bound),
        "contributions": _floats(contributions),
        "order": np.argsort(-np.abs(contributions), kind="stable").tolist(),
    }
    return out, terms, visible


def _check(stored, layer, head, query):
    _, heads, q, _ = stored.part.shape
    if not 0 <= layer < stored.part.shape[0] or not 0 <= head < heads:
        raise NotFound(
            "layer %d head %d is out of range (%d layers, %d heads)" % (layer, head, stored.part.shape[0], heads)
        )
    if not 0 <= query < q:
        raise BadRequest("query %d is out of range: the record has %d queries" % (query, q))


def qk_answer(stored, request, stored_b=None):
    """The JSON answer of a QKRequest on its StoredPart (and the StoredPart of step B)."""
    layer, head, query = request.layer, request.head, request.query
    _check(stored, layer, head, query)
    part = stored.part
    a, terms_a, visible = _one_step(stored, layer, head, query)
    b = change = None
    if stored_b is not None:
        if stored_b.part.shape != part.shape or stored_b.part.tokens != part.tokens:
            raise BadRequest(
                "step %d and step %d do not hold the same input: nothing to compare" % (stored.step, stored_b.step)
            )
        b, terms_b, _ = _one_step(stored_b, layer, head, query)
        change = qk_analysis.dimension_change(terms_a, terms_b, visible)
    scaling, softcap = qk_analysis.layer_terms(part, layer)
    field = part.qk
    window = (part.windows or [None] * part.shape[0])[layer]
    return {
        "layer": layer,
        "head": head,
        "query": query,
        "model_layer": part.layer_ids[layer],
        "model_head": part.head_ids[head],
        "kv_head": None if part.kv_heads is None else part.kv_heads[head],
        "head_dim": field["head_dim"],
        "keys": part.shape[3],
        "scaling": scaling,
        "softcap": softcap,
        "rotary": field.get("rotary"),
        "dtype": field.get("dtype"),
        "unstored": field.get("unstored", []),
        "causal": part.causal,
        "window": window,
        "precision": field["precision"],
        "attention_precision": part.precision,
        "a": a,
        "b": b,
        "change": None if change is None else _floats(change),
        "changed": None if change is None else np.argsort(-change, kind="stable").tolist(),
    }

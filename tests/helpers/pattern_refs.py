"""Reference computations for the head-pattern tests: small matrices and direct, loop-based scores."""

import math

import numpy as np


def stack(*heads, layers=1):
    """float32 [layers, len(heads), n, n] with the given [n, n] head matrices in every layer."""
    one = np.stack([np.asarray(h, dtype=np.float32) for h in heads])
    return np.ascontiguousarray(np.broadcast_to(one, (layers,) + one.shape))


def random_attention(rng, layers, heads, q, k=None, zeros=False):
    """Softmax-like rows (Dirichlet), optionally with exact zeros, as float32 [L, H, q, k]."""
    a = rng.dirichlet(np.full(k or q, 0.3), size=(layers, heads, q))
    if zeros:
        a[a < np.quantile(a, 0.3)] = 0.0
        a /= a.sum(-1, keepdims=True)
    return a.astype(np.float32)


def shift(n, offset):
    """All weight on key i + offset; rows without such a key attend to themselves."""
    a = np.zeros((n, n))
    for i in range(n):
        j = i + offset
        a[i, j if 0 <= j < n else i] = 1.0
    return a


def class_score(a, members):
    """Clark et al.: mean over queries of the weight on keys in `members`, by explicit loops."""
    q = a.shape[0]
    return sum(sum(a[i, j] for j in members) for i in range(q)) / q


def pair_score(a, related):
    """Mean over queries with a related key of sum_{j related to i} a_ij; NaN if none has."""
    per_query = []
    for i in range(a.shape[0]):
        js = [j for j in range(a.shape[1]) if related(i, j)]
        if js:
            per_query.append(sum(a[i, j] for j in js))
    return sum(per_query) / len(per_query) if per_query else math.nan


def js_reference(p, q):
    """Jensen-Shannon divergence of two rows, float64, natural log, 0 log 0 = 0."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    m = (p + q) / 2

    def kl(x):
        keep = x > 0
        return float(np.sum(x[keep] * np.log(x[keep] / m[keep])))

    return (kl(p) + kl(q)) / 2


def span_reference(a, causal, reach=0.9, slack=1e-6):
    """(span_mean, span_p90) of one head [q, k] by the definition in docs/patterns.md, row by
    row in float64: distance i - j (causal) or |i - j|, key 0 left out, each row renormalised;
    rows with no non-sink weight (and row 0 of causal records) left out; NaN if none is left."""
    a = np.asarray(a, np.float64)
    means, p90s = [], []
    for i in range(1 if causal else 0, a.shape[0]):
        w = a[i].copy()
        w[0] = 0.0
        total = w.sum()
        if total <= 0:
            continue
        d = (i - np.arange(a.shape[1])) if causal else np.abs(i - np.arange(a.shape[1]))
        means.append((w * d).sum() / total)
        p90s.append(min(x for x in np.unique(d) if w[d <= x].sum() >= (reach - slack) * total))
    return (np.mean(means), np.mean(p90s)) if means else (math.nan, math.nan)

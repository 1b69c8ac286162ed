"""Attention flow (Abnar & Zuidema 2020): the maximum flow from position i after layer l down to
input token j through the layered graph whose edges carry the residual-augmented, head-averaged
attention of each layer (the same 0.5 A + 0.5 I as rollout), normalised over the input tokens.

One max-flow problem per (position, input token), solved here by Dinic's algorithm on a dense
capacity matrix (no solver dependency; tests check it against networkx). It costs far more than
rollout, so inputs are capped at `max_tokens`.
"""

import numpy as np

from tb_attention.analysis.rollout import RESIDUAL, Rollout, self_attention_layers

MAX_FLOW_TOKENS = 64
_EPS = 1e-12  # residual capacity below this counts as saturated (weights are float32)


def _levels(residual, source):
    """BFS distance of every node from `source` over edges with residual capacity (-1: unreachable)."""
    level = np.full(len(residual), -1)
    level[source] = 0
    frontier, depth = np.array([source]), 0
    while frontier.size:
        reach = (residual[frontier] > _EPS).any(axis=0) & (level < 0)
        frontier = np.flatnonzero(reach)
        depth += 1
        level[frontier] = depth
    return level


def _blocking_flow(capacity, flow, level, source, sink):
    """Augment along shortest paths of the level graph until none is left; the flow pushed."""
    residual = capacity - flow
    arcs = [np.flatnonzero((residual[u] > _EPS) & (level == level[u] + 1)).tolist() for u in range(len(level))]
    pointer = [0] * len(level)
    pushed = 0.0
    path = [source]
    while path:
        u = path[-1]
        if u == sink:
            edges = list(zip(path[:-1], path[1:]))
            amount = min(capacity[a, b] - flow[a, b] for a, b in edges)
            for a, b in edges:
                flow[a, b] += amount
                flow[b, a] -= amount  # skew symmetry: the reverse residual grows
            pushed += amount
            path = [source]
            continue
        while pointer[u] < len(arcs[u]) and capacity[u, arcs[u][pointer[u]]] - flow[u, arcs[u][pointer[u]]] <= _EPS:
            pointer[u] += 1  # saturated since the phase began
        if pointer[u] < len(arcs[u]):
            path.append(arcs[u][pointer[u]])
        else:
            path.pop()  # dead end: retreat and skip this arc from the node before
            if path:
                pointer[path[-1]] += 1
    return pushed


def max_flow(capacity, source, sink):
    """Value of a maximum flow from `source` to `sink` in the graph of the dense non-negative
    `capacity` matrix `[nodes, nodes]` (capacity[u, v]: edge u -> v), by Dinic's algorithm."""
    capacity = np.array(capacity, dtype=np.float64)
    if capacity.ndim != 2 or capacity.shape[0] != capacity.shape[1] or (capacity < 0).any():
        raise ValueError("capacity must be a square non-negative matrix")
    if source == sink:
        raise ValueError("source and sink must differ")
    flow = np.zeros_like(capacity)
    total = 0.0
    while True:
        level = _levels(capacity - flow, source)
        if level[sink] < 0:
            return total
        total += _blocking_flow(capacity, flow, level, source, sink)


def layered_capacity(augmented, layer):
    """Capacity matrix of the attention graph up to `layer`: node t * n + a is position a after t
    layers (t = 0: the input tokens); edge (t, a) -> (t - 1, b) carries augmented[t - 1][a, b]."""
    n = augmented[0].shape[0]
    capacity = np.zeros(((layer + 2) * n, (layer + 2) * n))
    for t in range(1, layer + 2):
        capacity[t * n : (t + 1) * n, (t - 1) * n : t * n] = augmented[t - 1]
    return capacity


def flow_relevance(augmented, layer, queries):
    """float64 `[len(queries), n]`: max-flow from each query position after `layer` to each input
    token, each row normalised to sum 1 (as Abnar & Zuidema's code does)."""
    n = augmented[0].shape[0]
    capacity = layered_capacity(augmented, layer)
    top = (layer + 1) * n
    out = np.array([[max_flow(capacity, top + i, j) for j in range(n)] for i in queries])
    sums = out.sum(axis=1, keepdims=True)
    return np.divide(out, sums, out=np.zeros_like(out), where=sums > 0)


def attention_flow(
    attentions, *, layer=-1, queries=None, example=0, attention_mask=None, residual=RESIDUAL, max_tokens=MAX_FLOW_TOKENS
):
    """Attention flow to `layer` (default the last): float32 `[len(queries), q]`, row r being how
    much position queries[r] (default every position) draws on each input token, rows summing
    to 1. Inputs as for `attention_rollout`; longer than `max_tokens` raises (q^2 max-flow
    problems of (layer + 2) q nodes each)."""
    layers = self_attention_layers(attentions, example, attention_mask)
    n = layers[0].shape[1]
    if max_tokens is not None and n > max_tokens:
        raise ValueError(
            "attention flow of %d tokens solves %d max-flow problems: above max_tokens=%d; raise it "
            "to wait, or use attention_rollout" % (n, n * n, max_tokens)
        )
    rollout = Rollout(residual)
    for a in layers:
        rollout.add(a)
    if not -len(layers) <= layer < len(layers):
        raise ValueError("layer=%d is out of range for %d layers" % (layer, len(layers)))
    queries = list(range(n)) if queries is None else [int(i) for i in queries]
    if not all(0 <= i < n for i in queries):
        raise ValueError("queries must be positions 0..%d" % (n - 1))
    return flow_relevance(rollout.augmented, layer % len(layers), queries).astype(np.float32)

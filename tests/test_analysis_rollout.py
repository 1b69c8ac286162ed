"""Attention rollout and flow (tb_attention/analysis/rollout.py, flow.py) against a direct numpy
computation of Abnar & Zuidema's formula and against networkx's max-flow solver."""

import numpy as np
import pytest

import tb_attention
from tb_attention.analysis.flow import attention_flow, max_flow
from tests.helpers.pattern_refs import random_attention


def paper_rollout(att):
    """Abnar & Zuidema 2020, written out: per layer A = mean over heads, 0.5 A + 0.5 I, rows
    renormalised; rollout_l = Ã_l @ rollout_{l-1}."""
    out, joint = [], None
    for layer in np.asarray(att, np.float64):
        a = 0.5 * layer.mean(axis=0) + 0.5 * np.eye(layer.shape[-1])
        a = a / a.sum(axis=-1, keepdims=True)
        joint = a if joint is None else a @ joint
        out.append(joint)
    return np.stack(out)


def test_rollout_of_the_packaged_minilm_is_the_papers_formula(seed_attention):
    import torch

    attentions, tokens, _ = seed_attention
    got = tb_attention.attention_rollout(attentions)
    att = torch.stack([layer[0] for layer in attentions]).numpy()
    expected = paper_rollout(att)
    assert got.shape == (6, len(tokens), len(tokens)) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-5)
    assert np.abs(got[-1] - got[0]).max() > 0.1  # rollout mixes: the last layer is not the first


def test_rollout_forms_masks_and_residual():
    rng = np.random.default_rng(0)
    batch = random_attention(rng, 3, 2 * 4, 7).reshape(3, 2, 4, 7, 7)  # [L, B, H, q, q]
    expected = paper_rollout(batch[:, 1])
    np.testing.assert_allclose(tb_attention.attention_rollout(batch, example=1), expected, atol=1e-6)
    np.testing.assert_allclose(tb_attention.attention_rollout(tuple(batch)), paper_rollout(batch[:, 0]), atol=1e-6)
    # Padding dropped as add_attention drops it.
    padded = np.zeros((3, 4, 9, 9), np.float32)
    padded[..., :7, :7] = batch[:, 0]
    padded[..., 7:, 0] = 1.0
    got = tb_attention.attention_rollout(padded, attention_mask=[1] * 7 + [0, 0])
    np.testing.assert_allclose(got, paper_rollout(batch[:, 0]), atol=1e-6)
    # residual=0 is the plain product of head-averaged attention (the paper's "raw" variant).
    raw = tb_attention.attention_rollout(batch[:, 0], residual=0)
    mean = batch[:, 0].astype(np.float64).mean(1)
    np.testing.assert_allclose(raw[-1], mean[2] @ mean[1] @ mean[0], atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(attention=np.full((1, 1, 3, 4), 0.25, np.float32)), "self-attention|key_tokens"),
        (dict(residual=1.5), "residual"),
        (dict(attention=np.ones((1, 1, 3, 3), np.float32)), "softmax"),
    ],
)
def test_rollout_names_bad_input(kwargs, message):
    args = dict(attention=np.full((2, 1, 3, 3), 1 / 3, np.float32))
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        tb_attention.attention_rollout(args.pop("attention"), **args)


# --------------------------------------------------------------------------- flow


def networkx_flow(capacity, source, sink):
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(capacity)))
    for u, v in zip(*np.nonzero(capacity)):
        graph.add_edge(int(u), int(v), capacity=float(capacity[u, v]))
    return nx.maximum_flow_value(graph, source, sink, flow_func=nx.algorithms.flow.edmonds_karp)


def test_max_flow_equals_networkx_on_random_graphs():
    rng = np.random.default_rng(1)
    for _ in range(30):
        n = int(rng.integers(2, 12))
        capacity = rng.random((n, n)) * (rng.random((n, n)) < 0.45)
        np.fill_diagonal(capacity, 0)
        assert max_flow(capacity, 0, n - 1) == pytest.approx(networkx_flow(capacity, 0, n - 1), abs=1e-9)


def test_attention_flow_equals_abnar_zuidemas_construction_solved_by_networkx():
    rng = np.random.default_rng(2)
    layers, n = 3, 5
    att = random_attention(rng, layers, 2, n)
    got = attention_flow(att)
    # Their attention_graph_util: nodes (layer, position), edges from layer t to t - 1 with the
    # residual-augmented mean attention as capacity; flow from each output to each input node,
    # normalised over the inputs.
    aug = [0.5 * a.astype(np.float64).mean(0) + 0.5 * np.eye(n) for a in att]
    aug = [a / a.sum(-1, keepdims=True) for a in aug]
    capacity = np.zeros(((layers + 1) * n, (layers + 1) * n))
    for t in range(1, layers + 1):
        capacity[t * n : (t + 1) * n, (t - 1) * n : t * n] = aug[t - 1]
    expected = np.array([[networkx_flow(capacity, layers * n + i, j) for j in range(n)] for i in range(n)])
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # One layer: the flow is that layer's augmented attention itself.
    np.testing.assert_allclose(attention_flow(att[:1]), aug[0], atol=1e-6)
    with pytest.raises(ValueError, match="max_tokens"):
        attention_flow(att, max_tokens=4)

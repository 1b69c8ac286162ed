"""/patterns and /formed serve what the Patterns view draws of a set of examples (the interval
around each mean score) and of grouped-query attention (scores by KV head, the KV head of each
formed head), through TensorBoard's WSGI app, from records a tiny Llama (4 query heads reading
2 KV heads) logged through the capture."""

import numpy as np
import pytest
import torch

import tb_attention
from tb_attention.analysis.induction_probe import TokenProbe
from tests.helpers.http import client_json, q, wsgi_client
from tests.helpers.tiny_models import Tokens, tiny_inputs, tiny_model

RUN = "gqa"


class _Tokenizer(Tokens):
    def __call__(self, *args, **kwargs):
        raise AssertionError("token ids are not tokenised")


def _self_heads(model):
    """Query heads 0 and 1 of layer 0 (KV head 0) made to attend to their own position: their
    queries are their keys, scaled up (rotary positions cancel at distance 0)."""
    attention = model.model.layers[0].self_attn
    dim = attention.head_dim
    with torch.no_grad():
        keys = torch.randn(dim, attention.k_proj.weight.shape[1], generator=torch.Generator().manual_seed(0))
        attention.k_proj.weight[:dim] = keys
        attention.q_proj.weight[: 2 * dim] = torch.cat([keys, keys]) * 10


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("examples_groups")
    model = tiny_model("llama")
    ids = tiny_inputs("llama", length=20)["input_ids"][0].tolist()
    examples = [tiny_inputs("llama", length=14 + 2 * i, seed=i)["input_ids"][0].tolist() for i in range(5)]
    logger = tb_attention.ProbeLogger(_Tokenizer(), {"ids": TokenProbe("ids", ids)}, score_examples=examples)
    logger.log(model, 0, str(root / RUN), True)
    _self_heads(model)
    logger.log(model, 1, str(root / RUN), True)
    tb_attention.flush()
    return root, wsgi_client(root)


def test_the_interval_of_each_mean_score_is_served(served):
    root, client = served
    body = client_json(client, "/patterns?" + q(run=RUN, tag="probe/examples"))
    records = list(tb_attention.read_attention(str(root), run=RUN, tag="probe/examples"))
    assert body["steps"] == [0, 1] and len(body["examples"]) == 2
    for served_step, record in zip(body["examples"], records):
        summary = record.example_scores
        assert served_step["examples"] == summary["examples"] == 5 and served_step["level"] == 0.95
        for metric in ("previous_token", "self", "entropy", "span_p90"):
            mean, half = record.patterns[metric].astype(np.float64), summary["half"][metric]
            low, high = (np.array(served_step[k][metric], dtype=np.float64) for k in ("low", "high"))
            np.testing.assert_allclose(low, mean - half, atol=2e-5)
            np.testing.assert_allclose(high, mean + half, atol=2e-5)
            assert (
                (low <= high).all()
                and (low < high).mean() > 0.7
                and np.array_equal(served_step["count"][metric], summary["count"][metric])
            )
            np.testing.assert_allclose(served_step["std"][metric], summary["std"][metric], atol=1e-5)
    probe = client_json(client, "/patterns?" + q(run=RUN, tag="probe/ids"))
    assert probe["examples"] == [None, None]
    steps = client_json(client, "/steps?" + q(run=RUN, tag="probe/examples"))["steps"]
    assert [s["parts"]["self"]["examples"] for s in steps] == [5, 5]


def test_scores_are_grouped_by_kv_head(served):
    root, client = served
    body = client_json(client, "/patterns?" + q(run=RUN, tag="probe/ids"))
    [record, after] = tb_attention.read_attention(str(root), run=RUN, tag="probe/ids")
    assert body["kv_heads"] == [[0, 0, 1, 1]] * 2 == [record.kv_heads, after.kv_heads]
    for groups, rec in zip(body["groups"], (record, after)):
        assert groups["kv_heads"] == [0, 1] and groups["members"] == [[0, 1], [2, 3]]
        for metric in ("self", "entropy", "sink"):
            expected = np.stack([np.nanmean(rec.patterns[metric][:, m], 1) for m in ([0, 1], [2, 3])], 1)
            np.testing.assert_allclose(np.array(groups["scores"][metric], dtype=np.float64), expected, atol=2e-5)
    # The two query heads of KV head 0 became self heads: so did their group.
    assert after.patterns["self"][0, :2].min() > 0.9 and record.patterns["self"][0].max() < 0.5
    assert "self" in body["groups"][1]["labels"][0][0] and "self" not in body["groups"][0]["labels"][0][0]


def test_formed_heads_name_their_kv_head(served):
    _, client = served
    formed = client_json(client, "/formed?" + q(run=RUN, tag="probe/ids"))["formed"]
    self_heads = [(e["layer"], e["head"], e["kv_head"]) for e in formed if e["label"] == "self"]
    assert self_heads == [(0, 0, 0), (0, 1, 0)]
    assert all(e["kv_head"] == e["head"] // 2 for e in formed)

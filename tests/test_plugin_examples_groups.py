"""/patterns and /formed serve what the Patterns view draws of a set of examples (the interval
around each mean score) and of grouped-query attention (scores by KV head, the KV head of each
formed head), through TensorBoard's WSGI app, from records a tiny Llama (4 query heads reading
2 KV heads) logged through the capture."""

import numpy as np
import pytest

import tb_attention
from tests.helpers.example_logs import EXAMPLES, RUN, STEPS, write_example_logs
from tests.helpers.http import client_json, q, wsgi_client


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("examples_groups")
    write_example_logs(root)
    return root, wsgi_client(root)


def test_the_interval_of_each_mean_score_is_served(served):
    root, client = served
    body = client_json(client, "/patterns?" + q(run=RUN, tag="probe/examples"))
    records = list(tb_attention.read_attention(str(root), run=RUN, tag="probe/examples"))
    assert body["steps"] == list(STEPS) and len(body["examples"]) == len(STEPS)
    for served_step, record in zip(body["examples"], records):
        summary = record.example_scores
        assert served_step["examples"] == summary["examples"] == EXAMPLES and served_step["level"] == 0.95
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
    assert probe["examples"] == [None] * len(STEPS)
    steps = client_json(client, "/steps?" + q(run=RUN, tag="probe/examples"))["steps"]
    assert [s["parts"]["self"]["examples"] for s in steps] == [EXAMPLES] * len(STEPS)


def test_scores_are_grouped_by_kv_head(served):
    root, client = served
    body = client_json(client, "/patterns?" + q(run=RUN, tag="probe/ids"))
    records = list(tb_attention.read_attention(str(root), run=RUN, tag="probe/ids"))
    record, after = records[0], records[-1]
    assert body["kv_heads"] == [[0, 0, 1, 1]] * len(STEPS) == [r.kv_heads for r in records]
    for groups, rec in zip(body["groups"], records):
        assert groups["kv_heads"] == [0, 1] and groups["members"] == [[0, 1], [2, 3]]
        for metric in ("self", "entropy", "sink"):
            expected = np.stack([np.nanmean(rec.patterns[metric][:, m], 1) for m in ([0, 1], [2, 3])], 1)
            np.testing.assert_allclose(np.array(groups["scores"][metric], dtype=np.float64), expected, atol=2e-5)
    # The two query heads of KV head 0 became self heads: so did their group.
    assert after.patterns["self"][0, :2].min() > 0.9 and record.patterns["self"][0].max() < 0.5
    assert "self" in body["groups"][-1]["labels"][0][0] and "self" not in body["groups"][0]["labels"][0][0]


def test_formed_heads_name_their_kv_head(served):
    _, client = served
    formed = client_json(client, "/formed?" + q(run=RUN, tag="probe/ids"))["formed"]
    self_heads = [(e["layer"], e["head"], e["kv_head"]) for e in formed if e["label"] == "self"]
    assert self_heads == [(0, 0, 0), (0, 1, 0)]
    assert all(e["kv_head"] == e["head"] // 2 for e in formed)

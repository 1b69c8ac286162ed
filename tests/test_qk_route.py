"""/qk: bertviz's neuron view of one head and one query from the stored queries and keys, through
TensorBoard's WSGI app on a real multiplexer: the numbers are those `read_attention` gives, the
comparison of two steps names the dimensions that moved, and bad requests get a 4xx."""

import base64

import numpy as np
import pytest

import tb_attention
from tests.conftest import SEED_A, SEED_B
from tests.helpers.http import client_json, q, wsgi_client
from tests.helpers.qk_logs import LLAMA_HEAD, QK_TAG, changed_dims, write_qk_logs


@pytest.fixture(scope="module")
def qk_logs(tmp_path_factory, minilm):
    logdir = tmp_path_factory.mktemp("qk")
    head_dim = write_qk_logs(logdir, minilm, SEED_A, SEED_B)
    return logdir, wsgi_client(logdir), head_dim


def _floats(b64, shape):
    return np.frombuffer(base64.b64decode(b64), "<f4").reshape(shape)


@pytest.mark.parametrize("run, step, layer, head, query", [("minilm", 100, 2, 5, 3), ("llama", 1, 1, 3, 11)])
def test_the_answer_holds_the_numbers_read_attention_gives(qk_logs, run, step, layer, head, query):
    logdir, client, _ = qk_logs
    record = next(tb_attention.read_attention(str(logdir), run=run, step=step))
    body = client_json(client, "/qk?" + q(run=run, tag=QK_TAG, step=step, layer=layer, head=head, query=query))
    queries, keys = record.qk(layer, [head])
    weights, bound = record.qk_attention(layer, [head])
    n, d = keys.shape[1:]
    a = body["a"]
    np.testing.assert_array_equal(np.float32(a["q"]), queries[0, query])
    np.testing.assert_array_equal(_floats(a["keys"], (n, d)), keys[0])
    np.testing.assert_array_equal(np.float32(a["weights"]), weights[0, query])
    np.testing.assert_array_equal(np.float32(a["tolerance"]), bound[0, query])
    np.testing.assert_array_equal(np.float32(a["stored"]), record.layer(layer, [head])[0, query])
    terms = _floats(a["terms"], (n, d))
    np.testing.assert_allclose(terms.sum(axis=1), np.float32(a["dots"]) * body["scaling"], rtol=1e-5, atol=1e-6)
    logits = np.array([np.nan if v is None else v for v in a["logits"]])
    assert np.isnan(logits).sum() == (record.causal and n - 1 - query or 0)  # the causal mask hides later keys
    assert np.all(np.abs(np.float32(a["stored"]) - np.float32(a["weights"])) <= np.float32(a["tolerance"]))
    contributions = np.float32(a["contributions"])
    np.testing.assert_allclose(contributions, weights[0, query] @ terms, rtol=1e-4, atol=1e-6)
    assert a["order"] == np.argsort(-np.abs(contributions), kind="stable").tolist()
    assert body["rotary"] is (run == "llama") and body["head_dim"] == d


def test_two_steps_name_the_dimensions_that_moved(qk_logs):
    _, client, head_dim = qk_logs
    params = dict(run="llama", tag=QK_TAG, step=0, step_b=1, layer=0, query=9)  # layer 0: its keys stay
    moved = client_json(client, "/qk?" + q(head=LLAMA_HEAD, **params))
    assert set(moved["changed"][:2]) == changed_dims(head_dim)
    change = np.float32(moved["change"])
    assert change[moved["changed"][2]] == 0  # nothing else moved
    assert moved["b"]["step"] == 1 and moved["a"]["step"] == 0
    other = client_json(client, "/qk?" + q(head=0, **params))  # another head of the same KV head
    assert max(other["change"]) < 1e-6


def test_bad_requests(qk_logs):
    _, client, _ = qk_logs
    base = dict(run="llama", tag=QK_TAG, step=0, layer=0, head=0, query=0)
    for bad, status in (
        (dict(query=16), 400),
        (dict(head=4), 404),
        (dict(layer=2), 404),
        (dict(step=5), 404),
        (dict(step_b=0, run_b="minilm"), 400),
    ):
        client_json(client, "/qk?" + q(**dict(base, **bad)), status=status)

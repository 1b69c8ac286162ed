"""`/layer?form=sparse` (docs/http_api.md): the entries a sparse record's query rows kept, as
stored and never densified, for a window of rows and a list of heads, through TensorBoard's WSGI
app on a real multiplexer; a dense record, `reduce=mean` and an answer over the bound are 400s."""

import numpy as np
import pytest

import tb_attention
from bench.llm_attention import llm_attention, llm_tokens
from tb_attention.format import blocks
from tb_attention.serving import layer_answers
from tests.helpers.http import BASE, decode_layer_response, decode_sparse_response, error_message, q, wsgi_client

N = 64
HEADS = 6
TOP_K = 6
CODINGS = ["zstd", "deflate", "identity"]


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """(client, {run: record}): a dense and two sparse records (log16, in blocks of two heads, and
    uint8) of the same LLM-shaped attention."""
    logdir = tmp_path_factory.mktemp("sparse_rows")
    att = llm_attention(2, HEADS, N, seed=5)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(blocks, "BLOCK_BYTES", 4 * N * N)  # two heads per block (two bytes a weight)
        tb_attention.add_attention(str(logdir / "dense"), "p", att, llm_tokens(N), 5)
        tb_attention.add_attention(str(logdir / "sparse"), "p", att, llm_tokens(N), 5, top_k=TOP_K)
    tb_attention.add_attention(str(logdir / "uint8"), "p", att, llm_tokens(N), 5, top_k=TOP_K, precision="uint8")
    tb_attention.flush()
    records = {r.run: r for r in tb_attention.read_attention(str(logdir))}
    assert records["sparse"].encoding == "sparse" and records["uint8"].encoding == "sparse"
    return wsgi_client(logdir), records


def get(client, coding="zstd", **params):
    response = client.get(BASE + "/layer?" + q(tag="p", step=5, **params), headers={"Accept-Encoding": coding})
    return response.status_code, response.headers, response.get_data()


def stored_rows(record, layer, heads, r0, r1):
    """(counts [heads, rows], indices, float32 weights) the record keeps for rows [r0, r1) of `heads`."""
    per_head = {}
    for (h0, h1), counts, _, indices, weights in record.sparse_layer(layer):
        ends = np.concatenate([[0], np.cumsum(counts.ravel(), dtype=np.int64)]).reshape(-1)
        for j in range(h1 - h0):
            a, b = ends[j * N + r0], ends[j * N + r1]
            per_head[h0 + j] = (counts[j, r0:r1], indices[a:b], weights[a:b])
    return tuple(np.concatenate([per_head[h][i] for h in heads]) for i in range(3))


@pytest.mark.parametrize("coding", CODINGS)
@pytest.mark.parametrize("run", ["sparse", "uint8"])
def test_a_window_of_listed_heads_is_the_stored_kept_entries(logs, run, coding):
    client, records = logs
    heads = [4, 1, 1, 5]  # across blocks, out of order, one twice: answered as listed
    status, headers, body = get(
        client, coding, run=run, layer=1, heads=",".join(map(str, heads)), form="sparse", q_start=10, q_end=37
    )
    assert status == 200, body[:300]
    shape, counts, indices, values = decode_sparse_response(headers, body)
    want = stored_rows(records[run], 1, heads, 10, 37)
    assert shape == (4, 27, N) and counts.shape == (4, 27)
    np.testing.assert_array_equal(counts.ravel(), want[0])
    np.testing.assert_array_equal(indices, want[1])
    np.testing.assert_allclose(values, want[2], rtol=1e-6, atol=0)  # uint8: value x (1/255) vs value / 255
    assert int(headers["X-Attention-Entries"]) == want[1].size and 0 < counts.max() <= TOP_K
    # The values are the dense answer's, bit for bit, at the kept keys (the same dtype and scale).
    status, dense_headers, dense_body = get(client, coding, run=run, layer=1, heads="4,1,1,5", q_start=10, q_end=37)
    dense = decode_layer_response(dense_headers, dense_body)
    slots, rows = np.divmod(np.repeat(np.arange(4 * 27), counts.ravel().astype(np.int64)), 27)
    np.testing.assert_array_equal(values, dense[slots, rows, indices.astype(np.int64)])
    assert int((dense > 0).sum()) == int((values > 0).sum())  # and nothing else of the rows is stored
    for name in ("X-Attention-Dtype", "X-Attention-Scale", "X-Attention-Precision", "X-Attention-Table"):
        assert headers.get(name) == dense_headers.get(name), name
    assert headers["X-Attention-Index-Dtype"] == "uint16" and headers["X-Attention-Count-Dtype"] == "uint32"
    assert headers.get("Content-Encoding") == (None if coding == "identity" else coding)


def test_every_row_of_every_head_and_rows_to_the_end(logs):
    client, records = logs
    for params, (r0, r1) in ((dict(), (0, N)), (dict(q_start=60), (60, N)), (dict(q_end=1), (0, 1))):
        status, headers, body = get(client, run="sparse", layer=0, form="sparse", **params)
        assert status == 200, body[:300]
        shape, counts, indices, values = decode_sparse_response(headers, body)
        want = stored_rows(records["sparse"], 0, range(HEADS), r0, r1)
        assert shape == (HEADS, r1 - r0, N)
        np.testing.assert_array_equal(counts.ravel(), want[0])
        np.testing.assert_array_equal(indices, want[1])
        np.testing.assert_array_equal(values, want[2])


def test_the_sparse_answer_is_smaller_than_the_dense_rows(logs):
    client, _ = logs
    sparse = get(client, "identity", run="sparse", layer=1, form="sparse", q_start=0, q_end=32)[2]
    dense = get(client, "identity", run="sparse", layer=1, q_start=0, q_end=32)[2]
    assert len(sparse) < len(dense) / 3


@pytest.mark.parametrize(
    "run, params, message",
    [
        ("dense", dict(form="sparse"), "dense"),
        ("sparse", dict(form="sparse", reduce="mean"), "takes no reduce"),
        ("sparse", dict(form="sparse", q_start=9, q_end=3), "out of range"),
        ("sparse", dict(form="Sparse"), "form must be"),
    ],
)
def test_what_form_sparse_cannot_answer_is_400_with_a_message(logs, run, params, message):
    client, _ = logs
    status, _, body = get(client, run=run, layer=0, **params)
    assert status == 400, body[:200]
    assert message in error_message(body), error_message(body)


def test_an_answer_over_the_bound_is_400(logs, monkeypatch):
    client, records = logs
    entries = stored_rows(records["sparse"], 0, range(HEADS), 0, N)[1].size
    monkeypatch.setattr(layer_answers, "MAX_ANSWER_ENTRIES", entries - 1)  # as if the layer were long
    status, _, body = get(client, run="sparse", layer=0, form="sparse")
    assert status == 400 and "kept entries" in error_message(body) and "q_start" in error_message(body)
    status, _, _ = get(client, run="sparse", layer=0, form="sparse", q_end=N // 2)
    assert status == 200

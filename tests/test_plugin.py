"""Plugin routes on a real multiplexer, as TensorBoard's own plugin tests are built, and the plain
query functions behind them."""

import numpy as np
import pytest

import tb_attention
from tb_attention.analysis import labels
from tb_attention.analysis.change import head_change
from tb_attention.format import metadata
from tests.helpers.data import UINT8_BOUND, softmax_attention
from tests.helpers.http import BASE, client_json, decode_layer_response, q, wsgi_client

TOKENS = ["[CLS]", "i", "went", "[SEP]", "at", "the", "[SEP]"]


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("logs")
    arrays = {}
    for run in ("run_a", "run_b"):
        for step in range(0, 30, 3):
            a = softmax_attention((3, 4, 7, 7), seed=step + (100 if run == "run_b" else 0))
            arrays[(run, step)] = a
            tb_attention.add_attention(logdir / run, "probe/x", a, TOKENS, step, sentence_b_start=4)
    tb_attention.add_attention(logdir / "run_a", "probe/other", softmax_attention((3, 4, 5, 5)), TOKENS[:5], 0)
    tb_attention.flush()
    return logdir, arrays


@pytest.fixture(scope="module")
def client(logged):
    return wsgi_client(logged[0])


@pytest.fixture(scope="module")
def records(logged):
    """{(run, step): read_attention record} of probe/x: what the writer stored."""
    return {(r.run, r.step): r for r in tb_attention.read_attention(str(logged[0]), tag="probe/x")}


def test_tags(client):
    runs = client_json(client, "/tags")["runs"]
    assert set(runs) == {"run_a", "run_b"}
    assert set(runs["run_a"]) == {"probe/x", "probe/other"}
    assert runs["run_b"]["probe/x"]["max_step"] == 27


def test_steps_list_every_step_with_tokens(client):
    data = client_json(client, "/steps?run=run_a&tag=probe/x")
    assert [s["step"] for s in data["steps"]] == list(range(0, 30, 3))
    assert data["steps"][0]["kinds"] == ["self"]
    first = data["steps"][0]["parts"]["self"]
    assert first["tokens"] == TOKENS and first["shape"] == [3, 4, 7, 7]
    assert first["sentence_b_start"] == 4 and first["precision"] == "log16"


def test_steps_serve_the_word_of_each_token(client, tmp_path):
    """The panel merges word pieces by the server's word ids (tokens.word_ids), queries and keys."""
    from tb_attention.analysis.tokens import DEFAULT_SPECIAL_TOKENS, word_ids

    first = client_json(client, "/steps?run=run_a&tag=probe/x")["steps"][0]["parts"]["self"]
    assert first["word_ids"] == word_ids(TOKENS, DEFAULT_SPECIAL_TOKENS).tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert first["key_word_ids"] is None
    queries = ["<s>", "\u2581straw", "berries", "</s>"]
    keys = ["[CLS]", "straw", "##berries", "are", "red", "[SEP]"]
    tb_attention.add_attention(tmp_path / "mt", "cross", softmax_attention((1, 2, 4, 6)), queries, 0, key_tokens=keys)
    tb_attention.flush()
    (cross,) = client_json(wsgi_client(tmp_path), "/steps?run=mt&tag=cross")["steps"][0]["parts"].values()
    assert cross["word_ids"] == [0, 1, 1, 2]
    assert cross["key_word_ids"] == [0, 1, 1, 2, 3, 4]


def test_layer_payload_equals_logged_values(client, logged):
    _, arrays = logged
    for layer in range(3):
        response = client.get(BASE + "/layer?" + q(run="run_b", tag="probe/x", step=12, layer=layer))
        assert response.status_code == 200
        assert response.headers["X-Attention-Shape"] == "4,7,7"
        assert (
            response.headers["X-Attention-Dtype"] == "uint16" and response.headers["X-Attention-Precision"] == "log16"
        )
        assert float(response.headers["X-Attention-Scale"]) == 1.0 and response.headers["X-Attention-Table"]
        assert "Content-Encoding" not in response.headers  # the client asked for none
        assert "Accept-Encoding" in response.headers["Vary"]
        values = decode_layer_response(response.headers, response.get_data())
        assert np.abs(values - arrays[("run_b", 12)][layer]).max() <= UINT8_BOUND


@pytest.mark.parametrize(
    "accept, coding",
    [
        (None, None),
        ("gzip, deflate", "deflate"),
        ("gzip, deflate, br, zstd", "zstd"),
        ("zstd;q=0, deflate", "deflate"),
    ],
)
def test_layer_content_coding_follows_accept_encoding(tmp_path, accept, coding):
    a = softmax_attention((2, 6, 40, 40), seed=3)  # 19200 bytes a layer: worth compressing
    tb_attention.add_attention(tmp_path / "r", "p", a, ["t%d" % i for i in range(40)], 1)
    tb_attention.flush()
    client = wsgi_client(tmp_path)
    headers = {"Accept-Encoding": accept} if accept else {}
    response = client.get(BASE + "/layer?" + q(run="r", tag="p", step=1, layer=1), headers=headers)
    assert response.status_code == 200 and response.headers.get("Content-Encoding") == coding
    raw = 6 * 40 * 40 * 2  # log16: two bytes a weight before compression
    assert len(response.get_data()) < 0.8 * raw if coding else len(response.get_data()) == raw
    assert np.abs(decode_layer_response(response.headers, response.get_data()) - a[1]).max() <= UINT8_BOUND


def test_a_subset_of_heads_and_thumbnails(client, logged):
    _, arrays = logged
    response = client.get(BASE + "/layer?" + q(run="run_a", tag="probe/x", step=9, layer=2, heads="3,0"))
    assert response.headers["X-Attention-Shape"] == "2,7,7"
    got = decode_layer_response(response.headers, response.get_data())
    assert np.abs(got - arrays[("run_a", 9)][2][[3, 0]]).max() <= UINT8_BOUND
    response = client.get(BASE + "/thumbnails?" + q(run="run_a", tag="probe/x", step=9))
    assert response.status_code == 200 and response.headers["X-Attention-Shape"] == "3,4,7,7"
    thumbs = np.frombuffer(response.get_data(), dtype="<f2").reshape(3, 4, 7, 7)  # short: one pixel a cell
    np.testing.assert_allclose(thumbs, arrays[("run_a", 9)], atol=UINT8_BOUND + 1e-3)


def test_change_equals_head_change_of_the_stored_records(client, records):
    data = client_json(client, "/change?run=run_a&tag=probe/x&step_a=0&step_b=27")
    expected = head_change(records["run_a", 0].attention, records["run_a", 27].attention).round(6)
    np.testing.assert_allclose(np.array(data["js"]), expected, atol=1e-6)
    np.testing.assert_allclose(data["layer_mean"], expected.mean(axis=1), atol=1e-6)
    ranking = [(r["layer"], r["head"]) for r in data["ranking"]]
    assert ranking == [
        tuple(int(i) for i in np.unravel_index(f, expected.shape)) for f in np.argsort(-expected, axis=None)
    ]
    assert data["same_tokens"] is True
    same = client_json(client, "/change?run=run_a&tag=probe/x&step_a=3&step_b=3")
    assert np.array(same["js"]).max() == 0
    across = client_json(client, "/change?run=run_a&tag=probe/x&step_a=3&step_b=3&run_b=run_b")
    expected = head_change(records["run_a", 3].attention, records["run_b", 3].attention).round(6)
    np.testing.assert_allclose(np.array(across["js"]), expected, atol=1e-6)


def test_patterns_route_serves_each_records_stored_scores_and_their_labels(client, records):
    data = client_json(client, "/patterns?run=run_a&tag=probe/x")
    assert data["steps"] == list(range(0, 30, 3))
    assert data["rules"] == labels.rules_json()
    for step, scores, head_labels in zip(data["steps"], data["scores"], data["head_labels"]):
        stored = records["run_a", step].patterns
        assert set(scores) == set(stored)
        for metric, values in scores.items():
            np.testing.assert_allclose(np.array(values, dtype=float), stored[metric], atol=1e-5, equal_nan=True)
        assert head_labels == labels.labels_json(scores)
        assert all(len(row) == 4 for row in head_labels) and all(h for row in head_labels for h in row)


def test_answers_are_cached_until_the_records_change(tmp_path):
    # The plain answers behind the routes, without HTTP.
    from tensorboard import context

    from tb_attention.serving.analysis_answers import AnalysisAnswers
    from tb_attention.serving.requests import ChangeRequest, SeriesRequest
    from tb_attention.storage.cache import LRU
    from tb_attention.storage.rundirs import RunDirectories
    from tb_attention.storage.store import AttentionStore
    from tests.helpers.http import multiplexer_provider

    for step in (0, 3):
        tb_attention.add_attention(
            tmp_path / "run_a", "probe/x", softmax_attention((3, 4, 7, 7), seed=step), TOKENS, step
        )
    tb_attention.flush()
    mux, provider = multiplexer_provider(tmp_path)
    answers = AnalysisAnswers(AttentionStore(provider, RunDirectories(logdir=str(tmp_path))), LRU(1024, 64 << 20))
    ctx = context.RequestContext()
    patterns = SeriesRequest(run="run_a", tag="probe/x")
    first = answers.patterns(ctx, "", patterns)
    assert answers.patterns(ctx, "", patterns) is first
    change = answers.change(ctx, "", ChangeRequest(run="run_a", tag="probe/x", step_a=0, step_b=3))
    assert answers.change(ctx, "", ChangeRequest(run="run_a", tag="probe/x", step_a=0, step_b=3)) is change
    # A new step: the patterns answer is computed afresh and lists it.
    tb_attention.add_attention(tmp_path / "run_a", "probe/x", softmax_attention((3, 4, 7, 7), seed=999), TOKENS, 30)
    tb_attention.flush()
    mux.Reload()
    again = answers.patterns(ctx, "", patterns)
    assert again is not first and again["steps"][-1] == 30


@pytest.mark.parametrize(
    "path, status, message",
    [
        ("/steps?tag=probe/x", 400, "missing query parameter 'run'"),
        ("/steps?run=nope&tag=probe/x", 404, "no attention for run 'nope'"),
        ("/layer?run=run_a&tag=probe/x&step=0", 400, "missing query parameter 'layer'"),
        ("/layer?run=run_a&tag=probe/x&step=-1&layer=0", 400, "non-negative integer"),
        ("/layer?run=run_a&tag=probe/x&step=abc&layer=0", 400, "non-negative integer"),
        ("/layer?run=run_a&tag=probe/x&step=99999999999999999999&layer=0", 400, "non-negative integer"),
        ("/layer?run=run_a&tag=probe/x&step=1&layer=0", 404, "no attention at step 1"),
        ("/layer?run=run_a&tag=probe/x&step=0&layer=3", 404, "layer 3 is out of range"),
        ("/layer?run=run_a&tag=probe/x&step=0&layer=0&heads=1,4", 404, "heads [1, 4] are out of range"),
        ("/layer?run=run_a&tag=probe/x&step=0&layer=0&heads=1,x", 400, "comma-separated list"),
        ("/layer?run=run_a&tag=probe/x&step=0&layer=0&kind=cross", 404, "no attention of kind 'cross'"),
        ("/thumbnails?run=run_a&tag=probe/x&step=1", 404, "no attention at step 1"),
        ("/change?run=run_a&tag=probe/x&step_a=0&step_b=0&tag_b=probe/other", 400, "differ in shape"),
        ("/static/../serving/plugin.py", 404, "no such file"),
        ("/static/%2e%2e/format/codec.py", 404, "no such file"),
        ("/static/__init__.py", 404, "no such file"),
    ],
)
def test_bad_requests_get_4xx_with_a_message(client, path, status, message):
    assert message in client_json(client, path, status)["error"]


def test_static_files(client):
    response = client.get(BASE + "/index.js")
    assert response.status_code == 200 and "javascript" in response.headers["Content-Type"]


def test_frontend_metadata_and_activity(client):
    import json

    listing = json.loads(client.get("/data/plugins_listing").get_data())
    entry = listing[metadata.PLUGIN_NAME]
    assert entry["enabled"] is True and entry["tab_name"] == "Attention"
    assert entry["loading_mechanism"] == {"type": "IFRAME", "module_path": "/data/plugin/tb_attention/index.js"}

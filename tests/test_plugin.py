"""Plugin routes on a real multiplexer, as TensorBoard's own plugin tests are built."""

import json
import zlib

import numpy as np
import pytest

import tb_attention
from tb_attention import metadata
from tests.test_codec import softmax_attention

TOKENS = ["[CLS]", "i", "went", "[SEP]", "at", "the", "[SEP]"]
BASE = "/data/plugin/tb_attention"


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
    from tests.hardening_helpers import wsgi_client

    return wsgi_client(logged[0])


def get_json(client, path, status=200):
    response = client.get(BASE + path)
    assert response.status_code == status, response.get_data(as_text=True)
    return json.loads(response.get_data())


def test_tags(client):
    runs = get_json(client, "/tags")["runs"]
    assert set(runs) == {"run_a", "run_b"}
    assert set(runs["run_a"]) == {"probe/x", "probe/other"}
    assert runs["run_b"]["probe/x"]["max_step"] == 27


def test_steps_list_every_step_with_tokens(client):
    data = get_json(client, "/steps?run=run_a&tag=probe/x")
    assert [s["step"] for s in data["steps"]] == list(range(0, 30, 3))
    first = data["steps"][0]
    assert first["tokens"] == TOKENS and first["shape"] == [3, 4, 7, 7]
    assert first["sentence_b_start"] == 4 and first["precision"] == "uint8"


def test_layer_payload_equals_logged_values(client, logged):
    _, arrays = logged
    for layer in range(3):
        response = client.get(BASE + "/layer?run=run_b&tag=probe/x&step=12&layer=%d" % layer)
        assert response.status_code == 200
        assert response.headers["X-Attention-Shape"] == "4,7,7"
        assert response.headers["X-Attention-Precision"] == "uint8"
        values = np.frombuffer(zlib.decompress(response.get_data()), dtype=np.uint8).reshape(4, 7, 7) / 255
        assert np.abs(values - arrays[("run_b", 12)][layer]).max() <= 1 / 510 + 1e-7


def test_change_ranks_heads(client, logged):
    data = get_json(client, "/change?run=run_a&tag=probe/x&step_a=0&step_b=27")
    js = np.array(data["js"])
    assert js.shape == (3, 4) and (js >= 0).all() and (js <= np.log(2) + 1e-6).all()
    ranking = data["ranking"]
    assert len(ranking) == 12 and ranking[0]["js"] == js.max()
    same = get_json(client, "/change?run=run_a&tag=probe/x&step_a=3&step_b=3")
    assert np.allclose(same["js"], 0)
    across = get_json(client, "/change?run=run_a&tag=probe/x&step_a=3&step_b=3&run_b=run_b")
    assert np.array(across["js"]).max() > 0


def test_patterns_route_lists_every_step(client):
    data = get_json(client, "/patterns?run=run_a&tag=probe/x")
    assert data["steps"] == list(range(0, 30, 3))
    assert len(data["scores"]) == 10


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
        ("/change?run=run_a&tag=probe/x&step_a=0&step_b=0&tag_b=probe/other", 400, "differ in shape"),
        ("/static/../attention_plugin.py", 404, "no such file"),
        ("/static/%2e%2e/codec.py", 404, "no such file"),
        ("/static/__init__.py", 404, "no such file"),
    ],
)
def test_bad_requests_get_4xx_with_a_message(client, path, status, message):
    assert message in get_json(client, path, status)["error"]


def test_static_files(client):
    response = client.get(BASE + "/index.js")
    assert response.status_code == 200 and "javascript" in response.headers["Content-Type"]


def test_frontend_metadata_and_activity(client):
    listing = json.loads(client.get("/data/plugins_listing").get_data())
    entry = listing[metadata.PLUGIN_NAME]
    assert entry["enabled"] is True and entry["tab_name"] == "Attention"
    assert entry["loading_mechanism"] == {"type": "IFRAME", "module_path": "/data/plugin/tb_attention/index.js"}

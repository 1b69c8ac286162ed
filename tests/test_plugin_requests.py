"""Every route hands its answer one typed request, each field read from the query parameter of
its own name: through TensorBoard's WSGI app on a real multiplexer, a parameter routed to another
field would change the answer (checked against numpy on what the writer stored) or be refused."""

import dataclasses

import numpy as np
import pytest
from werkzeug import test as werkzeug_test
from werkzeug import wrappers

import tb_attention
from tb_attention.analysis.change import head_change
from tb_attention.serving import plugin, requests
from tests.helpers.data import UINT8_BOUND, softmax_attention
from tests.helpers.http import BASE, client_json, client_layer, q, wsgi_client

TOKENS = ["[CLS]", "the", "cat", "sat", "on", "it", "[SEP]"]
STEPS = (0, 1, 2, 3)
LAYERS, HEADS = 4, 3

# A distinct, valid value for every request field, by parameter name.
SAMPLES = {
    "run": "run/x",
    "tag": "probe/y",
    "step": 3,
    "layer": 4,
    "kind": "cross",
    "heads": (5, 1, 5),
    "form": "kept",
    "reduce": "mean",
    "q_start": 6,
    "q_end": 9,
    "step_a": 10,
    "step_b": 11,
    "run_b": "run/z",
    "tag_b": "probe/w",
    "query": 12,
    "method": "flow",
    "k_start": 2,
    "k_end": 13,
    "factor": 8,
    "head": 14,
}


def _request_types():
    """{route: its request type}, from the plugin's own route table."""

    class Methods:  # stands in for the answer objects: the table only names their methods
        def __getattr__(self, name):
            return name

    return {path: route[0] for path, route in plugin.data_routes(Methods(), Methods()).items()}


@pytest.mark.parametrize("path, request_type", sorted(_request_types().items()))
def test_every_field_is_read_from_its_own_parameter(path, request_type):
    fields = [f.name for f in dataclasses.fields(request_type)]
    assert set(fields) <= set(SAMPLES), "give the new field a sample value: %s" % (set(fields) - set(SAMPLES))
    given = {name: ",".join(map(str, SAMPLES[name])) if name == "heads" else SAMPLES[name] for name in fields}
    request = wrappers.Request(werkzeug_test.EnvironBuilder(path=BASE + path, query_string=q(**given)).get_environ())
    parsed = requests.parse(request_type, request)
    assert {name: getattr(parsed, name) for name in fields} == {name: SAMPLES[name] for name in fields}


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """(client, {(run, step): float32 attention as logged}): two runs, four steps each, every
    layer, head, query row and step different."""
    logdir = tmp_path_factory.mktemp("requests")
    arrays = {}
    for run in ("a", "b"):
        for step in STEPS:
            att = softmax_attention((LAYERS, HEADS, len(TOKENS), len(TOKENS)), seed=10 * step + (run == "b"))
            arrays[run, step] = att
            tb_attention.add_attention(logdir / run, "probe", att, TOKENS, step)
    tb_attention.flush()
    return wsgi_client(logdir), arrays


def test_layer_parameters_reach_their_own_fields(logged):
    client, arrays = logged
    got = client_layer(client, run="a", tag="probe", step=2, layer=1, heads="2,0", q_start=1, q_end=5)
    np.testing.assert_allclose(got, arrays["a", 2][1][[2, 0], 1:5], atol=UINT8_BOUND)
    # step and layer swapped name another stored block: the answer says which was asked for.
    swapped = client_layer(client, run="a", tag="probe", step=1, layer=2, heads="2,0", q_start=1, q_end=5)
    assert not np.allclose(swapped, got, atol=2 * UINT8_BOUND)
    mean = client_layer(client, run="a", tag="probe", step=3, layer=2, heads="1,1,0", reduce="mean")
    np.testing.assert_allclose(mean[0], arrays["a", 3][2][[1, 1, 0]].mean(axis=0), atol=UINT8_BOUND)
    # q_start and q_end swapped is refused, not answered with other rows.
    response = client.get(BASE + "/layer?" + q(run="a", tag="probe", step=2, layer=1, q_start=5, q_end=1))
    assert response.status_code == 400 and "out of range" in response.get_data(as_text=True)


def test_relevance_and_rollout_read_query_and_layer_by_name(logged):
    client, arrays = logged
    expected = {s: tb_attention.attention_rollout(arrays["a", s]) for s in STEPS}
    body = client_json(client, "/relevance?" + q(run="a", tag="probe", query=5, layer=1))
    assert body["query"] == 5 and body["layer"] == 1 and body["method"] == "rollout"
    for step, row in zip(body["steps"], body["relevance"]):
        np.testing.assert_allclose(row, expected[step][1, 5], atol=0.01)
        assert not np.allclose(row, expected[step][5 % LAYERS, 1], atol=0.01)  # query and layer swapped
    response = client.get(BASE + "/rollout?" + q(run="a", tag="probe", step=2, layer=3))
    values = np.frombuffer(response.get_data(), "<f4").reshape(1, len(TOKENS), len(TOKENS))
    assert response.headers.get("Content-Encoding") is None  # a WSGI client without Accept-Encoding
    np.testing.assert_allclose(values[0], expected[2][3], atol=0.01)


def test_change_compares_the_records_it_names(logged):
    client, arrays = logged
    body = client_json(client, "/change?" + q(run="a", tag="probe", step_a=1, step_b=3, run_b="b"))
    np.testing.assert_allclose(body["js"], head_change(arrays["a", 1], arrays["b", 3]), atol=0.01)
    within_a = head_change(arrays["a", 1], arrays["a", 3])
    assert not np.allclose(body["js"], within_a, atol=0.01)  # run_b was not dropped


def test_formed_refuses_steps_in_the_wrong_order(logged):
    client, _ = logged
    assert client_json(client, "/formed?" + q(run="a", tag="probe", step_a=1, step_b=3))["from_step"] == 1
    error = client_json(client, "/formed?" + q(run="a", tag="probe", step_a=3, step_b=1), status=400)["error"]
    assert error == "step_a=3 is after step_b=1"

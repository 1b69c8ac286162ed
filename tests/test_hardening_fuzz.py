"""Hostile requests: every route fuzzed with missing, malformed, huge, negative, repeated,
percent-encoded and path-like parameters (hypothesis), static-route traversal attempts, and
other methods. Always a 4xx with a message or a 200, never a 5xx; the server keeps serving; no
request writes anything."""

import http.client
import json
import pathlib
import urllib.parse

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tb_attention
from tests.helpers.data import attention, tokens_for
from tests.helpers.eventfiles import tree_snapshot
from tests.helpers.http import BASE, LOADERS, wsgi_client
from tests.helpers.tb_process import TensorBoardProcess

RUNS = ["run_a", "deep/run_b"]
TAGS = ["probe/x", "probe/🍓 <b>"]
STEPS = [0, 3, 7]
IMPORTANCE_TAG = "importance"
PARAM_NAMES = [
    "run",
    "tag",
    "step",
    "layer",
    "step_a",
    "step_b",
    "run_b",
    "tag_b",
    "kind",
    "heads",
    "form",
    "query",
    "method",
    "reduce",
    "q_start",
    "q_end",
    "head",
]
ROUTES = [
    "/tags",
    "/steps",
    "/layer",
    "/thumbnails",
    "/patterns",
    "/change",
    "/rollout",
    "/relevance",
    "/formed",
    "/importance",
    "/qk",
    "/index.js",
]
FRONTEND = pathlib.Path(__file__).resolve().parent.parent / "frontend"
STATUSES = {200, 400, 404, 405, 422}


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    for i, run in enumerate(RUNS):
        for j, tag in enumerate(TAGS):
            for step in STEPS:
                a = attention(seed=100 * i + 10 * j + step, layers=3, heads=2, n=6)
                vectors = np.random.default_rng(step).normal(size=(3, 2, 6, 4)) if j == 0 else None  # /qk reads them
                tb_attention.add_attention(root / run, tag, a, tokens_for(6), step, queries=vectors, keys=vectors)
        for step in STEPS:  # head importance beside the attention (its own tag)
            tb_attention.add_importance(root / run, IMPORTANCE_TAG, np.full((3, 2), 0.1 + step), step)
    tb_attention.flush()
    return root


@pytest.fixture(scope="module")
def pristine(logdir):
    """The logdir's files as written, before any request."""
    return tree_snapshot(logdir)


PATHLIKE = [
    "..",
    "../..",
    "../../../../etc/passwd",
    "/etc/passwd",
    "..\\..\\windows\\win.ini",
    "C:\\boot.ini",
    "%2e%2e%2f%2e%2e%2f",
    "%2F",
    "%00",
    "\x00",
    "index.js\x00.py",
    "\\\\host\\share",
    "./",
    "//",
    "~",
    "file:///etc/passwd",
    "%",
    "%zz",
    "%%32e",
    "%c0%ae%c0%ae/",
]
NUMBERISH = [
    "-1",
    "-0",
    "+1",
    "0x10",
    "1e3",
    "1.5",
    "1_000",
    " 1",
    "1 ",
    "٣",
    "１",
    "NaN",
    "inf",
    "",
    "9" * 19,
    "9" * 20,
    "9" * 400,
    str(2**63),
    str(2**63 - 1),
    str(2**31),
    "00000000000000000000003",
]

values = st.one_of(
    st.sampled_from(RUNS + TAGS + [IMPORTANCE_TAG]),
    st.sampled_from([str(s) for s in STEPS] + ["0", "1", "2", "5"]),
    st.sampled_from(NUMBERISH),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(PATHLIKE),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1000, max_size=3000),
)
params = st.lists(st.tuples(st.one_of(st.sampled_from(PARAM_NAMES), st.text(max_size=10)), values), max_size=8)


@st.composite
def requests(draw):
    """(path, query string): a route (or a static path) and encoded, possibly malformed, params."""
    kind = draw(st.sampled_from(["route", "route", "route", "static", "other"]))
    if kind == "route":
        path = BASE + draw(st.sampled_from(ROUTES))
    elif kind == "static":
        name = draw(
            st.one_of(
                st.sampled_from(PATHLIKE + ["index.js", "app.js", "style.css", "views/head_view.js"]),
                st.text(max_size=30),
            )
        )
        path = BASE + "/static/" + urllib.parse.quote(name, safe=draw(st.sampled_from(["/", "/%", "/%.\\"])))
    else:
        path = BASE + "/" + urllib.parse.quote(draw(st.text(max_size=20)), safe="/")
    pairs = draw(params)
    if draw(st.booleans()):
        query = urllib.parse.urlencode(pairs)
    else:  # raw: keep %-sequences (valid or not) and path-like text as typed
        query = "&".join(
            urllib.parse.quote(k, safe="%/.\\") + ("=" + urllib.parse.quote(v, safe="%/.\\") if v else "")
            for k, v in pairs
        )
    return path, query


def check_response(status, content_type, body, path):
    assert status < 500, (status, path, body[:300])
    if path.startswith(BASE + "/") and path.split("/")[4] in {r.strip("/") for r in ROUTES} | {"static"}:
        assert status in STATUSES, (status, path)
        if status >= 400 and content_type.startswith("application/json"):
            message = json.loads(body)["error"]
            assert isinstance(message, str) and message
        elif status >= 400:
            # A path TensorBoard's router matches to no route at all (e.g. `/static/` with no name)
            # gets TensorBoard's own plain-text 404.
            assert status == 404 and content_type.startswith("text/plain") and body, (status, path)


# -- breadth: the WSGI app over a real multiplexer ---------------------------------------------------


@pytest.fixture(scope="module")
def client(logdir):
    return wsgi_client(logdir)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=requests())
def test_fuzzed_requests_get_4xx_never_5xx(client, pristine, request):
    path, query = request
    response = client.get(path, query_string=query)
    check_response(response.status_code, response.headers.get("Content-Type", ""), response.get_data(), path)


def test_requests_wrote_nothing(client, logdir, pristine):
    """Runs after the fuzzing above (same module fixtures): not a byte of the logdir changed."""
    for route in ROUTES:
        client.get(BASE + route, query_string="run=run_a&tag=probe%2Fx&step=0&step_a=0&step_b=3&layer=0")
    assert tree_snapshot(logdir) == pristine


@settings(max_examples=100, deadline=None)
@given(step=st.sampled_from(STEPS), layer=st.integers(0, 5), run=st.sampled_from(RUNS), tag=st.sampled_from(TAGS))
def test_valid_coordinates_are_served_and_out_of_range_layers_are_404(client, step, layer, run, tag):
    response = client.get(
        BASE + "/layer", query_string=urllib.parse.urlencode(dict(run=run, tag=tag, step=step, layer=layer))
    )
    assert response.status_code == (200 if layer < 3 else 404)


def test_every_route_without_parameters(client):
    for route in ROUTES:
        response = client.get(BASE + route)
        assert response.status_code in (200, 400), route
        if response.status_code == 400:
            assert "missing query parameter" in json.loads(response.get_data())["error"]


def test_repeated_parameters_use_the_first(client):
    query = "run=run_a&run=nope&tag=probe%2Fx&tag=nope&step=3&step=-1&layer=0&layer=99"
    assert client.get(BASE + "/layer", query_string=query).status_code == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("route", ROUTES + ["/static/index.js"])
def test_other_methods_are_refused_and_write_nothing(client, logdir, method, route):
    before = tree_snapshot(logdir)
    response = client.open(
        BASE + route, method=method, data=b"x" * 1000, query_string="run=run_a&tag=probe%2Fx&step=0&layer=0"
    )
    assert response.status_code == 405 and "GET" in response.headers.get("Allow", "")
    assert json.loads(response.get_data())["error"]
    assert tree_snapshot(logdir) == before


# -- static routes: nothing but the shipped panel files --------------------------------------------

TRAVERSALS = [
    "../attention_plugin.py",
    "%2e%2e/codec.py",
    "..%2fcodec.py",
    "%2e%2e%2f%2e%2e%2fsetup.py",
    "views/../../codec.py",
    "views/%2e%2e/%2e%2e/codec.py",
    "/etc/passwd",
    "%2Fetc%2Fpasswd",
    "//etc/passwd",
    "..\\codec.py",
    "%5c..%5ccodec.py",
    "index.js%00.py",
    "index.js%00",
    "__init__.py",
    "frontend/index.js",
    "./index.js",
    ".%2findex.js",
    "views",
    "views/",
    "",
    "%c0%ae%c0%ae/codec.py",
    "..%252fcodec.py",
    "C:%5cWindows%5cwin.ini",
    "file:%2f%2f%2fetc%2fpasswd",
    "..;/codec.py",
]


def shipped():
    return {
        str(p.relative_to(FRONTEND)).replace("\\", "/"): p.read_bytes()
        for p in FRONTEND.rglob("*")
        if p.is_file() and p.suffix in (".js", ".css", ".svg")
    }


def check_static(status, body, name):
    if status == 200:
        # Only a shipped panel file, byte for byte.
        assert body in shipped().values(), name
    else:
        assert 400 <= status < 500, (status, name)
    assert b"root:" not in body and b"import " not in body


def test_static_traversal_through_wsgi(client):
    for name in TRAVERSALS:
        response = client.get(BASE + "/static/" + name)
        check_static(response.status_code, response.get_data(), name)


def test_static_serves_exactly_the_shipped_files(client):
    files = shipped()
    assert "index.js" in files
    for name, data in files.items():
        response = client.get(BASE + "/static/" + name)
        assert response.status_code == 200 and response.get_data() == data, name
        assert response.headers["X-Content-Type-Options"] == "nosniff"


# -- a real TensorBoard process (both loaders): bounded requests, it keeps serving -------------------


@pytest.fixture(scope="module", params=LOADERS)
def live_tb(request, logdir):
    tb = TensorBoardProcess(logdir, load_fast=request.param).start()
    try:
        tb.wait_for(lambda: len(tb.get_json(BASE + "/tags")["runs"]) == 2, timeout=90)
        yield tb
    finally:
        tb.stop()


def raw_get(tb, path, method="GET"):
    """Send the path exactly as given (no client-side normalisation); (status, type, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", tb.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=requests())
def test_real_tensorboard_survives_fuzzing(live_tb, request):
    path, query = request
    full = path + ("?" + query if query else "")
    full = urllib.parse.quote(full, safe="/?&=%.\\:;~+-_")  # http.client refuses raw control chars
    status, content_type, body = raw_get(live_tb, full)
    check_response(status, content_type, body, path)
    assert live_tb.proc.poll() is None


@pytest.mark.slow
def test_real_tensorboard_static_traversal_and_still_serving(live_tb, logdir):
    before = tree_snapshot(logdir)
    for name in TRAVERSALS:
        status, _, body = raw_get(live_tb, BASE + "/static/" + name)
        check_static(status, body, name)
    for method in ("POST", "PUT", "DELETE"):
        status, _, _ = raw_get(live_tb, BASE + "/tags", method=method)
        assert 400 <= status < 500
    status, _, body = raw_get(
        live_tb, BASE + "/layer?" + urllib.parse.urlencode(dict(run="deep/run_b", tag=TAGS[1], step=7, layer=2))
    )
    assert status == 200 and body
    assert tree_snapshot(logdir) == before

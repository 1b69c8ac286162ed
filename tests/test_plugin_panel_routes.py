"""The `/layer` parameters the panel uses for long inputs (docs/http_api.md): query rows
(`q_start`, `q_end`) and the mean of the listed heads (`reduce=mean`), over dense, sparse and
format-1 records, through TensorBoard's WSGI app on a real multiplexer; bad values are 400s."""

import pathlib

import numpy as np
import pytest

import tb_attention
from bench.llm_attention import llm_attention, llm_tokens
from tb_attention.format import blocks
from tests.helpers.http import BASE, decode_layer_response, error_message, q, wsgi_client

N = 64
HEADS = 6
TOKENS = llm_tokens(N)
V1 = pathlib.Path(__file__).resolve().parent / "data" / "v1_logdir"
CODINGS = ["zstd", "deflate", "identity"]


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """(client, {run: record}): a dense and a sparse record of the same LLM-shaped attention, both
    split into blocks of two heads (so a selection spans blocks)."""
    logdir = tmp_path_factory.mktemp("panel_routes")
    att = llm_attention(2, HEADS, N, seed=3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(blocks, "BLOCK_BYTES", 4 * N * N)  # two heads per block (two bytes a weight)
        tb_attention.add_attention(str(logdir / "dense"), "p", att, TOKENS, 5)
        tb_attention.add_attention(str(logdir / "sparse"), "p", att, TOKENS, 5, top_k=6)
        tb_attention.flush()
    records = {r.run: r for r in tb_attention.read_attention(str(logdir))}
    assert records["dense"].encoding == "dense" and records["sparse"].encoding == "sparse"
    return wsgi_client(logdir), records


def get(client, coding="zstd", **params):
    response = client.get(BASE + "/layer?" + q(**params), headers={"Accept-Encoding": coding})
    return response.status_code, response.headers, response.get_data()


def layer_of(client, coding="zstd", **params):
    status, headers, body = get(client, coding, **params)
    assert status == 200, body[:300]
    return headers, decode_layer_response(headers, body)


def kept_of(client, **params):
    """(shape, float32 values) of a `form=kept` answer, whatever its content-coding."""
    status, headers, body = get(client, form="kept", **params)
    assert status == 200, body[:300]
    shape = tuple(map(int, headers["X-Attention-Shape"].split(",")))
    if headers.get("Content-Encoding") == "zstd":
        import zstandard

        body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
    assert headers.get("Content-Encoding") in (None, "zstd") and headers["X-Attention-Dtype"] == "float32"
    return shape, np.frombuffer(body, "<f4").reshape(shape)


@pytest.mark.parametrize("run", ["dense", "sparse"])
@pytest.mark.parametrize("coding", CODINGS)
def test_query_rows_of_listed_heads_are_the_stored_weights(logs, run, coding):
    client, records = logs
    full = records[run].layer(1)
    heads = [4, 1, 1, 5]  # across blocks, out of order, one twice: answered as listed
    headers, got = layer_of(
        client, coding, run=run, tag="p", step=5, layer=1, heads=",".join(map(str, heads)), q_start=10, q_end=37
    )
    assert headers["X-Attention-Shape"] == "4,27,%d" % N
    assert headers["X-Attention-Dtype"] == "uint16" and headers["X-Attention-Precision"] == "log16"
    np.testing.assert_allclose(got, full[heads, 10:37], rtol=1e-6, atol=0)
    # Every head, rows from q_start to the end; rows from the start to q_end.
    _, got = layer_of(client, coding, run=run, tag="p", step=5, layer=1, q_start=60)
    np.testing.assert_allclose(got, full[:, 60:], rtol=1e-6, atol=0)
    _, got = layer_of(client, coding, run=run, tag="p", step=5, layer=1, q_end=3)
    np.testing.assert_allclose(got, full[:, :3], rtol=1e-6, atol=0)


@pytest.mark.parametrize("run", ["dense", "sparse"])
def test_mean_of_listed_heads_is_float32_of_the_weights(logs, run):
    client, records = logs
    full = records[run].layer(0).astype(np.float64)
    for heads, rows in (([0, 1, 2, 3, 4, 5], (0, N)), ([5, 2], (0, N)), ([3], (20, 21)), ([0, 0, 4], (7, 50))):
        params = dict(run=run, tag="p", step=5, layer=0, heads=",".join(map(str, heads)), reduce="mean")
        if rows != (0, N):
            params.update(q_start=rows[0], q_end=rows[1])
        headers, got = layer_of(client, **params)
        assert headers["X-Attention-Dtype"] == "float32" and headers["X-Attention-Scale"] == "1.0"
        assert headers["X-Attention-Shape"] == "1,%d,%d" % (rows[1] - rows[0], N)
        want = full[heads, rows[0] : rows[1]].mean(axis=0)
        np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-7)
    # No heads listed: the mean of all of them; rows of a mean still sum to what the heads kept.
    _, got = layer_of(client, run=run, tag="p", step=5, layer=0, reduce="mean")
    np.testing.assert_allclose(got[0], full.mean(axis=0), rtol=1e-5, atol=1e-7)


def test_kept_mass_of_rows_and_their_mean(logs):
    client, records = logs
    kept = records["sparse"].kept_mass(1)
    shape, got = kept_of(client, run="sparse", tag="p", step=5, layer=1, heads="2,5", q_start=4, q_end=30)
    assert shape == (2, 26)
    np.testing.assert_array_equal(got, kept[[2, 5], 4:30])
    shape, got = kept_of(client, run="sparse", tag="p", step=5, layer=1, heads="2,5", reduce="mean")
    assert shape == (1, N)
    np.testing.assert_allclose(got[0], kept[[2, 5]].mean(axis=0), rtol=1e-6)
    status, _, body = get(client, run="dense", tag="p", step=5, layer=1, form="kept", reduce="mean")
    assert status == 400 and "dense" in error_message(body)


def test_format_1_records_take_the_same_parameters():
    client = wsgi_client(V1)
    (record,) = [r for r in tb_attention.read_attention(str(V1), run="finetune", tag="probe/store") if r.step == 10]
    full = record.layer(2)
    _, got = layer_of(client, run="finetune", tag="probe/store", step=10, layer=2, heads="3,0", q_start=1, q_end=4)
    np.testing.assert_allclose(got, full[[3, 0], 1:4], rtol=1e-6, atol=0)
    _, got = layer_of(client, run="finetune", tag="probe/store", step=10, layer=2, reduce="mean")
    np.testing.assert_allclose(got[0], full.astype(np.float64).mean(axis=0), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(reduce="max"), "reduce must be mean"),
        (dict(reduce=""), "reduce must be mean"),
        (dict(q_start="-1"), "non-negative integer"),
        (dict(q_start="x"), "non-negative integer"),
        (dict(q_end="1.5"), "non-negative integer"),
        (dict(q_start=N), "out of range"),
        (dict(q_start=9, q_end=9), "out of range"),
        (dict(q_start=9, q_end=3), "out of range"),
        (dict(q_end=N + 1), "out of range"),
        (dict(q_end=0), "out of range"),
        (dict(q_start="9" * 30), "non-negative integer"),
        (dict(q_end=2**40), "out of range"),
    ],
)
def test_bad_values_are_400_with_a_message(logs, params, message):
    client, _ = logs
    for run in ("dense", "sparse"):
        status, _, body = get(client, run=run, tag="p", step=5, layer=0, **params)
        assert status == 400, (run, params, body[:200])
        assert message in error_message(body), error_message(body)


def test_fuzzed_rows_and_reduce_never_500(logs):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    client, _ = logs
    value = st.one_of(st.none(), st.integers(-3, N + 3).map(str), st.text(max_size=6))

    @settings(max_examples=150, deadline=None, database=None)
    @given(
        q_start=value,
        q_end=value,
        reduce=st.one_of(st.none(), st.sampled_from(["mean", "MEAN", "sum"]), st.text(max_size=4)),
        run=st.sampled_from(["dense", "sparse"]),
        form=st.sampled_from([None, "kept", "dense", "sparse"]),
    )
    def check(q_start, q_end, reduce, run, form):
        params = {
            k: v for k, v in dict(q_start=q_start, q_end=q_end, reduce=reduce, form=form).items() if v is not None
        }
        status, _, body = get(client, run=run, tag="p", step=5, layer=1, **params)
        assert status in (200, 400), (params, status, body[:200])
        if status == 400:
            error_message(body)

    check()

"""Long records through the capture (format 3), at lengths small enough for a test with the
long-record thresholds lowered: bands of rows, a max-pooled overview, per-row detail for a window
of rows when the budget says so; regions read back through `StoredPart.region` and `/tile`
equal the eager attention (pooled), and what is not stored reads as NaN, never 0."""

import math
import warnings

import numpy as np
import pytest
import torch

import tb_attention
from tb_attention.capture import capture
from tb_attention.writing import budget, stream
from tests.helpers.http import BASE, decode_sparse_response, q, wsgi_client
from tests.helpers.tiny_models import Tokens, eager_attention, tiny_inputs, tiny_model

N = 320
BAND = 32


@pytest.fixture
def small_thresholds(monkeypatch):
    """Long-record rules at test scale: bands past 4 KB a head, overview past 128 queries."""
    monkeypatch.setattr(stream, "BAND_THRESHOLD_BYTES", 4096)
    monkeypatch.setattr(stream, "BAND_ROWS", BAND)
    monkeypatch.setattr(budget, "BAND_ROWS", BAND)
    monkeypatch.setattr(stream, "OVERVIEW_MIN_QUERIES", 128)
    monkeypatch.setattr(budget, "OVERVIEW_SHARE", 0.9)
    warnings.filterwarnings("ignore", message="index_reduce")


def _pooled(weights, factor):
    """Max-pool `[q, k]` by factor (ceil), as the stored levels are."""
    rows, cols = math.ceil(weights.shape[0] / factor), math.ceil(weights.shape[1] / factor)
    padded = np.zeros((rows * factor, cols * factor), np.float32)
    padded[: weights.shape[0], : weights.shape[1]] = weights
    return padded.reshape(rows, factor, cols, factor).max(axis=(1, 3))


def _long_record(family, max_bytes, logdir):
    model, inputs = tiny_model(family), tiny_inputs(family, length=N)
    with torch.no_grad(), capture(model, Tokens(), precision="float32", max_bytes=max_bytes) as cap:
        model(**inputs)
    [part] = cap.parts
    cap.log(str(logdir), "probe/long", 5)
    tb_attention.flush()
    [record] = tb_attention.read_attention(str(logdir))
    return record, part.builder.layout, eager_attention(model, inputs)["self"], logdir


@pytest.fixture
def long_record(small_thresholds, tmp_path):
    """A Llama record over its budget: the strongest keys of its last rows and an overview."""
    return _long_record("llama", 100_000, tmp_path)


@pytest.fixture
def windowed_record(small_thresholds, tmp_path):
    """A Mistral record (sliding window 7) over its budget: detail for its last rows."""
    return _long_record("mistral", 60_000, tmp_path)


def test_a_long_record_keeps_a_window_of_detail_rows_and_an_overview(long_record):
    record, layout, _, _ = long_record
    assert record.encoding == "sparse" and record.sparse["top_k"] <= budget.DEFAULT_TOP_K
    assert layout.band_rows == BAND and layout.overview and layout.detail[1] == N
    assert 0 < layout.detail[0] < N  # the budget kept only the last rows in detail
    assert record.windows is None and record.causal and record.kv_heads == [0, 0, 1, 1]


def test_overview_regions_equal_the_pooled_attention(long_record):
    record, layout, eager, _ = long_record
    stored = record._stored
    for factor in layout.overview:
        for layer in range(2):
            got = stored.region(layer, [0, 3], (0, N), (0, N), factor)
            for i, head in enumerate((0, 3)):
                want = _pooled(eager[layer, head], factor).astype(np.float16).astype(np.float32)
                np.testing.assert_array_equal(got[i], want)


def test_detail_regions_hold_the_kept_weights_and_nan_where_nothing_is_stored(windowed_record):
    record, layout, eager, _ = windowed_record
    assert record.windows == [7, 7] and 0 < layout.detail[0] < N
    d0 = layout.detail[0]
    got = record._stored.region(1, [2], (d0 - BAND, N), (0, N), 1)[0]
    assert np.isnan(got[:BAND]).all()  # rows before the detail window: not stored
    detail, truth = got[BAND:], eager[1, 2, d0:]
    stored = ~np.isnan(detail)
    np.testing.assert_allclose(detail[stored], truth[stored], atol=1e-7)
    # A windowed causal layer: keys after the query and before its window are known zeros.
    i, j = np.arange(d0, N)[:, None], np.arange(N)[None, :]
    assert (detail[(j > i) | (j <= i - 7)] == 0).all()
    # Every key the record dropped is NaN (inside the window), never 0.
    assert np.isnan(detail).sum() == ((truth > 0) & ~stored).sum()


def _nan_pooled(cells, factor):
    """Max-pool `[q, k]` by factor (ceil), NaN only where every weight of a cell is NaN."""
    rows, cols = math.ceil(cells.shape[0] / factor), math.ceil(cells.shape[1] / factor)
    padded = np.full((rows * factor, cols * factor), np.nan, np.float32)
    padded[: cells.shape[0], : cells.shape[1]] = cells
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells
        return np.nanmax(padded.reshape(rows, factor, cols, factor), axis=(1, 3))


@pytest.mark.parametrize("factor", [2, 4])
def test_detail_regions_at_a_factor_pool_the_single_weights(windowed_record, factor):
    """Below the stored levels a region pools the detail chunk by chunk: the same cells as
    pooling the single weights (stored, known zeros, NaN where none is stored), for regions that
    start inside a band and before the detail window."""
    record, layout, _, _ = windowed_record
    stored = record._stored
    assert factor < min(stored.part.levels())  # read from the detail, not the stored levels
    d0 = layout.detail[0]
    for rows, cols in (((0, N), (0, N)), ((d0 - 3 * factor, N - 5), (2 * factor, N - 1))):
        single = stored.region(1, [0, 2], rows, cols, 1)
        got = stored.region(1, [0, 2], rows, cols, factor)
        for i in range(2):
            np.testing.assert_array_equal(got[i], _nan_pooled(single[i], factor))
    assert np.isnan(got).any() and (got == 0).any() and (got > 0).any()


def test_the_tile_route_serves_regions_and_means(long_record):
    record, layout, eager, logdir = long_record
    client = wsgi_client(logdir)
    factor = layout.overview[0]
    params = dict(run=".", tag="probe/long", step=5, layer=0, q_start=0, q_end=N, k_start=0, k_end=N, factor=factor)
    response = client.get("%s/tile?%s" % (BASE, q(heads="1,2", **params)))
    assert response.status_code == 200, response.get_data()
    shape = tuple(map(int, response.headers["X-Attention-Shape"].split(",")))
    values = np.frombuffer(response.get_data(), "<f4").reshape(shape)
    np.testing.assert_array_equal(values, record._stored.region(0, [1, 2], (0, N), (0, N), factor))
    mean = client.get("%s/tile?%s" % (BASE, q(reduce="mean", **params)))
    mean_values = np.frombuffer(mean.get_data(), "<f4").reshape(1, *shape[1:])
    np.testing.assert_allclose(mean_values[0], record._stored.region(0, None, (0, N), (0, N), factor).mean(0))
    for bad, status in ((dict(factor=3), 400), (dict(q_start=N + 5, q_end=N + 9), 404), (dict(q_end=0), 400)):
        assert client.get("%s/tile?%s" % (BASE, q(**dict(params, **bad)))).status_code == status


def test_layer_rows_of_a_banded_record_read_only_their_bands(windowed_record, monkeypatch):
    """/layer's window of query rows and its kept weights, on a record in bands: the stored
    weights of those rows (dropped keys 0), as the region read gives them."""
    from tests.helpers.http import client_layer

    record, layout, _, logdir = windowed_record
    client = wsgi_client(logdir)
    d0 = layout.detail[0]
    rows = (d0 - 8, d0 + BAND + 8)  # across the start of the detail and a band boundary
    got = client_layer(client, run=".", tag="probe/long", step=5, layer=1, heads="3,0", q_start=rows[0], q_end=rows[1])
    region = np.nan_to_num(record._stored.region(1, [3, 0], rows, (0, N), 1))
    np.testing.assert_allclose(got, region, atol=1e-7)
    kept = client.get(
        "%s/layer?%s"
        % (BASE, q(run=".", tag="probe/long", step=5, layer=1, heads="3", form="kept", q_start=rows[0], q_end=rows[1]))
    )
    values = np.frombuffer(kept.get_data(), "<f4")
    assert (values[:8] == 0).all() and (values[8:] > 0.5).all()  # rows before the detail kept nothing
    # form=sparse: those rows' kept entries across the bands, the dense answer's where they are.
    sparse = client.get(
        "%s/layer?%s"
        % (
            BASE,
            q(run=".", tag="probe/long", step=5, layer=1, heads="3,0", form="sparse", q_start=rows[0], q_end=rows[1]),
        ),
        headers={"Accept-Encoding": "zstd"},
    )
    shape, counts, indices, weights = decode_sparse_response(sparse.headers, sparse.get_data())
    assert shape == got.shape and (counts[:, :8] == 0).all() and (counts[:, 8:] > 0).all()
    placed = np.zeros(shape, np.float32)
    slots, at = np.divmod(np.repeat(np.arange(counts.size), counts.ravel().astype(np.int64)), shape[1])
    placed[slots, at, indices.astype(np.int64)] = weights
    np.testing.assert_array_equal(placed, got)
    from tb_attention.serving import layer_answers

    monkeypatch.setattr(layer_answers, "MAX_ANSWER_WEIGHTS", 4 * N * N - 1)  # as if the layer were long
    too_much = client.get("%s/layer?%s" % (BASE, q(run=".", tag="probe/long", step=5, layer=1)))
    assert too_much.status_code == 400 and "/tile" in too_much.get_json()["error"]

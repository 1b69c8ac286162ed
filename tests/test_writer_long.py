"""Logging long inputs: the byte budget and the long-sequence modes (layer / head subsets, sparse
records), each checked against the dense input; where each input kind is read; the device
(torch) encoding path against the numpy one."""

import logging
import pathlib
import threading

import numpy as np
import pytest
import torch

import tb_attention
from bench.llm_attention import llm_attention, llm_tokens
from tb_attention.analysis.change import head_change
from tb_attention.analysis.scoring import compute_patterns
from tb_attention.format import blocks
from tb_attention.writing import background, layer_encoding
from tb_attention.writing import plan as plans
from tests.helpers.data import UINT8_BOUND
from tests.helpers.http import BASE, client_json, decode_layer_response, q, wsgi_client

N = 96
TOKENS = llm_tokens(N)


@pytest.fixture(scope="module")
def llm():
    return llm_attention(3, 4, N, seed=1)  # causal, a first-token sink in most heads


def only(logdir, tag):
    (record,) = tb_attention.read_attention(str(logdir), tag=tag)
    return record


def _bytes_on_disk(logdir):
    """Bytes of the payload files under a logdir (the attention a record stored)."""
    return sum(p.stat().st_size for p in pathlib.Path(logdir).rglob("*.tbattn"))


def test_over_the_budget_a_dense_record_is_stored_sparse_and_the_log_says_so(tmp_path, llm, caplog):
    tb_attention.add_attention(tmp_path / "dense", "p", llm, TOKENS, 7, max_bytes=None)
    tb_attention.flush()
    dense_on_disk = _bytes_on_disk(tmp_path / "dense")
    budget = dense_on_disk // 3
    with caplog.at_level(logging.WARNING, logger="tb_attention"):
        tb_attention.add_attention(tmp_path / "budget", "p", llm, TOKENS, 7, max_bytes=budget)
    tb_attention.flush()
    (message,) = [r.getMessage() for r in caplog.records if "max_bytes" in r.getMessage()]
    rec = only(tmp_path / "budget", "p")
    assert rec.encoding == "sparse" and 1 <= rec.sparse["top_k"] <= 32
    assert "p at step 7" in message and "storing the %d strongest keys" % rec.sparse["top_k"] in message
    # What the record took on disk, not what the writer estimated, is within the budget.
    assert _bytes_on_disk(tmp_path / "budget") <= budget


def test_a_record_that_compresses_well_stays_dense(tmp_path):
    """Its dense size before compression is over max_bytes; on disk it is not (the budget counts
    bytes on disk): it is stored dense."""
    sharp = np.zeros((3, 4, N, N), np.float32)
    sharp[..., np.arange(N), np.maximum(np.arange(N) - 1, 0)] = 1.0  # previous-token heads
    raw = 2 * sharp.size  # log16, before compression
    tb_attention.add_attention(tmp_path, "p", sharp, TOKENS, 0, max_bytes=raw // 4)
    tb_attention.flush()
    rec = only(tmp_path, "p")
    assert rec.encoding == "dense" and _bytes_on_disk(tmp_path) <= raw // 4
    np.testing.assert_array_equal(rec.attention, sharp)


def test_an_explicit_sparse_rule_over_the_budget_is_refused_with_the_options(tmp_path, llm):
    with pytest.raises(ValueError, match="even sparse, over max_bytes=.*: pass layers= or heads=.*max_bytes=None"):
        tb_attention.add_attention(tmp_path, "p", llm, TOKENS, 0, top_k=64, max_bytes=1000)
    with pytest.raises(ValueError, match="not even one query row's strongest keys"):
        tb_attention.add_attention(tmp_path, "p", llm, TOKENS, 0, max_bytes=100)
    tb_attention.flush()
    assert list(tb_attention.read_attention(str(tmp_path))) == []  # nothing was logged


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(layers=[0, 5]), r"layers \[5\] are out of range"),
        (dict(heads=[]), "heads must be a non-empty list"),
        (dict(heads=[1, 1]), "repeats an index"),
        (dict(top_k=0), "top_k must be a positive int"),
        (dict(top_mass=1.5), r"top_mass must be a share of each row's weight in \(0, 1\]"),
        (dict(max_bytes=-1), "max_bytes must be a positive int"),
    ],
)
def test_bad_long_sequence_options_are_named(tmp_path, llm, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        tb_attention.add_attention(tmp_path, "p", llm, TOKENS, 0, **kwargs)


def test_a_subset_of_layers_and_heads_keeps_the_models_numbers(tmp_path, llm):
    tb_attention.add_attention(tmp_path, "p", llm, TOKENS, 0, layers=[2, 0], heads=[3, 1])
    tb_attention.flush()
    rec = only(tmp_path, "p")
    assert rec.layer_ids == [0, 2] and rec.head_ids == [1, 3] and rec.shape == (2, 2, N, N)
    assert np.abs(rec.attention - llm[[0, 2]][:, [1, 3]]).max() <= UINT8_BOUND
    # Scores of the stored heads, from their full weights.
    expected = compute_patterns(llm[[0, 2]][:, [1, 3]], TOKENS)
    np.testing.assert_allclose(rec.patterns["entropy"], expected["entropy"], atol=1e-4)


@pytest.mark.parametrize("rule", [dict(top_k=5), dict(top_mass=0.8), dict(top_mass=0.95, top_k=6)])
def test_sparse_rows_are_exact_on_kept_keys_and_record_the_weight_they_kept(tmp_path, llm, rule):
    tb_attention.add_attention(tmp_path, "p", llm, TOKENS, 0, **rule)
    tb_attention.add_attention(tmp_path, "dense", llm, TOKENS, 0)
    tb_attention.flush()
    rec, dense = only(tmp_path, "p"), only(tmp_path, "dense")
    assert rec.encoding == "sparse" and rec.sparse == {"top_k": rule.get("top_k"), "top_mass": rule.get("top_mass")}
    for layer in range(3):
        for (h0, h1), counts, kept, indices, values in rec.sparse_layer(layer):
            rows = llm[layer, h0:h1].reshape(-1, N)
            offsets = np.concatenate([[0], np.cumsum(counts.ravel(), dtype=np.int64)])
            for r in range(rows.shape[0]):
                idx = indices[offsets[r] : offsets[r + 1]]
                assert list(idx) == sorted(set(idx.tolist()))  # ascending, distinct
                np.testing.assert_allclose(values[offsets[r] : offsets[r + 1]], rows[r, idx], atol=UINT8_BOUND)
                assert abs(kept.ravel()[r] - rows[r, idx].sum()) <= 1e-3
                strongest = np.sort(rows[r][rows[r] > 0])[::-1]
                if "top_mass" in rule:  # the fewest keys holding the share, unless capped
                    n = len(idx)
                    cap = rule.get("top_k", N)
                    assert rows[r, idx].sum() >= rule["top_mass"] * rows[r].sum() - 1e-6 or n == min(
                        cap, strongest.size
                    )
                    assert n == 1 or strongest[: n - 1].sum() < rule["top_mass"] * rows[r].sum()
                else:  # the top_k strongest
                    assert len(idx) == min(rule["top_k"], strongest.size)
                    assert rows[r, idx].min() >= strongest[len(idx) - 1] - 1e-7
        # Densified, the kept keys read back as in the dense record; the others are zero.
        got, full = rec.layer(layer), dense.layer(layer)
        kept_cells = got > 0
        np.testing.assert_array_equal(got[kept_cells], full[kept_cells])
    # Pattern scores come from the full attention, not the kept keys.
    for name in ("entropy", "previous_token", "delimiter"):
        np.testing.assert_array_equal(rec.patterns[name], dense.patterns[name])


def test_sparse_records_are_served_densified_with_their_kept_weight(tmp_path, llm):
    tb_attention.add_attention(tmp_path / "r", "p", llm, TOKENS, 3, top_k=4)
    tb_attention.flush()
    rec = only(tmp_path, "p")
    client = wsgi_client(tmp_path)
    (entry,) = client_json(client, "/steps?" + q(run="r", tag="p"))["steps"]
    assert entry["parts"]["self"]["encoding"] == "sparse" and entry["parts"]["self"]["sparse"]["top_k"] == 4
    response = client.get(
        BASE + "/layer?" + q(run="r", tag="p", step=3, layer=1, heads="2"), headers={"Accept-Encoding": "zstd"}
    )
    np.testing.assert_allclose(
        decode_layer_response(response.headers, response.get_data())[0], rec.layer(1)[2], rtol=1e-6
    )
    response = client.get(BASE + "/layer?" + q(run="r", tag="p", step=3, layer=1, form="kept"))
    assert response.headers["X-Attention-Shape"] == "4,%d" % N and response.headers["X-Attention-Dtype"] == "float32"
    np.testing.assert_array_equal(np.frombuffer(response.get_data(), "<f4").reshape(4, N), rec.kept_mass(1))
    assert client.get(BASE + "/layer?" + q(run="r", tag="p", step=3, layer=1, form="sideways")).status_code == 400
    change = client_json(client, "/change?" + q(run="r", tag="p", step_a=3, step_b=3))
    assert np.array(change["js"]).max() == 0


def test_head_change_of_sparse_records_is_that_of_their_densified_weights(tmp_path, llm):
    # Two sparse steps (read over their kept keys) and a dense one (densified beside it).
    other = llm_attention(3, 4, N, seed=2)
    tb_attention.add_attention(tmp_path / "r", "p", llm, TOKENS, 1, top_k=8)
    tb_attention.add_attention(tmp_path / "r", "p", other, TOKENS, 2, top_k=5)
    tb_attention.add_attention(tmp_path / "r", "p", other, TOKENS, 3)
    tb_attention.flush()
    one, two, dense = tb_attention.read_attention(str(tmp_path), tag="p")
    client = wsgi_client(tmp_path)
    for step_b, rec_b in ((2, two), (3, dense)):
        change = client_json(client, "/change?" + q(run="r", tag="p", step_a=1, step_b=step_b))
        expected = head_change(one.attention, rec_b.attention)
        np.testing.assert_allclose(np.array(change["js"]), expected, atol=2e-6)
        assert expected.max() > 0.01
    assert change["ranking"][0]["js"] == pytest.approx(float(expected.max()), abs=2e-6)


def test_cpu_tensors_are_read_in_the_background_and_changed_ones_are_refused(tmp_path, llm):
    writer = background.AttentionEventWriter(str(tmp_path / "w"))
    hold = threading.Event()

    def blocked(payload_file):  # keeps the writer thread busy until released
        hold.wait(30)
        from tensorboard.compat.proto import event_pb2

        return event_pb2.Event(wall_time=1.0, file_version="brain.Event:2")

    from tb_attention.writing import writer as writer_module

    with writer_module._registry_lock:
        writer_module._writers[str((tmp_path / "w").resolve())] = writer
    writer.submit(blocked)
    kept = torch.from_numpy(llm.copy())
    reused = torch.from_numpy(llm.copy())
    tb_attention.add_attention(str(tmp_path / "w"), "kept", kept, TOKENS, 1)
    tb_attention.add_attention(str(tmp_path / "w"), "reused", reused, TOKENS, 2)
    reused.mul_(0.5)  # the caller reuses its buffer before the writer got to it
    hold.set()
    with pytest.raises(RuntimeError, match="changed in place before it was written; the record is dropped"):
        writer.flush()
    tb_attention.add_attention(str(tmp_path / "w"), "after", kept, TOKENS, 3)
    tb_attention.flush()
    assert sorted(r.tag for r in tb_attention.read_attention(str(tmp_path))) == ["after", "kept"]


def test_numpy_arrays_are_encoded_at_the_call(tmp_path, llm):
    a = llm.copy()
    tb_attention.add_attention(tmp_path, "p", a, TOKENS, 0)
    a[:] = 0.5  # the caller's buffer, reused at once
    tb_attention.flush()
    assert np.abs(only(tmp_path, "p").attention - llm).max() <= UINT8_BOUND


def assert_same_keys_and_weights(dense, counts, one, other):
    """Two sparse encodings (key indices, stored uint8 weights) of `dense` [heads, q, k] with the
    same `counts` keep the same keys with the same stored bytes, except that between keys of equal
    weight (ties: common in bfloat16) each may keep another; keys ascend within each row (the
    format's order) and every stored byte is its key's weight. Returns how many rows kept other
    (tied) keys."""
    rows = dense.reshape(-1, dense.shape[-1])
    row_of = np.repeat(np.arange(rows.shape[0]), counts.ravel().astype(np.int64))
    grids = []
    same_row = row_of[1:] == row_of[:-1]
    for keys, stored in (one, other):
        assert (np.diff(keys.astype(np.int64))[same_row] > 0).all()  # ascending, distinct within each row
        grid = np.zeros(rows.shape, np.int64)
        grid[row_of, keys.astype(np.int64)] = stored.astype(np.int64) + 1  # 0: not kept
        assert np.abs(stored / np.float32(255) - rows[row_of, keys.astype(np.int64)]).max() <= UINT8_BOUND
        grids.append(grid)
    both = (grids[0] > 0) & (grids[1] > 0)
    np.testing.assert_array_equal(grids[0][both], grids[1][both])  # a key both kept: the same byte
    differ = np.flatnonzero(((grids[0] > 0) != (grids[1] > 0)).any(axis=1))
    assert differ.size <= rows.shape[0] // 100, differ.size  # a few ties at most
    for r in differ:  # the other keys each kept hold the same weights: ties broken either way
        kept = [np.sort(rows[r][g[r] > 0]) for g in grids]
        np.testing.assert_array_equal(kept[0], kept[1])
    return differ.size


@pytest.mark.parametrize("rule", [dict(), dict(top_k=7), dict(top_mass=0.9)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_device_path_encodes_as_the_numpy_path(llm, rule, dtype):
    # GPU layers are encoded in torch on the GPU; the same code runs here on CPU tensors.
    weights = torch.from_numpy(llm[1]).to(dtype)
    part_plan = plans.PartPlan([0], [0, 1, 2, 3], N, N, "uint8", **rule)
    on_device = layer_encoding.encode_torch(weights, part_plan)
    on_host = layer_encoding.encode_numpy(weights.float().numpy(), part_plan)
    from tb_attention.format import payload

    chunks = [e.compressed() for e in (on_device, on_host)]
    raw_d, raw_h = (payload.decompress(c, payload.frame_size(c), "t") for c in chunks)
    if not rule:
        assert raw_d == raw_h  # the same stored bytes
    else:
        assert on_device.nnz == on_host.nnz
        (counts_d, kept_d, keys_d, weights_d), (counts_h, kept_h, keys_h, weights_h) = (
            blocks.decode_sparse(r, 4, N, N, on_host.nnz, "uint8", stored=True) for r in (raw_d, raw_h)
        )
        np.testing.assert_array_equal(counts_d, counts_h)  # the same number of keys in every row
        np.testing.assert_allclose(kept_d, kept_h, rtol=1e-5)  # each row's kept weight (summed in float32)
        tied = assert_same_keys_and_weights(weights.float().numpy(), counts_h, (keys_d, weights_d), (keys_h, weights_h))
        assert tied == 0 or dtype == torch.bfloat16  # float32 weights here have no ties
        if not tied:  # then the very same stored keys and bytes
            np.testing.assert_array_equal(keys_d, keys_h)
            np.testing.assert_array_equal(weights_d, weights_h)
    assert on_device.thumbnails is on_host.thumbnails is None  # 96 tokens: readers pool the layer instead
    # Past a few hundred tokens both paths store the same max-pooled thumbnails.
    long = torch.from_numpy(llm_attention(1, 2, 400, seed=2)[0]).to(dtype)
    long_plan = plans.PartPlan([0], [0, 1], 400, 400, "uint8", **rule)
    thumbs = [
        np.frombuffer(encode(x, long_plan).thumbnails, "<f2").astype(np.float32)
        for encode, x in ((layer_encoding.encode_torch, long), (layer_encoding.encode_numpy, long.float().numpy()))
    ]
    assert thumbs[0].size == 2 * 64 * 64
    np.testing.assert_allclose(thumbs[0], thumbs[1], atol=1e-3)


def _tied_rows():
    """Rows where the selection must break ties: bfloat16 weights (many equal values), a
    uniform row, rows with fewer non-zero keys than asked (causal), an all-equal pair."""
    rows = torch.from_numpy(llm_attention(1, 3, N, seed=4)[0]).to(torch.bfloat16).float()
    uniform = torch.full((1, N, N), 1.0 / N)
    return torch.cat([rows, uniform]).contiguous()


@pytest.mark.parametrize(
    "rule", [dict(top_k=1), dict(top_k=7), dict(top_k=N), dict(top_mass=0.5), dict(top_mass=0.9, top_k=5)]
)
def test_torch_and_numpy_select_the_same_keys_and_weights(rule):
    x = _tied_rows()
    on_torch = layer_encoding.select_torch(x, rule.get("top_k"), rule.get("top_mass"))
    on_numpy = blocks.select_keys(x.numpy(), rule.get("top_k"), rule.get("top_mass"))
    for name, a, b in zip(("counts", "kept", "indices", "weights"), on_torch, on_numpy):
        np.testing.assert_array_equal(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), err_msg=name)
    counts, _, indices, values = on_numpy
    assert np.all(values > 0)  # never a zero weight: causal rows keep only their earlier keys
    rows = np.repeat(np.arange(counts.size), counts)
    assert np.all((np.diff(indices) > 0) | (np.diff(rows) > 0))  # ascending within each row
    if rule.get("top_k") == 7:  # ties go to the lower key index: the uniform rows keep keys 0..6
        uniform = x.shape[0] - 1
        first = counts[: uniform * N].sum()
        np.testing.assert_array_equal(indices[first : first + 7], np.arange(7))
    # A numpy block is selected in torch, without a copy, and the same way.
    chosen = layer_encoding.select(x.numpy(), rule.get("top_k"), rule.get("top_mass"))
    np.testing.assert_array_equal(chosen[2], indices)

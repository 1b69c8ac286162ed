"""Queries and keys kept beside the attention (docs/format.md, "Queries and keys"): the attention
rebuilt from the stored vectors, softmax(q·k·scaling + mask), equals the stored attention within
the bound the stored precisions give, for Llama (grouped-query attention), BERT and Mistral's
sliding window, captured or passed to add_attention; what the budget keeps; bad options."""

import logging

import numpy as np
import pytest
import torch

import tb_attention
from tb_attention.analysis import qk as qk_analysis
from tb_attention.capture import capture
from tb_attention.storage.errors import NotFound
from tests.helpers.tiny_models import Tokens, peaky, tiny_inputs, tiny_model


def _captured(model, inputs, logdir, **options):
    with torch.no_grad(), capture(model, Tokens(), **options) as cap:
        model(**inputs)
    cap.log(str(logdir), "probe/qk", 1)
    tb_attention.flush()
    return next(tb_attention.read_attention(str(logdir)))


def _assert_rebuilt(record, strict):
    """The stored attention of every kept head within the bound of the rebuilt one; the bound
    tight enough that a rebuild with the wrong scaling or mask would break it."""
    assert record.qk_layers
    for layer in record.qk_layers:
        weights, bound = record.qk_attention(layer)
        stored = record.layer(layer, record.qk_heads)
        assert np.all(np.abs(stored - weights) <= bound), np.abs(stored - weights).max()
        assert bound.max() < strict
        queries, keys = record.qk(layer)
        scaling, softcap = qk_analysis.layer_terms(record._stored.part, layer)
        _, _, off = qk_analysis.head_scores(queries, keys, scaling * 1.1, softcap, None)
        assert np.abs(stored - off).max() > bound.max()  # the identity has the power to fail


@pytest.mark.parametrize("precision", ["float32", "log16"])
@pytest.mark.parametrize("family", ["llama", "bert", "mistral"])
def test_attention_rebuilt_from_the_stored_vectors_equals_the_stored_attention(family, precision, tmp_path):
    model = peaky(tiny_model(family))
    record = _captured(model, tiny_inputs(family), tmp_path, precision=precision, qk=True)
    assert record.qk_layers == [0, 1] and record.qk_heads == [0, 1, 2, 3]
    assert record.qk_info["rotary"] is (family != "bert")
    assert record.qk_info["dtype"] == "float32" and record.qk_info["unstored"] == []
    assert record.layer(0).max(axis=-1).mean() > 0.15  # peaky rows (24 keys): a wrong rebuild shows
    _assert_rebuilt(record, 0.012)


def test_grouped_query_heads_read_their_kv_heads_keys(tmp_path):
    record = _captured(peaky(tiny_model("llama")), tiny_inputs("llama"), tmp_path, qk=True)
    assert record.kv_heads == [0, 0, 1, 1] and record.qk_info["key_heads"] == [0, 1]
    queries, keys = record.qk(1)
    assert queries.shape == keys.shape == (4, 24, 8)
    assert np.array_equal(keys[0], keys[1]) and np.array_equal(keys[2], keys[3])
    assert not np.array_equal(keys[1], keys[2]) and not np.array_equal(queries[0], queries[1])


def test_the_sliding_window_is_what_the_rebuild_masks(tmp_path):
    record = _captured(peaky(tiny_model("mistral")), tiny_inputs("mistral"), tmp_path, precision="float32", qk=True)
    assert record.windows == [7, 7] and record.causal is True
    stored = record.layer(1)
    part = record._stored.part
    hidden = qk_analysis.mask_of(part, 1)
    assert hidden[20, 13] and not hidden[20, 14] and hidden[3, 4]
    assert np.all(stored[:, hidden] == 0)
    queries, keys = record.qk(1)
    scaling, _ = qk_analysis.layer_terms(part, 1)
    _, _, causal_only = qk_analysis.head_scores(queries, keys, scaling, None, np.triu(np.ones((24, 24), bool), 1))
    assert np.abs(causal_only - stored).max() > 0.05  # without the window the rebuild is off


def test_bfloat16_models_hold_the_bound_of_their_dtype(tmp_path):
    model = peaky(tiny_model("llama")).to(torch.bfloat16)
    record = _captured(model, tiny_inputs("llama"), tmp_path, precision="float32", qk=True)
    assert record.qk_info["dtype"] == "bfloat16"
    for layer in record.qk_layers:
        weights, bound = record.qk_attention(layer)
        assert np.all(np.abs(record.layer(layer) - weights) <= bound)
        assert bound.max() < 0.1


def test_plain_loop_queries_and_keys_per_layer_tuples_with_padding(tmp_path):
    torch.manual_seed(0)
    layers, heads, kv_heads, n, d, pad = 3, 4, 2, 12, 16, 3
    queries = tuple(torch.randn(2, heads, n, d) * 2 for _ in range(layers))
    keys = tuple(torch.randn(2, kv_heads, n, d) * 2 for _ in range(layers))
    mask = torch.ones(2, n, dtype=torch.long)
    mask[1, :pad] = 0  # the logged example is left-padded
    attention = []
    for q, k in zip(queries, keys):
        scores = q @ k.repeat_interleave(heads // kv_heads, 1).transpose(-1, -2) * 0.3
        hidden = torch.triu(torch.ones(n, n, dtype=torch.bool), 1) | (mask[:, None, None, :] == 0)
        attention.append(torch.softmax(scores.masked_fill(hidden, float("-inf")), -1).nan_to_num())
    tokens = ["t%d" % i for i in range(n)]
    tb_attention.add_attention(
        str(tmp_path), "probe/plain", tuple(attention), tokens, 5, attention_mask=mask, example=1,
        queries=queries, keys=keys, scaling=0.3, rotary=True, precision="float32", qk={"layers": [0, 2]},
    )  # fmt: skip
    tb_attention.flush()
    record = next(tb_attention.read_attention(str(tmp_path)))
    assert record.tokens == tokens[pad:] and record.causal is True and record.qk_layers == [0, 2]
    stored_q, stored_k = record.qk(2)
    expected_k = keys[2][1].repeat_interleave(2, 0)[:, pad:].numpy()
    np.testing.assert_allclose(stored_q, queries[2][1, :, pad:].numpy(), rtol=2**-11, atol=2**-24)
    np.testing.assert_allclose(stored_k, expected_k, rtol=2**-11, atol=2**-24)
    assert record.qk_info["rotary"] is True and record.qk_info["scaling"] == [0.3, 0.3]
    _assert_rebuilt(record, 0.1)
    with pytest.raises(NotFound, match="kept for layers"):
        record.qk(1)


def test_the_budget_keeps_an_evenly_spread_subset_of_layers(tmp_path, caplog):
    torch.manual_seed(0)
    layers, heads, n, d = 9, 2, 16, 64
    queries, keys = torch.randn(layers, heads, n, d), torch.randn(layers, heads, n, d)
    attention = torch.softmax(queries @ keys.transpose(-1, -2) / 8, -1)
    per_layer = 2 * heads * n * d * 2  # float16 bytes of a layer's queries and keys
    with caplog.at_level(logging.WARNING, logger="tb_attention"):
        tb_attention.add_attention(
            str(tmp_path), "p", attention, ["t"] * n, 1, queries=queries, keys=keys, max_bytes=7 * per_layer
        )
        tb_attention.flush()
    record = next(tb_attention.read_attention(str(tmp_path)))
    assert record.qk_layers == [0, 4, 8]  # half the budget: 3.5 layers' vectors
    assert "keeping those of 3 stored layers [0, 4, 8]" in caplog.text
    assert record.causal is False  # read from the attention: weights above the diagonal


def test_heads_subset_and_bad_options(tmp_path):
    torch.manual_seed(0)
    q, k = torch.randn(2, 4, 6, 8), torch.randn(2, 4, 6, 8)
    attention = torch.softmax(q @ k.transpose(-1, -2), -1)
    tokens = ["t"] * 6
    tb_attention.add_attention(str(tmp_path), "p", attention, tokens, 1, queries=q, keys=k, qk={"heads": [1, 3]})
    tb_attention.flush()
    record = next(tb_attention.read_attention(str(tmp_path)))
    assert record.qk_heads == [1, 3] and record.qk(0)[0].shape == (2, 6, 8)
    cases = [
        (dict(qk=True), TypeError, "needs the queries and keys"),
        (dict(queries=q, keys=None), TypeError, "both queries= and keys="),
        (dict(queries=q[:, :3], keys=k), ValueError, "queries have 3 heads"),
        (dict(queries=q, keys=k[:, :3]), ValueError, "multiple of them"),
        (dict(queries=q[..., :5, :], keys=k), ValueError, "cover 5 and 6 positions"),
        (dict(queries=q, keys=k, qk={"max_tokens": 4}), ValueError, "at most 4 tokens"),
        (dict(queries=q, keys=k, qk={"layers": [5]}), ValueError, r"qk layers \[5\] are not among"),
        (dict(queries=q, keys=k, qk="all"), TypeError, "qk must be True"),
        (dict(queries=q * float("nan"), keys=k), ValueError, "NaN or inf"),
        (dict(queries=q, keys=k, scaling=-1.0), ValueError, "scaling must be a positive number"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            tb_attention.add_attention(str(tmp_path), "bad", attention, tokens, 2, **kwargs)


def test_capture_refuses_long_probes_and_old_records_stay_format_2(tmp_path):
    model = tiny_model("llama")
    with pytest.raises(ValueError, match="at most 8 tokens"):
        with torch.no_grad(), capture(model, Tokens(), qk={"max_tokens": 8}):
            model(**tiny_inputs("llama"))
    q = torch.randn(1, 2, 5, 4)
    attention = torch.softmax(q @ q.transpose(-1, -2), -1)
    tb_attention.add_attention(str(tmp_path), "plain", attention, ["t"] * 5, 1, precision="uint8")
    tb_attention.add_attention(str(tmp_path), "qk", attention, ["t"] * 5, 1, precision="uint8", queries=q, keys=q)
    tb_attention.flush()
    versions = {r.tag: r._stored.version for r in tb_attention.read_attention(str(tmp_path))}
    assert versions == {"plain": 2, "qk": 3}


@pytest.mark.parametrize("family", ["llama", "bloom"])
def test_probe_logger_passes_qk_through_and_the_eager_path_says_it_cannot(family, tmp_path, caplog):
    """ProbeLogger (and the callbacks built on it) hand `qk` to the capture; a model off the
    attention interface (Bloom) logs its attention without vectors, and says so once."""
    from tb_attention.analysis.induction_probe import TokenProbe

    class Ids(Tokens):
        def __call__(self, *args, **kwargs):
            raise AssertionError("token-id probes are not tokenised")

    model = tiny_model(family)
    ids = tiny_inputs(family)["input_ids"][0].tolist()
    logger = tb_attention.ProbeLogger(Ids(), {"ids": TokenProbe("ids", ids)}, storage={"qk": True})
    with caplog.at_level(logging.WARNING):
        logger.log(model, 1, str(tmp_path), True)
        logger.log(model, 2, str(tmp_path), True)
        tb_attention.flush()
    records = list(tb_attention.read_attention(str(tmp_path)))
    assert [r.step for r in records] == [1, 2]
    kept = [r.qk_layers for r in records]
    assert kept == ([[0, 1]] * 2 if family == "llama" else [[]] * 2)
    assert caplog.text.count("queries and keys cannot be kept") == (family == "bloom")


def test_a_malformed_qk_field_is_refused_by_name(tmp_path):
    import json

    from tb_attention.format import header as headers
    from tb_attention.format.errors import FormatError

    q = torch.randn(1, 2, 5, 4)
    attention = torch.softmax(q @ q.transpose(-1, -2), -1)
    tb_attention.add_attention(str(tmp_path), "qk", attention, ["t"] * 5, 1, queries=q, keys=q, rotary=False)
    tb_attention.flush()
    record = next(tb_attention.read_attention(str(tmp_path)))
    part = dict(record._stored.part.layout, **{k: getattr(record._stored.part, k) for k in ("kind", "precision")})
    good = {
        "kind": "self", "shape": [1, 2, 5, 5], "precision": part["precision"], "tokens": ["t"] * 5,
        "head_block": part["head_block"], "blocks": part["blocks"], "qk": record._stored.part.qk,
    }  # fmt: skip
    blob = lambda p: json.dumps({"version": 3, "file": "f", "compression": "zstd", "parts": [p]}).encode()  # noqa: E731
    assert headers.decode_header(blob(good))["parts"]["self"]["qk"]["rotary"] is False
    for key, value in (("layers", [3]), ("key_of", [0, 5]), ("scaling", [-1.0]), ("dtype", "int4"), ("chunks", [])):
        with pytest.raises(FormatError, match="bad queries and keys"):
            headers.decode_header(blob(dict(good, qk=dict(good["qk"], **{key: value}))))

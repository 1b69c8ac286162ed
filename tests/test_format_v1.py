"""Format 1 (tb-attention 0.1) records: layer blobs round-trip within each precision's bound, and
corrupt input is refused; the header decodes to the normalized form every reader uses."""

import json
import zlib

import numpy as np
import pytest

from tb_attention.format import header as headers
from tb_attention.format import layers_v1
from tb_attention.format import precision as precisions
from tb_attention.format.errors import FormatError


def softmax_attention(shape, seed=0, sharpness=3.0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=shape).astype(np.float32) * sharpness
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("precision", ["uint8", "float16", "float32"])
def test_round_trip_within_bound(precision):
    attention = softmax_attention((3, 4, 17, 17))
    header = headers.make_v1_header(attention.shape, ["t%d" % i for i in range(17)], None, 5, precision)
    blobs = layers_v1.encode(attention, header)
    assert len(blobs) == 1 + 3
    part = headers.decode_header(blobs[0])["parts"]["self"]
    assert part["shape"] == [3, 4, 17, 17] and part["blob_base"] == 1
    assert part["sentence_b_start"] == 5
    for layer in range(3):
        got = layers_v1.decode_layer(blobs[1 + layer], part["shape"], part["precision"])
        err = np.abs(got - attention[layer]).max()
        assert err <= precisions.error_bound(precision) + 1e-7
        if precision == "float32":
            assert np.array_equal(got, attention[layer])


def test_uint8_bound_is_tight_and_exact_levels_survive():
    # Values exactly on a quantisation level are stored without error; midpoints hit the bound.
    levels = np.arange(256, dtype=np.float32) / 255
    mid = (np.arange(255, dtype=np.float32) + 0.5) / 255
    for values, bound in ((levels, 1e-7), (mid, 1 / 510 + 1e-7)):
        header = headers.make_v1_header((1, 1, 1, values.size), ["x"], ["k"] * values.size, None, "uint8")
        layer = values.reshape(1, 1, -1)
        got = layers_v1.decode_layer(layers_v1.encode_layer(layer, "uint8"), header["shape"], "uint8")
        assert np.abs(got - layer).max() <= bound


def test_compression_beats_float32_by_far():
    attention = softmax_attention((6, 12, 128, 128), sharpness=4.0)
    header = headers.make_v1_header(attention.shape, ["t"] * 128, None, None, "uint8")
    size = sum(len(b) for b in layers_v1.encode(attention, header))
    assert size < attention.nbytes / 4


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        precisions.check_precision("int4")


@pytest.mark.parametrize(
    "blob, message",
    [
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"version": 99, "shape": [1, 1, 1, 1]}).encode(), "format version 99"),
        (
            json.dumps({"version": 1, "shape": [1, -1, 1, 1], "precision": "uint8", "compression": "zlib"}).encode(),
            "bad shape",
        ),
        (
            json.dumps({"version": 1, "shape": [1, 1, 1, 1], "precision": "int4", "compression": "zlib"}).encode(),
            "unknown precision",
        ),
    ],
)
def test_bad_headers_are_refused(blob, message):
    with pytest.raises(FormatError, match=message):
        headers.decode_header(blob)


def test_corrupt_or_truncated_layer_is_refused():
    attention = softmax_attention((1, 2, 5, 5))
    header = headers.make_v1_header(attention.shape, list("abcde"), None, None, "uint8")
    blob = layers_v1.encode_layer(attention[0], "uint8")
    with pytest.raises(FormatError, match="does not hold the expected 50 bytes"):
        layers_v1.decode_layer(blob[: len(blob) // 2], header["shape"], "uint8")  # a torn stream
    with pytest.raises(FormatError, match="corrupt"):
        layers_v1.decode_layer(b"not zlib at all", header["shape"], "uint8")
    with pytest.raises(FormatError, match="expected 50"):
        layers_v1.decode_layer(zlib.compress(b"\x00" * 10**6), header["shape"], "uint8")  # inflation stops early
    with pytest.raises(FormatError, match="expected 50"):
        layers_v1.decode_layer(zlib.compress(b"\x00" * 10), header["shape"], "uint8")


def test_header_keeps_unicode_tokens():
    tokens = ["naïve", "日本", "🍓", "<img src=x onerror=alert(1)>"]
    header = headers.make_v1_header((1, 1, 4, 4), tokens, None, None, "uint8")
    assert headers.decode_header(headers.encode_header(header))["parts"]["self"]["tokens"] == tokens


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(tokens=["a", "b"]), "tokens do not match its shape"),
        (dict(key_tokens=["k"] * 4), "tokens do not match its shape"),
        (dict(tokens=["a", 1, "c"]), "tokens do not match its shape"),
        (dict(sentence_b_start=3), "bad sentence_b_start"),
        (dict(sentence_b_start=True), "bad sentence_b_start"),
    ],
)
def test_headers_must_agree_with_their_shape(change, message):
    header = headers.make_v1_header((1, 1, 3, 3), ["a", "b", "c"], None, 1, "uint8")
    header.update(change)
    with pytest.raises(FormatError, match=message):
        headers.decode_header(headers.encode_header(header))

"""The storage format: round trips within each precision's bound, and corrupt input is refused."""

import json
import zlib

import numpy as np
import pytest

from tb_attention.format import codec, precision as precisions


def softmax_attention(shape, seed=0, sharpness=3.0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=shape).astype(np.float32) * sharpness
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("precision", ["uint8", "float16", "float32"])
def test_round_trip_within_bound(precision):
    attention = softmax_attention((3, 4, 17, 17))
    header = codec.make_header(attention.shape, ["t%d" % i for i in range(17)], None, 5, precision)
    blobs = codec.encode(attention, header)
    assert len(blobs) == 1 + 3
    decoded_header = codec.decode_header(blobs[0])
    assert decoded_header["shape"] == [3, 4, 17, 17]
    assert decoded_header["sentence_b_start"] == 5
    for layer in range(3):
        got = codec.decode_layer(blobs[codec.layer_blob_index(layer)], decoded_header)
        err = np.abs(got - attention[layer]).max()
        assert err <= precisions.error_bound(precision) + 1e-7
        if precision == "float32":
            assert np.array_equal(got, attention[layer])


def test_uint8_bound_is_tight_and_exact_levels_survive():
    # Values exactly on a quantisation level are stored without error; midpoints hit the bound.
    levels = np.arange(256, dtype=np.float32) / 255
    mid = (np.arange(255, dtype=np.float32) + 0.5) / 255
    for values, bound in ((levels, 1e-7), (mid, 1 / 510 + 1e-7)):
        header = codec.make_header((1, 1, 1, values.size), ["x"], ["k"] * values.size, None, "uint8")
        layer = values.reshape(1, 1, -1)
        got = codec.decode_layer(codec.encode_layer(layer, "uint8"), header)
        assert np.abs(got - layer).max() <= bound


def test_compression_beats_float32_by_far():
    attention = softmax_attention((6, 12, 128, 128), sharpness=4.0)
    header = codec.make_header(attention.shape, ["t"] * 128, None, None, "uint8")
    size = sum(len(b) for b in codec.encode(attention, header))
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
        (json.dumps({"version": 1, "shape": [1, -1, 1, 1], "precision": "uint8", "compression": "zlib"}).encode(), "bad shape"),
        (json.dumps({"version": 1, "shape": [1, 1, 1, 1], "precision": "int4", "compression": "zlib"}).encode(), "unknown precision"),
    ],
)
def test_bad_headers_are_refused(blob, message):
    with pytest.raises(codec.FormatError, match=message):
        codec.decode_header(blob)


def test_corrupt_or_truncated_layer_is_refused():
    attention = softmax_attention((1, 2, 5, 5))
    header = codec.make_header(attention.shape, list("abcde"), None, None, "uint8")
    blob = codec.encode_layer(attention[0], "uint8")
    with pytest.raises(codec.FormatError, match="does not hold the expected 50 bytes"):
        codec.decode_layer(blob[: len(blob) // 2], header)  # a torn stream
    with pytest.raises(codec.FormatError, match="corrupt"):
        codec.decode_layer(b"not zlib at all", header)
    with pytest.raises(codec.FormatError, match="expected 50"):
        codec.decode_layer(zlib.compress(b"\x00" * 10**6), header)  # inflation stops early
    with pytest.raises(codec.FormatError, match="expected 50"):
        codec.decode_layer(zlib.compress(b"\x00" * 10), header)


def test_header_keeps_unicode_tokens():
    tokens = ["naïve", "日本", "🍓", "<img src=x onerror=alert(1)>"]
    header = codec.make_header((1, 1, 4, 4), tokens, None, None, "uint8")
    assert codec.decode_header(codec.encode_header(header))["tokens"] == tokens


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
    header = codec.make_header((1, 1, 3, 3), ["a", "b", "c"], None, 1, "uint8")
    header.update(change)
    with pytest.raises(codec.FormatError, match=message):
        codec.decode_header(codec.encode_header(header))

"""Format 2: payload chunks, blocks of heads, thumbnails and the index header, each against a
direct computation, and every way a chunk or header can be wrong refused with FormatError."""

import json

import numpy as np
import pytest

from tb_attention.format import blocks, payload
from tb_attention.format import header as headers
from tb_attention.format.errors import FormatError
from tb_attention.writing.payload_file import PayloadFile
from tests.helpers.data import UINT8_BOUND, softmax_attention


def test_payload_chunks_round_trip_and_are_checked(tmp_path):
    f = PayloadFile(str(tmp_path), "attention.1.host.2")
    assert f.relative_path == "plugins/tb_attention/attention.1.host.2.tbattn"
    raws = [bytes(range(256)) * 40, b"\x00" * 10_000, b"x"]
    refs = [f.append(raw) for raw in raws]
    f.sync()
    f.close()
    data = (tmp_path / "plugins" / "tb_attention" / "attention.1.host.2.tbattn").read_bytes()
    assert data.startswith(payload.MAGIC) and refs[0][0] == len(payload.MAGIC)
    for raw, (offset, length, crc) in zip(raws, refs):
        chunk = payload.verify(data[offset : offset + length], [offset, length, crc], "t")
        assert payload.frame_size(chunk) == len(raw)
        assert payload.decompress(chunk, len(raw), "t") == raw
    offset, length, crc = refs[1]
    with pytest.raises(FormatError, match="has 10 of its %d bytes" % length):
        payload.verify(data[offset : offset + 10], refs[1], "t")
    flipped = bytearray(data[offset : offset + length])
    flipped[length // 2] ^= 1
    with pytest.raises(FormatError, match="fails its checksum"):
        payload.verify(bytes(flipped), refs[1], "t")
    chunk = data[offset : offset + length]
    with pytest.raises(FormatError, match="holds 10000 bytes, expected 9999"):
        payload.decompress(chunk, 9999, "t")
    with pytest.raises(FormatError, match="not a zstd frame"):
        payload.decompress(b"not zstd at all", 5, "t")


def test_a_second_writer_appends_after_the_first(tmp_path):
    first = PayloadFile(str(tmp_path), "attention.x")
    a = first.append(b"a" * 100)
    first.close()
    second = PayloadFile(str(tmp_path), "attention.x")
    b = second.append(b"b" * 100)
    assert b[0] == a[0] + a[1]  # no second magic, nothing overwritten


@pytest.mark.parametrize(
    "heads, q, precision, expected",
    [
        (12, 128, "uint8", 12),
        (32, 1024, "uint8", 16),
        (32, 2048, "uint8", 4),
        (32, 2048, "log16", 2),
        (32, 2048, "float32", 1),
        (1, 4096, "float32", 1),
    ],
)
def test_blocks_stay_under_their_byte_bound(heads, q, precision, expected):
    per_block = blocks.heads_per_block(heads, q, q, precision)
    assert per_block == expected
    ranges = blocks.block_ranges(heads, per_block)
    assert ranges[0][0] == 0 and ranges[-1][1] == heads and all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    assert per_block == 1 or blocks.dense_nbytes(per_block, q, q, precision) <= blocks.BLOCK_BYTES


@pytest.mark.parametrize(
    "precision, bound", [("log16", UINT8_BOUND), ("uint8", UINT8_BOUND), ("float16", 2**-12), ("float32", 0)]
)
def test_dense_blocks_round_trip(precision, bound):
    a = softmax_attention((5, 9, 11))
    got = blocks.decode_dense(blocks.encode_dense(a, precision), 5, 9, 11, precision)
    assert np.abs(got - a).max() <= bound + 1e-7
    with pytest.raises(FormatError, match="expected"):
        blocks.decode_dense(b"\x00" * 3, 5, 9, 11, precision)


def test_thumbnails_are_the_max_of_each_pooled_cell():
    a = softmax_attention((3, 150, 130), seed=1)
    rows, cols = blocks.thumbnail_shape(150, 130)
    assert (rows, cols) == (64, 64)
    pooled = blocks.decode_thumbnails(blocks.encode_thumbnails(a), 3, rows, cols)
    qe = (np.arange(rows) * 150) // rows
    ke = (np.arange(cols) * 130) // cols
    for h, r, c in [(0, 0, 0), (1, 17, 40), (2, 63, 63)]:
        cell = a[h, qe[r] : (qe[r + 1] if r + 1 < rows else 150), ke[c] : (ke[c + 1] if c + 1 < cols else 130)]
        assert pooled[h, r, c] == pytest.approx(cell.max(), rel=1e-3)
    small = softmax_attention((2, 5, 7))
    assert blocks.thumbnail_shape(5, 7) == (5, 7)
    np.testing.assert_allclose(
        blocks.decode_thumbnails(blocks.encode_thumbnails(small), 2, 5, 7), small, rtol=1e-3, atol=2**-14
    )


def v2_header(**change):
    part = headers.make_part("self", (2, 3, 4, 4), "uint8", list("abcd"))
    part.update(
        head_block=2,
        blocks=[[[8, 10, 1], [18, 10, 2]], [[28, 10, 3], [38, 10, 4]]],
        thumbnails={"size": [4, 4], "chunks": [[48, 5, 5], [53, 5, 6]]},
    )
    header = headers.make_v2_header([part], "plugins/tb_attention/attention.x.tbattn")
    for key, value in change.items():
        if key.startswith("part_"):
            part[key[5:]] = value
        else:
            header[key] = value
    return headers.encode_header(header)


def test_v2_header_decodes_to_parts():
    decoded = headers.decode_header(v2_header())
    assert decoded["version"] == 2 and decoded["file"] == "plugins/tb_attention/attention.x.tbattn"
    part = decoded["parts"]["self"]
    assert part["head_block"] == 2 and part["blocks"][1][1] == [38, 10, 4] and part["layer_ids"] is None


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(file="/abs/path.tbattn"), "no readable payload file"),
        (dict(file="../elsewhere.tbattn"), "no readable payload file"),
        (dict(file="C:\\\\x.tbattn"), "no readable payload file"),
        (dict(compression="lz4"), "no readable payload file"),
        (dict(parts=[]), "no parts"),
        (dict(part_kind="sideways"), "unknown kind"),
        (dict(part_blocks=[[[8, 10, 1]]]), "bad block table"),
        (dict(part_blocks=[[[8, 10, 1], [18, -1, 2]], [[28, 10, 3], [38, 10, 4]]]), "chunk reference is malformed"),
        (dict(part_head_block=0), "bad block table"),
        (dict(part_thumbnails={"size": [4], "chunks": []}), "bad thumbnail table"),
        (dict(part_layer_ids=[0, 0]), "bad layer_ids"),
        (dict(part_head_ids=[1, 2]), "bad head_ids"),
        (dict(part_encoding="rle"), "unknown encoding"),
        (dict(version=4), "format version 4; this tb-attention reads up to 3: upgrade it"),
    ],
)
def test_bad_v2_headers_are_refused(change, message):
    with pytest.raises(FormatError, match=message):
        headers.decode_header(v2_header(**change))


def test_repeated_kinds_are_refused():
    header = json.loads(v2_header())
    header["parts"].append(header["parts"][0])
    with pytest.raises(FormatError, match="repeats the part 'self'"):
        headers.decode_header(json.dumps(header).encode())

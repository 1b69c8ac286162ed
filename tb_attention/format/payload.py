"""Payload files (format v2, docs/format.md): the attention bytes of many records, beside the
event files, in compressed, checksummed chunks that a reader fetches one by one by byte range.

A payload file is `MAGIC` followed by chunks, appended and never rewritten. A chunk is one zstd
frame (its content size in the frame header); the record's index (in the event stream) holds
each chunk's `[offset, length, crc32c]`, so a chunk is read with one ranged read and checked
before use. This module holds no file I/O: the writer's side is `writing/payload_file.py`, the
readers' `storage/`.
"""

import google_crc32c
import zstandard

from tb_attention.format.errors import FormatError

MAGIC = b"TBATTN\x02\n"
COMPRESSION = "zstd"
LEVEL = 1  # measured in bench/compression.py: zlib-1's speed x4, its size x0.83 on attention
DIRECTORY = "plugins/tb_attention"  # inside the run directory, as TensorBoard's plugin assets
SUFFIX = ".tbattn"  # never "tfevents": TensorBoard would take the folder for a run


def compress(raw):
    return zstandard.ZstdCompressor(level=LEVEL, write_content_size=True).compress(raw)


def chunk_ref(offset, data):
    """The index entry of a chunk written at `offset`: [offset, length, crc32c]."""
    return [int(offset), len(data), google_crc32c.value(data)]


def check_ref(ref):
    if (
        not isinstance(ref, list)
        or len(ref) != 3
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in ref)
    ):
        raise FormatError("attention payload chunk reference is malformed: %r" % (ref,))
    return ref


def verify(data, ref, what):
    """The chunk bytes, checked against their index entry; raises FormatError."""
    offset, length, crc = ref
    if len(data) != length:
        raise FormatError(
            "%s: payload chunk at offset %d has %d of its %d bytes (payload file truncated?)"
            % (what, offset, len(data), length)
        )
    if google_crc32c.value(data) != crc:
        raise FormatError("%s: payload chunk at offset %d fails its checksum (corrupt payload file)" % (what, offset))
    return data


def frame_size(data):
    """The content size a zstd frame header declares (None when it declares none or is not one)."""
    try:
        size = zstandard.frame_content_size(data)
    except zstandard.ZstdError:
        return None
    return size if size >= 0 else None


def decompress(data, expected_size, what):
    """Raw bytes of a verified chunk; raises FormatError unless it holds exactly expected_size."""
    try:
        size = zstandard.frame_content_size(data)
    except zstandard.ZstdError as e:
        raise FormatError("%s: payload chunk is not a zstd frame: %s" % (what, e)) from None
    if size != expected_size:
        raise FormatError("%s: payload chunk holds %s bytes, expected %d" % (what, size, expected_size))
    try:
        return zstandard.ZstdDecompressor().decompress(data, max_output_size=expected_size)
    except zstandard.ZstdError as e:
        raise FormatError("%s: payload chunk is corrupt: %s" % (what, e)) from None

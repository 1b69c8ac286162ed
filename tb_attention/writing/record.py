"""Building one v2 record on the writer thread: each part's layers go to the payload file as
blocks of heads (and thumbnails), then the index event that points to them is returned."""

from tb_attention.format import blocks, header as headers, summary


def write_part_payload(payload_file, part, attention):
    """Append `attention` ([layers, heads, q, k] float) to the payload file; `part` (a header
    part) gets its block and thumbnail tables."""
    _, heads, q, k = attention.shape
    head_block = blocks.heads_per_block(heads, q, k, part["precision"])
    part["head_block"] = head_block
    part["blocks"] = []
    thumbnails = []
    for layer in attention:
        part["blocks"].append([
            payload_file.append(blocks.encode_dense(layer[h0:h1], part["precision"]))
            for h0, h1 in blocks.block_ranges(heads, head_block)
        ])
        thumbnails.append(payload_file.append(blocks.encode_thumbnails(layer)))
    part["thumbnails"] = {"size": list(blocks.thumbnail_shape(q, k)), "chunks": thumbnails}
    return part


def index_event(payload_file, tag, step, wall_time, parts, scalars=None):
    """The event of a record whose parts' payloads are written: a one-blob sequence (the header)."""
    header = headers.make_v2_header(parts, payload_file.relative_path)
    return summary.attention_event(tag, [headers.encode_header(header)], step, wall_time, scalars)

"""Building one v2 record on the writer thread: each part's encoded blocks go to the payload file
(with each layer's thumbnails), then the index event that points to them is returned."""

from tb_attention.format import blocks, summary
from tb_attention.format import header as headers
from tb_attention.format.scores import scores_to_json


def plan_part(kind, plan, model_shape, texts, scores):
    """A part's header as its encoding plan stores it: layer and head numbers only for a subset of
    `model_shape` (layers, heads, ...); `texts` has tokens, key_tokens and sentence_b_start."""
    return headers.make_part(
        kind,
        plan.shape,
        plan.precision,
        texts.tokens,
        texts.key_tokens,
        texts.sentence_b_start,
        None if scores is None else scores_to_json(scores),
        layer_ids=plan.layer_ids if len(plan.layer_ids) != model_shape[0] else None,
        head_ids=plan.head_ids if len(plan.head_ids) != model_shape[1] else None,
    )


def write_part(payload_file, captured):
    """Append a CapturedPart's blocks to the payload file; its header part."""
    part, plan = captured.part, captured.plan
    table, nnz, thumbnails = [], [], []
    for _, row in captured.encoded_blocks():
        table.append([payload_file.append_compressed(block.compressed()) for block in row])
        nnz.append([block.nnz for block in row])
        if row[0].thumbnails is not None:
            thumbnails.append(payload_file.append(b"".join(block.thumbnails for block in row)))
    scores = captured.patterns()
    header = plan_part(part.kind, plan, part.shape, part, scores)
    header["head_block"] = captured.ranges[0][1] - captured.ranges[0][0]
    header["blocks"] = table
    if thumbnails:
        header["thumbnails"] = {"size": list(blocks.thumbnail_shape(plan.queries, plan.keys)), "chunks": thumbnails}
    if plan.sparse:
        header["encoding"] = "sparse"
        header["sparse"] = {"top_k": plan.top_k, "top_mass": plan.top_mass}
        header["nnz"] = nnz
    header.update(captured.header_fields())
    header.update({k: v for k, v in captured.structure.items() if v is not None})
    if captured.qk is not None:
        header["qk"] = captured.qk.write(payload_file)
    return header, scores


def index_event(payload_file, tag, step, wall_time, parts, scalars=None):
    """The event of a record whose parts' payloads are written: a one-blob sequence (the header)."""
    header = headers.make_header(parts, payload_file.relative_path)
    return summary.attention_event(tag, [headers.encode_header(header)], step, wall_time, scalars)

"""A record whose parts were built from blocks (writing/stream.py), written by the writer thread:
each part's chunks go to the payload file, then the index event that points to them."""

import dataclasses
from typing import Callable, List, Optional

import numpy as np

from tb_attention.format import header as headers
from tb_attention.format import summary
from tb_attention.format.blocks import BLOCK_BYTES
from tb_attention.writing.capture import header_fields
from tb_attention.writing.record import plan_part
from tb_attention.writing.stream import PartBuilder


@dataclasses.dataclass
class StreamedPart:
    """One part: what its header says beside the payload, its builder, its scores when done."""

    kind: str
    tokens: List[str]
    key_tokens: Optional[List[str]]
    sentence_b_start: Optional[int]
    model_shape: tuple  # (layers, heads, q, k) of the model's attention (before any subset)
    builder: PartBuilder
    scores: Callable[[], Optional[dict]] = lambda: None
    structure: dict = dataclasses.field(default_factory=dict)  # kv_heads, windows, causal (docs/format.md)
    scorer: object = None  # the scores' consumer, which may add header fields (e.g. example_scores)
    qk: object = None  # writing/qk.QKBuilder of the queries and keys kept, or None

    def nbytes(self):
        """Host bytes this part holds until written (compressed chunks)."""
        return self.builder.nbytes() + (self.qk.nbytes() if self.qk is not None else 0)

    def header(self, payload_file):
        plan = self.builder.plan
        scores = self.scores()
        part = plan_part(self.kind, plan, self.model_shape, self, scores)
        part.update(self.builder.write(payload_file))
        if plan.sparse:
            part["encoding"] = "sparse"
            part["sparse"] = {"top_k": plan.top_k, "top_mass": plan.top_mass}
        part.update({k: v for k, v in self.structure.items() if v is not None})
        part.update(header_fields(self.scorer))
        if self.qk is not None:
            part["qk"] = self.qk.write(payload_file)
        return part, scores


def record_job(tag, step, wall_time, parts, scalars=None):
    """The writer-thread job of a streamed record: payload chunks, then its index event."""

    def job(payload_file):
        written = [p.header(payload_file) for p in parts]
        header = headers.make_header([h for h, _ in written], payload_file.relative_path)
        return summary.attention_event(tag, [headers.encode_header(header)], step, wall_time, scalars)

    return job


def feed_part(part, plan, layout, scorer=None):
    """A StreamedPart of a checked `PartInput` (inputs/attention.py), built here, on the caller's
    thread (a long record is read once, in blocks of rows, whatever its device)."""
    import torch

    builder = PartBuilder(plan, layout, [scorer] if scorer is not None else [])
    streamed = StreamedPart(
        part.kind,
        part.tokens,
        part.key_tokens,
        part.sentence_b_start,
        part.shape,
        builder,
        scorer.result if scorer is not None else (lambda: None),
        scorer=scorer,
    )
    _, heads, q, k = plan.shape
    rows = layout.band_rows or min(q, 256)
    per_block = max(1, BLOCK_BYTES // (4 * rows * k))
    for i, layer in enumerate(plan.layer_ids):
        for r0 in range(0, q, rows):
            for h0 in range(0, heads, per_block):
                x = part.layer(layer, plan.head_ids[h0 : h0 + per_block], (r0, min(q, r0 + rows)))
                x = x if part.torch else torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
                builder.add(i, h0, r0, x.float())
        builder.end_layer(i)
    return streamed

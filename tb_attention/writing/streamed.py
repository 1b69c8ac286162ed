"""A record whose parts were built from blocks (writing/stream.py), written by the writer thread:
each part's chunks go to the payload file, then the index event that points to them."""

import dataclasses
from typing import Callable, List, Optional

from tb_attention.format import header as headers
from tb_attention.format import summary
from tb_attention.format.scores import scores_to_json
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

    def header(self, payload_file):
        plan = self.builder.plan
        scores = self.scores()
        part = headers.make_part(
            self.kind,
            plan.shape,
            plan.precision,
            self.tokens,
            self.key_tokens,
            self.sentence_b_start,
            None if scores is None else scores_to_json(scores),
            layer_ids=plan.layer_ids if len(plan.layer_ids) != self.model_shape[0] else None,
            head_ids=plan.head_ids if len(plan.head_ids) != self.model_shape[1] else None,
        )
        part.update(self.builder.write(payload_file))
        if plan.sparse:
            part["encoding"] = "sparse"
            part["sparse"] = {"top_k": plan.top_k, "top_mass": plan.top_mass}
        part.update({k: v for k, v in self.structure.items() if v is not None})
        return part, scores


def record_job(tag, step, wall_time, parts, scalars=None):
    """The writer-thread job of a streamed record: payload chunks, then its index event."""

    def job(payload_file):
        written = [p.header(payload_file) for p in parts]
        header = headers.make_header([h for h, _ in written], payload_file.relative_path)
        return summary.attention_event(tag, [headers.encode_header(header)], step, wall_time, scalars)

    return job

"""One `add_attention` call's inputs, checked: its tag, step and wall time, and a `PartInput` per
attention kind (one kind, or the encoder, decoder and cross attention of an encoder-decoder
model)."""

import dataclasses
import time
from typing import List, Optional

from tb_attention.inputs.attention import PartInput, parse_attention
from tb_attention.inputs.checks import DEFAULT_MAX_TOKENS, check_text, parse_step, parse_walltime
from tb_attention.inputs.vectors import VectorInput, parse_vectors

# Encoder-decoder kinds: (query tokens, key tokens, query mask, key mask), by argument name.
_SEQ2SEQ = {
    "encoder": ("encoder_tokens", None, "encoder_attention_mask", None),
    "decoder": ("decoder_tokens", None, "decoder_attention_mask", None),
    "cross": ("decoder_tokens", "encoder_tokens", "decoder_attention_mask", "encoder_attention_mask"),
}
_SEQ2SEQ_ARGUMENTS = [kind + "_attention" for kind in _SEQ2SEQ] + sorted(
    {name for names in _SEQ2SEQ.values() for name in names if name}
)


@dataclasses.dataclass(frozen=True)
class RecordInput:
    """One record to log: its tag, step, wall time and parts (one `PartInput` per kind)."""

    tag: str
    step: int
    wall_time: float
    parts: List[PartInput]
    vectors: Optional[VectorInput] = None  # the queries and keys of the (one) part, when given


def parse_call(tag, global_step, walltime):
    """(step, wall time) of a call; raises on a bad tag, step or wall time."""
    if not isinstance(tag, str) or not tag:
        raise TypeError("tag must be a non-empty str, got %r" % (tag,))
    check_text(tag, "tag")
    step = parse_step(global_step)
    walltime = parse_walltime(walltime)
    return step, time.time() if walltime is None else walltime


def _seq2seq_parts(given, example, max_tokens):
    """The parts of an encoder-decoder record: encoder, decoder, cross (those given)."""
    parts = []
    for kind, (tokens, key_tokens, mask, key_mask) in _SEQ2SEQ.items():
        attention = given[kind + "_attention"]
        if attention is None:
            continue
        missing = [n for n in ("encoder_tokens", "decoder_tokens") if n in (tokens, key_tokens) and given[n] is None]
        if missing:
            raise TypeError("%s_attention needs %s" % (kind, " and ".join(missing)))
        parts.append(
            parse_attention(
                attention,
                given[tokens],
                key_tokens=given.get(key_tokens),
                attention_mask=given[mask],
                key_attention_mask=given.get(key_mask),
                example=example,
                max_tokens=max_tokens,
                kind=kind,
            )
        )
    return parts


def parse_record(
    tag,
    global_step,
    walltime,
    attention,
    tokens,
    *,
    example=0,
    max_tokens=DEFAULT_MAX_TOKENS,
    queries=None,
    keys=None,
    **named,
):
    """The checked `RecordInput` of `add_attention`'s arguments of the same names: its tag,
    step and wall time, and its parts: `attention` and `tokens` (one kind, with `named`'s
    key_tokens, sentence_b_start, attention_mask, key_attention_mask, and the `queries` and
    `keys` that produced it, if given), or `named`'s encoder-decoder arguments
    (encoder_attention, encoder_tokens, encoder_attention_mask, ...)."""
    step, wall_time = parse_call(tag, global_step, walltime)
    seq2seq = {name: named.pop(name, None) for name in _SEQ2SEQ_ARGUMENTS}
    if any(seq2seq[kind + "_attention"] is not None for kind in _SEQ2SEQ):
        if queries is not None or keys is not None:
            raise TypeError(
                "queries= and keys= go with attention= (one kind): capture an encoder-decoder model instead"
            )
        if attention is not None:
            raise TypeError(
                "pass either attention (one kind) or encoder_attention / decoder_attention / "
                "cross_attention (an encoder-decoder model), not both"
            )
        return RecordInput(tag, step, wall_time, _seq2seq_parts(seq2seq, example, max_tokens))
    if attention is None:
        raise TypeError(
            "attention is missing: pass outputs.attentions (or encoder_attention=... for an encoder-decoder model)"
        )
    part = parse_attention(attention, tokens, example=example, max_tokens=max_tokens, **named)
    vectors = None
    if queries is not None or keys is not None:
        vectors = parse_vectors(queries, keys, part, tuple(int(n) for n in part.views[0].shape[1:]), example)
    return RecordInput(tag, step, wall_time, [part], vectors)

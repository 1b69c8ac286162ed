"""The public logging calls: `add_attention` writes one record (tb_attention/writing) with the
pattern scores of every stored head (tb_attention/analysis) computed as its blocks are encoded;
`flush` and `close` reach every writer of the process.

    import tb_attention
    tb_attention.add_attention(writer, "probe/store", outputs.attentions, tokens, global_step=step)
"""

import functools
import logging

import numpy as np

from tb_attention.analysis.retrieval import parse_pairs
from tb_attention.analysis.scoring import PatternScorer
from tb_attention.inputs.checks import DEFAULT_MAX_TOKENS
from tb_attention.inputs.record import parse_record
from tb_attention.writing.plan import DEFAULT_MAX_BYTES, DEFAULT_PRECISION
from tb_attention.writing.qk import QKTerms
from tb_attention.writing.writer import close, flush, log_record

__all__ = ["add_attention", "close", "flush"]

logger = logging.getLogger(__name__)

# Metrics summarised as scalars with `pattern_scalars=True`: the strongest head for each.
SCALAR_PATTERNS = (
    "previous_token",
    "next_token",
    "same_token",
    "word_pieces",
    "delimiter",
    "self",
    "induction",
    "duplicate_token",
    "sink",
)


def _pattern_scalars(tag, scores):
    """`{"<tag>/patterns/<metric>_max": strongest head's score}` for the Scalars tab."""
    out = {}
    for name in SCALAR_PATTERNS:
        values = scores.get(name) if scores else None
        if values is not None and np.isfinite(values).any():
            out["%s/patterns/%s_max" % (tag, name)] = float(np.nanmax(values))
    return out


def _scorer(part, part_plan, special, retrieval):
    """A PatternScorer for the stored layers and heads of one part, or None if it cannot be made;
    `retrieval` (checked pairs) scores a self-attention part."""
    pairs = retrieval if part.kind == "self" else None
    try:
        return PatternScorer(
            part_plan.shape, part.tokens, part.key_tokens, part.sentence_b_start, special, threads=1, retrieval=pairs
        )
    except Exception:  # a failure here must never cost the attention itself
        logger.exception("tb_attention: pattern scores failed; attention is logged without them")
        return None


def _checked_retrieval(record, retrieval):
    """The retrieval pairs checked against the record's self-attention (bad pairs raise here,
    before anything is logged)."""
    for part in record.parts:
        if retrieval is not None and part.kind == "self":
            retrieval = parse_pairs(retrieval, part.shape[2], part.shape[3])
    return retrieval


def _scorers(special_tokens, retrieval=None):
    """`scorer_for` of `log_record`: each part's PatternScorer, with these special tokens."""
    special = None if special_tokens is None else [str(t) for t in special_tokens]
    return functools.partial(_scorer, special=special, retrieval=retrieval)


# add_attention's arguments that say what the record holds (inputs/record.py checks them).
_RECORD_ARGUMENTS = (
    "tag",
    "global_step",
    "walltime",
    "attention",
    "tokens",
    "encoder_attention",
    "decoder_attention",
    "cross_attention",
    "encoder_tokens",
    "decoder_tokens",
    "encoder_attention_mask",
    "decoder_attention_mask",
    "sentence_b_start",
    "key_tokens",
    "attention_mask",
    "key_attention_mask",
    "example",
    "max_tokens",
    "queries",
    "keys",
)


def add_attention(
    writer,
    tag,
    attention=None,
    tokens=None,
    global_step=None,
    *,
    encoder_attention=None,
    decoder_attention=None,
    cross_attention=None,
    encoder_tokens=None,
    decoder_tokens=None,
    encoder_attention_mask=None,
    decoder_attention_mask=None,
    sentence_b_start=None,
    key_tokens=None,
    attention_mask=None,
    key_attention_mask=None,
    example=0,
    precision=DEFAULT_PRECISION,
    layers=None,
    heads=None,
    top_k=None,
    top_mass=None,
    max_bytes=DEFAULT_MAX_BYTES,
    walltime=None,
    max_tokens=DEFAULT_MAX_TOKENS,
    all_ranks=False,
    special_tokens=None,
    pattern_scalars=False,
    retrieval=None,
    queries=None,
    keys=None,
    qk=None,
    scaling=None,
    softcap=None,
    rotary=None,
    causal=None,
    window=None,
):
    """Log the attention of one example under `tag` at `global_step`.

    Args:
      writer: a `torch.utils.tensorboard.SummaryWriter`, a tensorboardX `SummaryWriter`, or a
        log-dir path. With a SummaryWriter, its `flush()` and `close()` also flush this data.
      tag: name of the probe, e.g. "probe/store".
      attention: Hugging Face `outputs.attentions` as is (a tuple of `[batch, heads, q, k]`), or
        an array/tensor `[layers, heads, q, k]` or `[layers, batch, heads, q, k]`; numpy or torch
        on any device, float16/bfloat16/float32.
      tokens: the query tokens (strings), e.g. `tokenizer.convert_ids_to_tokens(ids)`.
      global_step: non-negative int (None means 0, as in SummaryWriter).
      encoder_attention, decoder_attention, cross_attention, encoder_tokens, decoder_tokens:
        an encoder-decoder model's `outputs.encoder_attentions` / `decoder_attentions` /
        `cross_attentions` and its tokens, instead of `attention` and `tokens` (bertviz's
        names): one record of three kinds, shown with an encoder / decoder / cross selector.
        `encoder_attention_mask` / `decoder_attention_mask` drop each side's padding.
      sentence_b_start: index of the first token of sentence B, as in bertviz.
      key_tokens: key tokens for cross-attention (q != k).
      attention_mask: 1/0 per position (or `[batch, seq]`); padded positions are dropped.
      key_attention_mask: for cross-attention, 1/0 per key position (the encoder's padding).
      example: which row of the batch to log.
      precision: "log16" (default: every weight within 1/510, and within 6 % from 1e-6 on), "uint8"
        (within 1/510 only), "float16" or "float32".
      layers, heads: log only these layers / heads (the model's numbers; default all).
      top_k: store only the top_k strongest keys of each query row (sparse), with the weight
        each row kept; top_mass: the fewest keys holding that share of each row (at most top_k).
      max_bytes: the most a record may hold before compression (default 256 MiB). A dense
        record above it is stored sparse instead (the strongest keys per query, as many as
        fit), which is logged; an explicit top_k/top_mass above it raises. None: no limit.
      walltime: seconds since the epoch (default: now).
      max_tokens: refuse sequences longer than this (default: no limit; max_bytes bounds what is stored).
      special_tokens: token texts counted as delimiters by the pattern scores (default: the
        usual [CLS]/[SEP]/<s>/</s>/... set; see docs/patterns.md).
      retrieval: a needle probe's (query, needle key) positions (`needle_probe(...).retrieval`),
        in the tokens as logged (padding dropped): the `retrieval` score of each head.
      pattern_scalars: also log the strongest head's score per pattern as scalars
        (`<tag>/patterns/<metric>_max`), for TensorBoard's Scalars tab. Off by default.
      all_ranks: under torch.distributed only rank 0 writes by default (other ranks validate and
        return); with True every rank writes, into a run of its own, `<logdir>/rank<k>`.
      queries, keys: the vectors the attention was computed from, after rotary embedding, as the
        attention interface sees them: `[layers, heads, n, head_dim]` arrays/tensors, or a tuple of
        per-layer `[batch, heads, n, head_dim]` (`example` picks the item); keys may have fewer
        heads than queries (grouped-query attention: query head h reads key head
        h // (heads / kv_heads)). Kept in float16 beside the attention for the Query/Key view
        (docs/format.md, "Queries and keys"), for probes of at most 512 tokens.
      qk: which of them to keep: True (default with queries=: every stored layer and head), a
        list of layers, or {"layers": [...], "heads": [...], "max_tokens": n}.
      scaling, softcap: the layer's scores are softcap·tanh(q·k·scaling / softcap) (scaling
        default head_dim ** -0.5, no soft-cap); rotary: whether positions were rotated into the
        vectors (shown by the view; None: not said); causal: whether query i sees only keys up
        to i (default: read from the attention); window: a sliding window (one int, or one per
        layer): query i sees keys j with i - window < j.

    On the caller's thread the input is checked (every stored weight, on its own device) and
    GPU tensors are encoded on the GPU; CPU tensors are read by background threads, encoded,
    compressed and written there (see docs/format.md). Raises ValueError/TypeError for bad
    input, logging nothing.
    """
    given = locals()
    record = parse_record(**{name: given[name] for name in _RECORD_ARGUMENTS})
    log_record(
        writer,
        record,
        dict(precision=precision, layers=layers, heads=heads, top_k=top_k, top_mass=top_mass, max_bytes=max_bytes),
        all_ranks=all_ranks,
        scorer_for=_scorers(special_tokens, _checked_retrieval(record, retrieval)),
        scalars=functools.partial(_pattern_scalars, tag) if pattern_scalars else None,
        qk=(qk, QKTerms(scaling, softcap, rotary, causal, window)),
    )

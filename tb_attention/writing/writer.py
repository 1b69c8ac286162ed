"""`add_attention`: log one example's attention from a training or evaluation loop."""

import logging
import os
import sys
import threading
import time

import numpy as np

from tb_attention.writing import inputs, plan
from tb_attention.writing.background import AttentionEventWriter
from tb_attention.writing.failures import AttentionWriteError

logger = logging.getLogger(__name__)

_registry_lock = threading.Lock()
_writers = {}  # real log-dir path -> AttentionEventWriter


class _SummaryWriterHook:
    """Sits in a SummaryWriter's `all_writers`, so its `flush()` and `close()` reach our queue."""

    def __init__(self, event_writer):
        self.event_writer = event_writer

    def flush(self):
        self.event_writer.flush()

    def close(self):
        _close_writer(self.event_writer)

    def get_logdir(self):
        return self.event_writer.logdir


def _summary_writer_logdir(writer):
    """Log dir of a torch or tensorboardX SummaryWriter, or None for other objects."""
    all_writers = getattr(writer, "all_writers", False)
    if all_writers is False or not hasattr(writer, "add_scalar"):
        return None
    if all_writers is None:
        raise ValueError("the SummaryWriter is closed: attention can no longer be logged through it")
    for name in ("log_dir", "logdir"):
        value = getattr(writer, name, None)
        if isinstance(value, str):
            return value
    file_writer = getattr(writer, "file_writer", None)
    if file_writer is not None and hasattr(file_writer, "get_logdir"):
        return file_writer.get_logdir()
    raise TypeError("cannot find the log dir of %s" % type(writer).__name__)


def _logdir_of(writer):
    if isinstance(writer, (str, os.PathLike)):
        return os.fspath(writer)
    logdir = _summary_writer_logdir(writer)
    if logdir is None:
        raise TypeError(
            "writer must be a torch.utils.tensorboard or tensorboardX SummaryWriter or a log-dir "
            "path, got %s" % type(writer).__name__
        )
    return logdir


def event_writer_for(writer):
    """The background event writer for a SummaryWriter or a log-dir path (created on first use)."""
    logdir = _logdir_of(writer)
    summary_writer = None if isinstance(writer, (str, os.PathLike)) else writer
    key = os.path.realpath(logdir)
    with _registry_lock:
        event_writer = _writers.get(key)
        if event_writer is None or not event_writer.usable:
            event_writer = _writers[key] = AttentionEventWriter(logdir)
        if summary_writer is not None:
            hook_key = event_writer.path  # a name no add_scalars sub-writer can take
            if hook_key not in summary_writer.all_writers:
                summary_writer.all_writers[hook_key] = _SummaryWriterHook(event_writer)
    return event_writer


def _close_writer(event_writer):
    with _registry_lock:
        for key, value in list(_writers.items()):
            if value is event_writer:
                del _writers[key]
    event_writer.close()


def _each_writer(action):
    """`action(writer)` for every attention writer of this process, all of them even when one
    raises (AttentionWriteError for records it could not write); then one error for them all."""
    with _registry_lock:
        writers = list(_writers.values())
    errors = []
    for event_writer in writers:
        try:
            action(event_writer)
        except AttentionWriteError as e:
            errors.append(e)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        merged = AttentionWriteError("; ".join(map(str, errors)), [r for e in errors for r in e.records])
        raise merged from errors[0].__cause__


def flush():
    """Write everything queued by `add_attention` in this process, for every log dir. Raises
    AttentionWriteError for records that could not be written (docs/errors.md)."""
    _each_writer(lambda event_writer: event_writer.flush())


def close():
    """Flush and close every attention writer of this process (AttentionWriteError as flush)."""
    _each_writer(_close_writer)


def distributed_rank():
    """This process's rank in an initialised torch.distributed group, else None.

    Looks at torch only if the program already imported it: logging never imports torch itself.
    """
    torch = sys.modules.get("torch")
    dist = getattr(torch, "distributed", None) if torch is not None else None
    if dist is not None and dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return None


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


def _scorer(part, part_plan, special):
    """A PatternScorer for the stored layers and heads of one part, or None if it cannot be made."""
    from tb_attention.analysis.scoring import PatternScorer

    try:
        return PatternScorer(part_plan.shape, part.tokens, part.key_tokens, part.sentence_b_start, special, threads=1)
    except Exception:  # a failure here must never cost the attention itself
        logger.exception("tb_attention: pattern scores failed; attention is logged without them")
        return None


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
    precision="uint8",
    layers=None,
    heads=None,
    top_k=None,
    top_mass=None,
    max_bytes=plan.DEFAULT_MAX_BYTES,
    walltime=None,
    max_tokens=inputs.DEFAULT_MAX_TOKENS,
    all_ranks=False,
    special_tokens=None,
    pattern_scalars=False,
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
      precision: "uint8" (max abs error 1/510, default), "float16" or "float32".
      layers, heads: log only these layers / heads (the model's numbers; default all).
      top_k: store only the top_k strongest keys of each query row (sparse), with the weight
        each row kept; top_mass: the fewest keys holding that share of each row (at most top_k).
      max_bytes: the most a record may hold before compression (default 256 MiB). A dense
        record above it is stored sparse instead (the strongest keys per query, as many as
        fit), which is logged; an explicit top_k/top_mass above it raises. None: no limit.
      walltime: seconds since the epoch (default: now).
      max_tokens: refuse longer sequences unless raised (they are large to store and draw).
      special_tokens: token texts counted as delimiters by the pattern scores (default: the
        usual [CLS]/[SEP]/<s>/</s>/... set; see docs/patterns.md).
      pattern_scalars: also log the strongest head's score per pattern as scalars
        (`<tag>/patterns/<metric>_max`), for TensorBoard's Scalars tab. Off by default.
      all_ranks: under torch.distributed only rank 0 writes by default (other ranks validate and
        return); with True every rank writes, into a run of its own, `<logdir>/rank<k>`.

    On the caller's thread the input is checked (every stored weight, on its own device) and
    GPU tensors are encoded on the GPU; CPU tensors are read by background threads, encoded,
    compressed and written there (see docs/format.md). Raises ValueError/TypeError for bad
    input, logging nothing; never for the disk: a record that cannot be written is warned about
    and raised by the next `flush()` / `close()` (docs/errors.md).
    """
    step, wall_time = _check_call(tag, global_step, walltime)
    seq2seq = dict(encoder=encoder_attention, decoder=decoder_attention, cross=cross_attention)
    if any(a is not None for a in seq2seq.values()):
        if attention is not None:
            raise TypeError(
                "pass either attention (one kind) or encoder_attention / decoder_attention / "
                "cross_attention (an encoder-decoder model), not both"
            )
        parts = _seq2seq_parts(
            seq2seq, encoder_tokens, decoder_tokens, encoder_attention_mask, decoder_attention_mask, example, max_tokens
        )
    else:
        if attention is None:
            raise TypeError(
                "attention is missing: pass outputs.attentions (or encoder_attention=... for an encoder-decoder model)"
            )
        parts = [
            inputs.describe(
                attention,
                tokens,
                key_tokens=key_tokens,
                sentence_b_start=sentence_b_start,
                attention_mask=attention_mask,
                key_attention_mask=key_attention_mask,
                example=example,
                max_tokens=max_tokens,
            )
        ]
    _log_parts(
        writer,
        tag,
        step,
        wall_time,
        parts,
        dict(precision=precision, layers=layers, heads=heads, top_k=top_k, top_mass=top_mass, max_bytes=max_bytes),
        all_ranks,
        special_tokens,
        pattern_scalars,
    )


def _seq2seq_parts(attentions, encoder_tokens, decoder_tokens, encoder_mask, decoder_mask, example, max_tokens):
    """The described parts of an encoder-decoder record: encoder, decoder, cross (those given)."""
    needs = {
        "encoder": ("encoder_tokens",),
        "decoder": ("decoder_tokens",),
        "cross": ("encoder_tokens", "decoder_tokens"),
    }
    given = {"encoder_tokens": encoder_tokens, "decoder_tokens": decoder_tokens}
    parts = []
    for kind, attention in attentions.items():
        if attention is None:
            continue
        missing = [name for name in needs[kind] if given[name] is None]
        if missing:
            raise TypeError("%s_attention needs %s" % (kind, " and ".join(missing)))
        if kind == "encoder":
            parts.append(
                inputs.describe(
                    attention,
                    encoder_tokens,
                    attention_mask=encoder_mask,
                    example=example,
                    max_tokens=max_tokens,
                    kind=kind,
                )
            )
        elif kind == "decoder":
            parts.append(
                inputs.describe(
                    attention,
                    decoder_tokens,
                    attention_mask=decoder_mask,
                    example=example,
                    max_tokens=max_tokens,
                    kind=kind,
                )
            )
        else:
            parts.append(
                inputs.describe(
                    attention,
                    decoder_tokens,
                    key_tokens=encoder_tokens,
                    attention_mask=decoder_mask,
                    key_attention_mask=encoder_mask,
                    example=example,
                    max_tokens=max_tokens,
                    kind=kind,
                )
            )
    return parts


def _check_call(tag, global_step, walltime):
    if not isinstance(tag, str) or not tag:
        raise TypeError("tag must be a non-empty str, got %r" % (tag,))
    inputs.check_text(tag, "tag")
    step = inputs.check_step(global_step)
    walltime = inputs.check_walltime(walltime)
    return step, time.time() if walltime is None else walltime


def _log_parts(writer, tag, step, wall_time, parts, storage, all_ranks, special_tokens, pattern_scalars):
    """Plan, check and capture the parts of one record, then queue it for the writer thread."""
    from tb_attention.writing.capture import CapturedPart
    from tb_attention.writing.record import index_event, write_part

    plans = plan.plan_record(parts, what="%s at step %d" % (tag, step), **storage)
    special = None if special_tokens is None else [str(t) for t in special_tokens]
    captured = [CapturedPart(p, pp, None).check() for p, pp in zip(parts, plans)]
    rank = distributed_rank()
    if rank is not None and rank != 0 and not all_ranks:
        return  # checked like every rank's input; only rank 0 writes
    for c in captured:
        c.scorer = _scorer(c.part, c.plan, special)
        c.capture()
    if rank is not None and all_ranks:
        writer = os.path.join(_logdir_of(writer), "rank%d" % rank)
    event_writer = event_writer_for(writer)

    def build_event(payload_file):
        written = [write_part(payload_file, c) for c in captured]
        scalars = _pattern_scalars(tag, written[0][1]) if pattern_scalars else None
        return index_event(payload_file, tag, step, wall_time, [h for h, _ in written], scalars)

    event_writer.submit(build_event, sum(c.nbytes for c in captured), "%s at step %d" % (tag, step))

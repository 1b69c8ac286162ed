"""`tb_attention.capture`: the public form of a capture (a context manager around one forward
pass, then `log`)."""

import logging
import os
import time

from tb_attention.capture.recording import RecordSink
from tb_attention.capture.session import Session
from tb_attention.capture.tokens import ForwardTokens
from tb_attention.inputs import checks
from tb_attention.writing import plan as plans
from tb_attention.writing.streamed import record_job
from tb_attention.writing.writer import distributed_rank, event_writer_for

logger = logging.getLogger(__name__)


def _scorer(special_tokens, retrieval=None):
    """A factory of pattern scorers for the parts of a capture (None: the scores are skipped);
    `retrieval` (a needle probe's pairs) scores the self-attention parts."""
    from tb_attention.analysis.scoring import PatternScorer

    def make(shape, tokens, key_tokens, sentence_b_start):
        pairs = retrieval if key_tokens is None and shape[2] == len(tokens) else None
        try:
            scorer = PatternScorer(
                shape, tokens, key_tokens, sentence_b_start, special_tokens, threads=1, retrieval=pairs
            )
        except Exception:  # a failure here must never cost the attention itself
            logger.exception("tb_attention: pattern scores failed; attention is logged without them")
            return None
        return scorer if hasattr(scorer, "add_block") else None

    return make


class AttentionCapture:
    """One capture: enter it, run the model's forward pass once, leave it, then `log` the record.

    Everything is encoded while the forward runs (on the tensors' device); what the capture holds
    afterwards is the record's stored form, at most `max_bytes` (compressed)."""

    def __init__(
        self,
        model,
        tokenizer=None,
        *,
        tokens=None,
        decoder_tokens=None,
        sentence_b_start=None,
        example=0,
        precision=plans.DEFAULT_PRECISION,
        layers=None,
        heads=None,
        top_k=None,
        top_mass=None,
        max_bytes=plans.DEFAULT_MAX_BYTES,
        special_tokens=None,
        retrieval=None,
        scorer=None,
        qk=None,
    ):
        self.model = model
        self.tokens = ForwardTokens(tokenizer, tokens, decoder_tokens, sentence_b_start, example)
        storage = dict(
            precision=precision, layers=layers, heads=heads, top_k=top_k, top_mass=top_mass, max_bytes=max_bytes, qk=qk
        )
        # `scorer`: a factory (shape, tokens, key_tokens, sentence_b_start) -> consumer of the
        # blocks (add_block, result, optionally header_fields) in place of the pattern scores.
        self.sink = RecordSink(model, self.tokens, storage, scorer or _scorer(special_tokens, retrieval))
        self.session = Session(model, self.sink, example)
        self._hook = None
        self.parts = None

    def __enter__(self):
        self._hook = self.model.register_forward_pre_hook(self.tokens.hook, with_kwargs=True)
        self.session.__enter__()
        return self

    def __exit__(self, kind, error, trace):
        try:
            self.session.__exit__(kind, error, trace)
        finally:
            self._hook.remove()
        if kind is None:
            self.parts = self.sink.parts()
            if not self.parts:
                raise ValueError("tb_attention.capture saw no attention call: run the model's forward inside it")

    def log(self, writer, tag, global_step=None, walltime=None, all_ranks=False):
        """Queue the captured record under `tag` at `global_step` (the writer thread writes it)."""
        if self.parts is None:
            raise ValueError("nothing captured yet: call the model inside `with tb_attention.capture(model) as cap:`")
        if not isinstance(tag, str) or not tag:
            raise TypeError("tag must be a non-empty str, got %r" % (tag,))
        step = checks.parse_step(global_step)
        wall_time = checks.parse_walltime(walltime)
        rank = distributed_rank()
        if rank is not None and rank != 0 and not all_ranks:
            return
        if rank is not None and all_ranks:
            writer = os.path.join(
                os.fspath(writer) if isinstance(writer, (str, os.PathLike)) else writer.log_dir, "rank%d" % rank
            )
        nbytes = sum(p.nbytes() for p in self.parts)
        job = record_job(tag, step, time.time() if wall_time is None else wall_time, self.parts)
        event_writer_for(writer).submit(job, nbytes, "%s at step %d" % (tag, step))
        self.parts = None  # logged once: the stored form goes with the writer


def capture(model, tokenizer=None, **options):
    """An AttentionCapture of `model` (see its options: tokens, precision, layers, heads, top_k,
    top_mass, max_bytes as in add_attention; `qk=True` (or a list of layers, or {"layers", "heads",
    "max_tokens"}) also keeps those layers' queries and keys after rotary embedding)."""
    return AttentionCapture(model, tokenizer, **options)

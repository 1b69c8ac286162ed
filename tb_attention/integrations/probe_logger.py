"""What every training integration shares: its probes, one log per step, the probe pass on
every rank when the model is sharded (each rank must join its collectives), writing on the main
process only (or on every rank into a run of its own, with all_ranks). Logging never stops
training: a record that cannot be written (disk full, ...) is a warning, never an exception."""

import logging

from tb_attention.format.precision import check_precision
from tb_attention.integrations.probe_pass import needs_every_rank, probe_attention
from tb_attention.integrations.probes import encode, named_probes
from tb_attention.writing import writer as _writer
from tb_attention.writing.failures import AttentionWriteError

logger = logging.getLogger(__name__)


def _positive_int_or_none(value, name):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError("%s must be a positive int or None, got %r" % (name, value))


class ProbeLogger:
    """Probes tokenised for their model on first use; `log(model, step, log_dir, is_main)`."""

    def __init__(
        self,
        tokenizer,
        probes,
        *,
        tag_prefix="probe",
        precision="uint8",
        max_length=128,
        all_ranks=False,
        every_n_steps=None,
        storage=None,
    ):
        check_precision(precision)
        _positive_int_or_none(every_n_steps, "every_n_steps")
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
            raise ValueError("max_length must be an int >= 2, got %r" % (max_length,))
        if not isinstance(tag_prefix, str):
            raise TypeError("tag_prefix must be a str, got %r" % (tag_prefix,))
        if not callable(tokenizer):
            raise TypeError("tokenizer must be a Hugging Face tokenizer, got %s" % type(tokenizer).__name__)
        self.tokenizer = tokenizer
        self.probes = named_probes(probes, tag_prefix)
        self.precision, self.max_length = precision, max_length
        self.all_ranks, self.every_n_steps = bool(all_ranks), every_n_steps
        self.storage = dict(storage or {})  # add_attention's layers / heads / top_k / max_bytes ...
        self._encoded = {}  # (probe tag, encoder-decoder?) -> ProbeInputs
        self.logged_steps = set()

    def reset(self):
        """A new training run logs its steps afresh."""
        self.logged_steps = set()

    def due(self, step):
        return bool(self.every_n_steps) and step % self.every_n_steps == 0

    def _inputs(self, probe, model):
        key = (probe.tag, bool(getattr(getattr(model, "config", None), "is_encoder_decoder", False)))
        if key not in self._encoded:
            self._encoded[key] = encode(probe, self.tokenizer, model, self.max_length)
        return self._encoded[key]

    def log(self, model, step, log_dir, is_main):
        """Log every probe at `step` (once per step). Every rank runs the probe pass when the
        model is sharded; ranks that do not write run it only then, and write nothing."""
        if step in self.logged_steps:
            return
        writes = is_main or self.all_ranks
        if not writes and not needs_every_rank(model):
            return
        if writes and log_dir is None:
            # e.g. trainer.evaluate() before train(): no run directory yet, and the baseline is
            # logged when training starts anyway.
            logger.info("tb_attention: no log_dir yet; pass log_dir= to log this step")
            return
        for probe in self.probes:
            inputs = self._inputs(probe, model)
            attentions = probe_attention(model, inputs)
            if writes:
                _writer.add_attention(
                    log_dir,
                    probe.tag,
                    global_step=step,
                    precision=self.precision,
                    all_ranks=self.all_ranks,
                    **attentions,
                    **inputs.log_kwargs,
                    **self.storage,
                )
        # No flush here: training must not wait for encoding; the writer thread makes each record
        # visible as soon as it is written, and the end of training flushes.
        self.logged_steps.add(step)

    def flush(self):
        """Write everything queued. Records that could not be written are logged as a warning,
        not raised: training goes on, and later records are written once the disk takes them."""
        try:
            _writer.flush()
        except AttentionWriteError as e:
            logger.warning("%s; training goes on", e)

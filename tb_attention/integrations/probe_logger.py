"""What every training integration shares: its probes, one log per step, the probe pass on
every rank when the model is sharded (each rank must join its collectives), writing on the main
process only (or on every rank into a run of its own, with all_ranks)."""

import logging
import os

from tb_attention.format.precision import check_precision
from tb_attention.integrations.probe_inputs import named_probes, tokenize_probe
from tb_attention.integrations.probe_pass import (
    capture_probe,
    needs_every_rank,
    on_attention_interface,
    plain_forward,
    probe_attention,
)
from tb_attention.log import add_attention
from tb_attention.writing import plan as plans

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
        precision=plans.DEFAULT_PRECISION,
        max_length=None,
        all_ranks=False,
        every_n_steps=None,
        storage=None,
    ):
        check_precision(precision)
        _positive_int_or_none(every_n_steps, "every_n_steps")
        if max_length is not None and (
            isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2
        ):
            raise ValueError("max_length must be an int >= 2 or None (the model's own limit), got %r" % (max_length,))
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
        self._said_qk = False

    def reset(self):
        """A new training run logs its steps afresh."""
        self.logged_steps = set()

    def _storage(self):
        return dict(self.storage, precision=self.precision)

    def _eager_storage(self, model):
        """The storage options of the eager path, which sees no queries or keys: `qk` is dropped
        (once said in the log)."""
        storage = self._storage()
        if storage.pop("qk", None) and not self._said_qk:
            self._said_qk = True
            logger.warning(
                "tb_attention: %s does not compute attention through transformers' attention interface: its "
                "queries and keys cannot be kept (qk=), only its attention",
                type(model).__name__,
            )
        return storage

    def due(self, step):
        return bool(self.every_n_steps) and step % self.every_n_steps == 0

    def _inputs(self, probe, model):
        key = (probe.tag, bool(getattr(getattr(model, "config", None), "is_encoder_decoder", False)))
        if key not in self._encoded:
            self._encoded[key] = tokenize_probe(probe, self.tokenizer, model, self.max_length)
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
            if not on_attention_interface(model):
                attentions = probe_attention(model, inputs)
                if writes:
                    add_attention(
                        log_dir,
                        probe.tag,
                        global_step=step,
                        all_ranks=self.all_ranks,
                        **attentions,
                        **inputs.log_kwargs,
                        **self._eager_storage(model),
                    )
            elif writes:
                record = capture_probe(model, inputs, self._storage())
                record.log(log_dir, probe.tag, step, all_ranks=self.all_ranks)
            else:
                plain_forward(model, inputs)
        # No flush here: training must not wait for encoding; the writer thread makes each record
        # visible as soon as it is written, and the end of training flushes.
        self.logged_steps.add(step)


class ProbeCallbackBase:
    """What the training-framework callbacks share: their options (those of
    `tb_attention.AttentionCallback`), the ProbeLogger made of them, and the log dir given (else
    found by the callback when training starts)."""

    def __init__(
        self,
        tokenizer,
        probes,
        *,
        log_dir=None,
        every_n_steps=None,
        tag_prefix="probe",
        precision=plans.DEFAULT_PRECISION,
        max_length=None,
        all_ranks=False,
        **storage,
    ):
        super().__init__()
        self.probe_logger = ProbeLogger(
            tokenizer,
            probes,
            tag_prefix=tag_prefix,
            precision=precision,
            max_length=max_length,
            all_ranks=all_ranks,
            every_n_steps=every_n_steps,
            storage=storage,
        )
        self._given_log_dir = os.fspath(log_dir) if log_dir is not None else None
        self.log_dir = self._given_log_dir  # resolved when training starts when not given

    @property
    def probes(self):
        return self.probe_logger.probes

"""What every training integration shares: its probes, one log per step, the probe pass on
every rank when the model is sharded (each rank must join its collectives), writing on the main
process only (or on every rank into a run of its own, with all_ranks). Logging never stops
training: a record that cannot be written (disk full, ...) is a warning, never an exception."""

import logging
import os

from tb_attention.format.precision import check_precision
from tb_attention.importance.log import DEFAULT_TAG
from tb_attention.importance.schedule import ImportanceLogger
from tb_attention.integrations.example_set import ExampleSet, log_set, score_set
from tb_attention.integrations.probe_inputs import named_probes, tokenize_probe
from tb_attention.integrations.probe_pass import (
    capture_probe,
    needs_every_rank,
    on_attention_interface,
    plain_forward,
    probe_attention,
)
from tb_attention.log import add_attention, flush
from tb_attention.writing import plan as plans
from tb_attention.writing.failures import AttentionWriteError

logger = logging.getLogger(__name__)


def _positive_int_or_none(value, name):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError("%s must be a positive int or None, got %r" % (name, value))


class ProbeLogger:
    """Probes tokenised for their model on first use; `log(model, step, log_dir, is_main)`.
    `score_examples`: a set of examples whose pattern scores are logged at every step, with
    their spread and confidence interval, under `<tag_prefix>/<examples_name>`
    (integrations/example_set.py)."""

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
        score_examples=None,
        examples_name="examples",
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
        # A set of examples may be logged alone (no probes).
        self.probes = named_probes(probes, tag_prefix) if score_examples is None or probes else []
        self.examples = None if score_examples is None else _example_set(score_examples, tag_prefix, examples_name)
        if self.examples is not None and self.examples.tag in {p.tag for p in self.probes}:
            raise ValueError("a probe is tagged %r, the tag of score_examples: rename one" % self.examples.tag)
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

    def wants_batches(self):
        """Whether the set of examples still waits for the eval dataloader's batches."""
        return self.examples is not None and self.examples.waiting

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

    def log(self, model, step, log_dir, is_main, batches=None):
        """Log every probe at `step` (once per step), and the set of examples (`batches`: the
        eval dataloader, for `score_examples=N`). Every rank runs the probe pass when the
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
        if self.examples is not None:
            self._log_examples(model, step, log_dir, writes, batches)
        # No flush here: training must not wait for encoding; the writer thread makes each record
        # visible as soon as it is written, and the end of training flushes.
        self.logged_steps.add(step)

    def flush(self):
        """Write everything queued. Records that could not be written are logged as a warning,
        not raised: training goes on, and later records are written once the disk takes them."""
        try:
            flush()
        except AttentionWriteError as e:
            logger.warning("%s; training goes on", e)

    def _log_examples(self, model, step, log_dir, writes, batches):
        inputs = self.examples.inputs(self.tokenizer, model, self.max_length, batches)
        if inputs is None:
            return
        if not writes:  # the forwards the writing rank runs: one per example, then the record's
            for one in inputs + inputs[:1]:
                plain_forward(model, one)
            return
        mean, summary = score_set(model, inputs, self._storage())
        log_set(model, inputs, mean, summary, log_dir, self.examples.tag, step, self._storage(), self.all_ranks)


def _example_set(examples, tag_prefix, name):
    if not isinstance(name, str) or not name.strip("/ "):
        raise TypeError("examples_name must be a non-empty str, got %r" % (name,))
    try:
        import scipy  # noqa: F401  (the intervals' t quantiles)
    except ImportError:
        raise ImportError("score_examples needs scipy for its confidence intervals: pip install scipy") from None
    prefix = tag_prefix.strip("/")
    return ExampleSet(examples, "%s/%s" % (prefix, name.strip("/ ")) if prefix else name.strip("/ "))


class ProbeCallbackBase:
    """What the training-framework callbacks share: their options (those of
    `tb_attention.AttentionCallback`), the ProbeLogger and ImportanceLogger made of them, and the
    log dir given (else found by the callback when training starts)."""

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
        score_examples=None,
        importance_batches=None,
        importance_data=None,
        importance_loss=None,
        importance_ablation=0,
        importance_tag=DEFAULT_TAG,
        **storage,
    ):
        super().__init__()
        self.importance_logger = ImportanceLogger(
            importance_batches, importance_data, importance_loss, importance_ablation, importance_tag
        )
        self.probe_logger = ProbeLogger(
            tokenizer,
            probes,
            tag_prefix=tag_prefix,
            precision=precision,
            max_length=max_length,
            all_ranks=all_ranks,
            every_n_steps=every_n_steps,
            storage=storage,
            score_examples=score_examples,
        )
        self._given_log_dir = os.fspath(log_dir) if log_dir is not None else None
        self.log_dir = self._given_log_dir  # resolved when training starts when not given

    @property
    def probes(self):
        return self.probe_logger.probes

    def start(self, model):
        """A new training run: every step is logged afresh; a model whose importance pass would
        not be isolated is refused now, before any step."""
        self.probe_logger.reset()
        self.importance_logger.reset()
        self.importance_logger.check_model(model)

    def log_step(self, model, step, is_main, eval_loader=None, example_batches=None):
        """The probes (and the set of examples, from `example_batches`, default the eval loader),
        and head importance when asked for, at `step` (each once per step)."""
        batches = eval_loader if example_batches is None else example_batches
        self.probe_logger.log(model, step, self.log_dir, is_main, batches)
        self.importance_logger.log(model, step, self.log_dir, is_main, eval_loader)

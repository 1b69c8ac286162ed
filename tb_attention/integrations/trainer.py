"""`AttentionCallback`: log the attention of fixed probe sentences while `transformers.Trainer` trains.

    trainer = Trainer(model, args, ..., callbacks=[tb_attention.AttentionCallback(tokenizer, probes)])

Imported lazily by `tb_attention`: only this module imports torch and transformers.
"""

import glob
import logging
import os
import socket

import torch
from transformers import TrainerCallback

from tb_attention.integrations.probe_pass import probe_attention
from tb_attention.integrations.probes import tokenize_probes
from tb_attention.writing import writer as _writer

logger = logging.getLogger(__name__)


def _trainer_log_dir(args):
    """The run directory Trainer's own TensorBoard logging writes to (or would write to).

    transformers 4 names it `args.logging_dir`; transformers 5 dropped that argument: its
    TensorBoardCallback uses $TENSORBOARD_LOGGING_DIR, else `<output_dir>/runs/<time>_<host>`, a
    name it picks in its on_train_begin (which runs before ours) and creates at once.
    """
    logging_dir = getattr(args, "logging_dir", None)
    if logging_dir:
        return os.path.expanduser(logging_dir)
    env_dir = os.environ.get("TENSORBOARD_LOGGING_DIR")
    if env_dir:
        return os.path.expanduser(env_dir)
    runs = os.path.join(args.output_dir or ".", "runs")
    if "tensorboard" in (getattr(args, "report_to", None) or []):
        # torch's SummaryWriter names its file events.out.tfevents.<time>.<host>.<pid>.<n>.
        pattern = "events.out.tfevents.*.%s.%d.*" % (glob.escape(socket.gethostname()), os.getpid())
        ours = glob.glob(os.path.join(glob.escape(runs), "*", pattern))
        if ours:
            return os.path.dirname(max(ours, key=os.path.getmtime))
        logger.warning(
            "tb_attention: Trainer's TensorBoard run directory under %s was not found (is "
            "AttentionCallback placed before TensorBoardCallback?); pass log_dir= to choose one", runs
        )
    from transformers.integrations.integration_utils import default_logdir

    return os.path.join(args.output_dir or ".", default_logdir())


class AttentionCallback(TrainerCallback):
    """Logs the attention of a few probe inputs into Trainer's TensorBoard run.

    It logs at the start of training (the pre-trained baseline), after every evaluation, after
    every checkpoint save, at the end of training and, with `every_n_steps`, every N optimizer
    steps; at most once per step. Only the main process (`state.is_world_process_zero`) logs,
    unless `all_ranks=True`.

    Args:
      tokenizer: the model's tokenizer; the probes are tokenised once, here.
      probes: texts and/or `(sentence_a, sentence_b)` pairs, tagged `<tag_prefix>/<slug of the
        text>`; or a `{name: probe}` dict, tagged `<tag_prefix>/<name>`.
      log_dir: where to write; default: Trainer's own TensorBoard run directory, so loss curves
        and attention share one run.
      every_n_steps: also log every N optimizer steps.
      tag_prefix: first part of every tag ("" for none).
      precision: "uint8" (max error 1/510), "float16" or "float32".
      max_length: probes are truncated to this many tokens.
      all_ranks: in distributed training every process logs, each into a run of its own
        (`<log_dir>/rank<k>`, under rank 0's run directory); default: the main process only.

    The model runs on its own device in eval mode under `torch.no_grad()`, with the RNG state
    saved and restored and every module's train/eval mode put back, so training results are
    exactly those without the callback. Encoder-decoder models are not supported here: log their
    attention with `tb_attention.add_attention` (see `demo/model_families.py`).
    """

    def __init__(
        self,
        tokenizer,
        probes,
        *,
        log_dir=None,
        every_n_steps=None,
        tag_prefix="probe",
        precision="uint8",
        max_length=128,
        all_ranks=False,
    ):
        from tb_attention.format.precision import check_precision

        check_precision(precision)
        if every_n_steps is not None and (
            isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int) or every_n_steps < 1
        ):
            raise ValueError("every_n_steps must be a positive int or None, got %r" % (every_n_steps,))
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
            raise ValueError("max_length must be an int >= 2, got %r" % (max_length,))
        if not isinstance(tag_prefix, str):
            raise TypeError("tag_prefix must be a str, got %r" % (tag_prefix,))
        if not callable(tokenizer):
            raise TypeError("tokenizer must be a Hugging Face tokenizer, got %s" % type(tokenizer).__name__)
        self._given_log_dir = os.fspath(log_dir) if log_dir is not None else None
        self.log_dir = self._given_log_dir  # resolved at each on_train_begin when not given
        self.every_n_steps = every_n_steps
        self.precision = precision
        self.probes = tokenize_probes(tokenizer, probes, tag_prefix, max_length)
        self._logged_steps = set()
        self.all_ranks = bool(all_ranks)

    def _logs_here(self, state):
        return self.all_ranks or state.is_world_process_zero

    # Trainer events -------------------------------------------------------------------------

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if not self._logs_here(state):
            return
        # A callback reused for a second train() logs that run afresh (into Trainer's new run
        # directory; with an explicit log_dir, steps repeat: see docs/format.md).
        self._logged_steps = set()
        self.log_dir = self._given_log_dir or _trainer_log_dir(args)
        if self.all_ranks and torch.distributed.is_available() and torch.distributed.is_initialized():
            # Every rank's run goes under rank 0's directory (only rank 0 knows Trainer's).
            shared = [self.log_dir]
            torch.distributed.broadcast_object_list(shared, src=0)
            self.log_dir = shared[0]
        self._log(model, state)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.every_n_steps and state.global_step % self.every_n_steps == 0:
            self._log(model, state)

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        self._log(model, state)

    def on_save(self, args, state, control, model=None, **kwargs):
        self._log(model, state)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self._log(model, state)
        if self._logs_here(state):
            _writer.flush()

    # Logging --------------------------------------------------------------------------------

    def _log(self, model, state):
        step = state.global_step
        if not self._logs_here(state) or step in self._logged_steps:
            return
        if model is None:
            raise ValueError("AttentionCallback needs the model: Trainer passes it to every event")
        if self.log_dir is None:
            # trainer.evaluate() before train(): Trainer's run directory does not exist yet, and
            # the baseline is logged at on_train_begin anyway.
            logger.info("tb_attention: no log_dir before train(); pass log_dir= to log this evaluation")
            return
        for tag, encoding, tokens, sentence_b_start in self.probes:
            attentions = probe_attention(model, encoding)
            _writer.add_attention(
                self.log_dir,
                tag,
                attentions,
                tokens,
                global_step=step,
                sentence_b_start=sentence_b_start,
                precision=self.precision,
                all_ranks=self.all_ranks,
            )
        # No flush here: training must not wait for encoding; the writer thread makes each record
        # visible as soon as it is written, and on_train_end flushes.
        self._logged_steps.add(step)

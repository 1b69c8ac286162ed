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

from tb_attention.integrations.probe_logger import ProbeCallbackBase

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
            "AttentionCallback placed before TensorBoardCallback?); pass log_dir= to choose one",
            runs,
        )
    from transformers.integrations.integration_utils import default_logdir

    return os.path.join(args.output_dir or ".", default_logdir())


class AttentionCallback(ProbeCallbackBase, TrainerCallback):
    """Logs the attention of a few probe inputs into Trainer's TensorBoard run.

    It logs at the start of training (the pre-trained baseline), after every evaluation, after
    every checkpoint save, at the end of training and, with `every_n_steps`, every N optimizer
    steps; at most once per step. Only the main process (`state.is_world_process_zero`) writes,
    unless `all_ranks=True`; when the model is sharded (FSDP, FSDP2, DeepSpeed ZeRO-3, tensor
    parallel), every process runs the probe pass with it, as sharded forwards need.

    Args:
      tokenizer: the model's tokenizer; each probe is tokenised once, for the model that reads it.
      probes: texts, `(sentence_a, sentence_b)` pairs, chat messages (a list of
        `{"role", "content"}` dicts, rendered with the tokenizer's chat template), token-id probes
        (e.g. `tb_attention.induction_probe(...)`), or for an encoder-decoder model
        `(source, target)` pairs (the target teacher-forced: encoder, decoder and cross attention
        in one record); tagged `<tag_prefix>/<slug of the text>`, or a `{name: probe}` dict,
        tagged `<tag_prefix>/<name>`.
      log_dir: where to write; default: Trainer's own TensorBoard run directory, so loss curves
        and attention share one run.
      every_n_steps: also log every N optimizer steps.
      tag_prefix: first part of every tag ("" for none).
      precision: "log16" (default: within 1/510, and 6 % from 1e-6 on), "uint8", "float16" or "float32".
      max_length: probes are truncated to this many tokens (default: the tokenizer's own limit).
      all_ranks: in distributed training every process writes, each into a run of its own
        (`<log_dir>/rank<k>`, under rank 0's run directory); default: the main process only.
      score_examples: a set of examples whose pattern scores are logged at every step with
        their spread and confidence interval, under `<tag_prefix>/examples`: texts, pairs,
        token-id lists, a dataset (or slice), batches, or an int N for the first N batches of
        Trainer's eval dataloader (from the first evaluation on). See docs/patterns.md.
      importance_batches: also log head importance (Michel et al. 2019; docs/importance.md) at
        every logged step, over this many eval batches (the same ones each time): the batches of
        `importance_data` (a DataLoader or a list of batches, e.g. `DataLoader(eval_dataset,
        batch_size=32, collate_fn=collator)`), else of Trainer's eval loader from its first
        evaluation on (no importance is logged before it).
      importance_loss: `loss_fn(model, batch)` -> the batch's mean loss (default: the model's own
        loss, batches with labels).
      importance_ablation: with k > 0, also the eval loss with each of the k most and k least
        important heads zeroed (and each group at once): 2k + 3 forward passes more.
      importance_tag: the importance records' tag (default "importance").
      **storage: add_attention's long-input options (`layers`, `heads`, `top_k`, `top_mass`,
        `max_bytes`), applied to every record, and `qk=True` (or a list of layers, or
        {"layers", "heads", "max_tokens"}): also keep those layers' queries and keys, after rotary
        embedding, for the Query/Key view (models on transformers' attention interface; probes of
        at most 512 tokens unless raised).

    The model runs on its own device in eval mode under `torch.no_grad()`, with the RNG state
    saved and restored, every module's train/eval mode put back and SDPA/flash kernels switched
    to eager attention for the probe pass only, so training results are exactly those without
    the callback. The importance pass runs on the main process alone, in eval mode with the RNG
    saved and restored, and takes gradients of its own gates only (no parameter's `.grad` is
    touched); a sharded model (FSDP, ZeRO-3, tensor parallel) with `importance_batches` is
    refused when training starts.
    """

    # Trainer events -------------------------------------------------------------------------

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        # A callback reused for a second train() logs that run afresh (into Trainer's new run
        # directory; with an explicit log_dir, steps repeat: see docs/format.md).
        self.start(model)
        if state.is_world_process_zero:
            self.log_dir = self._given_log_dir or _trainer_log_dir(args)
        if self.probe_logger.all_ranks and torch.distributed.is_available() and torch.distributed.is_initialized():
            # Every rank's run goes under rank 0's directory (only rank 0 knows Trainer's).
            shared = [self.log_dir]
            torch.distributed.broadcast_object_list(shared, src=0)
            self.log_dir = shared[0]
        self._log(model, state, kwargs)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.probe_logger.due(state.global_step):
            self._log(model, state, kwargs)

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        self._log(model, state, kwargs)

    def on_save(self, args, state, control, model=None, **kwargs):
        self._log(model, state, kwargs)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self._log(model, state, kwargs)
        if state.is_world_process_zero or self.probe_logger.all_ranks:
            self.probe_logger.flush()

    def _log(self, model, state, events):
        if model is None:
            raise ValueError("AttentionCallback needs the model: Trainer passes it to every event")
        # Trainer hands every event its eval loader once it made one (at its first evaluation).
        self.log_step(model, state.global_step, state.is_world_process_zero, events.get("eval_dataloader"))

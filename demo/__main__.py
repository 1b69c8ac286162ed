"""`python -m demo`: fine-tune the packaged MiniLM with `transformers.Trainer` on "does sentence B
restate sentence A?", log probe attention with `AttentionCallback`, train the induction demo's
tiny models beside it (demo/induction.py), then serve TensorBoard on all three runs and print
the URL of the Attention panel on the fine-tuned run's seed pair (the induction runs one menu
away)."""

import os
import sys

from demo import common

DESCRIPTION = (
    'Fine-tune the packaged MiniLM with transformers.Trainer on "does sentence B restate '
    'sentence A?", logging probe attention with AttentionCallback, then serve TensorBoard and print the '
    "URL of the Attention panel on the fine-tuned model's seed pair."
)

DEFAULT_STEPS = 150  # about 2 minutes of CPU on 2 cores


def _training_arguments(run_dir, steps):
    """Trainer's arguments: `steps` steps, evaluated at every checkpoint, losses logged into `run_dir`."""
    from transformers import TrainingArguments

    # Trainer's TensorBoard logging writes the loss curves here (transformers 4 took it as
    # `logging_dir`); AttentionCallback finds the same directory by itself.
    os.environ["TENSORBOARD_LOGGING_DIR"] = run_dir
    extra = {"logging_dir": run_dir} if "logging_dir" in TrainingArguments.__dataclass_fields__ else {}
    return TrainingArguments(
        output_dir=run_dir,
        max_steps=steps,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=48,
        learning_rate=1e-4,
        warmup_steps=max(1, steps // 20),
        eval_strategy="steps",
        eval_steps=common.checkpoint_every(steps),
        save_strategy="no",  # the attention is the checkpoint record here; no 90 MB files
        logging_steps=max(1, steps // 30),
        report_to="tensorboard",
        seed=0,
        dataloader_num_workers=0,
        **extra,
    )


def _attention_callback(tokenizer, eval_data):
    """The one line a training script adds: probe attention (and head importance) at step 0 and at
    every evaluation."""
    import torch
    from transformers import DataCollatorWithPadding

    import tb_attention

    # Head importance at each logged step, over the same 64 eval pairs (with the ablation check of
    # the 3 most and least important heads): which heads matter, beside what they attend to.
    importance_data = torch.utils.data.DataLoader(
        eval_data, batch_size=32, collate_fn=DataCollatorWithPadding(tokenizer)
    )
    return tb_attention.AttentionCallback(
        tokenizer,
        common.PROBES,
        max_length=common.MAX_LENGTH,
        importance_batches=2,
        importance_data=importance_data,
        importance_ablation=3,
        qk=True,
    )


def _accuracy(prediction):
    import numpy as np

    return {"accuracy": float((np.argmax(prediction.predictions, -1) == prediction.label_ids).mean())}


def train(logdir, steps):
    """Fine-tune for `steps` steps; returns the run's name under `logdir`."""
    import transformers
    from transformers import DataCollatorWithPadding, Trainer

    transformers.set_seed(0)  # the fresh classification head is random
    tokenizer, model = common.load_classifier()
    run = common.run_name("trainer")
    args = _training_arguments(os.path.join(logdir, run), steps)
    eval_data = common.encode_pairs(tokenizer, common.load_pairs("eval"))
    callback = _attention_callback(tokenizer, eval_data)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=common.encode_pairs(tokenizer, common.load_pairs("train")),
        eval_dataset=eval_data,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=_accuracy,
        callbacks=[callback],
    )
    trainer.train()
    print("eval accuracy after %d steps: %.3f" % (steps, trainer.evaluate()["eval_accuracy"]))
    # Beside it, heads forming from scratch: a tiny attention-only model learning induction
    # (demo/induction.py, a few seconds per run), so the Patterns view shows both stories.
    from demo import induction

    induction.report(logdir, induction.train_runs(logdir, induction.DEFAULT_STEPS))
    return run


def main(argv=None):
    return common.main("python -m demo", DESCRIPTION, train, DEFAULT_STEPS, argv)


if __name__ == "__main__":
    sys.exit(main())

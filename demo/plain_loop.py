"""`python -m demo.plain_loop`: the `python -m demo` fine-tuning as a hand-written PyTorch loop
that logs probe attention with `tb_attention.add_attention(SummaryWriter, ...)`."""

import os
import sys

from demo import common

DESCRIPTION = "The same fine-tuning as `python -m demo`, as a hand-written PyTorch loop calling add_attention."

DEFAULT_STEPS = 150


def batches(encoded, tokenizer, batch_size, generator):
    """Endless shuffled, padded batches."""
    import torch

    while True:
        order = torch.randperm(len(encoded), generator=generator).tolist()
        for i in range(0, len(order) - batch_size + 1, batch_size):
            yield tokenizer.pad([encoded[j] for j in order[i : i + batch_size]], return_tensors="pt")


def accuracy(model, tokenizer, encoded):
    import torch

    batch = tokenizer.pad(encoded, return_tensors="pt")
    labels = batch.pop("labels")
    with torch.no_grad():
        return float((model(**batch).logits.argmax(-1) == labels).float().mean())


def log_probes(writer, model, tokenizer, step):
    """The logging a training loop adds: one forward per probe with output_attentions=True."""
    import torch

    import tb_attention

    model.eval()
    with torch.no_grad():
        for name, (a, b) in common.PROBES.items():
            enc = tokenizer(a, b, return_tensors="pt")
            out = model(**enc, output_attentions=True)
            tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
            b_start = enc["token_type_ids"][0].tolist().index(1)
            tb_attention.add_attention(
                writer, "probe/" + name, out.attentions, tokens, global_step=step, sentence_b_start=b_start
            )
    model.train()


def train(logdir, steps):
    """Fine-tune for `steps` steps; returns the run's name under `logdir`."""
    import torch
    from torch.utils.tensorboard import SummaryWriter
    from tqdm.auto import tqdm

    torch.manual_seed(0)
    # Eager attention: SDPA kernels do not return the weights that output_attentions asks for.
    tokenizer, model = common.load_classifier(attn_implementation="eager")
    train_set = common.encode_pairs(tokenizer, common.load_pairs("train"))
    eval_set = common.encode_pairs(tokenizer, common.load_pairs("eval"))
    run = common.run_name("plain")
    writer = SummaryWriter(os.path.join(logdir, run))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / steps)
    every = common.checkpoint_every(steps)
    data = batches(train_set, tokenizer, 16, torch.Generator().manual_seed(0))

    log_probes(writer, model, tokenizer, 0)  # the pre-trained baseline
    model.train()
    for step in tqdm(range(1, steps + 1), desc="fine-tuning"):
        loss = model(**next(data)).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        writer.add_scalar("train/loss", loss.item(), step)
        if step % every == 0 or step == steps:
            model.eval()
            writer.add_scalar("eval/accuracy", accuracy(model, tokenizer, eval_set), step)
            log_probes(writer, model, tokenizer, step)
    writer.close()  # also flushes the attention
    return run


def main(argv=None):
    return common.main("python -m demo.plain_loop", DESCRIPTION, train, DEFAULT_STEPS, argv)


if __name__ == "__main__":
    sys.exit(main())

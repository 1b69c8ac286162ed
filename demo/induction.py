"""`python -m demo.induction`: watch induction heads form. A 2-layer attention-only transformer
learns to continue repeated random token sequences on the CPU in well under a minute; the
attention of one seeded repeated probe is logged with `add_attention` as it trains, for two
learning rates (two runs, to compare in the Patterns view), then TensorBoard serves them.

In the Patterns view, scrub the steps: a layer-0 head becomes a previous-token head, then a
layer-1 head an induction head (Olsson et al. 2022), and "Heads that formed" says when.
"""

import math
import os
import sys

from demo import common

DESCRIPTION = (
    "Train a 2-layer attention-only transformer on repeated random tokens, logging the attention "
    "of an induction probe with add_attention at two learning rates, then serve TensorBoard."
)
TAG = "probe/induction"
DEFAULT_STEPS = 600  # about 5 s per run on one core
LEARNING_RATES = (1e-3, 3e-3)
VOCAB = 64  # token 0 is <bos>
LENGTH = 16  # random tokens per copy: sequences are <bos> + 2 x 16
LOG_EVERY = 25


def token_names():
    return ["<bos>"] + ["t%d" % i for i in range(1, VOCAB)]


def model_class():
    import torch
    from torch import nn

    class AttentionOnly(nn.Module):
        """Token embeddings, `layers` causal attention layers with residual connections and no MLP
        or normalisation, an unembedding: the model of Olsson et al.'s smallest induction-head
        experiments. Positions are "shortformer" embeddings, added to the queries' and keys' input
        only (as in their and TransformerLens's attention-only models): values carry no position,
        so an induction head needs a previous-token head before it. `forward` returns (logits,
        attentions)."""

        def __init__(self, vocab=VOCAB, positions=2 * LENGTH + 1, width=64, heads=4, layers=2):
            super().__init__()
            self.heads, self.width = heads, width
            self.embed = nn.Embedding(vocab, width)
            self.position = nn.Embedding(positions, width)
            self.qk = nn.ModuleList(nn.Linear(width, 2 * width, bias=False) for _ in range(layers))
            self.v = nn.ModuleList(nn.Linear(width, width, bias=False) for _ in range(layers))
            self.out = nn.ModuleList(nn.Linear(width, width, bias=False) for _ in range(layers))
            self.unembed = nn.Linear(width, vocab, bias=False)

        def forward(self, ids):
            batch, n = ids.shape
            x = self.embed(ids)
            position = self.position(torch.arange(n, device=ids.device))
            causal = torch.ones(n, n, dtype=torch.bool, device=ids.device).triu(1)
            attentions = []
            for qk, v, out in zip(self.qk, self.v, self.out):
                q, k = qk(x + position).view(batch, n, 2, self.heads, -1).permute(2, 0, 3, 1, 4)
                values = v(x).view(batch, n, self.heads, -1).transpose(1, 2)
                scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
                weights = scores.masked_fill(causal, float("-inf")).softmax(-1)  # exact zeros above the diagonal
                attentions.append(weights)
                x = x + out((weights @ values).transpose(1, 2).reshape(batch, n, self.width))
            return self.unembed(x), tuple(attentions)

    return AttentionOnly


def batch(generator, size):
    """`size` training sequences [size, 2 LENGTH + 1] and which next-token targets count [size,
    2 LENGTH]: <bos>, p random tokens, a segment r of n distinct random tokens, r again, random
    tokens to the end; only the second copy of r (after its first token) is predictable, so only
    it counts (the rest is noise that only slows learning down). n and p vary per sequence, so the
    second copy is predictable by content (previous token, then induction), never by an offset."""
    import torch

    total = 2 * LENGTH
    ids = torch.randint(1, VOCAB, (size, total + 1), generator=generator)
    ids[:, 0] = 0
    counted = torch.zeros(size, total, dtype=torch.bool)
    for row in range(size):
        n = int(torch.randint(8, LENGTH + 1, (), generator=generator))
        p = int(torch.randint(0, total - 2 * n + 1, (), generator=generator))
        r = torch.randperm(VOCAB - 1, generator=generator)[:n] + 1
        ids[row, 1 + p : 1 + p + n] = r
        ids[row, 1 + p + n : 1 + p + 2 * n] = r
        counted[row, p + n + 1 : p + 2 * n] = True  # target t is ids[t + 1]
    return ids, counted


def probe_ids(seed=1234):
    """The logged probe: one fixed repeated sequence (the same in every run)."""
    from tb_attention.analysis.induction_probe import repeated_random_tokens

    return [0] + repeated_random_tokens(range(1, VOCAB), LENGTH, seed=seed)


def train(logdir, steps=DEFAULT_STEPS, lr=LEARNING_RATES[0], seed=0, run=None, log_every=LOG_EVERY):
    """Train for `steps` steps, logging the probe's attention every `log_every` steps (and the loss
    as a scalar) into `<logdir>/<run>`; returns the run's name."""
    import torch
    from torch.utils.tensorboard import SummaryWriter

    import tb_attention

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = model_class()()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    run = run or common.run_name("induction-lr%g" % lr)  # reruns sit beside each other
    writer = SummaryWriter(os.path.join(logdir, run))
    probe = torch.tensor([probe_ids()])
    names = token_names()
    tokens = [names[i] for i in probe[0].tolist()]
    for step in range(steps + 1):
        if step % log_every == 0 or step == steps:
            with torch.no_grad():
                _, attentions = model(probe)
            tb_attention.add_attention(writer, TAG, attentions, tokens, global_step=step)
        if step == steps:
            break
        ids, counted = batch(generator, 32)
        logits, _ = model(ids[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits[counted], ids[:, 1:][counted])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 5 == 0:
            writer.add_scalar("train/loss", loss.item(), step)
    writer.close()
    return run


def train_runs(logdir, steps):
    """One run per learning rate (LEARNING_RATES); returns their names."""
    return [train(logdir, steps, lr) for lr in LEARNING_RATES]


def report(logdir, runs):
    """Print the heads that formed in each run."""
    from tb_attention import formed_heads, read_attention

    for run in runs:
        records = list(read_attention(logdir, run=run, tag=TAG))
        found = formed_heads([r.step for r in records], [r.patterns for r in records])["formed"]
        heads = (
            ", ".join(
                "L%d H%d %s at step %d" % (e["layer"], e["head"], e["label"], e["step"])
                for e in found
                if e["label"] in ("previous_token", "induction")
            )
            or "none yet"
        )
        print("%s: heads that formed: %s" % (run, heads))


def main(argv=None):
    args = common.parser("python -m demo.induction", DESCRIPTION, "runs/demo", DEFAULT_STEPS).parse_args(argv)
    if not args.no_serve:
        common.check_port(args.port)
    import torch

    torch.set_num_threads(min(4, torch.get_num_threads()))
    runs = train_runs(args.logdir, args.steps)
    report(args.logdir, runs)
    return common.serve(args.logdir, args.port) if not args.no_serve else 0


if __name__ == "__main__":
    sys.exit(main())

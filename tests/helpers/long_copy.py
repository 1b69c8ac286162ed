"""A small model trained here to copy over more than 1024 positions: demo/induction.py's
2-layer attention-only transformer (token embeddings, causal attention layers with residuals, no
MLP, an unembedding; values carry no position) with a learned bias per head and relative
distance in place of absolute positions (distances 0..NEAR-1 each their own, farther ones one
shared bias, as T5's buckets end), so what it learns on short sequences holds at any length.
Trained on sequences holding a segment of distinct random tokens twice, near or far apart (only
the second copy counts), it grows a previous-token head in layer 0 and induction heads in layer 1;
the needle probe of its vocabulary (`needle_tokens`) is logged as it trains."""

import math

import torch
from torch import nn

VOCAB = 64  # token 0 is <bos>
NEAR = 32  # distances with a bias of their own; farther ones share one
LENGTH = 160  # training sequence length
PROBE = 1300  # the needle probe's length: at depth 0.1 the answer copies from ~1 150 positions back
TAG = "probe/needle"


class RelativeAttentionOnly(nn.Module):
    """`forward(ids)` -> (logits, attentions: per layer [batch, heads, n, n])."""

    def __init__(self, vocab=VOCAB, width=64, heads=4, layers=2):
        super().__init__()
        self.heads, self.width = heads, width
        self.embed = nn.Embedding(vocab, width)
        self.qk = nn.ModuleList(nn.Linear(width, 2 * width, bias=False) for _ in range(layers))
        self.v = nn.ModuleList(nn.Linear(width, width, bias=False) for _ in range(layers))
        self.out = nn.ModuleList(nn.Linear(width, width, bias=False) for _ in range(layers))
        self.bias = nn.Parameter(torch.zeros(layers, heads, NEAR + 1))
        self.unembed = nn.Linear(width, vocab, bias=False)

    def forward(self, ids):
        batch, n = ids.shape
        x = self.embed(ids)
        positions = torch.arange(n, device=ids.device)
        distance = (positions[:, None] - positions[None, :]).clamp(0, NEAR)  # NEAR: every farther key
        causal = positions[None, :] > positions[:, None]
        attentions = []
        for layer, (qk, v, out) in enumerate(zip(self.qk, self.v, self.out)):
            q, k = qk(x).view(batch, n, 2, self.heads, -1).permute(2, 0, 3, 1, 4)
            values = v(x).view(batch, n, self.heads, -1).transpose(1, 2)
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1]) + self.bias[layer][:, distance]
            weights = scores.masked_fill(causal, float("-inf")).softmax(-1)
            attentions.append(weights)
            x = x + out((weights @ values).transpose(1, 2).reshape(batch, n, self.width))
        return self.unembed(x), tuple(attentions)


def batch(generator, size):
    """`size` sequences [size, LENGTH + 1] and the targets that count [size, LENGTH]: random
    tokens, a segment of 8..16 distinct tokens and, in every other row right after it, else NEAR
    or more positions later, the segment again; only the second copy (after its first token) is
    predictable, so only it counts."""
    ids = torch.randint(1, VOCAB, (size, LENGTH + 1), generator=generator)
    ids[:, 0] = 0
    counted = torch.zeros(size, LENGTH, dtype=torch.bool)
    for row in range(size):
        n = int(torch.randint(8, 17, (), generator=generator))
        gap = 0 if row % 2 else int(torch.randint(NEAR, LENGTH - 2 * n, (), generator=generator))
        start = int(torch.randint(1, LENGTH + 1 - 2 * n - gap, (), generator=generator))
        segment = torch.randperm(VOCAB - 1, generator=generator)[:n] + 1
        second = start + n + gap
        ids[row, start : start + n] = segment
        ids[row, second : second + n] = segment
        counted[row, second : second + n - 1] = True  # target t is ids[t + 1]
    return ids, counted


def train(logdir, steps, log_every, seed=0, lr=3e-3, size=32):
    """Train, logging the needle probe's attention (with its retrieval pairs) every `log_every`
    steps into `logdir`; returns the probe."""
    import tb_attention
    from tb_attention.analysis.needle_probe import needle_tokens

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = RelativeAttentionOnly()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    probe = needle_tokens(range(1, VOCAB), PROBE, depth=0.1, seed=seed, needle_length=12, prefix=[0])
    ids = torch.tensor([probe.token_ids])
    tokens = ["<bos>"] + ["t%d" % i for i in probe.token_ids[1:]]
    for step in range(steps + 1):
        if step % log_every == 0 or step == steps:
            with torch.no_grad():
                _, attentions = model(ids)
            tb_attention.add_attention(logdir, TAG, attentions, tokens, step, retrieval=probe.retrieval)
        if step == steps:
            break
        inputs, counted = batch(generator, size)
        logits, _ = model(inputs[:, :-1])
        loss = nn.functional.cross_entropy(logits[counted], inputs[:, 1:][counted])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    tb_attention.flush()
    return probe

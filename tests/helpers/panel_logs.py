"""The panel tests' logdir: real logs written with `add_attention`, and the numbers the panel
should show, computed from them."""

import copy

import numpy as np

from tests.helpers.data import peaky_attention

HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_TOKENS = ["[CLS]", HOSTILE, "<b>bold</b>", "&amp; &lt;", "<script>alert(2)</script>", "[SEP]"]
SEED_TAG = "probe/store"
SEED_STEPS = (0, 100, 200)


def _nudged_attention(minilm, enc, seed, scale):
    """Attention of a copy of the model whose query projections moved a little: a stand-in for
    checkpoints of a fine-tuning run (same input, attention that changes from step to step)."""
    import torch

    _, model = minilm
    if scale:
        model = copy.deepcopy(model)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for layer in model.encoder.layer:
                w = layer.attention.self.query.weight
                w.add_(torch.randn(w.shape, generator=gen) * scale * w.std())
    with torch.no_grad():
        return model(**enc, output_attentions=True).attentions


def write_logs(logdir, minilm, seed_a, seed_b, long_tokens=512):
    """Runs: finetune (seed pair at SEED_STEPS), baseline (seed pair, step 0), hostile (tokens
    that are markup), long (`long_tokens` synthetic tokens, 2 layers x 12 heads)."""
    import tb_attention

    tokenizer, _ = minilm
    enc = tokenizer(seed_a, seed_b, return_tensors="pt")
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    sentence_b = int(enc["token_type_ids"][0].tolist().index(1))
    for i, step in enumerate(SEED_STEPS):
        att = _nudged_attention(minilm, enc, seed=step, scale=0.6 * i)
        tb_attention.add_attention(
            str(logdir / "finetune"), SEED_TAG, att, tokens, global_step=step, sentence_b_start=sentence_b
        )
    att = _nudged_attention(minilm, enc, seed=7, scale=0.4)
    tb_attention.add_attention(
        str(logdir / "baseline"), SEED_TAG, att, tokens, global_step=0, sentence_b_start=sentence_b
    )
    n = len(HOSTILE_TOKENS)
    tb_attention.add_attention(
        str(logdir / "hostile"), "xss", peaky_attention(2, 4, n, 1, 2.0), HOSTILE_TOKENS, global_step=0
    )
    long_tokens_list = ["tok%d" % i for i in range(long_tokens)]
    tb_attention.add_attention(
        str(logdir / "long"), "long", peaky_attention(2, 12, long_tokens, 2), long_tokens_list, global_step=0
    )
    tb_attention.flush()
    return tokens, sentence_b


def record(logdir, run, tag, step):
    from tb_attention import read_attention

    (rec,) = list(read_attention(str(logdir), run=run, tag=tag, step=step))
    return rec


def line_count(layer, threshold, heads=None, q=(0, None), k=(0, None)):
    """How many lines the head view draws for `layer` [H, Q, K]: every weight at or above its
    `threshold` (the view says which in data-line-threshold / data-hover-threshold)."""
    a = layer if heads is None else layer[list(heads)]
    a = a[:, q[0] : q[1], k[0] : k[1]]
    return int((a >= np.float32(threshold)).sum())

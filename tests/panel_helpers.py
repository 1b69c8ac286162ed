"""Helpers for the panel's browser tests: real logs written with `add_attention`, a headless
Chromium driven by playwright, and the numbers the panel should show, computed from the logs."""

import copy

import numpy as np

HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_TOKENS = ["[CLS]", HOSTILE, "<b>bold</b>", "&amp; &lt;", "<script>alert(2)</script>", "[SEP]"]
SEED_TAG = "probe/store"
SEED_STEPS = (0, 100, 200)
LINE_THRESHOLD = 0.02  # frontend/static/views/head_view.js LINE_THRESHOLD
HOVER_THRESHOLD = 0.01  # ... HOVER_THRESHOLD
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)


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


def synthetic_attention(layers, heads, n, seed, sharpness=6.0):
    """Peaky softmax attention [layers, heads, n, n]: a few visible lines per row, as in real heads."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((layers, heads, n, n)).astype(np.float32) * sharpness / 2
    idx = np.arange(n)
    for h in range(heads):  # some structure: every head also looks at a fixed offset
        logits[:, h, idx, (idx + h - heads // 2) % n] += sharpness
    logits -= logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=-1, keepdims=True)


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
        tb_attention.add_attention(str(logdir / "finetune"), SEED_TAG, att, tokens, global_step=step,
                                   sentence_b_start=sentence_b)
    att = _nudged_attention(minilm, enc, seed=7, scale=0.4)
    tb_attention.add_attention(str(logdir / "baseline"), SEED_TAG, att, tokens, global_step=0,
                               sentence_b_start=sentence_b)
    n = len(HOSTILE_TOKENS)
    tb_attention.add_attention(str(logdir / "hostile"), "xss", synthetic_attention(2, 4, n, 1, 2.0),
                               HOSTILE_TOKENS, global_step=0)
    long_tokens_list = ["tok%d" % i for i in range(long_tokens)]
    tb_attention.add_attention(str(logdir / "long"), "long", synthetic_attention(2, 12, long_tokens, 2),
                               long_tokens_list, global_step=0)
    tb_attention.flush()
    return tokens, sentence_b


def record(logdir, run, tag, step):
    from tb_attention import read_attention

    (rec,) = list(read_attention(str(logdir), run=run, tag=tag, step=step))
    return rec


def line_count(layer, heads=None, q=(0, None), k=(0, None), threshold=LINE_THRESHOLD):
    """How many lines the head view draws for `layer` [H, Q, K] (same rule as head_view.js)."""
    a = layer if heads is None else layer[list(heads)]
    a = a[:, q[0]:q[1], k[0]:k[1]]
    return int((a >= np.float32(threshold)).sum())


def small_tokens(n):
    return ["[CLS]"] + ["w%d" % i for i in range(n - 2)] + ["[SEP]"]


def write_steps(run_dir, tag, steps, layers=2, heads=3, n=5):
    """Log small synthetic attention for `steps` with the real writer (appends to the run's
    event file when the run was logged before in this process), and flush."""
    import tb_attention

    for step in steps:
        tb_attention.add_attention(str(run_dir), tag, synthetic_attention(layers, heads, n, seed=step), small_tokens(n),
                                   global_step=step)
    tb_attention.flush()


def write_unreadable_run(run_dir, tag, step=0):
    """A run whose only attention record is well framed but whose header blob is not JSON: TensorBoard
    lists its tag, /steps serves no step of it."""
    import os
    import time

    from tensorboard.compat.proto import event_pb2

    from tb_attention import codec, event_writer, summary

    a = synthetic_attention(2, 3, 5, seed=0).astype(np.float32)
    blobs = codec.encode(a, codec.make_header(a.shape, small_tokens(5), None, None, "uint8"))
    os.makedirs(str(run_dir), exist_ok=True)
    version = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
    bad = summary.attention_event(tag, [b"{not json", *blobs[1:]], step, time.time())
    with open(os.path.join(str(run_dir), event_writer.event_file_name()), "wb") as f:
        f.write(event_writer.frame_record(version.SerializeToString()))
        f.write(event_writer.frame_record(bad.SerializeToString()))

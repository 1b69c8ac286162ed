"""Logs with queries and keys (`qk=True`) for the Query/Key route, view and screenshot, from real
models: the packaged MiniLM on the seed pair (BERT: no rotary embedding) at two steps, and a tiny
random-init Llama (grouped-query attention, rotary) whose step 1 moves one pre-rotation dimension
of one head's queries, so the dimensions that change between the steps are known."""

import copy

import torch

import tb_attention
from tb_attention.capture import capture

QK_TAG = "probe/qk"
LLAMA_HEAD, LLAMA_DIM = 1, 2  # step 1 scales this dimension of this head's query projection
LLAMA_STEPS = (0, 1)


def _log(model, inputs, tokenizer, logdir, step, **options):
    with torch.no_grad(), capture(model, tokenizer, qk=True, **options) as cap:
        model(**inputs)
    cap.log(str(logdir), QK_TAG, step)


def changed_dims(head_dim):
    """The dimensions of the vectors that step 1's change moves: rotary embedding rotates each
    dimension c < d/2 with c + d/2 (Llama's rotate_half)."""
    return {LLAMA_DIM, LLAMA_DIM + head_dim // 2}


def write_llama(logdir):
    """Run `llama`: a peaky tiny Llama (4 heads reading 2 KV heads) at LLAMA_STEPS; step 1 scales
    dimension LLAMA_DIM of head LLAMA_HEAD's queries (before rotation) by 3."""
    from tests.helpers.tiny_models import Tokens, peaky, tiny_inputs, tiny_model

    model = peaky(tiny_model("llama"))
    inputs = tiny_inputs("llama", length=16)
    _log(model, inputs, Tokens(), logdir / "llama", LLAMA_STEPS[0], precision="float32")
    moved = copy.deepcopy(model)
    head_dim = moved.config.hidden_size // moved.config.num_attention_heads
    with torch.no_grad():
        for layer in moved.model.layers:
            layer.self_attn.q_proj.weight[LLAMA_HEAD * head_dim + LLAMA_DIM] *= 3.0
    _log(moved, inputs, Tokens(), logdir / "llama", LLAMA_STEPS[1], precision="float32")
    return head_dim


def write_minilm(logdir, minilm, seed_a, seed_b):
    """Run `minilm`: the seed pair on the packaged MiniLM, at step 0 and at step 100 with one
    layer's query projection nudged (a stand-in for fine-tuning)."""
    tokenizer, model = minilm
    inputs = tokenizer(seed_a, seed_b, return_tensors="pt")
    _log(model, dict(inputs), tokenizer, logdir / "minilm", 0)
    nudged = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        weight = nudged.encoder.layer[2].attention.self.query.weight
        weight.add_(torch.randn(weight.shape, generator=generator) * 0.5 * weight.std())
    _log(nudged, dict(inputs), tokenizer, logdir / "minilm", 100)


def write_qk_logs(logdir, minilm, seed_a, seed_b):
    """Both runs; returns the Llama's head_dim."""
    write_minilm(logdir, minilm, seed_a, seed_b)
    head_dim = write_llama(logdir)
    tb_attention.flush()
    return head_dim

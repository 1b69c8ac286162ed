"""LLM-shaped attention, one layer at a time: causal rows, a strong first-token sink in most
heads, local (previous-token-like) heads, a long tail of small weights. No model needed, seeded,
so benchmarks and tests can build 32 x 32 x 2048 records without holding them whole."""

import numpy as np


def llm_layer(layer, heads, n, seed=0, dtype=np.float32):
    """Softmax attention `[heads, n, n]` of layer `layer`, causal (zeros above the diagonal)."""
    rng = np.random.default_rng([seed, layer])
    q = np.arange(n)
    distance = (q[:, None] - q[None, :]).astype(np.float32)  # >= 0 on and below the diagonal
    causal = distance >= 0
    out = np.empty((heads, n, n), dtype=np.float32)
    for h in range(heads):
        kind = (layer * heads + h) % 4
        logits = rng.standard_normal((n, n), dtype=np.float32) * 1.5
        if kind in (0, 1, 2):  # the attention sink: position 0 takes most of the weight
            logits[:, 0] += 6.0 + 2.0 * rng.random()
        if kind in (1, 3):  # local heads: the previous few tokens
            logits += 5.0 * np.exp(-np.maximum(distance, 0) / (1.0 + 3.0 * rng.random()))
        logits[~causal] = -np.inf
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        out[h] = logits
    return out.astype(dtype, copy=False)


def llm_rows(layer, heads, n, r0, r1, seed=0):
    """Query rows r0..r1 of an LLM-shaped layer, `[heads, r1 - r0, n]` float32 (contiguous), made
    without the rest of the layer (seeded per block of rows: not the rows of `llm_layer`)."""
    rng = np.random.default_rng([seed, layer, r0])
    distance = (np.arange(r0, r1)[:, None] - np.arange(n)[None, :]).astype(np.float32)
    out = rng.standard_normal((heads, r1 - r0, n), dtype=np.float32) * 1.5
    for h in range(heads):
        kind = (layer * heads + h) % 4
        if kind in (0, 1, 2):
            out[h, :, 0] += 7.0
        if kind in (1, 3):
            out[h] += 5.0 * np.exp(-np.maximum(distance, 0) / 2.0)
    out[:, distance < 0] = -np.inf
    out -= out.max(axis=2, keepdims=True)
    np.exp(out, out=out)
    out /= out.sum(axis=2, keepdims=True)
    return out


def llm_attention(layers, heads, n, seed=0):
    """`[layers, heads, n, n]` float32 (for sizes that fit in memory)."""
    return np.stack([llm_layer(li, heads, n, seed) for li in range(layers)])


def llm_tokens(n):
    """Token texts of a decoder probe: a BOS token, then words with `Ġ` word starts."""
    words = ["Ġthe", "Ġmodel", "Ġreads", "Ġa", "Ġlong", "Ġprompt", "Ġand", "Ġanswers", ",", "Ġthen", "Ġstops", "."]
    return ["<|begin_of_text|>"] + [words[i % len(words)] for i in range(n - 1)]


def hf_llm_layers(layers, heads, n, seed=0, dtype="bfloat16"):
    """Layer after layer, `[1, heads, n, n]` torch tensors in `dtype` of LLM-shaped attention,
    made with torch (fast at 2048 tokens); `hf_llm_attentions` is all of them."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    q = torch.arange(n)
    distance = (q[:, None] - q[None, :]).float()
    local = torch.exp(-distance.clamp(min=0) / 2.0)
    causal = distance >= 0
    for layer in range(layers):
        logits = torch.randn(heads, n, n, generator=gen) * 1.5
        kinds = (layer * heads + torch.arange(heads)) % 4
        logits[kinds < 3, :, 0] += 7.0  # the attention sink
        logits[(kinds == 1) | (kinds == 3)] += 5.0 * local
        logits.masked_fill_(~causal, float("-inf"))
        out = torch.softmax(logits, dim=-1).to(getattr(torch, dtype))[None]
        del logits
        yield out


def hf_llm_attentions(layers, heads, n, seed=0, dtype="bfloat16"):
    """Hugging Face style `outputs.attentions` (a tuple of `[1, heads, n, n]` torch tensors in
    `dtype`) of LLM-shaped attention, made with torch a layer at a time (fast at 2048 tokens)."""
    return tuple(hf_llm_layers(layers, heads, n, seed, dtype))


def llm_memmap(path, layers, heads, n, seed=0):
    """`[layers, heads, n, n]` float16 LLM-shaped attention (`hf_llm_layers`) in a file-backed
    numpy memmap at `path`, made a layer at a time: a 32 x 32 x 2048 record (8.6 GB) to log without
    holding it in memory (`add_attention` reads a numpy input block by block)."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(layers, heads, n, n))
    for layer, weights in enumerate(hf_llm_layers(layers, heads, n, seed, "float16")):
        out[layer] = weights[0].numpy()
    out.flush()
    return out


def diffuse_llama_attentions(n, layers=2, heads=8, seed=0):
    """`outputs.attentions` (float32 `[1, heads, n, n]` per layer) of a random-init Llama (eager
    attention) on `n` random tokens: diffuse causal heads, most weights near 1 / position."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=1000,
        hidden_size=32 * heads,
        intermediate_size=64 * heads,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max(n, 64),
        attn_implementation="eager",
    )
    model = LlamaForCausalLM(config).eval()
    ids = torch.randint(1, config.vocab_size, (1, n), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return model(ids, output_attentions=True).attentions

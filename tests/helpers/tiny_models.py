"""Tiny random-init models of the families the capture must serve, built from their transformers
configs (nothing is downloaded), and their eager attention for comparison."""

import torch

VOCAB = 100


def _family(name):
    import transformers as t

    small = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)
    decoders = {
        "llama": lambda: t.LlamaForCausalLM(t.LlamaConfig(num_key_value_heads=2, **small)),
        "mistral": lambda: t.MistralForCausalLM(t.MistralConfig(num_key_value_heads=2, sliding_window=7, **small)),
        "qwen2": lambda: t.Qwen2ForCausalLM(t.Qwen2Config(num_key_value_heads=2, **small)),
        "gemma2": lambda: t.Gemma2ForCausalLM(
            t.Gemma2Config(num_key_value_heads=2, head_dim=8, sliding_window=7, **dict(small, num_hidden_layers=4))
        ),
        "gpt2": lambda: t.GPT2LMHeadModel(t.GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4)),
        "bert": lambda: t.BertModel(t.BertConfig(**small)),
        "bloom": lambda: t.BloomForCausalLM(t.BloomConfig(vocab_size=VOCAB, hidden_size=32, n_layer=2, n_head=4)),
    }
    seq2seq = {
        "bart": lambda: t.BartForConditionalGeneration(
            t.BartConfig(
                vocab_size=VOCAB,
                d_model=32,
                encoder_layers=2,
                decoder_layers=2,
                encoder_attention_heads=4,
                decoder_attention_heads=4,
                encoder_ffn_dim=64,
                decoder_ffn_dim=64,
            )
        ),
        "t5": lambda: t.T5ForConditionalGeneration(
            t.T5Config(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4)
        ),
    }
    return {**decoders, **seq2seq}[name]


SEQ2SEQ = ("bart", "t5")
# outputs field -> attention kind of the record
KINDS = {"attentions": "self"}
SEQ2SEQ_KINDS = {"encoder_attentions": "encoder", "decoder_attentions": "decoder", "cross_attentions": "cross"}


def tiny_model(name, implementation="sdpa", seed=0):
    torch.manual_seed(seed)
    model = _family(name)().eval()
    if implementation is not None and name not in ("gemma2", "bloom"):  # Gemma 2 soft-caps: eager only
        model.set_attn_implementation(implementation)
    return model


def tiny_inputs(name, length=24, seed=0):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB - 5, (1, length), generator=generator)
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if name in SEQ2SEQ:
        inputs["decoder_input_ids"] = ids[:, : length // 2]
    return inputs


class Tokens:
    """A tokenizer stand-in that names ids (the capture reads token text through it)."""

    def convert_ids_to_tokens(self, ids):
        return ["t%d" % int(i) for i in ids]


def eager_attention(model, inputs):
    """{kind: float32 numpy [layers, heads, q, k]} of an eager forward with output_attentions."""
    import copy

    import numpy as np

    eager = copy.deepcopy(model)
    eager.set_attn_implementation("eager")
    with torch.no_grad():
        out = eager(**inputs, output_attentions=True)
    fields = SEQ2SEQ_KINDS if getattr(model.config, "is_encoder_decoder", False) else KINDS
    return {kind: np.stack([a[0].float().numpy() for a in getattr(out, field)]) for field, kind in fields.items()}


def tiny_bert_classifier(vocab_size, seed=0, **config):
    """A random-init 2-layer, 2-head BERT sequence classifier (SDPA) of width 32 over a real
    tokenizer's vocabulary, for training-integration tests."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    settings = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    settings.update(config)
    return BertForSequenceClassification(BertConfig(vocab_size=vocab_size, attn_implementation="sdpa", **settings))


PROJECTIONS = ("q_proj", "k_proj", "query", "key")


def peaky(model, factor=10.0):
    """The model with its query and key projections scaled up: a random-init model's scores are
    near 0 (every row near uniform), where a wrong scaling or mask would hardly show."""
    with torch.no_grad():
        for name, module in model.named_modules():
            if name.rsplit(".", 1)[-1] in PROJECTIONS:
                module.weight.mul_(factor)
    return model


def log_captured(model, inputs, log_dir, tag="probe/x", step=1, **options):
    """Run `model` on `inputs` under tb_attention.capture (token texts from `Tokens`) and log the
    record into `log_dir` at `step`; `options`: capture's storage options (top_k=, heads=, ...)."""
    import tb_attention
    from tb_attention.capture import capture

    with torch.no_grad(), capture(model, Tokens(), **options) as cap:
        model(**inputs)
    cap.log(str(log_dir), tag, step)
    tb_attention.flush()

"""One probe forward pass that leaves the model, its kernels and the RNG exactly as they were."""

from tb_attention.capture.model_state import (
    accepts,
    device_of,
    needs_every_rank,
    on_attention_interface,
    untouched,
)

__all__ = ["capture_probe", "needs_every_rank", "on_attention_interface", "plain_forward", "probe_attention"]

_EAGER = "eager"


class _EagerAttention:
    """Switch a model to eager attention for one forward pass (SDPA and flash kernels never
    materialise the weights), then back, so training keeps its own kernel."""

    def __init__(self, model):
        self.model = model
        self.previous = getattr(getattr(model, "config", None), "_attn_implementation", None)
        self.switched = False

    def __enter__(self):
        if self.previous not in (None, _EAGER) and hasattr(self.model, "set_attn_implementation"):
            self.model.set_attn_implementation(_EAGER)
            self.switched = True
        return self

    def __exit__(self, *exc):
        if self.switched and self.model.config._attn_implementation != self.previous:
            self.model.set_attn_implementation(self.previous)


_ATTENTIONS = {
    "encoder_attentions": "encoder_attention",
    "decoder_attentions": "decoder_attention",
    "cross_attentions": "cross_attention",
}


def _model_inputs(model, inputs, device):
    tensors = {name: tensor.to(device) for name, tensor in inputs.model_inputs.items()}
    if accepts(model, "logits_to_keep"):
        tensors["logits_to_keep"] = 1  # the LM head's logits of every position would be positions x vocabulary
    if accepts(model, "use_cache"):
        tensors["use_cache"] = False
    return tensors


def capture_probe(model, inputs, storage, tokenizer=None, scorer=None):
    """One probe's record captured from its queries and keys (block by block, bounded memory):
    an AttentionCapture ready to `log`; the model, its modes and the RNG are left as they were.
    `scorer`: the capture's scorer factory in place of the pattern scores (capture/api.py)."""
    from tb_attention.capture import capture

    device = device_of(model)
    tensors = _model_inputs(model, inputs, device)
    kwargs = inputs.log_kwargs
    with (
        untouched(model, device),
        capture(
            model,
            tokenizer,
            tokens=kwargs.get("tokens", kwargs.get("encoder_tokens")),
            decoder_tokens=kwargs.get("decoder_tokens"),
            sentence_b_start=kwargs.get("sentence_b_start"),
            retrieval=kwargs.get("retrieval"),
            scorer=scorer,
            **storage,
        ) as cap,
    ):
        model(**tensors)
    return cap


def plain_forward(model, inputs):
    """The probe's forward without capturing (ranks that only join a sharded model's collectives)."""
    device = device_of(model)
    with untouched(model, device):
        model(**_model_inputs(model, inputs, device))


def probe_attention(model, inputs):
    """The eager path, for models not on the attention interface: the attention of one tokenised
    probe (`ProbeInputs`), as add_attention's keyword arguments (`attention=` or
    `encoder_attention=` ...), on the model's device; the model, its kernels, its train/eval modes
    and the RNG are left exactly as they were."""
    config = getattr(model, "config", None)
    device = device_of(model)
    tensors = {name: tensor.to(device) for name, tensor in inputs.model_inputs.items()}
    with untouched(model, device), _EagerAttention(model):
        outputs = model(**tensors, output_attentions=True)
    names = _ATTENTIONS if inputs.seq2seq else {"attentions": "attention"}
    out = {}
    for field, argument in names.items():
        attentions = getattr(outputs, field, None)
        if not attentions or any(layer is None for layer in attentions):
            raise ValueError(
                "%s returned no %s with output_attentions=True (attention implementation %r computes "
                'none): load the model with attn_implementation="eager"'
                % (type(model).__name__, field, getattr(config, "_attn_implementation", None))
            )
        out[argument] = tuple(layer.detach() for layer in attentions)
    return out


def score_probe(model, inputs, storage, special_tokens=None):
    """The pattern scores (metric -> `[layers, heads]` of the layers and heads `storage`'s
    `layers=` / `heads=` select) of one tokenised example of a decoder-only or encoder-only
    model, its attention scored block by block and never stored: through the capture when the
    model is on the attention interface, else from eager `output_attentions`. The model, its
    modes and the RNG are left as they were."""
    import numpy as np

    from tb_attention.analysis.scoring import PatternScorer, head_patterns
    from tb_attention.capture.score_sink import ScoreSink
    from tb_attention.capture.session import Session

    kwargs = inputs.log_kwargs
    tokens, sentence_b, pairs = kwargs["tokens"], kwargs.get("sentence_b_start"), kwargs.get("retrieval")
    device = device_of(model)
    if on_attention_interface(model):

        def make(kind, shape):
            return PatternScorer(shape, tokens, None, sentence_b, special_tokens, threads=1, retrieval=pairs)

        sink = ScoreSink(model, make, storage)
        with untouched(model, device), Session(model, sink):
            model(**_model_inputs(model, inputs, device))
        return sink.result()["self"]
    from types import SimpleNamespace

    from tb_attention.writing.plan import DEFAULT_PRECISION, plan_record

    attention = probe_attention(model, inputs)["attention"]
    scores = head_patterns(attention, tokens, sentence_b, special_tokens, retrieval=pairs)
    shape = (len(attention), attention[0].shape[1], len(tokens), len(tokens))
    selection = {k: v for k, v in storage.items() if k in ("layers", "heads")}
    plan = plan_record([SimpleNamespace(shape=shape)], DEFAULT_PRECISION, max_bytes=None, **selection)[0]
    return {name: values[np.ix_(plan.layer_ids, plan.head_ids)] for name, values in scores.items()}

"""Probes: the fixed inputs whose attention a training integration logs, named once and
tokenised for the model that reads them (a sentence or sentence pair, chat messages, a
(source, target) pair for an encoder-decoder model, or token ids)."""

import dataclasses
import re
from typing import Optional

_KINDS = (
    "a non-empty str, a (sentence_a, sentence_b) pair of strs (for an encoder-decoder model: "
    "(source, target)), a list of chat messages ({'role': ..., 'content': ...}), or token ids"
)


@dataclasses.dataclass(frozen=True)
class Probe:
    tag: str
    text: Optional[str] = None  # a text, or sentence A / the source
    pair: Optional[str] = None  # sentence B, or the target of an encoder-decoder model
    messages: Optional[tuple] = None  # chat messages, rendered with the tokenizer's chat template
    token_ids: Optional[tuple] = None  # token ids as given (e.g. tb_attention's induction probe)
    retrieval: Optional[tuple] = None  # a needle probe's (query, needle key) positions


def _is_messages(probe):
    return (
        isinstance(probe, (list, tuple))
        and bool(probe)
        and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in probe
        )
    )


def parse_probe(index, probe):
    """Probe fields (without the tag) of one user probe; raises TypeError naming it."""
    ids = getattr(probe, "token_ids", None)
    if ids is not None:  # an object carrying token ids, e.g. tb_attention.induction_probe(...)
        pairs = getattr(probe, "retrieval", None)  # a needle probe's
        return {
            "token_ids": tuple(int(i) for i in ids),
            "text": getattr(probe, "name", None),
            "retrieval": None if pairs is None else tuple((int(q), int(k)) for q, k in pairs),
        }
    if isinstance(probe, str) and probe.strip():
        return {"text": probe}
    if _is_messages(probe):
        return {"messages": tuple(dict(m) for m in probe), "text": probe[-1]["content"]}
    if isinstance(probe, (tuple, list)) and len(probe) == 2 and all(isinstance(s, str) and s.strip() for s in probe):
        return {"text": probe[0], "pair": probe[1]}
    raise TypeError("probe %s is %r: each probe must be %s" % (index, probe, _KINDS))


def _slug(text, limit=40):
    """`I went to the store.` -> `i_went_to_the_store`: a readable, TensorBoard-safe tag part."""
    slug = re.sub(r"[^0-9a-z]+", "_", (text or "").lower()).strip("_")
    return slug[:limit].rstrip("_") or "probe"


def named_probes(probes, tag_prefix):
    """[Probe] from a list of probes (tags from their text) or a {name: probe} dict."""
    if isinstance(probes, (str, bytes)) or not hasattr(probes, "__iter__"):
        raise TypeError(
            "probes must be a list of probes, or a dict of them by name (each %s); got %s"
            % (_KINDS, type(probes).__name__)
        )
    if isinstance(probes, dict):
        items = []
        for name, probe in probes.items():
            if not isinstance(name, str) or not name.strip("/ "):
                raise TypeError("probe names must be non-empty strs, got %r" % (name,))
            items.append((name.strip("/ "), probe))
    else:
        items = [(None, probe) for probe in probes]
    if not items:
        raise ValueError("probes is empty: give at least one text or sentence pair to log")
    named, seen = [], set()
    prefix = tag_prefix.strip("/")
    for index, (name, probe) in enumerate(items):
        fields = parse_probe(name if name is not None else index, probe)
        base = name if name is not None else _slug(fields.get("text"))
        tag, n = base, 2
        while tag in seen:  # two probes starting alike still get their own tags
            tag, n = "%s_%d" % (base, n), n + 1
        seen.add(tag)
        named.append(Probe(tag="%s/%s" % (prefix, tag) if prefix else tag, **fields))
    return named


def sentence_b_start(encoding):
    """Index of sentence B's first token, as bertviz counts it; None for a single text."""
    try:
        sequence_ids = encoding.sequence_ids(0)  # fast tokenizers: right for every model family
    except (AttributeError, ValueError):
        sequence_ids = None
    if sequence_ids is not None:
        return sequence_ids.index(1) if 1 in sequence_ids else None
    token_types = encoding.get("token_type_ids")
    if token_types is not None and 1 in token_types[0].tolist():
        return token_types[0].tolist().index(1)
    return None


@dataclasses.dataclass
class ProbeInputs:
    """A probe tokenised for one model: what its forward pass takes, and what add_attention needs
    beside the attention (tokens, sentence B or the encoder and decoder tokens)."""

    model_inputs: dict
    log_kwargs: dict
    seq2seq: bool = False


def _decoder_input_ids(model, labels):
    """Teacher forcing: the target shifted right behind the decoder start token, as the model builds it."""
    prepare = getattr(model, "prepare_decoder_input_ids_from_labels", None)
    if prepare is not None:
        return prepare(labels=labels)
    import torch

    config = model.config
    start = config.decoder_start_token_id if config.decoder_start_token_id is not None else config.pad_token_id
    shifted = torch.full_like(labels, start)
    shifted[:, 1:] = labels[:, :-1].masked_fill(labels[:, :-1] == -100, config.pad_token_id or 0)
    return shifted


def tokenize_probe(probe, tokenizer, model, max_length):
    """ProbeInputs of `probe` for `model` (an encoder-decoder model reads (source, target) pairs)."""
    import torch

    ids_to_tokens = tokenizer.convert_ids_to_tokens
    if getattr(getattr(model, "config", None), "is_encoder_decoder", False):
        if probe.text is None or probe.pair is None:
            raise ValueError("probe %s: an encoder-decoder model reads (source, target) pairs of texts" % probe.tag)
        enc = tokenizer(probe.text, text_target=probe.pair, truncation=True, max_length=max_length, return_tensors="pt")
        decoder_input_ids = _decoder_input_ids(model, enc.pop("labels"))
        inputs = {
            "input_ids": enc["input_ids"],
            "attention_mask": enc["attention_mask"],
            "decoder_input_ids": decoder_input_ids,
        }
        kwargs = {
            "encoder_tokens": ids_to_tokens(enc["input_ids"][0].tolist()),
            "decoder_tokens": ids_to_tokens(decoder_input_ids[0].tolist()),
        }
        return ProbeInputs(inputs, kwargs, seq2seq=True)
    if probe.token_ids is not None:
        ids = torch.tensor([list(probe.token_ids)[:max_length]])
        kwargs = {"tokens": ids_to_tokens(ids[0].tolist())}
        if probe.retrieval is not None:  # the pairs a cut probe still holds
            kwargs["retrieval"] = tuple((q, k) for q, k in probe.retrieval if q < ids.shape[1])
        return ProbeInputs({"input_ids": ids, "attention_mask": torch.ones_like(ids)}, kwargs)
    if probe.messages is not None:
        enc = tokenizer.apply_chat_template(
            list(probe.messages),
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
            truncation=True,
            max_length=max_length,
        )
        ids = enc["input_ids"]
        return ProbeInputs(
            {"input_ids": ids, "attention_mask": enc.get("attention_mask", torch.ones_like(ids))},
            {"tokens": ids_to_tokens(ids[0].tolist())},
        )
    enc = tokenizer(probe.text, probe.pair, truncation=True, max_length=max_length, return_tensors="pt")
    return ProbeInputs(
        dict(enc), {"tokens": ids_to_tokens(enc["input_ids"][0].tolist()), "sentence_b_start": sentence_b_start(enc)}
    )

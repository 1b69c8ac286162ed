"""Probes: the fixed inputs whose attention a training integration logs, named and tokenised once."""

import re

def _probe_error(index, probe):
    return TypeError(
        "probe %s is %r: each probe must be a non-empty str or a (sentence_a, sentence_b) pair of "
        "non-empty strs" % (index, probe)
    )


def _check_probe(index, probe):
    """`(text_a, text_b_or_None)` of one probe; raises on anything else."""
    if isinstance(probe, str):
        if not probe.strip():
            raise _probe_error(index, probe)
        return probe, None
    if isinstance(probe, (tuple, list)) and len(probe) == 2:
        if all(isinstance(s, str) and s.strip() for s in probe):
            return probe[0], probe[1]
    raise _probe_error(index, probe)


def _slug(text, limit=40):
    """`I went to the store.` -> `i_went_to_the_store`: a readable, TensorBoard-safe tag part."""
    slug = re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")
    return slug[:limit].rstrip("_") or "probe"


def named_probes(probes, tag_prefix):
    """[(tag, text_a, text_b)] from a list of probes (tags from their text) or a {name: probe} dict."""
    if isinstance(probes, (str, bytes)) or not hasattr(probes, "__iter__"):
        raise TypeError(
            "probes must be a list of texts / (sentence_a, sentence_b) pairs, or a dict of them by "
            "name; got %s" % type(probes).__name__
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
    for index, (name, probe) in enumerate(items):
        text_a, text_b = _check_probe(name if name is not None else index, probe)
        base = name if name is not None else _slug(text_a)
        tag, n = base, 2
        while tag in seen:  # two probes starting alike still get their own tags
            tag, n = "%s_%d" % (base, n), n + 1
        seen.add(tag)
        named.append(("%s/%s" % (tag_prefix, tag) if tag_prefix else tag, text_a, text_b))
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



def tokenize_probes(tokenizer, probes, tag_prefix, max_length):
    """`[(tag, encoding, tokens, sentence_b_start)]` of every probe, tokenised with `tokenizer`."""
    out = []
    for tag, text_a, text_b in named_probes(probes, tag_prefix.strip("/")):
        encoding = tokenizer(text_a, text_b, truncation=True, max_length=max_length, return_tensors="pt")
        tokens = tokenizer.convert_ids_to_tokens(encoding["input_ids"][0].tolist())
        out.append((tag, encoding, tokens, sentence_b_start(encoding)))
    return out

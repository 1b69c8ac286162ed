"""Probes given as token ids, and the standard induction probe (Olsson et al. 2022): a random
token sequence, repeated, so that every token of the second copy has an earlier occurrence whose
next token an induction head attends to (docs/patterns.md, "The induction probe").

    callback = tb_attention.AttentionCallback(tokenizer, [tb_attention.induction_probe(tokenizer)])

Builds the probe only (imports neither torch nor transformers); the training integrations
tokenise it for their model (integrations/probe_inputs.py).
"""

import dataclasses
import numbers

import numpy as np

DEFAULT_LENGTH = 32  # random tokens per copy: 64 repeated tokens fit the callback's 128 by default


@dataclasses.dataclass(frozen=True)
class TokenProbe:
    """A probe of fixed token ids (special tokens included, as the model is to see them), logged
    like a text probe under the tag `<tag_prefix>/<name>`."""

    name: str
    token_ids: tuple

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip("/ "):
            raise TypeError("a TokenProbe needs a non-empty str name, got %r" % (self.name,))
        ids = tuple(self.token_ids)
        if not ids or not all(isinstance(i, numbers.Integral) and not isinstance(i, bool) and i >= 0 for i in ids):
            raise TypeError("TokenProbe token_ids must be a non-empty sequence of non-negative ints")
        object.__setattr__(self, "token_ids", tuple(int(i) for i in ids))


def repeated_random_tokens(vocabulary, length=DEFAULT_LENGTH, seed=0, repeats=2):
    """`repeats` copies of `length` distinct token ids drawn (seeded) from `vocabulary` (a
    sequence of ids, or a size n for ids 0..n-1): list of `repeats * length` ints. Distinct ids
    make each token's earlier occurrence, and so the induction target, unique."""
    for value, name, low in ((length, "length", 1), (repeats, "repeats", 2)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError("%s must be an int >= %d, got %r" % (name, low, value))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError("seed must be an int, got %r" % (seed,))
    pool = np.arange(vocabulary) if isinstance(vocabulary, numbers.Integral) else np.asarray(list(vocabulary))
    if pool.size < length:
        raise ValueError("cannot draw %d distinct tokens from a vocabulary of %d" % (length, pool.size))
    drawn = np.random.default_rng(seed).choice(pool, size=length, replace=False)
    return [int(i) for i in drawn] * repeats


def induction_probe(tokenizer, length=DEFAULT_LENGTH, seed=0, name="induction", repeats=2, special_tokens=True):
    """The induction probe for `tokenizer`'s model: `length` distinct random ordinary tokens of its
    vocabulary (special tokens never drawn), repeated `repeats` times, wrapped in the special
    tokens the tokenizer adds to any input (`special_tokens=True`: BOS for Llama, [CLS] ... [SEP]
    for BERT, none for GPT-2). Seeded: the same probe at every run. A `TokenProbe` that
    `AttentionCallback` accepts beside text probes."""
    special = set(getattr(tokenizer, "all_special_ids", None) or [])
    vocabulary = [i for i in range(len(tokenizer)) if i not in special]
    ids = repeated_random_tokens(vocabulary, length, seed, repeats)
    if special_tokens:
        prefix, suffix = special_wrapping(tokenizer, special)
        ids = prefix + ids + suffix
    return TokenProbe(name, tuple(ids))


def special_wrapping(tokenizer, special):
    """(ids before, ids after) the text that `tokenizer` adds to every input, read off how it
    encodes one word (every tokenizer API version encodes text the same way)."""
    ids = list(tokenizer("a", add_special_tokens=True)["input_ids"])
    text = [k for k, i in enumerate(ids) if i not in special]
    if not text:
        return [], []
    return ids[: text[0]], ids[text[-1] + 1 :]

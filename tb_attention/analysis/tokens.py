"""Token classes the pattern scores need: special tokens, punctuation, word pieces."""

import re
import unicodedata

import numpy as np

CLS_TOKENS = frozenset(["[CLS]", "<s>", "<cls>", "<bos>", "<|begin_of_text|>", "<|startoftext|>"])
SEP_TOKENS = frozenset(
    ["[SEP]", "</s>", "<sep>", "<eos>", "<|endoftext|>", "<|end_of_text|>", "<|eot_id|>", "<|im_end|>"]
)
DEFAULT_SPECIAL_TOKENS = CLS_TOKENS | SEP_TOKENS | frozenset(["<|im_start|>"])
# Bracketed vocabulary entries ([PAD], <unk>, <|im_start|>) never join a word, even when not
# counted as delimiters.
_SPECIAL_SHAPE = re.compile(r"^(\[[A-Z_]+\]|<\|[^|\s]+\|>|</?[A-Za-z_]+>)$")
WORDPIECE_CONTINUATION = "##"
WORD_START_MARKERS = ("\u2581", "\u0120")  # SentencePiece "▁", GPT-2 byte-level BPE "Ġ"


def surface(token):
    """Token text without its word-start marker: the marker encodes a space, not text."""
    for marker in WORD_START_MARKERS:
        if token.startswith(marker):
            return token[len(marker) :]
    return token


def is_punctuation(token):
    text = surface(token)
    if text.startswith(WORDPIECE_CONTINUATION):
        text = text[len(WORDPIECE_CONTINUATION) :]
    return bool(text) and all(unicodedata.category(c).startswith("P") for c in text)


def is_special(token, specials):
    return token in specials or bool(_SPECIAL_SHAPE.match(token))


def word_ids(tokens, specials):
    """Word index per token; specials are words of their own.

    WordPiece: a `##` piece continues the previous word. SentencePiece `▁` / GPT-2 `Ġ`: a piece
    *without* the marker continues the previous word, unless it follows a special token or starts
    the sequence. The convention is taken from the tokens themselves (any `##` means WordPiece).
    """
    wordpiece = any(t.startswith(WORDPIECE_CONTINUATION) and len(t) > 2 for t in tokens)
    marked = not wordpiece and any(t.startswith(WORD_START_MARKERS) for t in tokens)
    ids = np.empty(len(tokens), dtype=np.int64)
    word, prev_special = -1, True
    for i, t in enumerate(tokens):
        special = is_special(t, specials)
        if wordpiece:
            continues = t.startswith(WORDPIECE_CONTINUATION) and len(t) > 2
        elif marked:
            continues = not t.startswith(WORD_START_MARKERS)
        else:
            continues = False
        if special or prev_special or not continues:
            word += 1
        ids[i] = word
        prev_special = special
    return ids


def parse_special_tokens(special_tokens):
    """The special-token set to use: the default set, or the user's collection of strs."""
    if special_tokens is None:
        return DEFAULT_SPECIAL_TOKENS
    if isinstance(special_tokens, (str, bytes)) or not hasattr(special_tokens, "__iter__"):
        raise TypeError("special_tokens must be a collection of token strings, got %s" % type(special_tokens).__name__)
    specials = frozenset(special_tokens)
    bad = [t for t in specials if not isinstance(t, str)]
    if bad:
        raise TypeError("special_tokens must all be str; got %r" % (bad[0],))
    return specials

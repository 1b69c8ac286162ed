"""Needle probes: a fact placed at a chosen depth of a long filler, then a question whose
teacher-forced answer copies it, for the `retrieval` score of each head (Wu et al. 2024,
docs/patterns.md, "Retrieval heads and the needle probe").

    probe = tb_attention.needle_probe(tokenizer, 4096, depth=0.25)
    callback = tb_attention.AttentionCallback(tokenizer, {"needle": probe})

A `NeedleProbe` is a token-id probe (`token_ids`, as `induction_probe`'s) that also carries
where the needle's copied tokens and the answer are, so the scorer knows which query rows count.
Builds the probe only (imports neither torch nor transformers).
"""

import dataclasses
import numbers

import numpy as np

from tb_attention.analysis.induction_probe import TokenProbe, special_wrapping

# The passkey retrieval test's text (Mohtashami & Jaggi 2023, "Landmark Attention"): a filler
# that carries nothing to retrieve, a needle that states a random number, a question.
INTRO = (
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. "
    "I will quiz you about the important information there."
)
FILLER = " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
NEEDLE = (" The pass key is", ". Remember it.")  # the number goes between the two
QUESTION = " What is the pass key? The pass key is"
DIGITS = 5


@dataclasses.dataclass(frozen=True)
class NeedleProbe(TokenProbe):
    """A token-id probe holding a needle: `needle` = (start, end), the positions of the tokens the
    answer copies; `answer` = (start, end), the answer's positions (the same tokens, later).
    `retrieval` gives the scorer's pairs: the query row before each answer token and the needle
    position of the token it is about to copy."""

    needle: tuple = (0, 0)
    answer: tuple = (0, 0)

    def __post_init__(self):
        super().__post_init__()
        for field in ("needle", "answer"):
            span = tuple(getattr(self, field))
            if len(span) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in span):
                raise TypeError("NeedleProbe %s must be (start, end) positions, got %r" % (field, span))
            object.__setattr__(self, field, (int(span[0]), int(span[1])))
        (n0, n1), (a0, a1) = self.needle, self.answer
        ids = self.token_ids
        if not (0 <= n0 < n1 and n0 < a0 - 1 and a1 <= len(ids)) or a1 - a0 != n1 - n0:
            raise ValueError(
                "NeedleProbe needs a needle before its answer, of one length, inside the %d tokens: "
                "needle %r, answer %r" % (len(ids), self.needle, self.answer)
            )
        if ids[n0:n1] != ids[a0:a1]:
            raise ValueError("the answer of a NeedleProbe must copy its needle's tokens")

    @property
    def retrieval(self):
        """((query, key), ...): row answer_start + i - 1 predicts answer token i, a copy of the
        needle token at needle_start + i."""
        (n0, n1), a0 = self.needle, self.answer[0]
        return tuple((a0 + i - 1, n0 + i) for i in range(n1 - n0))

    def truncated(self, length):
        """The retrieval pairs that fall inside the first `length` tokens (a probe cut short)."""
        return tuple((q, k) for q, k in self.retrieval if q < length)


def _check(length, depth, seed):
    if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 1:
        raise ValueError("length must be a positive int (tokens in the probe), got %r" % (length,))
    if isinstance(depth, bool) or not isinstance(depth, numbers.Real) or not 0 <= depth <= 1:
        raise ValueError("depth must be a number in [0, 1] (0: the needle first, 1: last), got %r" % (depth,))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError("seed must be an int, got %r" % (seed,))


def _assemble(name, length, depth, head, filler, needle, copied, question, tail):
    """A NeedleProbe of exactly `length` tokens: head, filler cut at `depth` around the needle
    (whose tokens `copied` = (start, end) within it are what the answer copies), question,
    answer, tail. `filler` is repeated (or cut) to fill."""
    answer = needle[copied[0] : copied[1]]
    fixed = len(head) + len(needle) + len(question) + len(answer) + len(tail)
    room = length - fixed
    if room < 0:
        raise ValueError("length %d is too short for this needle probe: it needs at least %d tokens" % (length, fixed))
    filling = (list(filler) * (room // max(1, len(filler)) + 1))[:room]
    before = int(round(depth * room))
    ids = list(head) + filling[:before] + list(needle) + filling[before:] + list(question) + list(answer) + list(tail)
    n0 = len(head) + before + copied[0]
    a0 = length - len(tail) - len(answer)
    return NeedleProbe(name, tuple(ids), needle=(n0, n0 + len(answer)), answer=(a0, a0 + len(answer)))


def needle_probe(tokenizer, length, depth=0.5, seed=0, name="needle", special_tokens=True):
    """A needle probe of `length` tokens for `tokenizer`'s model, in the form of the passkey
    retrieval test: an introduction, filler sentences, at `depth` of the filler (0: first, 1:
    last) the needle "The pass key is <n>. Remember it.", then "What is the pass key? The pass
    key is" and, teacher-forced, the answer <n>: a `DIGITS`-digit number of distinct digits
    drawn with `seed`. The number's tokens are encoded once and placed twice, so the answer
    copies the needle token for token. Wrapped in the special tokens the tokenizer adds to any
    input (`special_tokens=True`). Raises ValueError when `length` cannot hold the text."""
    _check(length, depth, seed)
    digits = np.random.default_rng(seed).choice(np.arange(1, 10), size=DIGITS, replace=False)
    number = "".join(str(int(d)) for d in digits)

    def encode(text):
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    special = set(getattr(tokenizer, "all_special_ids", None) or [])
    prefix, suffix = special_wrapping(tokenizer, special) if special_tokens else ([], [])
    value = encode(" " + number)
    needle = encode(NEEDLE[0]) + value + encode(NEEDLE[1])
    start = len(encode(NEEDLE[0]))
    head = prefix + encode(INTRO)
    return _assemble(
        name, length, depth, head, encode(FILLER), needle, (start, start + len(value)), encode(QUESTION), suffix
    )


def needle_tokens(vocabulary, length, depth=0.5, seed=0, needle_length=8, key_length=2, prefix=(), name="needle"):
    """A needle probe of token ids alone, for a model without a tokenizer (e.g. a toy model's
    vocabulary: a sequence of ids, or a size n for ids 0..n-1): `needle_length` distinct ids
    drawn with `seed` (the needle), at `depth` of a filler of random ids drawn from the rest of
    the vocabulary (so each needle token occurs once before the question), then the needle's
    first `key_length` ids (the question) and, teacher-forced, its remaining ids (the answer).
    `prefix` ids (e.g. a BOS) come first."""
    _check(length, depth, seed)
    if not 1 <= key_length < needle_length:
        raise ValueError("key_length must be in [1, needle_length), got %r" % (key_length,))
    pool = np.arange(vocabulary) if isinstance(vocabulary, numbers.Integral) else np.asarray(list(vocabulary))
    if pool.size <= needle_length:
        raise ValueError("a vocabulary of %d ids cannot hold a needle of %d and a filler" % (pool.size, needle_length))
    rng = np.random.default_rng(seed)
    needle = [int(i) for i in rng.choice(pool, size=needle_length, replace=False)]
    rest = np.setdiff1d(pool, needle)
    filler = [int(i) for i in rng.choice(rest, size=max(0, length))]
    question = needle[:key_length]
    return _assemble(name, length, depth, list(prefix), filler, needle, (key_length, needle_length), question, [])

"""The (query, key) pairs of the token-identity metrics, from per-token arrays only.

Each metric relates query i to the keys j whose code equals the query's (token text, word,
sentence), optionally only j != i, j < i or j <= i. Sorting the keys by (code, position) once
makes every query's keys one contiguous range of that order, so a block of query rows gets its
pairs (or, where they are dense, a boolean `[rows, keys]` mask) without any q x k array.
"""

import numpy as np

from tb_attention.analysis import tokens as token_classes

# Which keys of the query's code count: all, j != i, j < i, j <= i.
ALL, OTHER, EARLIER, UP_TO = None, "ne", "lt", "le"


class Relation:
    """Pairs (i, j) with `qcode[i] == kcode[j] >= 0` and the `order` condition on j (see above).
    Query i's keys are `self.keys[start[i]:stop[i]]`, ascending (less i itself for OTHER)."""

    def __init__(self, qcode, kcode, order=ALL):
        qcode, kcode = np.asarray(qcode, np.int64), np.asarray(kcode, np.int64)
        self.qcode, self.kcode, self.order, self.k = qcode, kcode, order, kcode.size
        present = np.flatnonzero(kcode >= 0)
        self.keys = present[np.argsort(kcode[present], kind="stable")]  # by code, then position
        ranked = kcode[self.keys] * self.k + self.keys  # sorted: one range per code
        base = np.where(qcode >= 0, qcode * self.k, -self.k)  # no key has a negative code
        self.start = np.searchsorted(ranked, base)
        positions = np.arange(qcode.size, dtype=np.int64)
        bound = {ALL: base + self.k, OTHER: base + self.k, EARLIER: base + positions, UP_TO: base + positions + 1}
        self.stop = np.maximum(self.start, np.searchsorted(ranked, bound[order]))
        lengths = self.stop - self.start
        if order == OTHER:  # i itself lies in its own range when its key code matches
            lengths = lengths - ((qcode >= 0) & (kcode[: qcode.size] == qcode))
        self.lengths = lengths
        self.cumulative = np.concatenate([[0], np.cumsum(self.stop - self.start)])
        self._device_codes = {}

    def valid(self):
        """Whether each query has at least one key in this relation."""
        return self.lengths > 0

    def pair_count(self, r0, r1):
        """How many ranged pairs rows r0..r1 have (before dropping i itself for OTHER)."""
        return int(self.cumulative[r1] - self.cumulative[r0])

    def flat_pairs(self, r0, r1):
        """The pairs of rows r0..r1 as flat indices into a `[r1 - r0, k]` row block."""
        start, stop = self.start[r0:r1], self.stop[r0:r1]
        lengths = stop - start
        total = int(lengths.sum())
        # Position in self.keys of each pair: its row's start plus its rank within the row.
        first = np.cumsum(lengths) - lengths
        keys = self.keys[np.repeat(start - first, lengths) + np.arange(total)]
        rows = np.repeat(np.arange(r1 - r0, dtype=np.int64), lengths)
        if self.order == OTHER:
            keep = keys != rows + r0
            keys, rows = keys[keep], rows[keep]
        return rows * self.k + keys

    def dense_mask(self, r0, r1, xp=np, device=None):
        """Boolean `[r1 - r0, k]` mask of rows r0..r1, in numpy or (xp=torch) on `device`."""
        if xp is np:
            qcode, kcode = self.qcode[r0:r1, None], self.kcode[None, :]
            rows, cols = np.arange(r0, r1)[:, None], np.arange(self.k)[None, :]
        else:
            codes = self._device_codes.get(device)
            if codes is None:
                codes = self._device_codes[device] = (
                    xp.as_tensor(self.qcode, device=device),
                    xp.as_tensor(self.kcode, device=device),
                )
            qcode, kcode = codes[0][r0:r1, None], codes[1][None, :]
            rows = xp.arange(r0, r1, device=device)[:, None]
            cols = xp.arange(self.k, device=device)[None, :]
        mask = (qcode == kcode) & (qcode >= 0)
        if self.order == OTHER:
            mask &= cols != rows
        elif self.order == EARLIER:
            mask &= cols < rows
        elif self.order == UP_TO:
            mask &= cols <= rows
        return mask


def _codes(texts, table):
    return np.array([table.setdefault(t, len(table)) for t in texts], dtype=np.int64)


def token_relations(tokens, key_tokens, cross, sentence_b_start, specials):
    """name -> Relation for the token-identity metrics that apply to this input
    (docs/patterns.md): same_token, same_token_other_sentence, word_pieces, induction,
    duplicate_token."""
    table = {}
    query_text = _codes([token_classes.surface(t) for t in tokens], table)
    key_text = query_text if not cross else _codes([token_classes.surface(t) for t in key_tokens], table)
    out = {"same_token": Relation(query_text, key_text)}  # the query itself included
    if cross:
        return out
    ordinary = np.array([not token_classes.is_special(t, specials) for t in tokens])
    if sentence_b_start is not None:
        # The same text in the other sentence, special tokens excluded ([SEP] -> [SEP] is a
        # delimiter pattern): key code (text, sentence), query code (text, the other sentence).
        in_b = (np.arange(len(tokens)) >= sentence_b_start).astype(np.int64)
        out["same_token_other_sentence"] = Relation(
            np.where(ordinary, 2 * query_text + 1 - in_b, -1), np.where(ordinary, 2 * query_text + in_b, -1)
        )
    words = token_classes.word_ids(tokens, specials)
    out["word_pieces"] = Relation(words, words, OTHER)  # the other pieces of the query's word
    exact = np.where(ordinary, _codes(tokens, {}), -1)  # exact text; specials are never copies
    # Induction: key p + 1 after each earlier copy p < i of the query's token, so key j <= i.
    out["induction"] = Relation(exact, np.concatenate([[-1], exact[:-1]]), UP_TO)
    out["duplicate_token"] = Relation(exact, exact, EARLIER)
    return out

"""What a stored part's mask hides (docs/format.md): the keys a query row cannot see in a causal
layer (those after it) and in a sliding-window layer (those `window` or more positions before it,
as transformers' `sliding_window_overlay` says: key j is seen from query i when i - window < j <= i).
Padding is never stored, so it hides nothing here. The one statement of the rule: regions of the
matrix and the scores rebuilt from queries and keys both read it."""

import numpy as np


def hidden_keys(causal, window, rows, cols):
    """Bool `[rows, cols]` of query rows [rows) x keys [cols): True where the mask hides the key."""
    return hidden_cells(causal, window, rows, cols, 1)


def hidden_cells(causal, window, rows, cols, factor):
    """Bool `[cells of rows, cells of cols]` of `factor` x `factor` cells (the first starting at
    rows[0] rounded down to the factor, cols[0]): True where a cell holds a key the mask hides from
    one of its rows (at factor 1: where the mask hides the key)."""
    r = np.arange(rows[0] - rows[0] % factor, rows[1], factor)
    lo_row, hi_row = np.maximum(r, rows[0])[:, None], np.minimum(r + factor, rows[1])[:, None] - 1
    c = np.arange(cols[0], cols[1], factor)
    lo_key, hi_key = c[None, :], np.minimum(c + factor, cols[1])[None, :] - 1
    hidden = np.zeros((len(r), len(c)), dtype=bool)
    if causal:
        hidden |= hi_key > lo_row
        if window:
            hidden |= lo_key <= hi_row - window
    return hidden

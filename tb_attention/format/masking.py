"""What a stored part's mask hides (docs/format.md): the keys a query row cannot see in a causal
layer (those after it) and in a sliding-window layer (those `window` or more positions before it,
as transformers' `sliding_window_overlay` says: key j is seen from query i when i - window < j <= i).
Padding is never stored, so it hides nothing here. The one statement of the rule: regions of the
matrix and the scores rebuilt from queries and keys both read it."""

import numpy as np


def hidden_keys(causal, window, rows, cols):
    """Bool `[rows, cols]` of query rows [rows) x keys [cols): True where the mask hides the key."""
    i = np.arange(*rows)[:, None]
    j = np.arange(*cols)[None, :]
    hidden = np.zeros((rows[1] - rows[0], cols[1] - cols[0]), dtype=bool)
    if causal:
        hidden |= j > i
        if window:
            hidden |= j <= i - window
    return hidden

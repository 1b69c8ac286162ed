"""Query heads grouped by the key/value head they read (grouped-query attention: Llama 3, Qwen2,
Mistral): heads sharing keys tend to share roles, so a group's scores are the mean of its query
heads' (docs/patterns.md, "Grouped-query attention")."""

import warnings

import numpy as np


def kv_groups(kv_heads):
    """[(kv head, [stored query heads reading it])] in order of KV head, from a record's
    `kv_heads` (the KV head of each stored query head)."""
    groups = {}
    for head, kv in enumerate(kv_heads):
        groups.setdefault(int(kv), []).append(head)
    return sorted(groups.items())


def group_scores(scores, kv_heads):
    """metric -> float64 `[layers, groups]`: the mean of each group's query heads (NaN scores
    left out; NaN where every member's is)."""
    groups = kv_groups(kv_heads)
    out = {}
    for name, values in scores.items():
        values = np.asarray(values, dtype=np.float64)
        with warnings.catch_warnings():  # a group without a defined score: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            out[name] = np.stack([np.nanmean(values[:, members], axis=1) for _, members in groups], axis=1)
    return out

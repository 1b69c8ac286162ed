"""Heads that formed during training: for each label's rule (metric > threshold), the heads whose
score went from at or below the threshold to above it between two logged steps, and the step
from which they stayed above (docs/patterns.md, "Heads that formed")."""

import numpy as np

from tb_attention.analysis import labels
from tb_attention.format.scores import null_to_nan


def _series(scores, metric):
    """float32 `[steps, layers, heads]` of one metric over the steps (NaN where a step has no
    score for it, or a shape unlike the last step's: another input under the same tag)."""
    arrays = []
    for s in scores:
        values = None if not s else s.get(metric)
        if isinstance(values, list):  # the stored JSON form: null for NaN
            values = null_to_nan(values)
        # float32, as scores are stored: a score equal to a threshold stays at it, from arrays
        # and from JSON alike (0.1 in float64 is below the float32 0.1 a scorer returns).
        arrays.append(None if values is None else np.asarray(values, dtype=np.float32))
    shapes = [a.shape for a in arrays if a is not None and a.ndim == 2]
    if not shapes:
        return None
    shape = shapes[-1]
    return np.stack([a if a is not None and a.shape == shape else np.full(shape, np.nan, np.float32) for a in arrays])


def _crossings(values, threshold, upward):
    """Per head (flat index), for heads that crossed: (index of the step from which the score
    stayed across, index of the defined step before it, index of the first step across)."""
    defined = ~np.isnan(values)
    with np.errstate(invalid="ignore"):
        across = (values > threshold) if upward else (values <= threshold)
    across &= defined
    steps = np.arange(values.shape[0])[:, None]
    first = np.where(defined.any(0), np.argmax(defined, 0), -1)
    last = np.where(defined.any(0), values.shape[0] - 1 - np.argmax(defined[::-1], 0), -1)
    heads = np.flatnonzero(
        (first >= 0)
        & ~across[first.clip(0), np.arange(values.shape[1])]
        & across[last.clip(0), np.arange(values.shape[1])]
    )
    out = []
    for h in heads:
        behind = np.flatnonzero(defined[:, h] & ~across[:, h])[-1]  # the last step not across
        stays = np.flatnonzero(defined[behind + 1 :, h])[0] + behind + 1
        first_across = np.flatnonzero(across[:, h] & (steps[:, 0] > first[h]))[0]
        out.append((h, stays, behind, first_across))
    return out


def formed_heads(steps, scores, thresholds=None, step_a=None, step_b=None):
    """Heads that crossed a label's threshold between steps `step_a` and `step_b` (default: the
    first and last logged), from the pattern scores of each step (`scores[i]`: metric ->
    `[layers, heads]`, arrays or the stored JSON; None for a step without scores).

    Returns {"from_step", "to_step", "formed": [...], "lost": [...]}: each entry names the label,
    metric, threshold, layer and head, `step` (from which the score stayed above the threshold;
    for `lost`, at or below it), `previous_step` (the logged step before), `first_step` (the first
    step across), and the scores at those steps and at `to_step`. Sorted by step, layer, head.
    """
    if len(steps) != len(scores):
        raise ValueError("steps and scores differ in length (%d vs %d)" % (len(steps), len(scores)))
    order = np.argsort(np.asarray(steps, dtype=np.int64), kind="stable")
    steps = [int(steps[i]) for i in order]
    scores = [scores[i] for i in order]
    lo = steps[0] if steps and step_a is None else step_a
    hi = steps[-1] if steps and step_b is None else step_b
    if lo is not None and hi is not None and lo > hi:
        raise ValueError("step_a=%d is after step_b=%d" % (lo, hi))
    keep = [i for i, s in enumerate(steps) if lo <= s <= hi] if steps else []
    steps, scores = [steps[i] for i in keep], [scores[i] for i in keep]
    out = {"from_step": steps[0] if steps else lo, "to_step": steps[-1] if steps else hi, "formed": [], "lost": []}
    for label, rule in labels.active_rules(thresholds):
        metric, threshold = rule
        series = _series(scores, metric) if len(steps) >= 2 else None
        if series is None:
            continue
        flat = series.reshape(len(steps), -1)
        heads = series.shape[2]
        for key, upward in (("formed", True), ("lost", False)):
            for h, stays, behind, first in _crossings(flat, threshold, upward):
                out[key].append(
                    {
                        "label": label,
                        "metric": metric,
                        "threshold": threshold,
                        "layer": int(h // heads),
                        "head": int(h % heads),
                        "step": steps[stays],
                        "previous_step": steps[behind],
                        "first_step": steps[first],
                        "score_before": float(flat[behind, h]),
                        "score_at": float(flat[stays, h]),
                        "score_final": float(flat[-1, h]),
                    }
                )
    for key in ("formed", "lost"):
        out[key].sort(key=lambda e: (e["step"], e["layer"], e["head"], e["label"]))
    return out

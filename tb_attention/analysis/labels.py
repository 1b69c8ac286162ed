"""Naming heads by their scores: a head gets a label when its metric is above the label's
threshold (docs/patterns.md); the first label in priority order is the head's main label."""

import math
import numbers

import numpy as np

from tb_attention.analysis import importance
from tb_attention.analysis.scoring import METRICS
from tb_attention.format.scores import null_to_nan

DEFAULT_THRESHOLDS = {
    # label: (metric, threshold); a head gets the label when metric > threshold (docs/patterns.md).
    "previous_token": ("previous_token", 0.5),
    "next_token": ("next_token", 0.5),
    "retrieval": ("retrieval", 0.1),
    "induction": ("induction", 0.4),
    "duplicate_token": ("duplicate_token", 0.4),
    "self": ("self", 0.5),
    "local_window": ("local_window", 0.8),
    "cls": ("cls", 0.6),
    "sep": ("sep", 0.6),
    "delimiter": ("delimiter", 0.6),
    "punctuation": ("punctuation", 0.6),
    "sink": ("sink", 0.3),
    "broad": ("entropy", 3.8),
    # Not a pattern: whether the head matters for the loss (head importance normalised per layer,
    # where an importance record was logged at the step: docs/patterns.md).
    "important": (importance.METRIC, importance.IMPORTANT_THRESHOLD),
}
# Priority when several labels apply: the rare, specific positional and copying heads first,
# then the vertical heads (most specific class first, the first position last), then broad;
# "important" last, so that a head's main label says what it attends to when a pattern applies.
LABEL_PRIORITY = tuple(DEFAULT_THRESHOLDS)
MIXED = "mixed"


def rules_json():
    """The labelling rules as JSON for the panel: it shows them and keeps no copy."""
    return {
        "metrics": list(METRICS) + [importance.METRIC],
        "labels": list(LABEL_PRIORITY) + [MIXED],
        "thresholds": [
            {"label": label, "metric": metric, "threshold": threshold}
            for label, (metric, threshold) in DEFAULT_THRESHOLDS.items()
        ],
    }


def _thresholds(thresholds):
    """DEFAULT_THRESHOLDS updated by `thresholds` ({label: value, or (metric, value), or None})."""
    merged = dict(DEFAULT_THRESHOLDS)
    if thresholds is None:
        return merged
    if not isinstance(thresholds, dict):
        raise TypeError("thresholds must be a dict {label: value}, got %s" % type(thresholds).__name__)
    for label, value in thresholds.items():
        if label not in merged:
            raise ValueError("unknown label %r in thresholds: use %s" % (label, ", ".join(LABEL_PRIORITY)))
        if value is None:  # None switches a label off
            merged[label] = None
            continue
        metric = merged[label][0]
        if isinstance(value, tuple):
            if len(value) != 2:
                raise TypeError("threshold for %r must be a value or (metric, value), got %r" % (label, value))
            metric, value = value
            if metric not in METRICS and metric != importance.METRIC:
                raise ValueError("threshold for %r names unknown metric %r" % (label, metric))
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise TypeError("threshold for %r must be a finite number, got %r" % (label, value))
        merged[label] = (metric, float(value))
    return merged


def active_rules(thresholds=None):
    """[(label, (metric, threshold))] in priority order, with `thresholds` applied (labels set to
    None left out): the rules `head_labels_all` and `formed_heads` use."""
    return [(label, rule) for label, rule in _thresholds(thresholds).items() if rule is not None]


def _score_arrays(scores):
    if not isinstance(scores, dict) or not scores:
        raise ValueError("scores must be a non-empty dict metric -> [layers, heads]")
    arrays, shape = {}, None
    for name, values in scores.items():
        if isinstance(values, list):  # the stored JSON form: null for NaN
            values = null_to_nan(values)
        values = np.asarray(values, dtype=np.float32)  # as stored: a score equal to a threshold is not above it
        if values.ndim != 2 or (shape is not None and values.shape != shape):
            raise ValueError(
                "scores[%r] has shape %s; every metric must be the same [layers, heads]" % (name, values.shape)
            )
        shape = values.shape
        arrays[name] = values
    return arrays, shape


def head_labels_all(scores, thresholds=None):
    """Every label that applies to each head, in priority order: `[layers][heads]` of tuples."""
    arrays, (layers, heads) = _score_arrays(scores)
    hits = []
    for label, rule in _thresholds(thresholds).items():
        if rule is None or rule[0] not in arrays:
            continue
        with np.errstate(invalid="ignore"):
            hits.append((label, arrays[rule[0]] > rule[1]))  # NaN never passes
    return [[tuple(label for label, hit in hits if hit[li, h]) for h in range(heads)] for li in range(layers)]


def label_heads(scores, thresholds=None):
    """One label per head, str `[layers, heads]`: the first of LABEL_PRIORITY whose metric exceeds
    its threshold, else "mixed". `scores` is `compute_patterns` output (or its JSON form); a
    label whose metric is missing from `scores` is skipped."""
    every = head_labels_all(scores, thresholds)
    return np.array([[labels[0] if labels else MIXED for labels in row] for row in every], dtype=str)


def labels_json(scores):
    """Every label per head, `[layers][heads]` of lists (["mixed"] when none applies), for the panel."""
    return [[list(labels) or [MIXED] for labels in row] for row in head_labels_all(scores)]

"""Head-pattern scores as a record header stores them: `{metric: [[layer][head]]}`, null for NaN."""

import math

import numpy as np


def scores_to_json(scores):
    """`{metric: [[float | None]]}` for the record header: 5 decimals, NaN -> None."""
    out = {}
    for name, values in scores.items():
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2:
            raise ValueError("scores[%r] must be [layers, heads], got shape %s" % (name, values.shape))
        out[str(name)] = [[round(float(v), 5) if math.isfinite(v) else None for v in row] for row in values]
    return out


def null_to_nan(rows, dtype=np.float64):
    """An array of the stored JSON form (`[[float | None]]`), null as NaN; TypeError/ValueError
    for a value that is neither a number nor null, or ragged rows."""
    values = np.array(rows, dtype=object)
    values[np.equal(values, None)] = np.nan
    return values.astype(dtype)


def scores_from_json(obj):
    """Inverse of `scores_to_json`: metric -> float32 `[layers, heads]` (None -> NaN)."""
    if not isinstance(obj, dict):
        raise ValueError("pattern scores must be a JSON object, got %s" % type(obj).__name__)
    out, shape = {}, None
    for name, rows in obj.items():
        if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
            raise ValueError("pattern scores[%r] must be a list of lists [layers][heads]" % (name,))
        if len({len(r) for r in rows}) != 1:
            raise ValueError("pattern scores[%r] has rows of different lengths" % (name,))
        try:
            values = null_to_nan(rows, np.float32)
        except (TypeError, ValueError):
            raise ValueError("pattern scores[%r] holds a value that is neither a number nor null" % (name,)) from None
        if shape is not None and values.shape != shape:
            raise ValueError("pattern scores[%r] is %s but other metrics are %s" % (name, values.shape, shape))
        shape = values.shape
        out[name] = values
    return out


# A part's `example_scores` (docs/format.md): its `patterns` are then the mean over a set of
# examples, and these tables say how many examples define each score, their spread and the half
# width of the mean's confidence interval.
EXAMPLE_TABLES = ("count", "std", "half")


def example_scores_to_json(summary):
    """The stored form of `analysis.example_stats.ExampleStats.result()`'s summary."""
    out = {"examples": int(summary["examples"]), "level": float(summary["level"])}
    for table in EXAMPLE_TABLES:
        out[table] = scores_to_json(summary[table])
    out["count"] = {name: [[int(v or 0) for v in row] for row in rows] for name, rows in out["count"].items()}
    return out


def example_scores_from_json(obj):
    """Inverse of `example_scores_to_json` (tables as float32 arrays, NaN for null); raises
    ValueError naming what is malformed."""
    if not isinstance(obj, dict):
        raise ValueError("example_scores must be a JSON object, got %s" % type(obj).__name__)
    examples, level = obj.get("examples"), obj.get("level")
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 1:
        raise ValueError("example_scores has a bad example count: %r" % (examples,))
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError("example_scores has a bad level: %r" % (level,))
    out = {"examples": examples, "level": float(level)}
    for table in EXAMPLE_TABLES:
        out[table] = scores_from_json(obj.get(table))
    if set(out["count"]) != set(out["std"]) or set(out["count"]) != set(out["half"]):
        raise ValueError("example_scores' tables name different metrics")
    return out

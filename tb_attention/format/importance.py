"""A head-importance record (format 4, docs/format.md): one small JSON blob per step under a tag
of its own, holding every head's raw importance (Michel et al. 2019: the expected absolute
derivative of the loss with respect to a gate on the head's output), what it was measured on,
and optionally an ablation check.

Decoded to `{"version", "method", "values": float32 [layers, heads], "rows", "loss", "examples",
"batches", "ablation"}`; `rows` is None (every row a layer of self-attention) or one
`(kind, layer)` per row (encoder-decoder models: "encoder", "decoder", "cross").
"""

import json
import math

import numpy as np

from tb_attention.format import metadata
from tb_attention.format.errors import FormatError
from tb_attention.format.header import KINDS

VERSION = 4
RECORD = "importance"
METHODS = ("gradient",)
ABLATION_MODES = ("zero",)
GROUPS = ("most", "least")


def _number(value):
    """A finite float kept to 7 significant digits (float32's), so the JSON stays small."""
    return float("%.7g" % float(value))


def _finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _ablation_json(ablation):
    """The ablation check with its numbers kept to 7 significant digits."""
    if ablation is None:
        return None
    out = dict(ablation)
    out["base_loss"] = _number(ablation["base_loss"])
    out["heads"] = [dict(e, loss=_number(e["loss"]), importance=_number(e["importance"])) for e in ablation["heads"]]
    out["joint"] = {group: _number(loss) for group, loss in ablation.get("joint", {}).items()}
    return out


def make_importance(values, rows=None, loss=None, examples=None, batches=None, ablation=None):
    """The JSON object of one step's record; `values` float `[layers, heads]`, finite, >= 0."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or not values.size:
        raise ValueError("importance must be [layers, heads], got shape %s" % (values.shape,))
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError("importance must be finite and non-negative (an expected absolute gradient)")
    if rows is not None and len(rows) != values.shape[0]:
        raise ValueError("rows names %d layers, importance has %d" % (len(rows), values.shape[0]))
    return {
        "version": VERSION,
        "record": RECORD,
        "method": "gradient",
        "values": [[_number(v) for v in row] for row in values],
        "rows": None if rows is None else [[str(kind), int(layer)] for kind, layer in rows],
        "loss": None if loss is None else _number(loss),
        "examples": None if examples is None else int(examples),
        "batches": None if batches is None else int(batches),
        "ablation": _ablation_json(ablation),
    }


def encode_importance(record):
    return json.dumps(record, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _check_rows(rows, layers):
    if rows is None:
        return None
    if not (
        isinstance(rows, list)
        and len(rows) == layers
        and all(
            isinstance(r, list) and len(r) == 2 and r[0] in KINDS and isinstance(r[1], int) and r[1] >= 0 for r in rows
        )
    ):
        raise FormatError("importance record has bad rows: %r" % (rows,))
    return [(kind, layer) for kind, layer in rows]


def _check_ablation(ablation, layers, heads):
    if ablation is None:
        return None
    entries = ablation.get("heads") if isinstance(ablation, dict) else None
    if (
        not isinstance(entries, list)
        or ablation.get("mode") not in ABLATION_MODES
        or not _finite(ablation.get("base_loss"))
        or not all(
            isinstance(e, dict)
            and e.get("group") in GROUPS
            and isinstance(e.get("layer"), int)
            and isinstance(e.get("head"), int)
            and 0 <= e["layer"] < layers
            and 0 <= e["head"] < heads
            and _finite(e.get("loss"))
            for e in entries
        )
        or not all(_finite(ablation.get("joint", {}).get(g)) for g in GROUPS if g in ablation.get("joint", {}))
    ):
        raise FormatError("importance record has a bad ablation check")
    return ablation


def decode_importance(blob):
    """The decoded record of a stored blob; raises FormatError."""
    try:
        record = json.loads(bytes(blob).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError("importance record is not valid JSON: %s" % e) from None
    if not isinstance(record, dict) or record.get("record") != RECORD:
        raise FormatError("not an importance record")
    try:
        version = metadata.check_version(record.get("version"), "importance record")
    except ValueError as e:
        raise FormatError(str(e)) from None
    if record.get("method") not in METHODS:
        raise FormatError("importance record has an unknown method %r" % (record.get("method"),))
    rows = record.get("values")
    if not (
        isinstance(rows, list)
        and rows
        and all(isinstance(r, list) and r and len(r) == len(rows[0]) for r in rows)
        and all(_finite(v) and v >= 0 for r in rows for v in r)
    ):
        raise FormatError("importance record has bad values")
    values = np.array(rows, dtype=np.float32)
    layers, heads = values.shape
    for name in ("examples", "batches"):
        if record.get(name) is not None and not (isinstance(record[name], int) and record[name] >= 1):
            raise FormatError("importance record has a bad %s: %r" % (name, record[name]))
    if record.get("loss") is not None and not _finite(record["loss"]):
        raise FormatError("importance record has a bad loss: %r" % (record["loss"],))
    return {
        "version": version,
        "method": record["method"],
        "values": values,
        "rows": _check_rows(record.get("rows"), layers),
        "loss": record.get("loss"),
        "examples": record.get("examples"),
        "batches": record.get("batches"),
        "ablation": _check_ablation(record.get("ablation"), layers, heads),
    }

"""The cases of bad input through the public `add_attention` (tests/test_hardening_bad_input.py, and
the table in docs/bad_inputs.md generated from them): the attention/token cases of
tests/helpers/bad_inputs.py, the writer, tag, step and precision cases and the queries-and-keys
cases, each with its exception and exact message; and the call that raises for a case."""

import numpy as np
import torch

import tb_attention
from tests.helpers.bad_inputs import BAD_INPUTS, TOKENS5

TAG = "probe/p"
GOOD = np.full((2, 2, 5, 5), 0.2, dtype=np.float32)  # the same shape as test_inputs.A
CLOSED = object()  # stands for a SummaryWriter closed before the call
LOGDIR = object()  # stands for the test's own log dir


# Writer-level cases: (case id, add_attention kwargs, exception type, exact message).
WRITER_CASES = [
    (
        "closed SummaryWriter",
        dict(writer=CLOSED),
        ValueError,
        "the SummaryWriter is closed: attention can no longer be logged through it",
    ),
    (
        "writer of type dict",
        dict(writer={}),
        TypeError,
        "writer must be a torch.utils.tensorboard or tensorboardX SummaryWriter or a log-dir path, got dict",
    ),
    (
        "writer None",
        dict(writer=None),
        TypeError,
        "writer must be a torch.utils.tensorboard or tensorboardX SummaryWriter or a log-dir path, got NoneType",
    ),
    (
        "writer as bytes path",
        dict(writer=b"/tmp/logs"),
        TypeError,
        "writer must be a torch.utils.tensorboard or tensorboardX SummaryWriter or a log-dir path, got bytes",
    ),
    ("empty tag", dict(tag=""), TypeError, "tag must be a non-empty str, got ''"),
    ("tag None", dict(tag=None), TypeError, "tag must be a non-empty str, got None"),
    (
        "unknown precision",
        dict(precision="int4"),
        ValueError,
        "unknown precision 'int4': use one of float16, float32, log16, uint8",
    ),
    (
        "precision None",
        dict(precision=None),
        ValueError,
        "unknown precision None: use one of float16, float32, log16, uint8",
    ),
    ("negative step", dict(global_step=-1), ValueError, "global_step must be non-negative, got -1"),
    ("float step", dict(global_step=1.5), TypeError, "global_step must be a non-negative int, got 1.5"),
    ("NaN step", dict(global_step=float("nan")), TypeError, "global_step must be a non-negative int, got nan"),
    (
        "huge step",
        dict(global_step=2**63),
        ValueError,
        "global_step 9223372036854775808 exceeds TensorBoard's int64 step range",
    ),
    ("string step", dict(global_step="3"), TypeError, "global_step must be a non-negative int, got '3'"),
    ("bool step", dict(global_step=True), TypeError, "global_step must be a non-negative int, got True"),
    (
        "negative tensor step",
        dict(global_step=torch.tensor(-2)),
        ValueError,
        "global_step must be non-negative, got -2",
    ),
    ("NaN wall time", dict(walltime=float("nan")), ValueError, "walltime must be finite and non-negative, got nan"),
    (
        "string wall time",
        dict(walltime="abc"),
        TypeError,
        "walltime must be seconds since the epoch (a float), got 'abc'",
    ),
    (
        "retrieval key not before its query",
        dict(retrieval=[(2, 3)]),
        ValueError,
        "retrieval pair (2, 3) is outside the attention (5 queries, 5 keys) or its key is not before its query",
    ),
    (
        "retrieval query repeated",
        dict(retrieval=[(4, 1), (4, 2)]),
        ValueError,
        "retrieval pairs repeat a query position: each query copies one needle token",
    ),
    (
        "retrieval not pairs",
        dict(retrieval=[3]),
        TypeError,
        "retrieval must be a list of (query, key) positions, got [3]",
    ),
]


VECTORS = np.ones((2, 2, 5, 4), dtype=np.float32)  # queries and keys of GOOD's 2 layers x 2 heads x 5 tokens
NAN_KEYS = VECTORS.copy()
NAN_KEYS[1, 0, 2, 3] = np.nan
QK_FORMS = 'qk must be True, a list of layers, or {"layers": [...], "heads": [...], "max_tokens": n}'

# Queries and keys (add_attention(..., queries=, keys=)): (case id, kwargs, exception, exact message).
QK_CASES = [
    (
        "qk= without the vectors",
        dict(qk=True),
        TypeError,
        "qk= needs the queries and keys: pass queries= and keys= (or use tb_attention.capture)",
    ),
    ("queries without keys", dict(queries=VECTORS), TypeError, "pass both queries= and keys= (or neither)"),
    (
        "queries of other heads",
        dict(queries=VECTORS[:, :1], keys=VECTORS),
        ValueError,
        "queries have 1 heads but the attention has 2",
    ),
    (
        "keys whose heads do not divide",
        dict(queries=VECTORS, keys=np.ones((2, 3, 5, 4), np.float32)),
        ValueError,
        "keys have 3 heads: the attention's 2 heads must be a multiple of them (GQA)",
    ),
    (
        "vectors of other positions",
        dict(queries=VECTORS[:, :, :4], keys=VECTORS),
        ValueError,
        "queries and keys cover 4 and 5 positions but the attention has 5 queries and 5 keys",
    ),
    ("NaN in keys", dict(queries=VECTORS, keys=NAN_KEYS), ValueError, "keys of layer 1 hold NaN or inf"),
    (
        "probe longer than qk's max_tokens",
        dict(queries=VECTORS, keys=VECTORS, qk={"max_tokens": 4}),
        ValueError,
        "probe/p at step 1: queries and keys are kept for probes of at most 4 tokens (a per-token view), this one "
        'has 5: pass qk={"max_tokens": 5} to keep them anyway, or a shorter probe',
    ),
    (
        "unknown qk key",
        dict(queries=VECTORS, keys=VECTORS, qk={"layer": [0]}),
        ValueError,
        "qk has unknown keys ['layer']: " + QK_FORMS,
    ),
    ("qk of another type", dict(queries=VECTORS, keys=VECTORS, qk="all"), TypeError, QK_FORMS + ", got 'all'"),
]


def all_cases():
    """(table section, case id, add_attention kwargs, exception type, regex or exact message)."""
    out = []
    for case, kwargs, exc, pattern in BAD_INPUTS:
        out.append(("attention and tokens", case, dict(kwargs), exc, pattern))
    for case, kwargs, exc, message in WRITER_CASES:
        out.append(("writer, tag, step, precision", case, dict(kwargs), exc, message))
    for case, kwargs, exc, message in QK_CASES:
        out.append(("queries and keys", case, dict(kwargs), exc, message))
    return out


def call_kwargs(kwargs, logdir, step):
    """Full add_attention kwargs of a case: defaults filled in, placeholders made real."""
    from torch.utils.tensorboard import SummaryWriter

    full = dict(writer=logdir, tag=TAG, attention=GOOD, tokens=TOKENS5, global_step=step)
    full.update(kwargs)
    if full["writer"] is CLOSED:
        closed = SummaryWriter(str(logdir))
        closed.close()
        full["writer"] = closed
    elif full["writer"] is LOGDIR:
        full["writer"] = logdir
    if callable(full["attention"]) and not hasattr(full["attention"], "shape"):
        full["attention"] = full["attention"]()
    return full


def raised(kwargs, logdir, step):
    """The exception add_attention raises for a case (fails the test if it raises none)."""
    full = call_kwargs(kwargs, logdir, step)
    writer, tag, attention, tokens = (full.pop(k) for k in ("writer", "tag", "attention", "tokens"))
    try:
        tb_attention.add_attention(writer, tag, attention, tokens, **full)
    except (TypeError, ValueError) as e:
        return e
    raise AssertionError("add_attention accepted a bad input: %r" % (kwargs,))


CASES = all_cases()
IDS = ["%s" % c[1] for c in CASES]


def is_slow(case):
    return case[1].startswith("> 4096")

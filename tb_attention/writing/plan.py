"""What a record will store, checked before any weight is copied: which layers and heads, in which
precision, dense or by the caller's sparse rule, and what that holds before compression. What
fits the byte budget on disk is decided by writing/budget.py (docs/format.md, "Long inputs")."""

import dataclasses
import logging
import numbers
from typing import List, Optional

from tb_attention.format import blocks
from tb_attention.format import precision as precisions

logger = logging.getLogger("tb_attention")

# The most bytes one record may take on disk (and so in host memory until written: chunks are
# compressed as they are made) unless the caller says otherwise: a few hundred MB is what a busy
# training host can spare for a moment, and what a panel can read.
DEFAULT_MAX_BYTES = 256 << 20
# Stored weights hold both bounds readers rely on: within 1/510 absolute and, from 1e-6 on,
# within 6 % relative (docs/format.md, "Precisions"); about 0.2 of float32 on disk.
DEFAULT_PRECISION = "log16"


@dataclasses.dataclass
class PartPlan:
    layer_ids: List[int]  # the input's layers to store, in order
    head_ids: List[int]  # the input's heads to store
    queries: int
    keys: int
    precision: str
    top_k: Optional[int] = None  # sparse: at most this many keys per query row
    top_mass: Optional[float] = None  # sparse: the fewest keys holding this share of each row

    @property
    def sparse(self):
        return self.top_k is not None or self.top_mass is not None

    @property
    def shape(self):
        return (len(self.layer_ids), len(self.head_ids), self.queries, self.keys)

    def dense_bytes(self):
        layers, heads, q, k = self.shape
        return layers * blocks.dense_nbytes(heads, q, k, self.precision)

    def stored_bytes(self):
        """What the record holds before compression (sparse: at most, with every row full)."""
        if not self.sparse:
            return self.dense_bytes()
        layers, heads, q, k = self.shape
        per_row = k if self.top_k is None else min(self.top_k, k)
        return layers * blocks.sparse_nbytes(heads, q, k, heads * q * per_row, self.precision)


def _subset(ids, count, name):
    """Sorted distinct indices of `ids` (None: all `count`), each in range."""
    if ids is None:
        return list(range(count))
    if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
        raise TypeError("%s must be a list of ints, got %r" % (name, ids))
    values = list(ids)
    if not values or any(isinstance(i, bool) or not isinstance(i, numbers.Integral) for i in values):
        raise ValueError("%s must be a non-empty list of ints, got %r" % (name, ids))
    bad = [int(i) for i in values if not 0 <= int(i) < count]
    if bad:
        raise ValueError("%s %s are out of range: the attention has %d (0..%d)" % (name, bad, count, count - 1))
    if len(set(int(i) for i in values)) != len(values):
        raise ValueError("%s repeats an index: %r" % (name, ids))
    return sorted(int(i) for i in values)


def _check_sparsity(top_k, top_mass):
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1):
        raise ValueError("top_k must be a positive int (keys kept per query), got %r" % (top_k,))
    if top_mass is not None and (
        isinstance(top_mass, bool) or not isinstance(top_mass, numbers.Real) or not 0 < top_mass <= 1
    ):
        raise ValueError("top_mass must be a share of each row's weight in (0, 1], got %r" % (top_mass,))


def _check_budget(max_bytes):
    if max_bytes is not None and (
        isinstance(max_bytes, bool) or not isinstance(max_bytes, numbers.Integral) or max_bytes < 1
    ):
        raise ValueError("max_bytes must be a positive int (bytes) or None (no limit), got %r" % (max_bytes,))


def plan_record(parts, precision, layers=None, heads=None, top_k=None, top_mass=None, max_bytes=DEFAULT_MAX_BYTES):
    """A PartPlan per part (anything with `.shape` (layers, heads, q, k)): the layers and heads to
    store, the precision and the caller's sparse rule, each checked (ValueError/TypeError naming
    the problem). What fits `max_bytes` on disk is decided by `budget.plan_parts`, which measures."""
    precisions.check_precision(precision)
    _check_sparsity(top_k, top_mass)
    _check_budget(max_bytes)
    return [
        PartPlan(
            _subset(layers, p.shape[0], "layers"),
            _subset(heads, p.shape[1], "heads"),
            p.shape[2],
            p.shape[3],
            precision,
            top_k,
            top_mass,
        )
        for p in parts
    ]

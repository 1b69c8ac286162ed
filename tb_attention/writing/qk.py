"""The queries and keys a record keeps beside its attention (docs/format.md, "Queries and keys"):
the `qk=` option, checked; which stored layers and heads it names; their chunks, encoded and
compressed as they come. What fits the byte budget is decided by writing/budget.py."""

import dataclasses
import numbers
from typing import List, Optional

import numpy as np

from tb_attention.format import qk as qk_format
from tb_attention.format.payload import compress
from tb_attention.writing import budget
from tb_attention.writing.chunks import Compressor

# Queries and keys are a per-token view: probes longer than this are refused unless the caller
# raises it (`qk={"max_tokens": n}`). At 512 tokens a 32 x 32-head model with head_dim 128 keeps
# about 0.3 KB per (token, head), half the default budget (docs/format.md).
DEFAULT_MAX_TOKENS = 512

_FORMS = 'qk must be True, a list of layers, or {"layers": [...], "heads": [...], "max_tokens": n}'


@dataclasses.dataclass(frozen=True)
class QKOption:
    """What the caller asked for: the model's layers and heads (None: every stored one)."""

    layers: Optional[List[int]] = None
    heads: Optional[List[int]] = None
    max_tokens: int = DEFAULT_MAX_TOKENS


def _ints(values, name):
    if values is None:
        return None
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError("qk %s must be a list of ints, got %r" % (name, values))
    values = list(values)
    if not values or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0 for v in values):
        raise ValueError("qk %s must be a non-empty list of non-negative ints, got %r" % (name, values))
    return sorted(set(int(v) for v in values))


def parse_option(qk):
    """The QKOption of a `qk=` value, or None (not asked for)."""
    if qk is None or qk is False:
        return None
    if qk is True:
        return QKOption()
    if isinstance(qk, dict):
        unknown = sorted(set(qk) - {"layers", "heads", "max_tokens"})
        if unknown:
            raise ValueError("qk has unknown keys %s: %s" % (unknown, _FORMS))
        most = qk.get("max_tokens", DEFAULT_MAX_TOKENS)
        if isinstance(most, bool) or not isinstance(most, numbers.Integral) or most < 1:
            raise ValueError("qk max_tokens must be a positive int, got %r" % (most,))
        return QKOption(_ints(qk.get("layers"), "layers"), _ints(qk.get("heads"), "heads"), int(most))
    if isinstance(qk, (list, tuple)):
        return QKOption(_ints(qk, "layers"))
    raise TypeError("%s, got %r" % (_FORMS, qk))


@dataclasses.dataclass(frozen=True)
class QKPlan:
    """Which stored layers and heads keep their queries and keys, and where keys come from."""

    layers: List[int]  # stored layer indices
    heads: List[int]  # stored head indices whose queries are kept
    model_heads: List[int]  # their model head numbers
    key_heads: List[int]  # the model's KV heads of the key section
    key_of: List[int]  # per kept query head, its row in the key section
    queries: int
    keys: int
    head_dim: int
    every_head: bool = True  # every stored head keeps its queries


def _stored(wanted, stored_ids, what):
    if wanted is None:
        return list(range(len(stored_ids)))
    missing = [i for i in wanted if i not in stored_ids]
    if missing:
        raise ValueError("qk %s %s are not among the stored %s %s" % (what, missing, what, list(stored_ids)))
    return [stored_ids.index(i) for i in wanted]


def plan_qk(option, part_plan, group, head_dim, what="attention"):
    """The QKPlan of a QKOption for a part's PartPlan (writing/plan.py) whose query heads read KV
    head h // group (1: one KV head per query head); raises ValueError for a probe longer than
    the option allows or layers and heads that are not stored."""
    longest = max(part_plan.queries, part_plan.keys)
    if longest > option.max_tokens:
        raise ValueError(
            "%s: queries and keys are kept for probes of at most %d tokens (a per-token view), this one has %d: "
            'pass qk={"max_tokens": %d} to keep them anyway, or a shorter probe'
            % (what, option.max_tokens, longest, longest)
        )
    layers = _stored(option.layers, part_plan.layer_ids, "layers")
    heads = _stored(option.heads, part_plan.head_ids, "heads")
    model_heads = [part_plan.head_ids[h] for h in heads]
    key_heads = sorted({h // group for h in model_heads})
    key_of = [key_heads.index(h // group) for h in model_heads]
    every = len(heads) == len(part_plan.head_ids)
    return QKPlan(layers, heads, model_heads, key_heads, key_of, part_plan.queries, part_plan.keys, head_dim, every)


def layer_bytes(queries, keys):
    """Bytes on disk of one layer's chunk of float32 `queries` and `keys` (compressed as stored)."""
    raw, _ = qk_format.encode_chunk(_numpy(queries), _numpy(keys))
    return len(compress(raw))


def _numpy(x):
    if hasattr(x, "detach"):
        return x.detach().float().cpu().numpy()
    return np.ascontiguousarray(x, dtype=np.float32)


class QKBuilder:
    """The chunks of a QKPlan's layers, added as they come (`add`), then written (`write`)."""

    def __init__(self, plan, rotary=None, dtype=None):
        self.plan, self.rotary, self.dtype = plan, rotary, dtype
        self.unstored = set()
        self.layers = {}  # stored layer -> (future of compressed bytes, exponents, scaling, softcap)
        self.compressor = Compressor()

    def wants(self, layer):
        return layer in self.plan.layers

    def add(self, layer, queries, keys, scaling, softcap=None, unstored=()):
        """Stored layer `layer`'s float queries `[kept heads, q, d]` and keys `[key heads, k, d]`
        (numpy, or torch on any device)."""
        raw, exponents = qk_format.encode_chunk(_numpy(queries), _numpy(keys))
        self.layers[layer] = (self.compressor.later(raw), exponents, float(scaling), softcap)
        self.unstored.update(unstored)

    def nbytes(self):
        return sum(len(f.result()) for f, _, _, _ in self.layers.values())

    def write(self, payload_file):
        """Append the chunks; the part's `qk` field."""
        missing = [i for i in self.plan.layers if i not in self.layers]
        if missing:
            raise ValueError("the queries and keys of stored layers %s never came" % missing)
        entries = [self.layers[i] for i in self.plan.layers]
        plan = self.plan
        return qk_format.make_field(
            plan.layers,
            None if plan.every_head else plan.heads,
            plan.key_heads,
            plan.key_of,
            plan.head_dim,
            [e[2] for e in entries],
            [e[3] for e in entries],
            [e[1] for e in entries],
            [payload_file.append_compressed(e[0].result()) for e in entries],
            rotary=self.rotary,
            dtype=self.dtype,
            unstored=sorted(self.unstored),
        )


def _causal(part, part_plan, given):
    """The causal flag of an add_attention part: as given, else whether every weight above the
    diagonal of the first stored layer is 0 (self-attention only)."""
    if given is not None:
        return bool(given)
    if part.key_tokens is not None or part.shape[2] < 2:
        return False
    first = part.float_layer(part_plan.layer_ids[0], part_plan.head_ids)
    return bool(not np.triu(first, k=1).any())


def _windows(window, layers):
    if window is None:
        return None
    values = list(window) if isinstance(window, (list, tuple)) else [window] * layers
    if len(values) != layers or any(
        w is not None and (isinstance(w, bool) or not isinstance(w, numbers.Integral) or w < 1) for w in values
    ):
        raise ValueError("window must be a positive int or one per layer (or None), got %r" % (window,))
    return values


@dataclasses.dataclass(frozen=True)
class QKTerms:
    """What add_attention's caller says of the scores beside the vectors."""

    scaling: Optional[float] = None  # default head_dim ** -0.5
    softcap: Optional[float] = None
    rotary: Optional[bool] = None
    causal: Optional[bool] = None  # None: read from the attention
    window: object = None  # sliding window, one for every layer or a list per layer


def from_vectors(vectors, part, part_plan, option, terms, max_bytes, what):
    """(QKBuilder, bytes on disk, structure fields) of add_attention's checked queries and keys
    (inputs/vectors.VectorInput) for one part, encoded now, within the budget."""
    layers, heads, kv_heads, head_dim = vectors.shape
    scaling = head_dim**-0.5 if terms.scaling is None else float(terms.scaling)
    for name, value in (("scaling", scaling), ("softcap", terms.softcap)):
        if value is not None and (isinstance(value, bool) or not np.isfinite(value) or value <= 0):
            raise ValueError("%s must be a positive number, got %r" % (name, value))
    plan = plan_qk(option, part_plan, vectors.group, head_dim, what)
    first = vectors.layer(part_plan.layer_ids[plan.layers[0]], plan.model_heads, plan.key_heads)
    plan, nbytes = budget.fit_qk(plan, layer_bytes(*first), max_bytes, what)
    builder = QKBuilder(plan, terms.rotary, vectors.dtype)
    for stored in plan.layers:
        q, k = vectors.layer(part_plan.layer_ids[stored], plan.model_heads, plan.key_heads)
        builder.add(stored, q, k, scaling, terms.softcap)
    windows = _windows(terms.window, layers)
    structure = {
        "kv_heads": [h // vectors.group for h in part_plan.head_ids] if vectors.group > 1 else None,
        "causal": _causal(part, part_plan, terms.causal),
        "windows": None if windows is None else [windows[i] for i in part_plan.layer_ids],
    }
    return builder, nbytes, structure

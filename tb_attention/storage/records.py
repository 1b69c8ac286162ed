"""A logged record as readers see it, whatever its format version: its step and its parts (one
per attention kind), each with tokens, shape and the model's layer and head numbers."""

import dataclasses
import sys
from typing import List, Optional

from tb_attention.format.scores import example_scores_from_json, scores_from_json
from tb_attention.storage.cache import LRU

# Every record of a probe has the same tokens, and they are most of a decoded header: the records
# a server keeps (one per step, for hours of training) share one list per distinct token list.
_TOKEN_LISTS = LRU(4096)


@dataclasses.dataclass(frozen=True)
class StepRef:
    """Where one logged step is in TensorBoard's data: its blob keys (header first)."""

    step: int
    wall_time: float
    blob_keys: tuple

    @property
    def key(self):
        """Immutable identity of the record (TensorBoard blob keys and wall times never change)."""
        return (self.blob_keys[0], self.wall_time)


@dataclasses.dataclass(frozen=True)
class Part:
    """One attention kind of a record (see format/header.py)."""

    kind: str
    shape: tuple  # (layers, heads, queries, keys) as stored
    precision: str
    tokens: List[str]
    key_tokens: Optional[List[str]]
    sentence_b_start: Optional[int]
    patterns: Optional[dict]  # metric -> float32 [layers, heads] (compact: headers are cached)
    layer_ids: List[int]  # the model's number of each stored layer
    head_ids: List[int]  # the model's number of each stored head
    layout: dict  # where the layers are: blob_base (v1) or blocks / head_block / thumbnails / nnz (v2)
    encoding: str = "dense"  # or "sparse": per query row the strongest keys only
    sparse: Optional[dict] = None  # the sparse rule: {"top_k": k, "top_mass": m}
    kv_heads: Optional[List[int]] = None  # format 3: the KV head each stored query head reads
    windows: Optional[list] = None  # format 3: each stored layer's sliding window (None: global)
    causal: Optional[bool] = None  # format 3: queries see only earlier keys (None: not recorded)
    # patterns are the mean over a set of examples: their count, spread and interval per score
    example_scores: Optional[dict] = None
    qk: Optional[dict] = None  # format 3: where the queries and keys of some layers are (format/qk.py)

    @property
    def cross(self):
        return self.key_tokens is not None

    def to_json(self):
        """JSON of what a view needs to lay the part out."""
        return {
            "kind": self.kind,
            "shape": list(self.shape),
            "precision": self.precision,
            "tokens": self.tokens,
            "key_tokens": self.key_tokens,
            "sentence_b_start": self.sentence_b_start,
            "layer_ids": self.layer_ids,
            "head_ids": self.head_ids,
            "has_patterns": bool(self.patterns),
            "encoding": self.encoding,
            "sparse": self.sparse,
            "kv_heads": self.kv_heads,
            "windows": self.windows,
            "causal": self.causal,
            "examples": self.example_scores["examples"] if self.example_scores else None,
            "detail_rows": self.layout.get("detail_rows"),
            "levels": self.levels(),
            "qk": self.qk_summary(),
        }

    def qk_summary(self):
        """What a view needs to know of the stored queries and keys (None: the part has none)."""
        if not self.qk:
            return None
        keys = ("layers", "heads", "head_dim", "rotary", "precision", "dtype", "unstored")
        return {k: self.qk.get(k) for k in keys}

    def levels(self):
        """The pooling factors a region of this part can be read at from stored pooled levels
        (coarser factors pool them further; finer ones read the detail)."""
        overview = self.layout.get("overview") or {}
        thumbnails = self.layout.get("thumbnails") or {}
        factors = list(overview.get("factors", [])) + ([thumbnails["factor"]] if thumbnails.get("factor") else [])
        return sorted(set(factors))


@dataclasses.dataclass(frozen=True)
class Record:
    ref: StepRef
    version: int
    file: Optional[str]  # v2: the payload file, relative to the run directory
    parts: dict  # kind -> Part, in logged order
    nbytes: int  # size of the header blob (what caching it costs, roughly)

    def part(self, kind=None):
        """The part of `kind` (default: the first logged); raises KeyError naming the kinds."""
        if kind is None:
            return next(iter(self.parts.values()))
        if kind not in self.parts:
            raise KeyError("no attention of kind %r at this step (it has %s)" % (kind, ", ".join(self.parts)))
        return self.parts[kind]


def _patterns(stored):
    """Stored scores as arrays; a malformed score table costs the scores, not the record."""
    if not stored:
        return None
    try:
        return {sys.intern(name): values for name, values in scores_from_json(stored).items()}
    except ValueError:
        return None


def _shared(tokens):
    """One list for equal token lists (readers never change them)."""
    if tokens is None:
        return None
    key = tuple(tokens)
    shared = _TOKEN_LISTS.get(key)
    if shared is None:
        shared = list(key)
        _TOKEN_LISTS.put(key, shared)
    return shared


def _example_scores(stored, patterns):
    """Stored example statistics as arrays, or None when absent, malformed or not of the scores'
    shape (they then cost only themselves)."""
    if not stored or not patterns:
        return None
    try:
        summary = example_scores_from_json(stored)
    except ValueError:
        return None
    shape = next(iter(patterns.values())).shape
    if any(values.shape != shape for table in ("count", "std", "half") for values in summary[table].values()):
        return None
    return summary


def from_header(ref, header, nbytes):
    """A Record from a normalized header (format/header.py)."""
    parts = {}
    for kind, p in header["parts"].items():
        layers, heads = p["shape"][:2]
        layout = {
            k: p[k]
            for k in ("blob_base", "blocks", "head_block", "thumbnails", "nnz", "band_rows", "detail_rows", "overview")
            if k in p
        }
        patterns = _patterns(p.get("patterns"))
        parts[kind] = Part(
            kind=kind,
            shape=tuple(p["shape"]),
            precision=sys.intern(p["precision"]),
            tokens=_shared(p["tokens"]),
            key_tokens=_shared(p.get("key_tokens")),
            sentence_b_start=p.get("sentence_b_start"),
            patterns=patterns,
            layer_ids=p.get("layer_ids") or list(range(layers)),
            head_ids=p.get("head_ids") or list(range(heads)),
            layout=layout,
            encoding=p.get("encoding", "dense"),
            sparse=p.get("sparse"),
            kv_heads=p.get("kv_heads"),
            windows=p.get("windows"),
            causal=p.get("causal"),
            example_scores=_example_scores(p.get("example_scores"), patterns),
            qk=p.get("qk"),
        )
    return Record(ref=ref, version=header["version"], file=header.get("file"), parts=parts, nbytes=nbytes)

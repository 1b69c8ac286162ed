"""Queries and keys of a part (format 3, docs/format.md "Queries and keys"): for each chosen layer
one payload chunk of little-endian float16, the kept query heads' vectors `[heads, queries,
head_dim]` followed by the vectors of the KV heads they read `[key heads, keys, head_dim]`, each
section divided by a power of two (its exponent in the header) so that its largest value fits
float16. The part's `qk` field says which layers and heads, how query heads map to key heads, and
what the scores need beside the vectors (scaling, soft-cap, the model's dtype, whether positions
were rotated); the mask is the part's `causal` and `windows` (format/masking.py)."""

import math

import numpy as np

from tb_attention.format.errors import FormatError
from tb_attention.format.payload import check_ref

PRECISION = "float16"
DTYPE = np.dtype("<f2")
# float16's unit roundoff (a normal value is within this share of its float32) and the absolute
# error of its subnormals (values below 2^-14 are kept to a multiple of 2^-24): docs/format.md.
UNIT = 2.0**-11
SUBNORMAL_ERROR = 2.0**-25
# A section is scaled down by a power of two when its largest value is above this (float16's
# largest finite value is 65504: one binade of room).
LARGEST = 2.0**15
DTYPES = ("float32", "bfloat16", "float16")
TERMS = ("position_bias", "sinks")  # score terms a model may add that the record does not store


def exponent(largest):
    """The power of two a section of largest absolute value `largest` is divided by (0 or more)."""
    if not np.isfinite(largest):
        raise ValueError("queries or keys hold a non-finite value")
    return max(0, math.ceil(math.log2(largest / LARGEST))) if largest > LARGEST else 0


def _section(values):
    values = np.asarray(values, dtype=np.float32)
    e = exponent(float(np.abs(values).max()) if values.size else 0.0)
    return np.ascontiguousarray(np.ldexp(values, -e) if e else values, dtype=DTYPE).tobytes(), e


def encode_chunk(queries, keys):
    """(raw bytes, [query exponent, key exponent]) of float32 `queries` `[heads, q, d]` and `keys`
    `[key heads, k, d]`."""
    q_raw, q_exp = _section(queries)
    k_raw, k_exp = _section(keys)
    return q_raw + k_raw, [q_exp, k_exp]


def chunk_nbytes(query_heads, queries, key_heads, keys, head_dim):
    return (query_heads * queries + key_heads * keys) * head_dim * DTYPE.itemsize


def decode_chunk(raw, query_shape, key_shape, exponents):
    """(float32 queries `query_shape`, float32 keys `key_shape`) of a chunk's raw bytes."""
    nq, nk = int(np.prod(query_shape)), int(np.prod(key_shape))
    if len(raw) != (nq + nk) * DTYPE.itemsize:
        raise FormatError("queries and keys chunk holds %d bytes, expected %d" % (len(raw), (nq + nk) * 2))
    values = np.frombuffer(raw, DTYPE).astype(np.float32)
    q, k = values[:nq].reshape(query_shape), values[nq:].reshape(key_shape)
    return np.ldexp(q, exponents[0]) if exponents[0] else q, np.ldexp(k, exponents[1]) if exponents[1] else k


def make_field(layers, heads, key_heads, key_of, head_dim, scaling, softcap, exponents, chunks, **model):
    """The part's `qk` field. `layers`: the stored layers that have queries and keys; `heads`: the
    stored heads whose queries are kept (None: all); `key_heads`: the model's KV heads of the key
    section, `key_of`: the key-section row each kept query head reads; per kept layer its
    `scaling`, `softcap` (or None), section exponents and chunk reference; `model`: rotary (whether
    positions were rotated into the vectors), dtype (the model's), unstored (score terms not kept)."""
    return {
        "precision": PRECISION,
        "head_dim": int(head_dim),
        "layers": [int(i) for i in layers],
        "heads": None if heads is None else [int(h) for h in heads],
        "key_heads": [int(h) for h in key_heads],
        "key_of": [int(i) for i in key_of],
        "scaling": [float(s) for s in scaling],
        "softcap": None if all(c is None for c in softcap) else [None if c is None else float(c) for c in softcap],
        "exponents": [[int(a), int(b)] for a, b in exponents],
        "rotary": model.get("rotary"),
        "dtype": model.get("dtype"),
        "unstored": list(model.get("unstored") or []),
        "chunks": chunks,
    }


def _ints(values, count, low=0, high=None):
    return (
        isinstance(values, list)
        and (count is None or len(values) == count)
        and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= low and (high is None or v < high) for v in values
        )
    )


def _numbers(values, count, optional=False):
    return (
        isinstance(values, list)
        and len(values) == count
        and all(
            (optional and v is None)
            or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0)
            for v in values
        )
    )


def check_field(field, kind, layers, heads):
    """Raise FormatError unless `field` is a well-formed `qk` field of a part of `layers` x `heads`."""

    def bad(what):
        return FormatError("attention part %r has bad queries and keys (%s)" % (kind, what))

    if not isinstance(field, dict) or field.get("precision") != PRECISION:
        raise bad("precision")
    d = field.get("head_dim")
    if not (isinstance(d, int) and not isinstance(d, bool) and d >= 1):
        raise bad("head_dim")
    kept = field.get("layers")
    if not _ints(kept, None, 0, layers) or not kept or kept != sorted(set(kept)):
        raise bad("layers")
    query_heads = field.get("heads")
    if query_heads is not None and (not _ints(query_heads, None, 0, heads) or query_heads != sorted(set(query_heads))):
        raise bad("heads")
    count = heads if query_heads is None else len(query_heads)
    key_heads = field.get("key_heads")
    if not _ints(key_heads, None) or not key_heads or not _ints(field.get("key_of"), count, 0, len(key_heads)):
        raise bad("key heads")
    n = len(kept)
    softcap = field.get("softcap")
    if not _numbers(field.get("scaling"), n) or not (softcap is None or _numbers(softcap, n, optional=True)):
        raise bad("scaling or softcap")
    if not (isinstance(field.get("exponents"), list) and len(field["exponents"]) == n) or not all(
        _ints(e, 2) for e in field["exponents"]
    ):
        raise bad("exponents")
    if field.get("rotary") not in (None, True, False) or field.get("dtype") not in (None,) + DTYPES:
        raise bad("rotary or dtype")
    unstored = field.get("unstored", [])
    if not isinstance(unstored, list) or any(t not in TERMS for t in unstored):
        raise bad("unstored terms")
    chunks = field.get("chunks")
    if not isinstance(chunks, list) or len(chunks) != n:
        raise bad("chunks")
    for ref in chunks:
        check_ref(ref)
    return field

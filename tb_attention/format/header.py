"""A record's header (docs/format.md): what was logged and where its bytes are.

Both versions decode to one normalized form, `{"version", "file", "compression", "parts"}`, where
`parts` maps an attention kind ("self", "cross", or "encoder"/"decoder"/"cross" of one
encoder-decoder probe) to its description: shape `[layers, heads, queries, keys]`, precision,
tokens, key_tokens, sentence_b_start, patterns, layer_ids / head_ids (the model's indices of the
logged layers and heads), and where its layers are: `blob_base` (v1: layer l is event blob
blob_base + l) or `blocks` / `head_block` / `thumbnails` (v2: payload chunk references).
"""

import json

from tb_attention.format import metadata, qk
from tb_attention.format import precision as precisions
from tb_attention.format.errors import FormatError
from tb_attention.format.payload import COMPRESSION, check_ref

V1_COMPRESSION = "zlib"
V1_PRECISIONS = ("uint8", "float16", "float32")  # format 1 stores plain little-endian values
KINDS = ("self", "cross", "encoder", "decoder")


def encode_header(header):
    return json.dumps(header, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def make_part(
    kind, shape, precision, tokens, key_tokens=None, sentence_b_start=None, patterns=None, layer_ids=None, head_ids=None
):
    """A v2 part without its payload references (the writer adds them)."""
    return {
        "kind": kind,
        "shape": [int(n) for n in shape],
        "precision": precision,
        "tokens": list(tokens),
        "key_tokens": None if key_tokens is None else list(key_tokens),
        "sentence_b_start": sentence_b_start,
        "patterns": patterns,
        "layer_ids": None if layer_ids is None else [int(i) for i in layer_ids],
        "head_ids": None if head_ids is None else [int(i) for i in head_ids],
        "encoding": "dense",
    }


# What only format 3 has: part fields, and precisions (readers of format 2 know neither).
V3_FIELDS = ("band_rows", "detail_rows", "overview", "kv_heads", "windows", "causal", "qk")
V3_PRECISIONS = ("log16",)


def make_header(parts, file):
    """The header of a record whose payload is in `file`: format 3 when a part uses anything only
    format 3 has (older readers then say "upgrade"), else format 2 (every reader since reads it)."""
    v3 = any(p.get("precision") in V3_PRECISIONS or any(f in p for f in V3_FIELDS) for p in parts)
    return {"version": 3 if v3 else 2, "file": file, "compression": COMPRESSION, "parts": parts}


def make_v2_header(parts, file):
    return {"version": 2, "file": file, "compression": COMPRESSION, "parts": parts}


def make_v1_header(shape, tokens, key_tokens, sentence_b_start, precision, patterns=None):
    """The header of a format-1 record (as tb-attention 0.1 wrote them; tests build old logdirs)."""
    return {
        "version": 1,
        "shape": [int(n) for n in shape],
        "precision": precision,
        "compression": V1_COMPRESSION,
        "tokens": list(tokens),
        "key_tokens": None if key_tokens is None else list(key_tokens),
        "sentence_b_start": sentence_b_start,
        "patterns": patterns,
    }


def decode_header(blob):
    """The normalized header of a stored header blob; raises FormatError."""
    try:
        header = json.loads(bytes(blob).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError("attention header is not valid JSON: %s" % e) from None
    if not isinstance(header, dict):
        raise FormatError("attention header is not a JSON object")
    try:
        version = metadata.check_version(header.get("version"), "attention record", metadata.ATTENTION_TAG_VERSION)
    except ValueError as e:
        raise FormatError(str(e)) from None
    if version <= 1:
        if header.get("compression") != V1_COMPRESSION or header.get("precision") not in V1_PRECISIONS:
            raise FormatError("attention header has an unknown precision or compression")
        part = _parse_part(dict(header, kind="cross" if header.get("key_tokens") is not None else "self"))
        part["blob_base"] = 1
        return {"version": version, "file": None, "compression": V1_COMPRESSION, "parts": {part["kind"]: part}}
    parts = header.get("parts")
    file = header.get("file")
    if header.get("compression") != COMPRESSION or not isinstance(file, str) or not _relative(file):
        raise FormatError("attention header names no readable payload file: %r" % (file,))
    if not isinstance(parts, list) or not parts:
        raise FormatError("attention header has no parts")
    out = {}
    for part in parts:
        part = _check_payload(_parse_part(part))
        if part["kind"] in out:
            raise FormatError("attention header repeats the part %r" % part["kind"])
        out[part["kind"]] = part
    return {"version": version, "file": file, "compression": COMPRESSION, "parts": out}


def _relative(path):
    """A '/'-separated path inside the run directory: copies and syncs of the logdir keep it."""
    pieces = path.split("/")
    return bool(path) and not path.startswith("/") and "\\" not in path and ":" not in path and ".." not in pieces


def _is_int(n, low=0):
    return isinstance(n, int) and not isinstance(n, bool) and n >= low


def _is_token_list(tokens, count):
    return isinstance(tokens, list) and len(tokens) == count and all(isinstance(t, str) for t in tokens)


def _check_ids(ids, count, name):
    if ids is not None and not (
        isinstance(ids, list) and len(ids) == count and all(_is_int(i) for i in ids) and len(set(ids)) == count
    ):
        raise FormatError("attention header has bad %s: %r" % (name, ids))


def _parse_part(part):
    if not isinstance(part, dict) or part.get("kind") not in KINDS:
        raise FormatError(
            "attention header has a part of unknown kind: %r" % (part.get("kind") if isinstance(part, dict) else part,)
        )
    shape = part.get("shape")
    if not isinstance(shape, list) or len(shape) != 4 or not all(_is_int(n, 1) for n in shape):
        raise FormatError("attention header has a bad shape: %r" % (shape,))
    if part.get("precision") not in precisions.PRECISIONS:
        raise FormatError("attention header has an unknown precision or compression")
    layers, heads, q, k = shape
    key_tokens = part.get("key_tokens")
    if not _is_token_list(part.get("tokens"), q) or not (
        _is_token_list(key_tokens, k) if key_tokens is not None else q == k
    ):
        raise FormatError("attention header's tokens do not match its shape %s" % (shape,))
    sentence_b_start = part.get("sentence_b_start")
    if sentence_b_start is not None and not (_is_int(sentence_b_start, 1) and sentence_b_start < q):
        raise FormatError("attention header has a bad sentence_b_start: %r" % (sentence_b_start,))
    _check_ids(part.get("layer_ids"), layers, "layer_ids")
    _check_ids(part.get("head_ids"), heads, "head_ids")
    part.setdefault("layer_ids", None)
    part.setdefault("head_ids", None)
    part.setdefault("encoding", "dense")
    return part


def _counts(table, shape):
    """A nested list of non-negative ints of exactly `shape`."""
    if not shape:
        return _is_int(table)
    return isinstance(table, list) and len(table) == shape[0] and all(_counts(t, shape[1:]) for t in table)


def _check_sparse(part, shape):
    sparse, nnz = part.get("sparse"), part.get("nnz")
    top_k = sparse.get("top_k") if isinstance(sparse, dict) else None
    top_mass = sparse.get("top_mass") if isinstance(sparse, dict) else None
    if (
        not isinstance(sparse, dict)
        or (top_k is None and top_mass is None)
        or not (top_k is None or _is_int(top_k, 1))
        or not (
            top_mass is None
            or (isinstance(top_mass, (int, float)) and not isinstance(top_mass, bool) and 0 < top_mass <= 1)
        )
    ):
        raise FormatError("attention part %r has a bad sparse rule: %r" % (part["kind"], sparse))
    if not _counts(nnz, shape):
        raise FormatError("attention part %r has a bad nnz table" % part["kind"])


def _refs(table, shape, what, kind):
    """A nested list of chunk references of exactly `shape` (lengths per level)."""
    if not shape:
        check_ref(table)
        return
    if not isinstance(table, list) or len(table) != shape[0]:
        raise FormatError("attention part %r has a bad %s table" % (kind, what))
    for item in table:
        _refs(item, shape[1:], what, kind)


def _check_rows(part, q):
    """Format 3: `detail_rows` [r0, r1) (rows kept in detail) and `band_rows` (rows per chunk)."""
    detail = part.get("detail_rows")
    if detail is not None and not (
        isinstance(detail, list) and len(detail) == 2 and all(_is_int(n) for n in detail) and detail[0] < detail[1] <= q
    ):
        raise FormatError("attention part %r has bad detail rows: %r" % (part["kind"], detail))
    r0, r1 = detail or (0, q)
    band_rows = part.get("band_rows")
    if band_rows is not None and not _is_int(band_rows, 1):
        raise FormatError("attention part %r has a bad band_rows: %r" % (part["kind"], band_rows))
    return None if band_rows is None else -(-(r1 - r0) // band_rows)


def _check_structure(part, layers, heads):
    """Format 3: the KV head of each stored query head, each stored layer's sliding window, and
    whether its queries see only earlier keys (causal)."""
    kv = part.get("kv_heads")
    if kv is not None and not (isinstance(kv, list) and len(kv) == heads and all(_is_int(h) for h in kv)):
        raise FormatError("attention part %r has bad kv_heads: %r" % (part["kind"], kv))
    if part.get("causal") not in (None, True, False):
        raise FormatError("attention part %r has a bad causal flag: %r" % (part["kind"], part.get("causal")))
    windows = part.get("windows")
    if windows is not None and not (
        isinstance(windows, list) and len(windows) == layers and all(w is None or _is_int(w, 1) for w in windows)
    ):
        raise FormatError("attention part %r has bad windows: %r" % (part["kind"], windows))


def _check_pooled(part, layers, heads, q, k):
    """Thumbnails (per layer, every head) and, format 3, the overview (per layer and head)."""
    kind = part["kind"]
    thumbnails = part.get("thumbnails")
    if thumbnails is not None:
        size = thumbnails.get("size") if isinstance(thumbnails, dict) else None
        factor = thumbnails.get("factor") if isinstance(thumbnails, dict) else None
        if not (isinstance(size, list) and len(size) == 2 and all(_is_int(n, 1) for n in size)) or not (
            factor is None or (_is_int(factor, 1) and size == [-(-q // factor), -(-k // factor)])
        ):
            raise FormatError("attention part %r has a bad thumbnail table" % kind)
        _refs(thumbnails.get("chunks"), [layers], "thumbnail", kind)
    overview = part.get("overview")
    if overview is not None:
        factors = overview.get("factors") if isinstance(overview, dict) else None
        if not (
            isinstance(factors, list)
            and factors
            and all(_is_int(f, 1) for f in factors)
            and factors == sorted(set(factors))
            and overview.get("sizes") == [[-(-q // f), -(-k // f)] for f in factors]
        ):
            raise FormatError("attention part %r has a bad overview: %r" % (kind, factors))
        _refs(overview.get("chunks"), [layers, heads], "overview", kind)


def _check_payload(part):
    layers, heads, q, k = part["shape"]
    kind = part["kind"]
    if part.get("encoding") not in ("dense", "sparse"):
        raise FormatError("attention part %r has an unknown encoding %r" % (kind, part.get("encoding")))
    head_block = part.get("head_block")
    if not _is_int(head_block, 1):
        raise FormatError("attention part %r has a bad block table" % kind)
    bands = _check_rows(part, q)
    shape = [layers, -(-heads // head_block)] + ([bands] if bands is not None else [])
    _refs(part.get("blocks"), shape, "block", kind)
    if part["encoding"] == "sparse":
        _check_sparse(part, shape)
    _check_structure(part, layers, heads)
    _check_pooled(part, layers, heads, q, k)
    if part.get("qk") is not None:
        qk.check_field(part["qk"], kind, layers, heads)
    return part

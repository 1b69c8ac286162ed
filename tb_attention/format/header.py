"""A record's header (docs/format.md): what was logged and where its bytes are.

Both versions decode to one normalized form, `{"version", "file", "compression", "parts"}`, where
`parts` maps an attention kind ("self", "cross", or "encoder"/"decoder"/"cross" of one
encoder-decoder probe) to its description: shape `[layers, heads, queries, keys]`, precision,
tokens, key_tokens, sentence_b_start, patterns, layer_ids / head_ids (the model's indices of the
logged layers and heads), and where its layers are: `blob_base` (v1: layer l is event blob
blob_base + l) or `blocks` / `head_block` / `thumbnails` (v2: payload chunk references).
"""

import json

from tb_attention.format import metadata
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
        version = metadata.check_version(header.get("version"), "attention record")
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


def _table(table, layers, n_blocks):
    return (
        isinstance(table, list)
        and len(table) == layers
        and all(isinstance(b, list) and len(b) == n_blocks for b in table)
    )


def _check_sparse(part, layers, n_blocks):
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
    if not _table(nnz, layers, n_blocks) or not all(_is_int(n) for row in nnz for n in row):
        raise FormatError("attention part %r has a bad nnz table" % part["kind"])


def _check_payload(part):
    layers, heads = part["shape"][:2]
    if part.get("encoding") not in ("dense", "sparse"):
        raise FormatError("attention part %r has an unknown encoding %r" % (part["kind"], part.get("encoding")))
    head_block = part.get("head_block")
    blocks = part.get("blocks")
    n_blocks = -(-heads // head_block) if _is_int(head_block, 1) else None
    if n_blocks is None or not _table(blocks, layers, n_blocks):
        raise FormatError("attention part %r has a bad block table" % part["kind"])
    if part["encoding"] == "sparse":
        _check_sparse(part, layers, n_blocks)
    for layer in blocks:
        for ref in layer:
            check_ref(ref)
    thumbnails = part.get("thumbnails")
    if thumbnails is not None:
        size = thumbnails.get("size") if isinstance(thumbnails, dict) else None
        chunks = thumbnails.get("chunks") if isinstance(thumbnails, dict) else None
        if not (
            isinstance(size, list)
            and len(size) == 2
            and all(_is_int(n, 1) for n in size)
            and isinstance(chunks, list)
            and len(chunks) == layers
        ):
            raise FormatError("attention part %r has a bad thumbnail table" % part["kind"])
        for ref in chunks:
            check_ref(ref)
    return part

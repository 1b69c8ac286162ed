"""The answer of /layer (docs/http_api.md) for a `LayerRequest` on a `StoredPart`, one function
per form of the answer: a whole layer (its stored bytes sent as they are when they can be), query
rows as stored, the mean of heads, the weight each sparse row kept, or the entries sparse rows
kept. A long layer is read one block of heads at a time and never densified whole."""

import collections

import numpy as np

from tb_attention.format import blocks, precision
from tb_attention.serving.arrays import float_payload, sparse_payload, stored_payload
from tb_attention.serving.errors import BadRequest


def query_rows(queries, q_start, q_end):
    """(first, end) of the query rows asked for, or None for all of them."""
    if q_start is None and q_end is None:
        return None
    first = 0 if q_start is None else q_start
    end = queries if q_end is None else q_end
    if not 0 <= first < end <= queries:
        raise BadRequest(
            "query rows [%d, %d) are out of range: the layer has %d queries (0 <= q_start < q_end <= %d)"
            % (first, end, queries, queries)
        )
    return first, end


# The most weights one /layer answer holds (a long record's whole layer would be gigabytes: the
# panel asks for windows of query rows, or /tile, instead).
MAX_ANSWER_WEIGHTS = 64 << 20
MAX_ANSWER_ENTRIES = 64 << 20  # kept entries of one form=sparse answer


def layer_answer(stored, request):
    """The ArrayPayload of a LayerRequest on its StoredPart."""
    _, n_heads, q, k = stored.part.shape
    heads = stored.check_heads(request.heads)
    rows = query_rows(q, request.q_start, request.q_end)
    if request.form == "sparse":
        return _sparse_form(stored, request.layer, list(range(n_heads)) if heads is None else heads, rows or (0, q))
    count = (n_heads if heads is None else len(heads)) * ((rows[1] - rows[0]) if rows else q)
    if request.form != "kept" and count * (1 if request.reduce else k) > MAX_ANSWER_WEIGHTS:
        raise BadRequest(
            "that would be %d weights, over the %d one answer holds: ask for fewer heads, a window of "
            "query rows (q_start, q_end), their mean (reduce=mean) or a region (/tile)"
            % (count * k, MAX_ANSWER_WEIGHTS)
        )
    if request.form == "kept":
        return _kept(stored, request.layer, heads, rows, mean=bool(request.reduce))
    if request.reduce or rows:
        wanted = list(range(n_heads)) if heads is None else heads
        return _rows(stored, request.layer, wanted, rows or (0, q), mean=bool(request.reduce))
    return _whole_layer(stored, request.layer, heads)


def _whole_layer(stored, layer, heads):
    """Every query row of the listed heads as stored: the stored bytes as they are for a whole
    dense layer, else the heads read from their blocks."""
    _, n_heads, q, k = stored.part.shape
    shape = (n_heads if heads is None else len(heads), q, k)
    encoded = stored.encoded_layer(layer) if heads is None else None
    if encoded is not None:
        coding, data, raw = encoded
        _, _, q, k = stored.part.shape
        return stored_payload(shape, stored.part.precision, raw, (coding, data), stored.head_block() * q * k)
    values = np.ascontiguousarray(stored.layer(layer, heads, stored=True)).tobytes()
    return stored_payload(shape, stored.part.precision, lambda: values)


def _kept(stored, layer, heads, rows, mean):
    """Float32 `[heads, rows]` of the weight each sparse row kept, or `[1, rows]` of the mean row's."""
    kept = stored.kept_mass(layer, heads, rows)
    if kept is None:
        raise BadRequest("this record is dense: every query row keeps all of its weight")
    kept = np.asarray(kept, dtype=np.float32)
    if mean:
        kept = kept.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
    return float_payload(kept)


def _rows(stored, layer, wanted, rows, mean):
    """Query rows [r0, r1) of the `wanted` heads as stored, or their mean (float32 `[1, rows, k]`)."""
    read = _sparse_rows if stored.part.encoding == "sparse" else _dense_rows
    out = read(stored, layer, wanted, rows, mean)
    if mean:
        return float_payload(out, part_precision=stored.part.precision)
    return stored_payload(out.shape, stored.part.precision, np.ascontiguousarray(out).tobytes)


def _dense_rows(stored, layer, wanted, rows, mean):
    """Rows of the `wanted` heads of a dense layer, one stored block of heads at a time."""
    block = stored.head_block()
    out = None
    for b in sorted({h // block for h in wanted}):
        slots = [i for i, h in enumerate(wanted) if h // block == b]
        values = stored.rows(layer, [wanted[i] for i in slots], rows, stored=not mean)
        if mean:
            total = values.sum(axis=0, dtype=np.float32)
            out = total if out is None else out + total
        else:
            if out is None:
                out = np.zeros((len(wanted),) + values.shape[1:], dtype=values.dtype)
            out[slots] = values
    return (out / np.float32(len(wanted)))[None] if mean else out


def _sparse_rows(stored, layer, wanted, rows, mean):
    """Rows of the `wanted` heads of a sparse layer, densified (stored dtype), or their mean
    (float32); only the kept weights of those rows are touched."""
    part_precision, k = stored.part.precision, stored.part.shape[3]
    n = rows[1] - rows[0]
    times = collections.Counter(wanted)  # a head listed twice counts twice in the mean
    out = np.zeros((1 if mean else len(wanted), n, k), dtype=np.float32 if mean else precision.dtype(part_precision))
    for (h0, h1), counts, _, indices, weights in stored.sparse_rows(layer, rows):
        q = counts.shape[1]
        offsets = np.zeros(counts.size + 1, dtype=np.int64)
        np.cumsum(counts.ravel(), out=offsets[1:])
        for h in range(h0, h1):
            if h not in times:
                continue
            j = h - h0
            a, b = offsets[j * q], offsets[(j + 1) * q]
            flat = np.repeat(np.arange(n, dtype=np.int64) * k, counts[j].astype(np.int64)) + indices[a:b]
            if mean:
                out[0].reshape(-1)[flat] += weights[a:b] * np.float32(times[h])  # keys are unique within a row
            else:
                values = precision.quantize(weights[a:b], part_precision)
                for slot in (i for i, x in enumerate(wanted) if x == h):
                    out[slot].reshape(-1)[flat] = values
    if mean:
        out /= np.float32(len(wanted))
    return out


def _sparse_form(stored, layer, wanted, rows):
    """The entries query rows [rows) of the `wanted` heads kept, as stored: counts `[heads, rows]`,
    key indices and values (a head listed twice is sent twice); never densified."""
    if stored.part.encoding != "sparse":
        raise BadRequest("form=sparse is for sparse records; this one is dense: ask for its rows as they are")
    per_head = {}
    for (h0, h1), counts, _, indices, values in stored.sparse_rows(layer, rows, sorted(set(wanted)), stored=True):
        ends = np.cumsum(counts.sum(axis=1, dtype=np.int64))
        for j, h in enumerate(range(h0, h1)):
            a, b = (ends[j - 1] if j else 0), ends[j]
            per_head[h] = (counts[j], indices[a:b], values[a:b])
    entries = sum(per_head[h][1].size for h in wanted)
    if entries > MAX_ANSWER_ENTRIES:
        raise BadRequest(
            "that would be %d kept entries, over the %d one answer holds: ask for fewer heads or a smaller "
            "window of query rows (q_start, q_end)" % (entries, MAX_ANSWER_ENTRIES)
        )
    k = stored.part.shape[3]
    counts = np.concatenate([per_head[h][0] for h in wanted]).astype(blocks.COUNT_DTYPE, copy=False)
    indices = np.concatenate([per_head[h][1] for h in wanted]).astype(blocks.index_dtype(k), copy=False)
    values = np.concatenate([per_head[h][2] for h in wanted])
    return sparse_payload((len(wanted), rows[1] - rows[0], k), stored.part.precision, counts, indices, values)

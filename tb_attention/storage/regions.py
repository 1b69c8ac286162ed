"""A region of a stored layer at a zoom level: max-pooled cells of factor f (a power of two) over
query rows [r0, r1) x keys [c0, c1), read from the stored overview levels when the factor is
coarse enough (they pool every weight), else from the detail rows the record keeps (docs/format.md,
"Regions"). A cell the record does not store (a row outside its detail, a key a sparse row
dropped) is NaN, never 0; keys a causal or windowed layer cannot see are 0."""

import math

import numpy as np

from tb_attention.format import blocks, payload
from tb_attention.format.masking import hidden_cells
from tb_attention.storage import layers
from tb_attention.storage.cache import LRU
from tb_attention.storage.errors import NotFound

# Decoded pooled levels, by (record, kind, layer, head): zooming reads the same levels again.
_LEVELS = LRU(4096, 64 << 20)

# A sparse row that kept at least this share of its weight dropped only (near) zeros.
WHOLE_ROW = 1.0 - 1e-3


def _pool(values, factor):
    """`[heads, rows, cols]` max-pooled by `factor` (ceil), NaN where every weight is NaN."""
    if factor == 1:
        return values
    heads, rows, cols = values.shape
    nr, nc = math.ceil(rows / factor), math.ceil(cols / factor)
    padded = np.full((heads, nr * factor, nc * factor), np.nan, dtype=np.float32)
    padded[:, :rows, :cols] = values
    cells = padded.reshape(heads, nr, factor, nc, factor)
    return np.fmax.reduce(np.fmax.reduce(cells, axis=4), axis=2)


def levels(part):
    """[(factor, (rows, cols), source)] of the pooled levels a part stores, finest first:
    ("overview", index) per overview level, ("thumbnails", None) for the thumbnails."""
    out = []
    overview = part.layout.get("overview")
    if overview:
        out += [
            (f, tuple(size), ("overview", i)) for i, (f, size) in enumerate(zip(overview["factors"], overview["sizes"]))
        ]
    thumbs = part.layout.get("thumbnails")
    if thumbs and thumbs.get("factor"):
        out.append((thumbs["factor"], tuple(thumbs["size"]), ("thumbnails", None)))
    return sorted(out, key=lambda level: level[0])


def _level(stored, layer, head, source):
    """Float32 `[rows, cols]` of one stored pooled level of one head (cached)."""
    key = (stored.key, layer, head, source)
    cells = _LEVELS.get(key)
    if cells is None:
        cells = _read_level(stored, layer, head, source)
        _LEVELS.put(key, cells, cells.nbytes)
    return cells


def _read_level(stored, layer, head, source):
    part = stored.part
    heads = part.shape[1]
    kind, index = source
    if kind == "thumbnails":
        ref = part.layout["thumbnails"]["chunks"][layer]
        rows, cols = part.layout["thumbnails"]["size"]
        what = "thumbnails of layer %d" % layer
        raw = payload.decompress(stored.bytes.chunk(ref, what), heads * rows * cols * 2, what)
        return blocks.decode_thumbnails(raw, heads, rows, cols)[head]
    overview = part.layout["overview"]
    sizes = [tuple(size) for size in overview["sizes"]]
    what = "overview of layer %d head %d" % (layer, head)
    total = sum(r * c for r, c in sizes) * blocks.THUMBNAIL_DTYPE.itemsize
    raw = payload.decompress(stored.bytes.chunk(overview["chunks"][layer][head], what), total, what)
    cells = np.frombuffer(raw, dtype=blocks.THUMBNAIL_DTYPE)
    start = sum(r * c for r, c in sizes[:index])
    rows, cols = sizes[index]
    return cells[start : start + rows * cols].reshape(rows, cols).astype(np.float32)


def _from_levels(stored, layer, heads, rows, cols, factor, level):
    base, _, source = level
    ratio = factor // base
    out = []
    for head in heads:
        cells = _level(stored, layer, head, source)
        cells = cells[rows[0] // base : math.ceil(rows[1] / base), cols[0] // base : math.ceil(cols[1] / base)]
        out.append(_pool(cells[None], ratio)[0])
    return np.stack(out)


def _known_zero(part, layer, rows, cols, factor):
    """Bool `[cells of rows, cells of cols]` at `factor`: the cells holding a key the layer cannot
    see from one of rows [rows) (format/masking.py), a weight that is 0 whether stored or not."""
    window = (part.windows or [None] * part.shape[0])[layer]
    return hidden_cells(part.causal, window, rows, cols, factor)


def _fold_dense(target, block, row, factor):
    """Max-pool `block` (`[rows, cols]` of weights, its first row `row` rows into the region, an
    aligned region: cols from a cell's start) into `target` (the region's cells)."""
    lead = row % factor
    rows, cols = block.shape
    n = math.ceil((lead + rows) / factor)
    padded = np.full((n * factor, target.shape[1] * factor), np.nan, dtype=np.float32)
    padded[lead : lead + rows, :cols] = block
    cells = np.fmax.reduce(np.fmax.reduce(padded.reshape(n, factor, target.shape[1], factor), axis=3), axis=1)
    first = row // factor
    np.fmax(target[first : first + n], cells, out=target[first : first + n])


def _fold_sparse(target, decoded, j, band_rows, rows, cols, factor):
    """Max-pool the kept weights of head j of a decoded sparse band into `target` (the region's
    cells): `band_rows` (first row of the band, a, z), its rows [a, z) being in the region. A row
    that kept (nearly) all its weight dropped only zeros: its cells are at least 0."""
    counts, kept, indices, values = decoded
    b0, a, z = band_rows
    per_row = counts.shape[1]
    offsets = np.concatenate([[0], np.cumsum(counts.ravel(), dtype=np.int64)])
    start, end = offsets[j * per_row + a - b0], offsets[j * per_row + z - b0]
    row_of = np.repeat(np.arange(a, z), counts[j, a - b0 : z - b0].astype(np.int64))
    keys = indices[start:end].astype(np.int64)
    inside = (keys >= cols[0]) & (keys < cols[1])
    cell_rows = (row_of[inside] - rows[0]) // factor
    np.fmax.at(target, (cell_rows, (keys[inside] - cols[0]) // factor), values[start:end][inside])
    whole = np.arange(a, z)[kept[j, a - b0 : z - b0] >= WHOLE_ROW]
    if len(whole):
        cells = np.unique((whole - rows[0]) // factor)
        target[cells] = np.fmax(target[cells], 0.0)


def _pooled_detail(stored, layer, heads, rows, cols, factor):
    """Float32 `[heads, cells of rows, cells of cols]`: the stored detail max-pooled by `factor`,
    NaN where no weight of a cell is stored. Read one chunk at a time and folded in as it comes,
    so a reader holds the answer and one decoded chunk, whatever the factor."""
    part = stored.part
    if stored.version <= 1:  # format 1 keeps every weight, in whole layers
        whole = layers.dense_layer(stored, layer, heads, False)
        return _pool(whole[:, rows[0] : rows[1], cols[0] : cols[1]], factor)
    shape = (len(heads), math.ceil((rows[1] - rows[0]) / factor), math.ceil((cols[1] - cols[0]) / factor))
    out = np.full(shape, np.nan, dtype=np.float32)
    slot = {h: i for i, h in enumerate(heads)}
    for (h0, h1), (b0, b1), decoded in layers.iter_decoded_bands(stored, layer, heads, rows):
        a, z = max(rows[0], b0), min(rows[1], b1)
        zero = None
        if part.encoding == "sparse":
            zero = _known_zero(part, layer, (a, z), cols, factor)
            first = (a - rows[0]) // factor
        for h in range(h0, h1):
            if h not in slot:
                continue
            target = out[slot[h]]
            if zero is None:
                _fold_dense(target, decoded[h - h0, a - b0 : z - b0, cols[0] : cols[1]], a - rows[0], factor)
                continue
            _fold_sparse(target, decoded, h - h0, (b0, a, z), rows, cols, factor)
            band = target[first : first + zero.shape[0]]
            band[zero] = np.fmax(band[zero], 0.0)
    return out


def region(stored, layer, heads, rows, cols, factor):
    """Float32 `[len(heads), ceil((r1 - r0) / factor), ceil((c1 - c0) / factor)]`: the max-pooled
    cells of factor `factor` over rows [r0, r1) x keys [c0, c1), NaN where not stored."""
    part = stored.part
    _, n_heads, q, k = part.shape
    if factor < 1 or factor & (factor - 1):
        raise NotFound("factor %d is not a power of two" % factor)
    if not (0 <= rows[0] < rows[1] <= q and 0 <= cols[0] < cols[1] <= k):
        raise NotFound("region rows %s x keys %s is outside the layer's %d x %d" % (list(rows), list(cols), q, k))
    rows = (rows[0] - rows[0] % factor, rows[1])
    cols = (cols[0] - cols[0] % factor, cols[1])
    usable = [level for level in levels(part) if level[0] <= factor]
    if usable and factor > 1:
        return _from_levels(stored, layer, heads, rows, cols, factor, usable[-1])
    return _pooled_detail(stored, layer, heads, rows, cols, factor)

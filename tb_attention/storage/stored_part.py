"""`StoredPart`: the one read interface of storage. One attention part (kind) of one logged step,
as stored: every route of the server and `read_attention` read layers, kept weights, sparse rows,
thumbnails and stored chunks through it, whatever the format version or encoding.

A new kind of read (e.g. a region of a layer) is a method here, built on `layers` (decoding)
and the record's `RecordBytes` (`sources`: event blobs, payload chunks through `files`)."""

import numpy as np

from tb_attention.format import payload
from tb_attention.format import qk as qk_format
from tb_attention.storage import layers, regions
from tb_attention.storage.errors import NotFound
from tb_attention.storage.thumbnails import thumbnails


class StoredPart:
    """Part `part` (records.Part) of `record` (records.Record) of `run`, read through `bytes`
    (sources.RecordBytes). Made by `AttentionStore.open` / `AttentionStore.part`."""

    def __init__(self, run, record, part, record_bytes):
        self.run, self.record, self.part, self.bytes = run, record, part, record_bytes

    @property
    def version(self):
        return self.record.version

    @property
    def step(self):
        return self.record.ref.step

    @property
    def key(self):
        """Immutable identity of what this part stores (for caches)."""
        return (self.record.ref.key, self.part.kind)

    def other(self, kind):
        """The part of another kind of the same record; raises KeyError naming the kinds."""
        return StoredPart(self.run, self.record, self.record.part(kind), self.bytes)

    def _check_layer(self, layer):
        layers_count = self.part.shape[0]
        if not 0 <= layer < layers_count:
            raise NotFound("layer %d is out of range (0..%d)" % (layer, layers_count - 1))

    def check_heads(self, heads):
        """`heads` as a list (None: every head); raises NotFound for one out of range."""
        if heads is None:
            return None
        n_heads = self.part.shape[1]
        if not all(0 <= h < n_heads for h in heads):
            raise NotFound("heads %s are out of range (0..%d)" % (list(heads), n_heads - 1))
        return list(heads)

    def layer(self, layer, heads=None, stored=False):
        """`[len(heads), q, k]` of one layer (every head by default): float32 weights, or the
        stored values (`stored=True`: the precision's dtype); sparse records densified."""
        heads = self.check_heads(heads)
        self._check_layer(layer)
        return layers.dense_layer(self, layer, heads, stored)

    def kept_mass(self, layer, heads=None, rows=None):
        """Float32 `[len(heads), q]` (or of query rows [rows)): the weight each query row kept
        (sparse records; before quantising); None for dense records, which keep every weight."""
        if self.part.encoding != "sparse":
            return None
        heads = self.check_heads(heads)
        self._check_layer(layer)
        if rows is not None:
            kept = {h0: kept for (h0, _), _, kept, _, _ in layers.sparse_rows(self, layer, rows)}
            block = self.head_block()
            wanted = range(self.part.shape[1]) if heads is None else heads
            return np.stack([kept[h - h % block][h % block] for h in wanted])
        return layers.kept_mass(self, layer, heads)

    def rows(self, layer, heads, rows, stored=False):
        """`[len(heads), rows, k]` of query rows [rows) of one layer (every head by default):
        float32, or as stored; a sparse record densified; only the chunks holding them are read."""
        heads = self.check_heads(heads)
        self._check_layer(layer)
        if self.version <= 1:
            return layers.dense_layer(self, layer, heads, stored)[:, rows[0] : rows[1]]
        return layers.dense_rows(self, layer, heads, rows, stored)

    def sparse_rows(self, layer, rows, heads=None, stored=False):
        """`sparse_layer` of query rows [rows) only (counts and kept `[heads, rows]`), of the
        blocks holding `heads` (default all); the weights as stored with `stored=True`."""
        if self.part.encoding != "sparse":
            raise NotFound("the record is dense: read it with rows()")
        heads = self.check_heads(heads)
        self._check_layer(layer)
        return layers.sparse_rows(self, layer, rows, heads, stored)

    def sparse_layer(self, layer):
        """[((first head, end head), counts, kept, indices, float32 weights)] of each block of a
        sparse layer, as stored (counts and kept `[heads, q]`; indices ascending within rows)."""
        if self.part.encoding != "sparse":
            raise NotFound("the record is dense: read it with layer()")
        self._check_layer(layer)
        return layers.sparse_layer(self, layer)

    def block_chunks(self, layer, heads=None):
        """[(verified zstd chunk, (first head, end head), raw size, nnz)] of the format-2 blocks
        of a layer that hold `heads` (every block by default)."""
        heads = self.check_heads(heads)
        self._check_layer(layer)
        return layers.block_chunks(self, layer, heads)

    def encoded_layer(self, layer):
        """(content-coding, stored bytes, a function giving the raw bytes) of a whole dense
        layer, to send on as stored; None for a sparse layer."""
        self._check_layer(layer)
        return layers.encoded_layer(self, layer)

    def head_block(self):
        """Heads per stored block (format 1: the whole layer is one block)."""
        return self.part.layout["head_block"] if self.version >= 2 else self.part.shape[1]

    def region(self, layer, heads, rows, cols, factor=1):
        """Float32 `[len(heads), rows', cols']`: max-pooled cells of `factor` over query rows
        [rows) x keys [cols), from the stored overview or detail; NaN where nothing is stored."""
        heads = self.check_heads(heads) or list(range(self.part.shape[1]))
        self._check_layer(layer)
        return regions.region(self, layer, heads, rows, cols, factor)

    def qk_layers(self):
        """The stored layers whose queries and keys are kept (empty when none are)."""
        return list(self.part.qk["layers"]) if self.part.qk else []

    def qk_heads(self):
        """The stored heads whose queries are kept (every head when kept at all)."""
        field = self.part.qk
        if not field:
            return []
        return list(range(self.part.shape[1])) if field.get("heads") is None else list(field["heads"])

    def qk(self, layer, heads=None):
        """(queries, keys): float32 `[len(heads), queries, head_dim]` and `[len(heads), keys,
        head_dim]` of stored layer `layer` (the kept heads by default), after rotary embedding as the
        model computed its scores; each head's keys are those of the KV head it reads (GQA)."""
        self._check_layer(layer)
        field = self.part.qk
        if not field or layer not in field["layers"]:
            kept = self.qk_layers()
            raise NotFound(
                "layer %d has no stored queries and keys (%s)"
                % (layer, "kept for layers %s" % kept if kept else "log with qk=True to keep them")
            )
        kept_heads = self.qk_heads()
        heads = kept_heads if heads is None else list(heads)
        missing = [h for h in heads if h not in kept_heads]
        if missing:
            raise NotFound("heads %s have no stored queries and keys (kept: %s)" % (missing, kept_heads))
        i = field["layers"].index(layer)
        _, _, q, k = self.part.shape
        d, key_heads = field["head_dim"], len(field["key_heads"])
        shapes = (len(kept_heads), q, d), (key_heads, k, d)
        ref = field["chunks"][i]
        raw = payload.decompress(
            self.bytes.chunk(ref, "queries and keys of layer %d" % layer),
            qk_format.chunk_nbytes(len(kept_heads), q, key_heads, k, d),
            "queries and keys of layer %d" % layer,
        )
        queries, keys = qk_format.decode_chunk(raw, *shapes, field["exponents"][i])
        rows = [kept_heads.index(h) for h in heads]
        return queries[rows], keys[[field["key_of"][r] for r in rows]]

    def thumbnails(self):
        """Float32 `[layers, heads, rows, cols]`: each head max-pooled (the stored ones when logged)."""
        return thumbnails(self)

    def attention(self):
        """Float32 `[layers, heads, q, k]` of the whole part."""
        return np.stack([self.layer(li) for li in range(self.part.shape[0])])

"""Attention records through a TensorBoard data provider (either loader, any logdir): the index
(headers) from the event stream, layers from event blobs (format 1) or payload files (format 2)."""

import time

import numpy as np

from tb_attention.format import blocks, layers_v1, metadata, payload
from tb_attention.format import header as headers
from tb_attention.format import precision as precisions
from tb_attention.format.errors import FormatError
from tb_attention.storage import files
from tb_attention.storage.cache import LRU
from tb_attention.storage.errors import NotFound
from tb_attention.storage.records import StepRef, from_header

# Every logged step: TensorBoard's own storage retention is raised for this plugin by the loader.
ALL_STEPS = 2**31 - 1
# How long find_step may reuse a (run, tag)'s step list. Listing every step is one data-provider
# call whose cost grows with the steps (a gRPC round trip to the Rust loader); the panel asks for
# several layers of one step in a row. A step missing from a reused list is always looked up
# afresh, so a new step is never refused because of it.
STEP_LIST_TTL_S = 2.0
HEADER_CACHE_BYTES = 64 << 20  # decoded headers kept, by the size of their JSON


class AttentionStore:
    """Attention records of one experiment, as the data provider serves them.

    Headers are small and immutable per (blob key, wall time), so they are cached; layers are
    read on demand, one layer (or one block of heads) at a time.
    """

    def __init__(self, data_provider, run_dirs, header_cache_bytes=HEADER_CACHE_BYTES):
        self._provider = data_provider
        self._run_dirs = run_dirs
        self._records = LRU(1 << 16, header_cache_bytes)
        self._step_lists = LRU(256)  # (experiment, run, tag) -> (monotonic time, {step: StepRef})

    # -- the index -----------------------------------------------------------------------------

    def tags(self, ctx, experiment_id):
        """`{run: {tag: BlobSequenceTimeSeries}}` of attention tags with readable metadata."""
        listing = self._provider.list_blob_sequences(ctx, experiment_id=experiment_id, plugin_name=metadata.PLUGIN_NAME)
        result = {}
        for run, tags in listing.items():
            for tag, series in tags.items():
                try:
                    metadata.parse_plugin_metadata(series.plugin_content)
                except ValueError:
                    continue  # written by a newer tb-attention: the panel says nothing it can't read
                result.setdefault(run, {})[tag] = series
        return result

    def steps(self, ctx, experiment_id, run, tag):
        """Every logged step of (run, tag), ascending; raises NotFound."""
        from tensorboard.data import provider

        data = self._provider.read_blob_sequences(
            ctx,
            experiment_id=experiment_id,
            plugin_name=metadata.PLUGIN_NAME,
            downsample=ALL_STEPS,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]),
        )
        series = data.get(run, {}).get(tag)
        if series is None:
            raise NotFound("no attention for run %r, tag %r" % (run, tag))
        steps = [StepRef(d.step, d.wall_time, tuple(ref.blob_key for ref in d.values)) for d in series if d.values]
        steps.sort(key=lambda s: s.step)
        return steps

    def find_step(self, ctx, experiment_id, run, tag, step):
        key = (experiment_id, run, tag)
        cached = self._step_lists.get(key)
        if cached is not None and time.monotonic() - cached[0] < STEP_LIST_TTL_S:
            found = cached[1].get(step)
            if found is not None:
                return found
        by_step = {}
        for s in self.steps(ctx, experiment_id, run, tag):
            by_step.setdefault(s.step, s)  # a step logged twice: the first, as listed
        self._step_lists.put(key, (time.monotonic(), by_step))
        found = by_step.get(step)
        if found is None:
            raise NotFound("no attention at step %d for run %r, tag %r" % (step, run, tag))
        return found

    def record(self, ctx, ref):
        """The decoded record of a step (cached); raises FormatError."""
        record = self._records.get(ref.key)
        if record is None:
            blob = self._provider.read_blob(ctx, blob_key=ref.blob_keys[0])
            record = from_header(ref, headers.decode_header(blob), len(blob))
            for part in record.parts.values():
                base = part.layout.get("blob_base")
                if base is not None and len(ref.blob_keys) != base + part.shape[0]:
                    raise FormatError(
                        "record has %d layer blobs, header says %d layers" % (len(ref.blob_keys) - base, part.shape[0])
                    )
            self._records.put(ref.key, record, 2 * len(blob))  # decoded: about twice its JSON
        return record

    # -- layers --------------------------------------------------------------------------------

    @staticmethod
    def _check_layer(part, layer):
        if not 0 <= layer < part.shape[0]:
            raise NotFound("layer %d is out of range (0..%d)" % (layer, part.shape[0] - 1))

    def _payload_path(self, run, record):
        directory = self._run_dirs.find(run, record.file)
        if directory is None:
            raise FormatError("the directory of run %r is unknown to this server" % run)
        return files.join(directory, record.file)

    def v1_blob(self, ctx, record, part, layer):
        """The stored zlib blob of a format-1 layer, checked to inflate to its size."""
        self._check_layer(part, layer)
        blob = self._provider.read_blob(ctx, blob_key=record.ref.blob_keys[part.layout["blob_base"] + layer])
        layers_v1.inflate_layer(blob, part.shape, part.precision)
        return blob

    def block_chunks(self, run, record, part, layer, heads=None):
        """[(verified zstd chunk, (first head, end head), raw size, nnz)] of the blocks of a
        format-2 layer that hold `heads` (every block by default)."""
        self._check_layer(part, layer)
        _, n_heads, q, k = part.shape
        head_block = part.layout["head_block"]
        needed = None if heads is None else {h // head_block for h in heads}
        path = self._payload_path(run, record)
        nnz_table = part.layout.get("nnz")
        out = []
        for b, ((h0, h1), ref) in enumerate(
            zip(blocks.block_ranges(n_heads, head_block), part.layout["blocks"][layer])
        ):
            if needed is None or b in needed:
                what = "layer %d heads %d-%d" % (layer, h0, h1 - 1)
                data = payload.verify(files.read_range(path, ref[0], ref[1]), ref, what)
                nnz = nnz_table[layer][b] if nnz_table else None
                size = (
                    blocks.dense_nbytes(h1 - h0, q, k, part.precision)
                    if nnz is None
                    else (blocks.sparse_nbytes(h1 - h0, q, k, nnz, part.precision))
                )
                out.append((data, (h0, h1), size, nnz))
        return out

    def _decoded(self, run, record, part, layer, heads, stored):
        """{first head of block: decoded block} of the blocks holding `heads`: dense arrays, or
        (counts, kept, indices, values) for sparse blocks."""
        _, _, q, k = part.shape
        out = {}
        for data, (h0, h1), size, nnz in self.block_chunks(run, record, part, layer, heads):
            raw = payload.decompress(data, size, "layer %d heads %d-%d" % (layer, h0, h1 - 1))
            if nnz is None:
                out[h0] = (
                    blocks.stored_dense(raw, h1 - h0, q, k, part.precision)
                    if stored
                    else blocks.decode_dense(raw, h1 - h0, q, k, part.precision)
                )
            else:
                out[h0] = blocks.decode_sparse(raw, h1 - h0, q, k, nnz, part.precision, stored=stored)
        return out

    def _check_heads(self, part, heads):
        n_heads = part.shape[1]
        if heads is not None and not all(0 <= h < n_heads for h in heads):
            raise NotFound("heads %s are out of range (0..%d)" % (list(heads), n_heads - 1))
        return list(range(n_heads)) if heads is None else list(heads)

    def _gather(self, part, decoded, heads, per_head):
        head_block = part.layout["head_block"]
        return np.stack([per_head(decoded[h - h % head_block], h % head_block) for h in heads])

    def layer(self, ctx, run, record, part, layer, heads=None, stored=False):
        """`[len(heads), q, k]` of one layer (every head by default): float32 weights, or the
        stored values (`stored=True`: the precision's dtype); sparse records densified."""
        wanted = self._check_heads(part, heads)
        if record.version <= 1:
            self._check_layer(part, layer)
            blob = self.v1_blob(ctx, record, part, layer)
            if stored:
                raw = layers_v1.inflate_layer(blob, part.shape, part.precision)
                full = np.frombuffer(raw, dtype=precisions.dtype(part.precision)).reshape(part.shape[1:])
            else:
                full = layers_v1.decode_layer(blob, part.shape, part.precision)
            return full if heads is None else full[wanted]
        decoded = self._decoded(run, record, part, layer, wanted, stored)
        _, _, q, k = part.shape
        if part.encoding == "sparse":
            dense = {h0: blocks.densify(c, i, v, c.shape[0], q, k) for h0, (c, _, i, v) in decoded.items()}
            return self._gather(part, dense, wanted, lambda block, h: block[h])
        return self._gather(part, decoded, wanted, lambda block, h: block[h])

    def kept_mass(self, run, record, part, layer, heads=None):
        """Float32 `[len(heads), q]`: the weight each query row kept (sparse records; before
        quantising); None for dense records, which keep every weight."""
        if part.encoding != "sparse":
            return None
        wanted = self._check_heads(part, heads)
        decoded = self._decoded(run, record, part, layer, wanted, False)
        return self._gather(part, decoded, wanted, lambda block, h: block[1][h])

    def sparse_layer(self, run, record, part, layer):
        """[((first head, end head), counts, kept, indices, float32 weights)] of each block of a
        sparse layer, as stored (counts and kept `[heads, q]`; indices ascending within rows)."""
        if part.encoding != "sparse":
            raise NotFound("the record is dense: read it with layer()")
        decoded = self._decoded(run, record, part, layer, None, False)
        head_block = part.layout["head_block"]
        return [((h0, min(part.shape[1], h0 + head_block)),) + tuple(decoded[h0]) for h0 in sorted(decoded)]

    def attention(self, ctx, run, record, part):
        """Float32 `[layers, heads, q, k]` of a whole part."""
        return np.stack([self.layer(ctx, run, record, part, li) for li in range(part.shape[0])])

    def thumbnails(self, ctx, run, record, part, size=blocks.THUMBNAIL):
        """Float32 `[layers, heads, rows, cols]`: each head max-pooled (stored ones when logged)."""
        stored = part.layout.get("thumbnails")
        _, heads, q, k = part.shape
        if stored is not None and tuple(stored["size"]) == blocks.thumbnail_shape(q, k, size):
            rows, cols = stored["size"]
            path = self._payload_path(run, record)
            out = []
            for layer, ref in enumerate(stored["chunks"]):
                what = "thumbnails of layer %d" % layer
                data = payload.verify(files.read_range(path, ref[0], ref[1]), ref, what)
                raw = payload.decompress(data, heads * rows * cols * blocks.THUMBNAIL_DTYPE.itemsize, what)
                out.append(blocks.decode_thumbnails(raw, heads, rows, cols))
            return np.stack(out)
        rows, cols = blocks.thumbnail_shape(q, k, size)
        return np.stack(
            [blocks.pool_max(self.layer(ctx, run, record, part, li), rows, cols) for li in range(part.shape[0])]
        )

"""Read attention records through a TensorBoard data provider (either loader, any logdir)."""

import collections
import threading
import time

from tb_attention.format import codec, metadata
from tb_attention.serving.errors import NotFound

# Every logged step: TensorBoard's own storage retention is raised for this plugin by the loader.
ALL_STEPS = 2**31 - 1
# How long find_step may reuse a (run, tag)'s step list. Listing every step is one data-provider
# call whose cost grows with the steps (a gRPC round trip to the Rust loader); the panel asks for
# several layers of one step in a row. A step missing from a reused list is always looked up
# afresh, so a new step is never refused because of it.
STEP_LIST_TTL_S = 2.0


class LRU:
    def __init__(self, size):
        self._size = size
        self._items = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key, value):
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class Step:
    """One logged record: where it is and how to fetch its blobs."""

    __slots__ = ("step", "wall_time", "blob_keys")

    def __init__(self, step, wall_time, blob_keys):
        self.step = step
        self.wall_time = wall_time
        self.blob_keys = blob_keys


class AttentionStore:
    """Attention records of one experiment, as the data provider serves them.

    Headers are small and immutable per (blob key, wall time), so they are cached; layers are
    fetched on demand, one blob per layer.
    """

    def __init__(self, data_provider, header_cache_size=4096):
        self._provider = data_provider
        self._headers = LRU(header_cache_size)
        self._step_lists = LRU(256)  # (experiment, run, tag) -> (monotonic time, {step: Step})

    def tags(self, ctx, experiment_id):
        """`{run: {tag: BlobSequenceTimeSeries}}` of attention tags with readable metadata."""
        listing = self._provider.list_blob_sequences(
            ctx, experiment_id=experiment_id, plugin_name=metadata.PLUGIN_NAME
        )
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
        data = self._provider.read_blob_sequences(
            ctx,
            experiment_id=experiment_id,
            plugin_name=metadata.PLUGIN_NAME,
            downsample=ALL_STEPS,
            run_tag_filter=_filter(run, tag),
        )
        series = data.get(run, {}).get(tag)
        if series is None:
            raise NotFound("no attention for run %r, tag %r" % (run, tag))
        steps = [
            Step(d.step, d.wall_time, tuple(ref.blob_key for ref in d.values))
            for d in series
            if len(d.values) >= 2  # a header and at least one layer
        ]
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

    def header(self, ctx, step):
        """Decoded header of a step (cached); raises codec.FormatError."""
        key = (step.blob_keys[codec.HEADER_BLOB], step.wall_time)
        header = self._headers.get(key)
        if header is None:
            blob = self._provider.read_blob(ctx, blob_key=step.blob_keys[codec.HEADER_BLOB])
            header = codec.decode_header(blob)
            if len(step.blob_keys) != 1 + header["shape"][0]:
                raise codec.FormatError(
                    "record has %d layer blobs, header says %d layers"
                    % (len(step.blob_keys) - 1, header["shape"][0])
                )
            self._headers.put(key, header)
        return header

    def layer_blob(self, ctx, step, layer):
        """The stored (compressed) bytes of one layer; raises NotFound."""
        if not 0 <= layer < len(step.blob_keys) - 1:
            raise NotFound("layer %d is out of range (0..%d)" % (layer, len(step.blob_keys) - 2))
        return self._provider.read_blob(ctx, blob_key=step.blob_keys[codec.layer_blob_index(layer)])

    def layer(self, ctx, step, layer):
        """Float32 `[heads, q, k]` of one layer."""
        return codec.decode_layer(self.layer_blob(ctx, step, layer), self.header(ctx, step))

    def attention(self, ctx, step):
        """Float32 `[layers, heads, q, k]` of a whole step."""
        import numpy as np

        header = self.header(ctx, step)
        return np.stack([self.layer(ctx, step, i) for i in range(header["shape"][0])])


def _filter(run, tag):
    from tensorboard.data import provider

    return provider.RunTagFilter(runs=[run], tags=[tag])

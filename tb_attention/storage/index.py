"""The index of attention records through a TensorBoard data provider (either loader, any
logdir): runs and tags, the steps of a (run, tag), and each step's decoded header. Headers are
small and immutable per (blob key, wall time), so they are cached; a (run, tag)'s step list is
reused for a moment."""

import logging
import time

from tb_attention.format import metadata
from tb_attention.format.errors import FormatError
from tb_attention.format.header import decode_header
from tb_attention.storage.cache import LRU
from tb_attention.storage.errors import NotFound
from tb_attention.storage.records import StepRef, from_header

logger = logging.getLogger(__name__)

# Every logged step: TensorBoard's own storage retention is raised for this plugin by the loader.
ALL_STEPS = 2**31 - 1
# How long find_step may reuse a (run, tag)'s step list. Listing every step is one data-provider
# call whose cost grows with the steps (a gRPC round trip to the Rust loader); the panel asks for
# several layers of one step in a row. A step missing from a reused list is always looked up
# afresh, so a new step is never refused because of it.
STEP_LIST_TTL_S = 2.0
HEADER_CACHE_BYTES = 64 << 20  # decoded headers kept, by the size of their JSON


class RecordIndex:
    """Attention records of one experiment as the data provider lists them."""

    def __init__(self, data_provider, header_cache_bytes=HEADER_CACHE_BYTES):
        self.provider = data_provider
        self._records = LRU(1 << 16, header_cache_bytes)
        self._step_lists = LRU(256)  # (experiment, run, tag) -> (monotonic time, {step: StepRef})

    def tags(self, ctx, experiment_id, record="attention"):
        """`{run: {tag: BlobSequenceTimeSeries}}` of the tags of `record` kind ("attention" or
        "importance") with readable metadata."""
        listing = self.provider.list_blob_sequences(ctx, experiment_id=experiment_id, plugin_name=metadata.PLUGIN_NAME)
        result = {}
        for run, tags in listing.items():
            for tag, series in tags.items():
                try:
                    parsed = metadata.parse_plugin_metadata(series.plugin_content)
                except ValueError:
                    continue  # written by a newer tb-attention: the panel says nothing it can't read
                if metadata.record_kind(parsed) == record:
                    result.setdefault(run, {})[tag] = series
        return result

    def steps(self, ctx, experiment_id, run, tag):
        """Every logged step of (run, tag), ascending; raises NotFound."""
        from tensorboard.data import provider

        data = self.provider.read_blob_sequences(
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
        """The StepRef of one step; raises NotFound."""
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

    def blob(self, ctx, ref, decode, size_factor=2):
        """`decode(first blob)` of a step, cached by the step's key and `decode`."""
        key = (decode.__name__,) + ref.key
        value = self._records.get(key)
        if value is None:
            blob = self.provider.read_blob(ctx, blob_key=ref.blob_keys[0])
            value = decode(blob)
            self._records.put(key, value, size_factor * len(blob))
        return value

    def record(self, ctx, ref):
        """The decoded record of a step (cached); raises FormatError."""
        record = self._records.get(ref.key)
        if record is None:
            blob = self.provider.read_blob(ctx, blob_key=ref.blob_keys[0])
            record = from_header(ref, decode_header(blob), len(blob))
            for part in record.parts.values():
                base = part.layout.get("blob_base")
                if base is not None and len(ref.blob_keys) != base + part.shape[0]:
                    raise FormatError(
                        "record has %d layer blobs, header says %d layers" % (len(ref.blob_keys) - base, part.shape[0])
                    )
            self._records.put(ref.key, record, 2 * len(blob))  # decoded: about twice its JSON
        return record

    def readable(self, ctx, run, tag, refs):
        """The decoded records of `refs` whose header decodes; unreadable ones are logged, skipped."""
        out = []
        for ref in refs:
            try:
                out.append(self.record(ctx, ref))
            except FormatError as e:
                logger.warning("skipping unreadable attention record %s/%s@%d: %s", run, tag, ref.step, e)
        return out

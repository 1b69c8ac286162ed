"""`AttentionStore`: attention records through a TensorBoard data provider (either loader, any
logdir). The index (runs, tags, steps, headers: `index`) lists them; each stored part is opened
as a `StoredPart`, the one interface its layers are read through."""

from tb_attention.storage import importance
from tb_attention.storage.errors import NotFound
from tb_attention.storage.index import HEADER_CACHE_BYTES, RecordIndex
from tb_attention.storage.sources import RecordBytes
from tb_attention.storage.stored_part import StoredPart


class AttentionStore:
    """Attention records of one experiment, as the data provider serves them; `run_dirs`
    (rundirs.RunDirectories) finds the run directories that hold their payload files."""

    def __init__(self, data_provider, run_dirs, header_cache_bytes=HEADER_CACHE_BYTES):
        self.index = RecordIndex(data_provider, header_cache_bytes)
        self._run_dirs = run_dirs

    def tags(self, ctx, experiment_id):
        """`{run: {tag: BlobSequenceTimeSeries}}` of attention tags with readable metadata."""
        return self.index.tags(ctx, experiment_id)

    def steps(self, ctx, experiment_id, run, tag):
        """Every logged step of (run, tag) (`StepRef`s), ascending; raises NotFound."""
        return self.index.steps(ctx, experiment_id, run, tag)

    def records(self, ctx, run, tag, refs):
        """The decoded records (`Record`s) of the steps `refs` of (run, tag) whose header decodes;
        unreadable ones are logged and skipped."""
        return self.index.readable(ctx, run, tag, refs)

    def open(self, ctx, run, record, kind=None):
        """The `StoredPart` of `kind` (default: the first logged) of a listed record; raises
        NotFound."""
        try:
            part = record.part(kind)
        except KeyError as e:
            raise NotFound(e.args[0]) from None
        return StoredPart(run, record, part, RecordBytes(self.index.provider, ctx, self._run_dirs, run, record))

    def part(self, ctx, experiment_id, run, tag, step, kind=None):
        """The `StoredPart` of one step; raises NotFound, or FormatError for a header that does
        not decode."""
        record = self.index.record(ctx, self.index.find_step(ctx, experiment_id, run, tag, step))
        return self.open(ctx, run, record, kind)

    def importance_tags(self, ctx, experiment_id):
        """`{run: [tag, ...]}` of the runs with head-importance records."""
        return importance.importance_tags(self.index, ctx, experiment_id)

    def importance(self, ctx, experiment_id, run, tag):
        """Every readable step (`ImportanceStep`) of an importance tag, ascending; raises NotFound."""
        return importance.importance_steps(self.index, ctx, experiment_id, run, tag)

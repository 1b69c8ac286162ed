"""Writing records: one background event writer per log dir (found from a SummaryWriter or a
path, flushed and closed with it), and `log_record`, which checks, captures and queues one record.
The public `add_attention` (tb_attention/log.py) composes this with the pattern scores."""

import os
import sys
import threading

import numpy as np

from tb_attention.writing import budget, plan
from tb_attention.writing import qk as qk_writing
from tb_attention.writing.background import AttentionEventWriter
from tb_attention.writing.capture import CapturedPart
from tb_attention.writing.failures import AttentionWriteError
from tb_attention.writing.record import index_event, write_part
from tb_attention.writing.streamed import feed_part, record_job

_registry_lock = threading.Lock()
_writers = {}  # real log-dir path -> AttentionEventWriter


class _SummaryWriterHook:
    """Sits in a SummaryWriter's `all_writers`, so its `flush()` and `close()` reach our queue."""

    def __init__(self, event_writer):
        self.event_writer = event_writer

    def flush(self):
        self.event_writer.flush()

    def close(self):
        _close_writer(self.event_writer)

    def get_logdir(self):
        return self.event_writer.logdir


def _summary_writer_logdir(writer):
    """Log dir of a torch or tensorboardX SummaryWriter, or None for other objects."""
    all_writers = getattr(writer, "all_writers", False)
    if all_writers is False or not hasattr(writer, "add_scalar"):
        return None
    if all_writers is None:
        raise ValueError("the SummaryWriter is closed: attention can no longer be logged through it")
    for name in ("log_dir", "logdir"):
        value = getattr(writer, name, None)
        if isinstance(value, str):
            return value
    file_writer = getattr(writer, "file_writer", None)
    if file_writer is not None and hasattr(file_writer, "get_logdir"):
        return file_writer.get_logdir()
    raise TypeError("cannot find the log dir of %s" % type(writer).__name__)


def _logdir_of(writer):
    if isinstance(writer, (str, os.PathLike)):
        return os.fspath(writer)
    logdir = _summary_writer_logdir(writer)
    if logdir is None:
        raise TypeError(
            "writer must be a torch.utils.tensorboard or tensorboardX SummaryWriter or a log-dir "
            "path, got %s" % type(writer).__name__
        )
    return logdir


def event_writer_for(writer):
    """The background event writer for a SummaryWriter or a log-dir path (created on first use)."""
    logdir = _logdir_of(writer)
    summary_writer = None if isinstance(writer, (str, os.PathLike)) else writer
    key = os.path.realpath(logdir)
    with _registry_lock:
        event_writer = _writers.get(key)
        if event_writer is None or not event_writer.usable:
            event_writer = _writers[key] = AttentionEventWriter(logdir)
        if summary_writer is not None:
            hook_key = event_writer.path  # a name no add_scalars sub-writer can take
            if hook_key not in summary_writer.all_writers:
                summary_writer.all_writers[hook_key] = _SummaryWriterHook(event_writer)
    return event_writer


def _close_writer(event_writer):
    with _registry_lock:
        for key, value in list(_writers.items()):
            if value is event_writer:
                del _writers[key]
    event_writer.close()


def _each_writer(action):
    """`action(writer)` for every attention writer of this process, all of them even when one
    raises (AttentionWriteError for records it could not write); then one error for them all."""
    with _registry_lock:
        writers = list(_writers.values())
    errors = []
    for event_writer in writers:
        try:
            action(event_writer)
        except AttentionWriteError as e:
            errors.append(e)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        merged = AttentionWriteError("; ".join(map(str, errors)), [r for e in errors for r in e.records])
        raise merged from errors[0].__cause__


def flush():
    """Write everything queued by `add_attention` in this process, for every log dir. Raises
    AttentionWriteError for records that could not be written (docs/errors.md)."""
    _each_writer(lambda event_writer: event_writer.flush())


def close():
    """Flush and close every attention writer of this process (AttentionWriteError as flush)."""
    _each_writer(_close_writer)


def distributed_rank():
    """This process's rank in an initialised torch.distributed group, else None.

    Looks at torch only if the program already imported it: logging never imports torch itself.
    """
    torch = sys.modules.get("torch")
    dist = getattr(torch, "distributed", None) if torch is not None else None
    if dist is not None and dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return None


def queue_small_record(writer, build_event, *, all_ranks=False):
    """Queue a record without payload (`build_event()` -> Event, e.g. head importance) on the
    writer's event file. Under torch.distributed only rank 0 writes unless `all_ranks` (then
    each rank into `rank<k>`); returns whether this process queued it."""
    rank = distributed_rank()
    if rank is not None and rank != 0 and not all_ranks:
        return False
    if rank is not None and all_ranks:
        writer = os.path.join(_logdir_of(writer), "rank%d" % rank)
    event_writer_for(writer).submit(lambda payload_file: build_event(), what="a small record", payload=False)
    return True


def log_record(writer, record, storage, *, all_ranks=False, scorer_for=None, scalars=None, qk=None):
    """Plan, check and capture the parts of a `RecordInput` (tb_attention/inputs/record.py), then
    queue it for the writer thread. `storage`: `plan_record`'s options (precision, layers, heads,
    top_k, top_mass, max_bytes: on disk, decided on a measured sample by writing/budget.py).
    `scorer_for(part, plan)`, when given, makes each part's scorer (or None): an object fed every
    stored block of weights as it is encoded (`add_layer(stored layer, weights [heads, q, k],
    first head)` or `add_block(stored layer, first head, first row, weights [heads, rows, k])`),
    whose `result()` ({metric: [layers, heads]}) the record stores as the part's pattern scores;
    `scalars(scores of the first part)` gives `{tag: value}` logged beside the record. Under
    torch.distributed only rank 0 writes unless `all_ranks`. `qk`: (writing/qk.QKOption or None,
    QKTerms) for the record's queries and keys (`record.vectors`), kept beside the attention."""
    plans = plan.plan_record(record.parts, **storage)
    option, terms = _qk_option(record, qk)
    for part, part_plan in zip(record.parts, plans):
        CapturedPart(part, part_plan, None).check()
    rank = distributed_rank()
    if rank is not None and rank != 0 and not all_ranks:
        return  # checked like every rank's input; only rank 0 writes
    if rank is not None and all_ranks:
        writer = os.path.join(_logdir_of(writer), "rank%d" % rank)
    what = "%s at step %d" % (record.tag, record.step)
    max_bytes = storage.get("max_bytes", plan.DEFAULT_MAX_BYTES)
    vectors = None
    if option is not None:
        vectors = qk_writing.from_vectors(record.vectors, record.parts[0], plans[0], option, terms, max_bytes, what)
        max_bytes = None if max_bytes is None else max(1, int(max_bytes - vectors[1]))
    planned = budget.plan_parts(
        plans, lambda i, heads, ranges: _sample(record.parts[i], plans[i], heads, ranges), max_bytes, what
    )
    scorers = [scorer_for(p, pp) if scorer_for else None for p, (pp, _) in zip(record.parts, planned)]
    if all(layout.plain for _, layout in planned):
        _queue_captured(writer, record, planned, scorers, scalars, vectors)
    else:
        _queue_streamed(writer, record, planned, scorers, scalars, vectors)


def _qk_option(record, qk):
    """(QKOption or None, QKTerms) of log_record's `qk` for a record (with or without vectors)."""
    value, terms = qk if qk is not None else (None, qk_writing.QKTerms())
    if record.vectors is None:
        if value not in (None, False):
            raise TypeError("qk= needs the queries and keys: pass queries= and keys= (or use tb_attention.capture)")
        return None, terms
    return qk_writing.parse_option(True if value is None else value), terms


def _sample(part, part_plan, heads, ranges):
    """Float32 numpy `[heads, rows, keys]`: rows of the first stored layer, for the budget."""
    return np.concatenate([part.float_layer(part_plan.layer_ids[0], heads, rows) for rows in ranges], axis=1)


def _with_vectors(parts, vectors):
    """The first part keeps the record's queries and keys (and the structure they imply)."""
    if vectors is not None:
        parts[0].qk, _, parts[0].structure = vectors
    return parts


def _queue_captured(writer, record, planned, scorers, scalars, vectors=None):
    """Records stored as blocks of heads of every row (format 2's layout): CPU tensors are read
    and encoded by the background threads, GPU ones here (writing/capture.py)."""
    captured = [CapturedPart(p, pp, scorer).capture() for p, (pp, _), scorer in zip(record.parts, planned, scorers)]
    captured = _with_vectors(captured, vectors)

    def build_event(payload_file):
        written = [write_part(payload_file, c) for c in captured]
        extra = scalars(written[0][1]) if scalars else None
        return index_event(payload_file, record.tag, record.step, record.wall_time, [h for h, _ in written], extra)

    event_writer_for(writer).submit(
        build_event, sum(c.nbytes + (c.qk.nbytes() if c.qk is not None else 0) for c in captured), _name(record)
    )


def _queue_streamed(writer, record, planned, scorers, scalars, vectors=None):
    """Long records (bands of rows, an overview, detail for a window of rows: writing/stream.py),
    built here from blocks of rows, then written by the writer thread."""
    parts = [feed_part(p, pp, layout, scorer) for p, (pp, layout), scorer in zip(record.parts, planned, scorers)]
    parts = _with_vectors(parts, vectors)
    extra = scalars(parts[0].scores()) if scalars else None
    job = record_job(record.tag, record.step, record.wall_time, parts, extra)
    event_writer_for(writer).submit(job, sum(p.nbytes() for p in parts), _name(record))


def _name(record):
    return "%s at step %d" % (record.tag, record.step)

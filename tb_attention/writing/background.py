"""The writer's background thread: it runs the jobs queued from the training thread, in order,
appending each record's chunks to a payload file and then its index to the event file.

A job encodes off the caller's thread; the payload is made durable before the index that points
to it is written (docs/format.md, crash safety). A record that cannot be written (disk full,
quota, file size limit, I/O error, permission) leaves nothing that could damage a later record:
the payload file is cut back to the end of the last record written (or abandoned for a new one)
and the event file never holds a torn frame followed by frames (`event_file.py`). Failed records
are counted and raised from the next `flush()` / `close()` (`failures.py`).
"""

import atexit
import logging
import os
import queue
import threading
import weakref

from tb_attention.writing.event_file import EventFile, frame_record, now_micros, writer_id
from tb_attention.writing.failures import WriteFailures
from tb_attention.writing.payload_file import PayloadFile
from tb_attention.writing.threads import lower_thread_priority

logger = logging.getLogger(__name__)

# A payload file is closed and a new one started once it holds this much (a record never spans two).
PAYLOAD_FILE_BYTES = 64 << 20
# Queued records may hold this much host memory (encoded GPU or numpy layers) before add_attention waits.
MAX_PENDING_BYTES = 1 << 30
_STOP = object()
_live_writers = weakref.WeakSet()


class AttentionEventWriter:
    """Writes events built by jobs queued from the training thread, in order.

    `submit(job)` takes a callable `job(payload_file) -> Event` (encoding happens here, off the
    caller's thread): it may append chunks to the run's payload file, which are synced before its
    event is written. `flush()` waits until everything queued is written; `close()` flushes and
    stops. Both raise `AttentionWriteError` for the records that could not be written since the
    last call that raised; the writer itself goes on with later records.
    """

    def __init__(self, logdir, max_queue=32):
        self.logdir = logdir
        micros = now_micros()
        self.ident = writer_id(micros=micros)
        # No file I/O on the caller's thread: the event file is created with the first record.
        self._events = EventFile(logdir, micros)
        self.path = self._events.path  # names this writer (its first event file)
        self._payload = None  # the payload file records go to now, created with the first one
        self._payload_files = 0
        self.pid = os.getpid()
        self._queue = queue.Queue(maxsize=max_queue)
        self._failures = WriteFailures(logdir)
        self._closed = False
        self._lock = threading.Lock()
        self._pending_bytes = 0
        self._pending_done = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="tb-attention-writer", daemon=True)
        self._thread.start()
        _live_writers.add(self)

    @property
    def usable(self):
        """Open, and owned by this process (a forked child must start a writer of its own: the
        parent's thread does not exist in the child)."""
        return not self._closed and self.pid == os.getpid()

    def backlog(self):
        """(jobs queued, host bytes they hold): at most `max_queue` and about MAX_PENDING_BYTES."""
        return self._queue.qsize(), self._pending_bytes

    def submit(self, job, nbytes=0, what="an attention record", payload=True):
        """Queue a job that holds `nbytes` of host memory until written; wait while the queued
        jobs already hold MAX_PENDING_BYTES (logging faster than the disk must not fill RAM).
        `what` names the record in reports of a failed write; a job submitted with
        `payload=False` gets None (no payload file is made for it)."""
        with self._pending_done:
            while self._pending_bytes and self._pending_bytes + nbytes > MAX_PENDING_BYTES and self._thread.is_alive():
                self._pending_done.wait(0.5)
            self._pending_bytes += nbytes
        # Under the lock: a job can never land behind close()'s stop marker and be dropped.
        with self._lock:
            if not self.usable:
                self._release(nbytes)
                raise ValueError("the attention writer for %s is closed" % self.logdir)
            self._queue.put((job, nbytes, what, payload))

    def _release(self, nbytes):
        with self._pending_done:
            self._pending_bytes -= nbytes
            self._pending_done.notify_all()

    def _run(self):
        lower_thread_priority()
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, threading.Event):  # a flush marker
                item.set()
                continue
            job, nbytes, what, payload = item
            try:
                if payload:
                    self._write_record(job)
                else:
                    self._events.append(frame_record(job(None).SerializeToString()))
            except BaseException as e:  # keep the thread alive: later records still get written
                self._failures.add(what, e)
            else:
                self._failures.written(what)
            finally:
                self._release(nbytes)
                job = item = None  # the record's captured data goes now, not with the next record

    def _write_record(self, job):
        payload = self._payload_file()
        start = payload.tell()
        try:
            event = job(payload)
            if payload.tell() != start:
                payload.sync()  # the chunks are durable before the index that points to them
            # One write per record: a reader never sees half of a record unless the process dies
            # mid-write (TensorBoard skips such a torn tail) or the write fails (cut back).
            self._events.append(frame_record(event.SerializeToString()))
        except BaseException:
            if not payload.cut_back(start):  # no index points past `start`
                self._close_payload()
            raise
        if payload.tell() >= PAYLOAD_FILE_BYTES:
            self._close_payload()

    def _payload_file(self):
        if self._payload is None:
            self._payload = PayloadFile(self.logdir, "attention.%s.%d" % (self.ident, self._payload_files + 1))
            self._payload_files += 1
        return self._payload

    def _close_payload(self):
        """Later records go to a new payload file: the file is full (a sync such as aws s3 sync or
        gsutil rsync then uploads at most one file of this size again, and no remote object grows
        without bound), or a failed write could not be cut back."""
        try:
            self._payload.close()
        except OSError:
            pass
        self._payload = None

    def flush(self):
        """Block until every queued record is written; raise AttentionWriteError for those that
        could not be."""
        if not self.usable:
            return
        done = threading.Event()
        self._queue.put(done)
        while not done.wait(0.1):
            if not self._thread.is_alive():
                break
        self._raise_failures()

    def _raise_failures(self):
        error = self._failures.take()
        if error is not None:
            raise error

    def close(self):
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self.pid != os.getpid():  # a forked child's copy: the parent owns file and thread
                return
            self._queue.put(_STOP)
        self._thread.join()
        self._events.close()
        if self._payload is not None:
            self._close_payload()
        _live_writers.discard(self)
        self._raise_failures()


@atexit.register
def _close_all():
    """Nothing queued is lost at interpreter exit."""
    for writer in list(_live_writers):
        try:
            writer.close()
        except Exception:
            logger.exception("tb_attention: error while closing %s", writer.path)

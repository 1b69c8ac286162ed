"""Our own append-only event file, framed with a C-backed CRC32C, and the payload file beside
it (format v2), both filled by a background thread.

TensorBoard's own record writer computes CRC32C in pure Python (about 0.25 s per MB), which
would cost a training loop a quarter second of GIL time per attention record. A job appends a
record's chunks to the payload file and returns its small index event; the payload is made
durable before the index is written (docs/format.md, crash safety).
"""

import atexit
import logging
import os
import queue
import socket
import struct
import threading
import time
import weakref

import google_crc32c
from tensorboard.compat.proto import event_pb2

from tb_attention.format.payload import PayloadFile
from tb_attention.writing.threads import lower_thread_priority

logger = logging.getLogger(__name__)

_MASK_DELTA = 0xA282EAD8


def masked_crc32c(data):
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame_record(data):
    """One TFRecord: length, masked CRC of the length, data, masked CRC of the data."""
    header = struct.pack("<Q", len(data))
    return b"".join((header, struct.pack("<I", masked_crc32c(header)), data, struct.pack("<I", masked_crc32c(data))))


def writer_id(now=None):
    """`<microseconds>.<host>.<pid>`: what names one writer's event and payload files."""
    now = time.time() if now is None else now
    return "%d.%s.%d" % (int(now * 1e6), socket.gethostname().replace(".", "_"), os.getpid())


def event_file_name(now=None, ident=None):
    """A name that sorts before every file SummaryWriter makes (`events.out.tfevents.<time>...`).

    TensorBoard's Python loader reads a run's event files in name order and stops following a file
    once a later-named one exists; sorting first keeps the user's own (scalar) file the live one.
    """
    return "events.out.tfevents.0000000000.tb_attention." + (ident or writer_id(now))


# A payload file is closed and a new one started once it holds this much (a record never spans two).
PAYLOAD_FILE_BYTES = 64 << 20
# Queued records may hold this much host memory (encoded GPU or numpy layers) before add_attention waits.
MAX_PENDING_BYTES = 1 << 30
_STOP = object()
_live_writers = weakref.WeakSet()


class AttentionEventWriter:
    """Writes events built by jobs queued from the training thread, in order, to one file.

    `submit(job)` takes a callable `job(payload_file) -> Event` (encoding happens here, off the
    caller's thread): it may append chunks to the run's payload file, which are synced before its
    event is written; a job submitted with `payload=False` gets None (no payload file is made
    for it). `flush()` waits until everything queued is on disk; `close()` flushes and stops.
    """

    def __init__(self, logdir, max_queue=32):
        os.makedirs(logdir, exist_ok=True)
        self.logdir = logdir
        self.ident = writer_id()
        self.path = os.path.join(logdir, event_file_name(ident=self.ident))
        self._payload = None  # the payload file records go to now, created with the first one
        self._payload_files = 0
        # Unbuffered: every record is one write() call anyway, and a forked child then holds no
        # copy of unwritten bytes that it could write a second time.
        self._file = open(self.path, "ab", buffering=0)
        self.pid = os.getpid()
        self._queue = queue.Queue(maxsize=max_queue)
        self._error = None
        self._closed = False
        self._lock = threading.Lock()
        self._pending_bytes = 0
        self._pending_done = threading.Condition()
        self._write_event(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))
        self._file.flush()
        self._thread = threading.Thread(target=self._run, name="tb-attention-writer", daemon=True)
        self._thread.start()
        _live_writers.add(self)

    @property
    def closed(self):
        return self._closed

    @property
    def usable(self):
        """Open, and owned by this process (a forked child must start a writer of its own: the
        parent's thread does not exist in the child)."""
        return not self._closed and self.pid == os.getpid()

    def submit(self, job, nbytes=0, payload=True):
        """Queue a job that holds `nbytes` of host memory until written; wait while the queued
        jobs already hold MAX_PENDING_BYTES (logging faster than the disk must not fill RAM)."""
        with self._pending_done:
            while self._pending_bytes and self._pending_bytes + nbytes > MAX_PENDING_BYTES and self._thread.is_alive():
                self._pending_done.wait(0.5)
            self._pending_bytes += nbytes
        # Under the lock: a job can never land behind close()'s stop marker and be dropped.
        with self._lock:
            if not self.usable:
                self._release(nbytes)
                raise ValueError("the attention writer for %s is closed" % self.logdir)
            self._queue.put((job, nbytes, payload))

    def _release(self, nbytes):
        with self._pending_done:
            self._pending_bytes -= nbytes
            self._pending_done.notify_all()

    def _write_event(self, event):
        data = memoryview(frame_record(event.SerializeToString()))
        while data:
            data = data[self._file.write(data) :]

    def _run(self):
        lower_thread_priority()
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, threading.Event):  # a flush marker
                self._file.flush()
                item.set()
                continue
            job, nbytes, wants_payload = item
            try:
                payload = self._payload_file() if wants_payload else None
                written = payload.tell() if payload else 0
                event = job(payload)
                if payload and payload.tell() != written:
                    payload.sync()  # the chunks are durable before the index that points to them
                if payload and payload.tell() >= PAYLOAD_FILE_BYTES:
                    self._rotate_payload()
                # One write per record: a reader never sees half of a record that we meant to write
                # unless the process dies mid-write, and TensorBoard skips such a torn tail.
                self._write_event(event)
                if self._queue.empty():
                    self._file.flush()
            except BaseException as e:  # keep the thread alive: later records still get written
                logger.exception("tb_attention: failed to write an attention record")
                self._error = e
            finally:
                self._release(nbytes)
                job = item = None  # the record's captured data goes now, not with the next record

    def _payload_file(self):
        if self._payload is None:
            self._payload_files += 1
            self._payload = PayloadFile(self.logdir, "attention.%s.%d" % (self.ident, self._payload_files))
        return self._payload

    def _rotate_payload(self):
        """Later records go to a new payload file: a sync (aws s3 sync, gsutil rsync) then
        uploads at most one file of this size again, and no remote object grows without bound."""
        self._payload.close()
        self._payload = None

    def flush(self):
        """Block until every queued record is written and flushed; re-raise a writing error."""
        if not self.usable:
            return
        done = threading.Event()
        self._queue.put(done)
        while not done.wait(0.1):
            if not self._thread.is_alive():
                break
        self._raise_pending()

    def _raise_pending(self):
        error, self._error = self._error, None
        if error is not None:
            raise RuntimeError("tb_attention could not write an attention record: %s" % error) from error

    def close(self):
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self.pid != os.getpid():  # a forked child's copy: the parent owns file and thread
                return
            self._queue.put(_STOP)
        self._thread.join()
        self._file.flush()
        self._file.close()
        if self._payload is not None:
            self._payload.close()
        _live_writers.discard(self)
        self._raise_pending()


@atexit.register
def _close_all():
    """Nothing queued is lost at interpreter exit."""
    for writer in list(_live_writers):
        try:
            writer.close()
        except Exception:
            logger.exception("tb_attention: error while closing %s", writer.path)

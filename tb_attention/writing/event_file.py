"""Our own append-only event file, framed with a C-backed CRC32C, and its way past a failed write.

TensorBoard's own record writer computes CRC32C in pure Python (about 0.25 s per MB), which
would cost a training loop a quarter second of GIL time per attention record; ours frames
records with `google-crc32c` on the writer's background thread (`writing/background.py`).

A frame is appended with one write. A write that fails part-way leaves a torn frame, and both of
TensorBoard's loaders stop at a torn frame and wait for its rest: frames written after it would
never be read. So after a failed append the file is cut back to its last whole frame and gets no
more frames; later ones go to a new event file whose name sorts after it (a loader that had
already read part of the torn frame keeps waiting in the old file, and misses nothing).
"""

import os
import socket
import struct
import time

import google_crc32c
from tensorboard.compat.proto import event_pb2

_MASK_DELTA = 0xA282EAD8


def masked_crc32c(data):
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame_record(data):
    """One TFRecord: length, masked CRC of the length, data, masked CRC of the data."""
    header = struct.pack("<Q", len(data))
    return b"".join((header, struct.pack("<I", masked_crc32c(header)), data, struct.pack("<I", masked_crc32c(data))))


def now_micros(now=None):
    """Microseconds since the epoch: what orders the names of one host and process's files."""
    return int((time.time() if now is None else now) * 1e6)


def writer_id(now=None, micros=None):
    """`<microseconds>.<host>.<pid>`: what names one writer's event and payload files."""
    micros = now_micros(now) if micros is None else micros
    return "%d.%s.%d" % (micros, socket.gethostname().replace(".", "_"), os.getpid())


def event_file_name(now=None, ident=None):
    """A name that sorts before every file SummaryWriter makes (`events.out.tfevents.<time>...`).

    TensorBoard's Python loader reads a run's event files in name order and stops following a file
    once a later-named one exists; sorting first keeps the user's own (scalar) file the live one.
    """
    return "events.out.tfevents.0000000000.tb_attention." + (ident or writer_id(now))


def _write_all(file, data):
    view = memoryview(data)
    while view:
        view = view[file.write(view) :]


class EventFile:
    """The event file of one writer, created with its first frame. After a failed append, the
    next frame goes to a new file named `<microseconds later>.<host>.<pid>`."""

    def __init__(self, logdir, micros=None):
        self.logdir = logdir
        self._micros = now_micros() if micros is None else micros
        self.path = os.path.join(logdir, event_file_name(ident=writer_id(micros=self._micros)))
        self._file = None
        self._size = 0  # bytes of whole frames in the file

    def append(self, frame):
        """Append one framed record; raises OSError when it could not be written whole (the file
        then keeps only its whole frames, and the next frame starts a new file)."""
        data = frame
        if self._file is None:
            os.makedirs(self.logdir, exist_ok=True)
            self._file = open(self.path, "ab", buffering=0)
            self._size = self._file.seek(0, os.SEEK_END)
            if self._size == 0:  # the version record and the first record in one write
                version = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
                data = frame_record(version.SerializeToString()) + frame
        try:
            _write_all(self._file, data)
        except BaseException:
            self._leave()
            raise
        self._size += len(data)

    def _leave(self):
        """Cut the file back to its whole frames, close it, and name the file that comes next."""
        try:
            os.ftruncate(self._file.fileno(), self._size)
            cut = True
        except OSError:
            cut = False  # its torn tail stays: readers stop there, and nothing follows it
        try:
            self._file.close()
        except OSError:
            pass
        if cut and self._size == 0:
            try:
                os.unlink(self.path)  # nothing of it was whole: no empty file left behind
            except OSError:
                pass
        self._file = None
        # Later microseconds sort later: TensorBoard's Python loader reads a run's files in name order.
        self._micros = max(now_micros(), self._micros + 1)
        self.path = os.path.join(self.logdir, event_file_name(ident=writer_id(micros=self._micros)))

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None

"""The payload file a writer appends a record's chunks to (format v2, docs/format.md), and its
way back from a failed write.

A write that fails part-way (disk full, quota, file size limit, I/O error) may leave some of its
bytes in the file. The next record's chunks would land after them while their index entries say
they start where the failed record started, so every later record would be unreadable. The
writer therefore cuts the file back to the end of the last good record (`cut_back`); a file that
cannot be cut back is abandoned for a new one (its earlier records stay readable: their index
entries are absolute offsets).
"""

import os

from tb_attention.format.payload import DIRECTORY, MAGIC, SUFFIX, chunk_ref, compress


def _write_all(file, data):
    view = memoryview(data)
    while view:
        view = view[file.write(view) :]


class PayloadFile:
    """Append-only writer of one payload file (one per writer process and run directory, until
    it is full or a failed write cannot be undone)."""

    def __init__(self, run_dir, name):
        self.relative_path = DIRECTORY + "/" + name + SUFFIX
        self.path = os.path.join(run_dir, *self.relative_path.split("/"))
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        # Unbuffered, as the event file: a forked child holds no copy of unwritten bytes.
        self._file = open(self.path, "ab", buffering=0)
        self._offset = self._file.seek(0, os.SEEK_END)
        if self._offset == 0:
            try:
                _write_all(self._file, MAGIC)
            except BaseException:
                self._file.close()  # a file holding part of the magic is no payload file: gone
                os.unlink(self.path)
                raise
            self._offset = len(MAGIC)

    def tell(self):
        """Where the next chunk starts: the end of the last chunk written whole."""
        return self._offset

    def append(self, raw):
        """Compress and append one chunk; its index entry."""
        return self.append_compressed(compress(raw))

    def append_compressed(self, data):
        """Append one chunk already compressed (with `compress`); its index entry. A failed
        write raises, and `tell()` still names the end of the last whole chunk."""
        ref = chunk_ref(self._offset, data)
        _write_all(self._file, data)
        self._offset += len(data)
        return ref

    def sync(self):
        """Make every appended chunk durable (before an index points to it)."""
        os.fsync(self._file.fileno())

    def cut_back(self, offset):
        """Drop every byte past `offset` (the end of the last record an index points to), after a
        failed write. False if the file cannot be cut: it must then get no more chunks."""
        try:
            os.ftruncate(self._file.fileno(), offset)
        except OSError:
            return False
        self._offset = offset
        return True

    def close(self):
        self._file.close()

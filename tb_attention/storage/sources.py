"""Where one record's bytes are read from: its event blobs (format 1) through TensorBoard's data
provider, its payload file (format 2) through `files`, each payload chunk checked against its
index entry before use."""

import functools

from tb_attention.format import payload
from tb_attention.format.errors import FormatError
from tb_attention.storage import files


class RecordBytes:
    """The bytes of one record of `run`, read on demand."""

    def __init__(self, provider, ctx, run_dirs, run, record):
        self._provider, self._ctx, self._run_dirs = provider, ctx, run_dirs
        self.run, self.record = run, record

    def blob(self, index):
        """Event blob `index` of the record (0: the header; format 1: 1 + layer)."""
        return self._provider.read_blob(self._ctx, blob_key=self.record.ref.blob_keys[index])

    @functools.cached_property
    def payload_path(self):
        directory = self._run_dirs.find(self.run, self.record.file)
        if directory is None:
            raise FormatError("the directory of run %r is unknown to this server" % self.run)
        return files.join(directory, self.record.file)

    def chunk(self, ref, what):
        """The payload chunk of index entry `ref` ([offset, length, crc32c]), verified."""
        return payload.verify(files.read_range(self.payload_path, ref[0], ref[1]), ref, what)

"""The one seam through which readers touch payload files: byte ranges and existence, for local
paths directly and for remote URLs (s3://, gs://, ...) through fsspec with the filesystem's own
package (s3fs, gcsfs). Another storage backend plugs in with `register(protocol, backend)`: an
object with `read_range(path, offset, length)` and `exists(path)`."""

import os
import re

from tb_attention.format.errors import FormatError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}


def is_url(path):
    return bool(_URL.match(path))


def join(base, *parts):
    """`base` joined with '/'-separated relative parts, as a URL or a local path."""
    parts = [p for part in parts for p in part.split("/") if p not in ("", ".")]
    if is_url(base):
        return "/".join([base.rstrip("/")] + parts)
    return os.path.join(base, *parts)


class LocalFiles:
    """Local paths."""

    def read_range(self, path, offset, length):
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(length)

    def exists(self, path):
        return os.path.exists(path)


def _storage_options(protocol):
    if protocol in ("s3", "s3a"):
        # TensorBoard's own S3 support reads S3_ENDPOINT for S3-compatible stores: so do we.
        endpoint = os.environ.get("S3_ENDPOINT")
        return {"client_kwargs": {"endpoint_url": endpoint}} if endpoint else {}
    return {}


class FsspecFiles:
    """Remote URLs through fsspec (the default for every URL protocol)."""

    @staticmethod
    def _filesystem(url):
        import fsspec

        protocol = url.split("://", 1)[0].lower()
        try:
            return fsspec.core.url_to_fs(url, **_storage_options(protocol))
        except ImportError as e:
            package = _PACKAGES.get(protocol, "the fsspec filesystem package for %s://" % protocol)
            raise FormatError(
                "reading attention payloads from %s:// needs %s (pip install %s): %s" % (protocol, package, package, e)
            ) from None

    def read_range(self, path, offset, length):
        fs, inner = self._filesystem(path)
        return fs.cat_file(inner, start=offset, end=offset + length)

    def exists(self, path):
        fs, inner = self._filesystem(path)
        return fs.exists(inner)


_LOCAL = LocalFiles()
_REMOTE = FsspecFiles()
_BACKENDS = {}  # URL protocol -> backend registered for it


def register(protocol, backend):
    """Read URLs of `protocol` ("s3", "gs", ...) through `backend` instead of fsspec (None: back
    to fsspec)."""
    if backend is None:
        _BACKENDS.pop(protocol.lower(), None)
    else:
        _BACKENDS[protocol.lower()] = backend


def backend(path):
    """The backend that reads `path`."""
    if not is_url(path):
        return _LOCAL
    return _BACKENDS.get(path.split("://", 1)[0].lower(), _REMOTE)


def read_range(path, offset, length):
    """`length` bytes of `path` from `offset` (fewer when the file is shorter); FormatError when
    the file cannot be read."""
    try:
        return backend(path).read_range(path, offset, length)
    except FileNotFoundError:
        raise FormatError("attention payload file %s is missing" % path) from None
    except OSError as e:
        raise FormatError("attention payload file %s cannot be read: %s" % (path, e)) from None


def exists(path):
    try:
        return backend(path).exists(path)
    except (OSError, FormatError):
        return False

"""Storage's read interface: every read of a stored part goes through `StoredPart`, and payload
bytes through the one seam in `storage/files.py`, where another backend plugs in."""

import numpy as np
import pytest
from tensorboard import context

import tb_attention
from tb_attention.storage import files
from tb_attention.storage.errors import NotFound
from tb_attention.storage.rundirs import RunDirectories
from tb_attention.storage.store import AttentionStore
from tests.helpers.data import UINT8_BOUND, softmax_attention
from tests.helpers.http import multiplexer_provider

TOKENS = ["[CLS]", "a", "b", "c", "d", "e", "[SEP]"]


class DirectoryBackend:
    """A storage backend for `mem://` URLs that reads a local directory and counts its reads."""

    def __init__(self, root):
        self.root, self.reads = str(root), []

    def _local(self, path):
        return path.replace("mem://logs", self.root, 1)

    def read_range(self, path, offset, length):
        self.reads.append((path, offset, length))
        return files.LocalFiles().read_range(self._local(path), offset, length)

    def exists(self, path):
        return files.LocalFiles().exists(self._local(path))


@pytest.fixture
def logged(tmp_path):
    dense = softmax_attention((2, 3, 7, 7), seed=1)
    sparse = softmax_attention((2, 3, 7, 7), seed=2)
    tb_attention.add_attention(tmp_path / "run", "dense", dense, TOKENS, 0)
    tb_attention.add_attention(tmp_path / "run", "sparse", sparse, TOKENS, 0, top_k=3)
    tb_attention.flush()
    return tmp_path, dense, sparse


def test_a_registered_backend_reads_every_payload_byte(logged):
    logdir, dense, sparse = logged
    _, provider = multiplexer_provider(logdir)
    backend = DirectoryBackend(logdir)
    files.register("mem", backend)
    try:
        store = AttentionStore(provider, RunDirectories(logdir="mem://logs"))
        ctx = context.RequestContext()
        part = store.part(ctx, "", "run", "dense", 0)
        np.testing.assert_allclose(part.layer(1, heads=[2, 0]), dense[1][[2, 0]], atol=UINT8_BOUND)
        assert all(path.startswith("mem://logs/run/plugins/tb_attention/") for path, _, _ in backend.reads)
        assert len(backend.reads) == 1  # one block holds the three heads of layer 1
        kept = store.part(ctx, "", "run", "sparse", 0).kept_mass(0)
        top3 = np.sort(sparse[0], axis=-1)[..., -3:].sum(-1)
        np.testing.assert_allclose(kept, top3, atol=1e-6)
        assert len(backend.reads) == 2
    finally:
        files.register("mem", None)
    assert files.backend("mem://logs/x") is not backend


def test_a_stored_part_checks_layer_and_heads_once(logged):
    logdir, dense, _ = logged
    _, provider = multiplexer_provider(logdir)
    store = AttentionStore(provider, RunDirectories(logdir=str(logdir)))
    part = store.part(context.RequestContext(), "", "run", "dense", 0)
    with pytest.raises(NotFound, match=r"layer 2 is out of range \(0..1\)"):
        part.layer(2)
    with pytest.raises(NotFound, match=r"heads \[3\] are out of range \(0..2\)"):
        part.layer(0, heads=[3])
    with pytest.raises(NotFound, match="the record is dense"):
        part.sparse_layer(0)
    assert part.kept_mass(0) is None
    np.testing.assert_allclose(part.attention(), dense, atol=UINT8_BOUND)
    with pytest.raises(NotFound, match="no attention of kind 'cross'"):
        store.part(context.RequestContext(), "", "run", "dense", 0, kind="cross")

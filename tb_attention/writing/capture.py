"""A record from the caller's thread to the payload: what is read where, and when.

On the caller's thread every stored layer is checked (softmax rows; on the tensor's own device)
before anything is queued, so bad input raises there with nothing logged. Then:

- CPU torch tensors are not copied: the writer's background threads read each block of heads
  when they encode it (torch's version counter tells if the caller changed a tensor in place
  meanwhile: that record is then dropped, loudly). Host memory stays at one block in flight per
  background thread, and the tensors a queued record keeps alive count towards the writer's
  bound on queued bytes (so a loop faster than the disk waits instead of piling them up).
- Tensors on a GPU are encoded there, block by block (quantised, or their strongest keys picked,
  and scored), and only the stored bytes come to the host.
- numpy arrays are encoded at once, block by block (they may be the caller's buffers).

Pattern scores come from the full weights of every stored layer, before any sparsifying.
"""

import collections
import logging

from tb_attention.format import blocks
from tb_attention.inputs.checks import row_namer
from tb_attention.writing.layer_encoding import encode_numpy, encode_torch, head_block
from tb_attention.writing.threads import encoding_pool

logger = logging.getLogger("tb_attention")


class InputChanged(RuntimeError):
    """The caller changed a logged tensor in place before the writer read it."""


def _storage_bytes(views):
    """Bytes of the CPU tensors behind `views`, each storage once: what a queued record keeps
    alive (a view of one example keeps its whole batch)."""
    storages = {}
    for v in views:
        storage = v.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values())


class CapturedPart:
    """One part (attention kind) of a record between the call and the payload."""

    def __init__(self, part, plan, scorer):
        self.part, self.plan, self.scorer = part, plan, scorer
        self.ranges = blocks.block_ranges(len(plan.head_ids), head_block(plan))
        self.encoded = None  # [layer][block] EncodedBlock once encoded
        self.versions = None
        self.nbytes = 0  # host bytes this part holds until written
        self.structure = {}  # kv_heads, windows, causal when the record keeps queries and keys
        self.qk = None  # writing/qk.QKBuilder of the queries and keys kept, or None

    def check(self):
        """On the caller's thread: every stored layer's weights are softmax rows, or raise."""
        for layer in self.plan.layer_ids:
            self.part.check_layer(layer, self.plan.head_ids, row_namer(layer, self.plan.head_ids))
        return self

    def capture(self):
        """On the caller's thread, after check(): encode now (GPU, numpy), or note the versions
        of the CPU tensors the background threads will read."""
        if self.part.torch and self.part.device == "cpu":
            self.versions = self.part.versions()
            self.nbytes = _storage_bytes(self.part.views)
            return self
        self.encoded = [
            [self._encode(i, layer, b) for b in range(len(self.ranges))] for i, layer in enumerate(self.plan.layer_ids)
        ]
        self.nbytes = sum(e.nbytes for row in self.encoded for e in row)
        return self

    def _heads(self, b):
        h0, h1 = self.ranges[b]
        return self.plan.head_ids[h0:h1]

    def _score(self, i, b, weights):
        if self.scorer is None:
            return
        try:
            self.scorer.add_layer(i, weights, self.ranges[b][0])
        except Exception:  # a failure here must never cost the attention itself
            logger.exception("tb_attention: pattern scores failed; attention is logged without them")
            self.scorer = None

    def _encode(self, i, layer, b):
        """Block b of stored layer i (input layer `layer`), scored and encoded."""
        heads = self._heads(b)
        if self.part.torch and self.part.device != "cpu":
            x = self.part.layer(layer, heads)
            self._score(i, b, x)
            return encode_torch(x, self.plan)
        if self.versions is not None:
            self._check_unchanged(layer)
        weights = self.part.float_layer(layer, heads)
        if self.versions is not None:
            self._check_unchanged(layer)  # and not while it was read
        self._score(i, b, weights)
        return encode_numpy(weights, self.plan)

    def _check_unchanged(self, layer):
        before = self.versions[layer]
        view = self.part.views[layer]
        if before is not None and view._version != before:
            raise InputChanged(
                "attention layer %d was changed in place before it was written; the record is dropped (pass "
                "a tensor you do not reuse, e.g. outputs.attentions, or a copy)" % layer
            )

    def encoded_blocks(self):
        """(stored layer index, [EncodedBlock per block]) in order; on the writer's thread, reading
        CPU tensors on the encoding threads, as many blocks at a time as there are threads."""
        if self.encoded is not None:
            yield from enumerate(self.encoded)
            return
        pool, window = encoding_pool()
        in_flight = collections.deque()
        row = []
        units = [(i, layer, b) for i, layer in enumerate(self.plan.layer_ids) for b in range(len(self.ranges))]
        for n, unit in enumerate(units):
            in_flight.append((unit, pool.submit(self._encode, *unit)))
            while in_flight and (len(in_flight) >= window or n == len(units) - 1):
                (i, _, b), future = in_flight.popleft()
                row.append(future.result())
                if b == len(self.ranges) - 1:
                    yield i, row
                    row = []

    def patterns(self):
        return None if self.scorer is None else self.scorer.result()

    def header_fields(self):
        """Further fields the scorer adds to the part's header (e.g. `example_scores`)."""
        return header_fields(self.scorer)


def header_fields(scorer):
    """A scorer's `header_fields()` ({} for a scorer without them, or none)."""
    fields = getattr(scorer, "header_fields", None)
    return dict(fields()) if fields is not None else {}

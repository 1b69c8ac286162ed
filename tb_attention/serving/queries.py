"""What each route answers, as plain functions of the store: testable without HTTP, cached where
the answer can only change with the records it reads (docs/http_api.md)."""

import dataclasses
import logging
import zlib
from typing import Callable, Optional

import numpy as np

from tb_attention.format import payload, precision
from tb_attention.format.errors import FormatError
from tb_attention.storage.cache import LRU
from tb_attention.storage.errors import NotFound

logger = logging.getLogger(__name__)
ANSWER_CACHE_BYTES = 64 << 20


class BadRequest(ValueError):
    """A request that cannot be answered as asked: a missing or malformed parameter, or two
    records that cannot be compared (HTTP 400)."""


@dataclasses.dataclass
class ArrayPayload:
    """A little-endian array for a binary route: its raw bytes (made on demand), or already
    encoded bytes with their HTTP content-coding, which may be sent as they are."""

    shape: tuple
    dtype: str  # uint8, float16, float32
    scale: float  # weight = value * scale
    raw: Callable[[], bytes]
    encoded: Optional[tuple] = None  # (content-coding, bytes)
    precision: Optional[str] = None


def _stored_payload(shape, part_precision, raw, encoded=None):
    return ArrayPayload(shape, precision.dtype(part_precision).name, precision.scale(part_precision), raw, encoded,
                        part_precision)


def _float16_payload(values):
    values = np.ascontiguousarray(values, dtype="<f2")
    return ArrayPayload(values.shape, "float16", 1.0, values.tobytes)


class AttentionQueries:
    """The plugin's answers over an `AttentionStore`."""

    def __init__(self, store, cache_bytes=ANSWER_CACHE_BYTES):
        self.store = store
        self._answers = LRU(1024, cache_bytes)  # (route, records...) -> answer

    # -- listings ------------------------------------------------------------------------------

    def tags(self, ctx, experiment_id):
        """Runs and their attention tags."""
        return {
            "runs": {
                run: {
                    tag: {
                        "max_step": series.max_step,
                        "max_wall_time": series.max_wall_time,
                        "display_name": series.display_name or tag,
                    }
                    for tag, series in tags.items()
                }
                for run, tags in self.store.tags(ctx, experiment_id).items()
            }
        }

    def _readable(self, ctx, run, tag, refs):
        """Decoded records of every step whose header decodes; unreadable ones are logged, skipped."""
        out = []
        for ref in refs:
            try:
                out.append(self.store.record(ctx, ref))
            except FormatError as e:
                logger.warning("skipping unreadable attention record %s/%s@%d: %s", run, tag, ref.step, e)
        return out

    def steps(self, ctx, experiment_id, run, tag):
        """Every readable step of a (run, tag): its attention kinds, each with tokens and shape."""
        records = self._readable(ctx, run, tag, self.store.steps(ctx, experiment_id, run, tag))
        return {
            "run": run,
            "tag": tag,
            "steps": [
                {
                    "step": r.ref.step,
                    "wall_time": r.ref.wall_time,
                    "kinds": list(r.parts),
                    "parts": {kind: part.describe() for kind, part in r.parts.items()},
                }
                for r in records
            ],
        }

    def _record_part(self, ctx, experiment_id, run, tag, step, kind):
        record = self.store.record(ctx, self.store.find_step(ctx, experiment_id, run, tag, step))
        try:
            return record, record.part(kind)
        except KeyError as e:
            raise NotFound(e.args[0]) from None

    # -- binary --------------------------------------------------------------------------------

    def layer(self, ctx, experiment_id, run, tag, step, layer, kind=None, heads=None, form=None):
        """One layer of one step (the given heads, else every head): `[heads, q, k]` dense (sparse
        records densified), or with form="kept" the weight each sparse row kept, `[heads, q]`."""
        record, part = self._record_part(ctx, experiment_id, run, tag, step, kind)
        _, n_heads, q, k = part.shape
        if heads is not None and not all(0 <= h < n_heads for h in heads):
            raise NotFound("heads %s are out of range (0..%d)" % (list(heads), n_heads - 1))
        count = n_heads if heads is None else len(heads)
        if form == "kept":
            kept = self.store.kept_mass(run, record, part, layer, heads)
            if kept is None:
                raise BadRequest("this record is dense: every query row keeps all of its weight")
            return ArrayPayload((count, q), "float32", 1.0, np.ascontiguousarray(kept, dtype="<f4").tobytes)
        if form not in (None, "dense"):
            raise BadRequest("form must be dense or kept, got %r" % form)
        if heads is None and record.version <= 1:
            blob = self.store.v1_blob(ctx, record, part, layer)
            return _stored_payload((count, q, k), part.precision, lambda: zlib.decompress(blob), ("deflate", bytes(blob)))
        if heads is None and part.encoding == "dense":
            chunks = self.store.block_chunks(run, record, part, layer)
            for data, (h0, h1), size, _ in chunks:  # 422 rather than a 200 the panel cannot decode
                if payload.frame_size(data) != size:
                    raise FormatError("layer %d heads %d-%d: payload chunk has the wrong size" % (layer, h0, h1 - 1))

            def raw():
                return b"".join(payload.decompress(data, size, "layer %d" % layer) for data, _, size, _ in chunks)

            return _stored_payload((count, q, k), part.precision, raw, ("zstd", b"".join(c[0] for c in chunks)))
        stored = np.ascontiguousarray(self.store.layer(ctx, run, record, part, layer, heads, stored=True)).tobytes()
        return _stored_payload((count, q, k), part.precision, lambda: stored)

    def thumbnails(self, ctx, experiment_id, run, tag, step, kind=None):
        """Every head of every layer, max-pooled to at most 64 x 64: float16 [layers, heads, r, c]."""
        record, part = self._record_part(ctx, experiment_id, run, tag, step, kind)
        key = ("thumbnails", record.ref.key, part.kind)
        cached = self._answers.get(key)
        if cached is None:
            cached = _float16_payload(self.store.thumbnails(ctx, run, record, part))
            self._answers.put(key, cached, 2 * int(np.prod(cached.shape)))
        return cached

    # -- analysis ------------------------------------------------------------------------------

    def patterns(self, ctx, experiment_id, run, tag, kind=None):
        """Head-pattern scores and labels of every step of a (run, tag), and the labelling rules."""
        refs = self.store.steps(ctx, experiment_id, run, tag)
        key = ("patterns", experiment_id, run, tag, kind, tuple(ref.key for ref in refs))
        cached = self._answers.get(key)
        if cached is not None:
            return cached
        from tb_attention.analysis import labels
        from tb_attention.format.scores import scores_to_json

        out = {"run": run, "tag": tag, "steps": [], "scores": [], "head_labels": [], "rules": labels.describe()}
        size = 0
        for record in self._readable(ctx, run, tag, refs):
            part = record.parts.get(kind) if kind else record.part()
            scores = part.patterns if part is not None else None
            out["steps"].append(record.ref.step)
            out["scores"].append(scores_to_json(scores) if scores else None)
            out["head_labels"].append(labels.labels_json(scores) if scores else None)
            size += 6 * record.nbytes  # decoded JSON takes about six times its text
        self._answers.put(key, out, size)
        return out

    def change(self, ctx, experiment_id, a, b, kind=None):
        """Per-head Jensen-Shannon divergence between records `a` and `b`, each (run, tag, step)."""
        record_a, part_a = self._record_part(ctx, experiment_id, *a, kind)
        record_b, part_b = self._record_part(ctx, experiment_id, *b, part_a.kind)
        key = ("change", record_a.ref.key, record_b.ref.key, part_a.kind)
        cached = self._answers.get(key)
        if cached is None:
            cached = self._compute_change(ctx, (a[0], record_a, part_a), (b[0], record_b, part_b))
            self._answers.put(key, cached, 64 * part_a.shape[0] * part_a.shape[1])
        return cached

    def _compute_change(self, ctx, a, b):
        from tb_attention.analysis.change import head_change

        (run_a, record_a, part_a), (run_b, record_b, part_b) = a, b
        if part_a.shape != part_b.shape:
            raise BadRequest(
                "the two records differ in shape (%s vs %s): compare records of the same input"
                % (list(part_a.shape), list(part_b.shape))
            )
        # One block of heads at a time: two whole long records in float32 could take gigabytes.
        layers, heads, q, k = part_a.shape
        per_block = max(1, min(heads, (64 << 20) // (4 * q * k)))
        js = np.array([
            np.concatenate([
                head_change(self.store.layer(ctx, run_a, record_a, part_a, l, hs)[None],
                            self.store.layer(ctx, run_b, record_b, part_b, l, hs)[None])[0]
                for hs in (list(range(h, min(heads, h + per_block))) for h in range(0, heads, per_block))
            ])
            for l in range(layers)
        ]).round(6)
        order = np.argsort(-js, axis=None)
        return {
            "kind": part_a.kind,
            "js": js.tolist(),
            "layer_mean": js.mean(axis=1).round(6).tolist(),
            "ranking": [
                {"layer": int(i // js.shape[1]), "head": int(i % js.shape[1]), "js": float(js.flat[i])}
                for i in order
            ],
            "same_tokens": part_a.tokens == part_b.tokens and part_a.key_tokens == part_b.key_tokens,
        }

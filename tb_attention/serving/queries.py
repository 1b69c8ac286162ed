"""What each route answers, as plain functions of the store: testable without HTTP, cached where
the answer can only change with the records it reads (docs/http_api.md)."""

import dataclasses
import logging

import numpy as np

from tb_attention.format import codec, precision
from tb_attention.serving.errors import BadRequest
from tb_attention.serving.store import LRU

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class LayerPayload:
    """One layer as stored: `data` is the zlib stream of a `[heads, queries, keys]` array."""

    data: bytes
    shape: tuple  # (heads, queries, keys)
    precision: str
    compression: str  # HTTP content-coding of `data`

    @property
    def dtype(self):
        return precision.dtype(self.precision).name

    @property
    def scale(self):
        return precision.scale(self.precision)


def _step_entry(s, header):
    return {
        "step": s.step,
        "wall_time": s.wall_time,
        "shape": header["shape"],
        "precision": header["precision"],
        "tokens": header["tokens"],
        "key_tokens": header.get("key_tokens"),
        "sentence_b_start": header.get("sentence_b_start"),
        "has_patterns": bool(header.get("patterns")),
    }


class AttentionQueries:
    """The plugin's answers over an `AttentionStore`."""

    def __init__(self, store, cache_size=256):
        self.store = store
        self._patterns = LRU(cache_size)  # steps signature -> /patterns answer
        self._change = LRU(cache_size)  # (record A, record B) -> /change answer

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

    def _readable(self, ctx, run, tag, steps):
        """(step, header) of every step whose header decodes; unreadable ones are logged, skipped."""
        out = []
        for s in steps:
            try:
                out.append((s, self.store.header(ctx, s)))
            except codec.FormatError as e:
                logger.warning("skipping unreadable attention record %s/%s@%d: %s", run, tag, s.step, e)
        return out

    def steps(self, ctx, experiment_id, run, tag):
        """Every readable step of a (run, tag) with tokens, shape and precision."""
        records = self._readable(ctx, run, tag, self.store.steps(ctx, experiment_id, run, tag))
        return {"run": run, "tag": tag, "steps": [_step_entry(s, header) for s, header in records]}

    def layer(self, ctx, experiment_id, run, tag, step, layer):
        """One layer of one step, as stored (checked to inflate to its header's size)."""
        record = self.store.find_step(ctx, experiment_id, run, tag, step)
        header = self.store.header(ctx, record)
        blob = self.store.layer_blob(ctx, record, layer)
        codec.inflate_layer(blob, header)  # 422 rather than a 200 the panel cannot decode
        _, heads, q, k = header["shape"]
        return LayerPayload(bytes(blob), (heads, q, k), header["precision"], "deflate")

    def patterns(self, ctx, experiment_id, run, tag):
        """Head-pattern scores and labels of every step of a (run, tag), and the labelling rules."""
        steps = self.store.steps(ctx, experiment_id, run, tag)
        key = (experiment_id, run, tag, tuple((s.step, s.wall_time, s.blob_keys[0]) for s in steps))
        cached = self._patterns.get(key)
        if cached is not None:
            return cached
        from tb_attention.analysis import labels

        out = {"run": run, "tag": tag, "steps": [], "scores": [], "head_labels": [], "rules": labels.describe()}
        for s, header in self._readable(ctx, run, tag, steps):
            scores = header.get("patterns")
            out["steps"].append(s.step)
            out["scores"].append(scores)
            out["head_labels"].append(labels.labels_json(scores) if scores else None)
        self._patterns.put(key, out)
        return out

    def change(self, ctx, experiment_id, a, b):
        """Per-head Jensen-Shannon divergence between records `a` and `b`, each (run, tag, step)."""
        record_a = self.store.find_step(ctx, experiment_id, *a)
        record_b = self.store.find_step(ctx, experiment_id, *b)
        key = (record_a.blob_keys[0], record_a.wall_time, record_b.blob_keys[0], record_b.wall_time)
        cached = self._change.get(key)
        if cached is None:
            cached = self._compute_change(ctx, record_a, record_b)
            self._change.put(key, cached)
        return cached

    def _compute_change(self, ctx, record_a, record_b):
        from tb_attention.analysis.change import head_change

        header_a, header_b = self.store.header(ctx, record_a), self.store.header(ctx, record_b)
        if header_a["shape"] != header_b["shape"]:
            raise BadRequest(
                "the two records differ in shape (%s vs %s): compare records of the same input"
                % (header_a["shape"], header_b["shape"])
            )
        # One layer at a time: two whole long records in float32 could take gigabytes.
        js = np.concatenate(
            [
                head_change(self.store.layer(ctx, record_a, l)[None], self.store.layer(ctx, record_b, l)[None])
                for l in range(header_a["shape"][0])
            ]
        ).round(6)
        order = np.argsort(-js, axis=None)
        return {
            "js": js.tolist(),
            "layer_mean": js.mean(axis=1).round(6).tolist(),
            "ranking": [
                {"layer": int(i // js.shape[1]), "head": int(i % js.shape[1]), "js": float(js.flat[i])}
                for i in order
            ],
            "same_tokens": header_a["tokens"] == header_b["tokens"]
            and header_a.get("key_tokens") == header_b.get("key_tokens"),
        }

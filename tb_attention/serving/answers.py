"""What the listing and layer routes answer (docs/http_api.md), as plain methods of the store
taking one typed request (serving/requests.py): testable without HTTP, cached where the answer
can only change with the records it reads. The analysis routes: serving/analysis_answers.py."""

import numpy as np

from tb_attention.analysis.tokens import DEFAULT_SPECIAL_TOKENS, word_ids
from tb_attention.serving.arrays import float_payload
from tb_attention.serving.layer_answers import layer_answer
from tb_attention.serving.qk_answers import qk_answer

ANSWER_CACHE_BYTES = 64 << 20


def _with_word_ids(described):
    """A part as /steps lists it, with the word of each query (and cross-attention key) token:
    the panel groups word pieces by these ids and keeps no copy of the rule."""
    described["word_ids"] = word_ids(described["tokens"], DEFAULT_SPECIAL_TOKENS).tolist()
    keys = described["key_tokens"]
    described["key_word_ids"] = None if keys is None else word_ids(keys, DEFAULT_SPECIAL_TOKENS).tolist()
    return described


class Answers:
    """The listing and layer routes' answers over an `AttentionStore`, cached in `cache` (an LRU
    shared with the other routes)."""

    def __init__(self, store, cache):
        self.store, self.cache = store, cache

    def tags(self, ctx, experiment_id, request):
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

    def steps(self, ctx, experiment_id, request):
        """Every readable step of a (run, tag): its attention kinds, each with tokens and shape."""
        refs = self.store.steps(ctx, experiment_id, request.run, request.tag)
        return {
            "run": request.run,
            "tag": request.tag,
            "steps": [
                {
                    "step": r.ref.step,
                    "wall_time": r.ref.wall_time,
                    "kinds": list(r.parts),
                    "parts": {kind: _with_word_ids(part.to_json()) for kind, part in r.parts.items()},
                }
                for r in self.store.records(ctx, request.run, request.tag, refs)
            ],
        }

    def layer(self, ctx, experiment_id, request):
        """One layer of one step (serving/layer_answers.py)."""
        stored = self.store.part(
            ctx, experiment_id, run=request.run, tag=request.tag, step=request.step, kind=request.kind
        )
        return layer_answer(stored, request)

    def tile(self, ctx, experiment_id, request):
        """A region of one layer at a zoom factor (storage/regions.py): float32 `[heads, rows,
        cols]`, or `[1, rows, cols]` with reduce="mean"; NaN where the record stores nothing."""
        stored = self.store.part(
            ctx, experiment_id, run=request.run, tag=request.tag, step=request.step, kind=request.kind
        )
        values = stored.region(
            request.layer,
            None if request.heads is None else list(request.heads),
            (request.q_start, min(request.q_end, stored.part.shape[2])),
            (request.k_start, min(request.k_end, stored.part.shape[3])),
            request.factor,
        )
        if request.reduce == "mean":
            stored_somewhere = ~np.isnan(values).all(axis=0)
            # A cell one head does not store counts as 0 there: the mean is a lower bound.
            mean = np.nan_to_num(values).mean(axis=0, dtype=np.float64).astype(np.float32)
            values = np.where(stored_somewhere, mean, np.float32(np.nan))[None]
        return float_payload(values, "float32", stored.part.precision)

    def thumbnails(self, ctx, experiment_id, request):
        """Every head of every layer, max-pooled to at most 64 x 64: float16 [layers, heads, r, c]."""
        stored = self.store.part(
            ctx, experiment_id, run=request.run, tag=request.tag, step=request.step, kind=request.kind
        )
        key = ("thumbnails",) + stored.key
        cached = self.cache.get(key)
        if cached is None:
            cached = float_payload(stored.thumbnails(), "float16")
            self.cache.put(key, cached, 2 * int(np.prod(cached.shape)))  # float16
        return cached

    def qk(self, ctx, experiment_id, request):
        """One head's query against every key from the stored queries and keys (serving/qk_answers.py)."""
        stored = self.store.part(
            ctx, experiment_id, run=request.run, tag=request.tag, step=request.step, kind=request.kind
        )
        stored_b = None
        if request.step_b is not None:
            stored_b = self.store.part(
                ctx,
                experiment_id,
                run=request.run_b or request.run,
                tag=request.tag,
                step=request.step_b,
                kind=request.kind,
            )
        return qk_answer(stored, request, stored_b)

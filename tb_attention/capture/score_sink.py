"""A capture sink that only scores: the forward's blocks of attention weights feed one pattern
scorer per attention kind and are dropped; nothing is stored. Scoring a set of examples runs one
forward per example through it (integrations/example_set.py)."""

from types import SimpleNamespace

from tb_attention.capture.blocks import rows_per_block
from tb_attention.capture.recording import layer_count, layer_counts
from tb_attention.capture.session import BLOCK_BYTES
from tb_attention.writing import plan as plans
from tb_attention.writing.stream import full_width


class ScoreSink:
    """Receives a Session's blocks of one example (batch 1, no padding). `make_scorer(kind,
    shape)` gives the consumer of a kind's blocks (`add_block`, `result`) for its stored layers
    and heads `shape`; the layers and heads scored are those `storage`'s `layers=` / `heads=`
    would store (all by default). `result()`: {kind: scores}."""

    def __init__(self, model, make_scorer, storage=None):
        self.counts = layer_counts(model)
        self.make_scorer = make_scorer
        self.storage = {k: v for k, v in (storage or {}).items() if k in ("layers", "heads")}
        self.kinds = {}  # kind -> (scorer, {model layer: stored layer}, {model head: stored head})

    def _start(self, call):
        shape = (layer_count(self.counts, call), call.heads, call.queries, call.keys)
        plan = plans.plan_record(
            [SimpleNamespace(shape=shape)], plans.DEFAULT_PRECISION, max_bytes=None, **self.storage
        )[0]
        scorer = self.make_scorer(call.kind, plan.shape)
        layers = {m: i for i, m in enumerate(plan.layer_ids)}
        heads = {m: i for i, m in enumerate(plan.head_ids)}
        return scorer, layers, heads

    def begin_layer(self, call):
        if call.kind not in self.kinds:
            self.kinds[call.kind] = self._start(call)
        _, layers, heads = self.kinds[call.kind]
        if call.layer not in layers:
            return None
        return sorted(heads), rows_per_block(call.keys, BLOCK_BYTES)

    def block(self, call, head, row, weights, key_start=0):
        scorer, layers, heads = self.kinds[call.kind]
        scorer.add_block(layers[call.layer], heads[head], row, full_width(weights, key_start, call.keys))

    def end_layer(self, call):
        pass

    def result(self):
        return {kind: scorer.result() for kind, (scorer, _, _) in self.kinds.items()}

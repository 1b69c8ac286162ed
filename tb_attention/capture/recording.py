"""The sink of a capture: each attention kind the model computes becomes one part of a record,
planned when its first layer is called (its shape is known then), built block by block
(writing/stream.py), scored on the way (analysis/scoring.py), with padding dropped."""

import dataclasses
import logging
from types import SimpleNamespace
from typing import Optional

from tb_attention.capture.blocks import rows_per_block
from tb_attention.capture.session import BLOCK_BYTES
from tb_attention.inputs.vectors import dtype_name
from tb_attention.writing import budget
from tb_attention.writing import plan as plans
from tb_attention.writing import qk as qk_writing
from tb_attention.writing.stream import PartBuilder
from tb_attention.writing.streamed import StreamedPart

logger = logging.getLogger(__name__)


def layer_counts(model):
    """{kind: number of attention layers} from the model's config."""
    config = getattr(model, "config", None)
    if config is None:
        raise ValueError("tb_attention.capture needs a Hugging Face model (one with a config)")

    def first(*names):
        for name in names:
            value = getattr(config, name, None)
            if isinstance(value, int) and value > 0:
                return value
        return None

    if getattr(config, "is_encoder_decoder", False):
        encoder = first("encoder_layers", "num_layers", "num_hidden_layers")
        decoder = first("decoder_layers", "num_decoder_layers", "num_layers", "num_hidden_layers")
        return {"encoder": encoder, "decoder": decoder, "cross": decoder}
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return {"self": getattr(text, "num_hidden_layers", None)}


def layer_count(counts, call):
    """The number of layers of the call's kind (`layer_counts`), or ValueError when the call is
    not among them."""
    count = counts.get(call.kind)
    if count is None or call.layer >= count:
        raise ValueError(
            "tb_attention.capture met attention layer %d of kind %r but the model's config says %s"
            % (call.layer, call.kind, count)
        )
    return count


@dataclasses.dataclass
class _Kept:
    """The positions a part keeps (padding dropped): a contiguous run [start, end)."""

    start: int
    end: int

    @classmethod
    def of(cls, mask, length):
        if mask is None:
            return cls(0, length)
        kept = [i for i, m in enumerate(mask) if m]
        if not kept:
            raise ValueError("the attention mask masks every position: nothing to capture")
        if kept != list(range(kept[0], kept[-1] + 1)):
            raise ValueError(
                "the attention mask keeps positions that are not contiguous: capture pads on one side only"
            )
        return cls(kept[0], kept[-1] + 1)


@dataclasses.dataclass
class _PartState:
    part: StreamedPart
    rows: _Kept
    cols: _Kept
    layer_index: dict  # model layer -> stored layer
    head_index: dict  # model head -> stored head
    rows_per_block: int
    windows: dict
    kv: Optional[list] = None
    causal: bool = False


def rotates_positions(model):
    """Whether the model rotates positions into its queries and keys (rotary embedding: Llama,
    Mistral, Qwen2, Gemma, ...): its modules include a rotary-embedding module."""
    return any("rotary" in type(m).__name__.lower() for m in model.modules())


def _vectors(plan, queries, keys, rows, cols):
    """A QKPlan's queries `[kept heads, kept rows, d]` and keys `[key heads, kept keys, d]` of one
    call's (queries, keys) of the example, padding dropped."""
    return (
        queries[plan.model_heads][:, rows.start : rows.end],
        keys[plan.key_heads][:, cols.start : cols.end],
    )


class RecordSink:
    """Receives a Session's blocks; `parts()` gives the StreamedParts once the forward is done."""

    def __init__(self, model, inputs, storage, scorer=None):
        self.counts = layer_counts(model)
        self.inputs = inputs  # capture/tokens.py: tokens and padding per kind
        storage = dict(storage)
        self.qk_option = qk_writing.parse_option(storage.pop("qk", None))  # queries and keys kept (or None)
        self.rotary = rotates_positions(model) if self.qk_option else None
        self.storage = storage  # add_attention's precision / layers / heads / top_k / top_mass / max_bytes
        self.scorer = scorer  # (shape, tokens, key_tokens, sentence_b_start) -> consumer with add_block/result
        self.states = {}

    def _start(self, call):
        count = layer_count(self.counts, call)
        rows = _Kept.of(self.inputs.query_mask(call.kind), call.queries)
        cols = _Kept.of(self.inputs.key_mask(call.kind), call.keys)
        tokens, key_tokens, sentence_b = self.inputs.tokens(call.kind, (rows.start, rows.end), (cols.start, cols.end))
        shape = (count, call.heads, rows.end - rows.start, cols.end - cols.start)
        storage = dict(self.storage)
        max_bytes = storage.pop("max_bytes", plans.DEFAULT_MAX_BYTES)
        if max_bytes is not None:
            max_bytes //= max(1, len(self.counts))  # the kinds of a record share its budget
        what = "%s attention" % call.kind
        plan = plans.plan_record([SimpleNamespace(shape=shape)], max_bytes=None, **storage)[0]
        qk, qk_bytes = self._plan_qk(call, plan, rows, cols, max_bytes, what)
        if max_bytes is not None:
            max_bytes = max(1, int(max_bytes - qk_bytes))
        heads = sorted({plan.head_ids[0], plan.head_ids[-1]})
        sample = call.sample(heads, budget.sample_rows(rows.start, rows.end))[:, :, cols.start : cols.end]
        plan, layout = budget.plan_storage(plan, budget.measure_costs(sample, plan.precision), max_bytes, what)
        consumer = self.scorer(plan.shape, tokens, key_tokens, sentence_b) if self.scorer is not None else None
        consumers, scores = ([consumer], consumer.result) if consumer is not None else ([], lambda: None)
        part = StreamedPart(
            call.kind,
            tokens,
            key_tokens,
            sentence_b,
            shape,
            PartBuilder(plan, layout, consumers),
            scores,
            scorer=consumer,
            qk=qk,
        )
        per_block = rows_per_block(call.keys, BLOCK_BYTES, layout.band_rows or 256)
        return _PartState(
            part,
            rows,
            cols,
            {m: i for i, m in enumerate(plan.layer_ids)},
            {m: i for i, m in enumerate(plan.head_ids)},
            per_block,
            {},
        )

    def _plan_qk(self, call, plan, rows, cols, max_bytes, what):
        """(QKBuilder or None, its bytes on disk): the queries and keys this part keeps, within
        the budget (measured on this call's, the first layer's)."""
        if self.qk_option is None:
            return None, 0
        queries, keys = call.vectors()
        group = max(1, call.heads // max(1, call.kv_heads))
        qk_plan = qk_writing.plan_qk(self.qk_option, plan, group, int(queries.shape[-1]), what)
        sample = _vectors(qk_plan, queries, keys, rows, cols)
        qk_plan, nbytes = budget.fit_qk(qk_plan, qk_writing.layer_bytes(*sample), max_bytes, what)
        return qk_writing.QKBuilder(qk_plan, self.rotary, dtype_name(queries)), nbytes

    def begin_layer(self, call):
        state = self.states.get(call.kind)
        if state is None:
            state = self.states[call.kind] = self._start(call)
        group = max(1, call.heads // max(1, call.kv_heads))
        state.kv = [h // group for h in range(call.heads)] if group > 1 else None
        state.windows[call.layer] = call.window
        state.causal = bool(getattr(call.module, "is_causal", False)) and call.kind != "cross"
        if call.layer not in state.layer_index:
            return None
        qk, stored = state.part.qk, state.layer_index[call.layer]
        if qk is not None and qk.wants(stored):
            vectors = _vectors(qk.plan, *call.vectors(), state.rows, state.cols)
            qk.add(stored, *vectors, call.scaling, call.softcap, call.unstored)
        return sorted(state.head_index), state.rows_per_block

    def block(self, call, head, row, weights, key_start=0):
        state = self.states[call.kind]
        rows, cols = state.rows, state.cols
        a, z = max(row, rows.start), min(row + weights.shape[1], rows.end)
        c, e = max(key_start, cols.start), min(key_start + weights.shape[2], cols.end)
        if a >= z:
            return
        weights = weights[:, a - row : z - row, max(0, c - key_start) : max(0, e - key_start)]
        layer = state.layer_index[call.layer]
        state.part.builder.add(layer, state.head_index[head], a - rows.start, weights, max(0, c - cols.start))

    def end_layer(self, call):
        state = self.states[call.kind]
        state.part.builder.end_layer(state.layer_index[call.layer])

    def parts(self):
        """The StreamedParts, in the order kinds were first called, with what the model told us of
        its structure: the KV head of each stored query head, each stored layer's window."""
        out = []
        for state in self.states.values():
            plan = state.part.builder.plan
            missing = [m for m in plan.layer_ids if m not in state.windows]
            if missing:
                raise ValueError(
                    "the forward pass never called attention layers %s of kind %r" % (missing, state.part.kind)
                )
            windows = [state.windows[m] for m in plan.layer_ids]
            state.part.structure = {
                "kv_heads": None if state.kv is None else [state.kv[h] for h in plan.head_ids],
                "windows": windows if any(w is not None for w in windows) else None,
                "causal": state.causal,
            }
            out.append(state.part)
        return out

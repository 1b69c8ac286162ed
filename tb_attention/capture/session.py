"""The capture session: a router (routing.py) that, for one forward pass, computes each layer's
output with the model's own kernel (or, where that kernel would need a mask too large to build,
block by block) and hands the attention weights, block by block, to a sink. Nothing of size
queries x keys is ever held whole.

A sink receives, per (kind, layer) call: `begin_layer(call)` returning the query heads to capture
(or None to skip the layer) and the rows per block, then `block(call, head_start, row_start,
weights)` for each block (float32 `[heads, rows, keys]` on the tensors' device; freed after the
call), then `end_layer(call)`.
"""

import dataclasses
from typing import Callable, Optional

import torch

from tb_attention.capture.blocks import LayerInputs, block_weights, head_runs, row_block
from tb_attention.capture.routing import Router, scaling_of

# Bytes of one block of weights (float32): about three such tensors live at once while a block
# is computed (scores, mask, weights).
BLOCK_BYTES = 16 << 20


@dataclasses.dataclass
class LayerCall:
    """One attention call as the sink sees it."""

    kind: str  # "self", or "encoder" / "decoder" / "cross" in an encoder-decoder model
    layer: int  # order of this module among the calls of its kind
    heads: int
    kv_heads: int
    queries: int
    keys: int
    window: Optional[int]  # sliding window of this layer (None: global)
    module: object
    sample: Callable = None  # sample(heads, row_ranges) -> float32 numpy [heads, rows, keys]
    vectors: Callable = None  # vectors() -> the example's (queries [heads, q, d], keys [kv_heads, k, d])
    scaling: float = 1.0  # scores are q·k·scaling (then soft-capped, masked)
    softcap: Optional[float] = None
    unstored: tuple = ()  # score terms beside q·k: "position_bias" (T5), "sinks" (learned sink logits)


def _per_run(rows, keys):
    """Query heads per block: as many as keep a block of `rows` x `keys` near BLOCK_BYTES."""
    return max(1, BLOCK_BYTES // (4 * max(1, rows) * max(1, keys)))


class Session(Router):
    """Routes one model's attention calls to a sink while active (a context manager)."""

    def __init__(self, model, sink, example=0):
        super().__init__(model)
        self.sink, self.example = sink, example

    def _call(self, module, inputs, kwargs):
        kind, layer = self.layer_of(module)
        _, heads, kv_heads, queries, keys = inputs.shape
        mask = inputs.mask
        window = getattr(mask, "local_size", None) or kwargs.get("sliding_window")
        return LayerCall(
            kind,
            layer,
            heads,
            kv_heads,
            queries,
            keys,
            window,
            module,
            lambda heads, ranges: self._sample(inputs, heads, ranges),
            lambda: (inputs.query[self.example], inputs.key[self.example]),
            inputs.scaling,
            inputs.softcap,
            tuple(
                name
                for name, value in (("position_bias", inputs.position_bias), ("sinks", inputs.sinks))
                if value is not None
            ),
        )

    def _sample(self, inputs, heads, ranges):
        """Float32 numpy `[len(heads), rows, keys]`: the example's weights of these heads over the
        row ranges (a sample the record's plan measures its costs on)."""
        keys = inputs.key.shape[2]
        out = []
        for h in heads:
            rows = []
            for r0, r1 in ranges:
                block = row_block(inputs, self.example, r0, r1)
                full = torch.zeros(r1 - r0, keys, device=inputs.query.device)
                full[:, block.lo : block.hi] = block_weights(inputs, h, h + 1, block)[0]
                rows.append(full)
            out.append(torch.cat(rows))
        return torch.stack(out).cpu().numpy()

    def attend(self, module, query, key, value, mask, scaling, dropout, kwargs):
        inputs = LayerInputs(
            query,
            key,
            value,
            mask,
            scaling_of(module, query, scaling),
            kwargs.get("softcap"),
            kwargs.get("s_aux"),
            kwargs.get("position_bias"),
        )
        call = self._call(module, inputs, kwargs)
        plan = self.sink.begin_layer(call)
        output = self.kernel_output(module, inputs, dropout, kwargs)
        if output is None:
            output = self._own_output(inputs, call, plan)
        elif plan is not None:
            self._capture(inputs, call, plan)
        if plan is not None:
            self.sink.end_layer(call)
        return output, None

    def _capture(self, inputs, call, plan):
        heads, rows = plan
        runs = head_runs(heads, inputs.group, _per_run(rows, call.keys))
        for r0 in range(0, call.queries, rows):
            block = row_block(inputs, self.example, r0, min(call.queries, r0 + rows))
            for h0, h1 in runs:
                self.sink.block(call, h0, r0, block_weights(inputs, h0, h1, block), block.lo)

    def _own_output(self, inputs, call, plan):
        """The output `[batch, q, heads, dv]` from the blocks, every batch row and head; the
        captured example's chosen heads go to the sink on the way."""
        batch, heads, _, queries, _ = inputs.shape
        value = inputs.value
        out = torch.empty(batch, heads, queries, value.shape[-1], dtype=inputs.query.dtype, device=value.device)
        wanted = set(plan[0]) if plan is not None else set()
        rows = plan[1] if plan is not None else max(1, BLOCK_BYTES // (4 * max(1, call.keys)))
        runs = head_runs(list(range(heads)), inputs.group, _per_run(rows, call.keys))
        for b in range(batch):
            for r0 in range(0, queries, rows):
                block = row_block(inputs, b, r0, min(queries, r0 + rows))
                for h0, h1 in runs:
                    weights = block_weights(inputs, h0, h1, block)
                    v = value[b, h0 // inputs.group] if inputs.group > 1 else value[b, h0:h1]
                    v = v[..., block.lo : block.hi, :].float()
                    out[b, h0:h1, block.r0 : block.r1] = torch.matmul(weights, v).to(out.dtype)
                    if b == self.example and wanted:
                        self._hand_over(call, weights, h0, h1, block, wanted)
        return out.transpose(1, 2).contiguous()

    def _hand_over(self, call, weights, h0, h1, block, wanted):
        """The wanted heads of a block computed for the output, in runs, to the sink."""
        for a, b in head_runs([h for h in range(h0, h1) if h in wanted], 1 << 30, 1 << 30):
            self.sink.block(call, a, block.r0, weights[a - h0 : b - h0], block.lo)

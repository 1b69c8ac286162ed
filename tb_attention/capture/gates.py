"""A gate on each attention head's output, for any model on transformers' attention interface
(transformers 5 has no `head_mask`): a router (routing.py) whose every attention call returns
the output of the model's own implementation times a gate per example and query head,
`output[b, :, h, :] * gate[b, h]`.

Gates are 1 unless set (`values`): the forward is then bit for bit the model's own (a product
with 1.0 is exact in every dtype). With `grad=True` each (kind, layer)'s gate is a leaf tensor
`[batch, heads]` that requires grad, so `torch.autograd.grad(loss, gates.leaves())` gives
d loss / d gate per example and head (Michel et al. 2019's head-importance estimate) without
touching any parameter's `.grad`. Under grouped-query attention the gate is per query head (the
output has one slice per query head). A module called twice in one forward shares its gate.
"""

import torch

from tb_attention.capture.blocks import LayerInputs
from tb_attention.capture.routing import Router, scaling_of


class HeadGates(Router):
    """Gates on every head's attention output while active (a context manager).

    `values`: `{(kind, layer): {head: value}}` for gates other than 1 (e.g. 0 to ablate a head,
    1 + eps for a finite difference). `grad`: make each gate a leaf that requires grad.
    Call `reset()` between forward passes; `leaves()` gives the gates of the last one."""

    def __init__(self, model, values=None, grad=False):
        super().__init__(model)
        self.values, self.grad = dict(values or {}), bool(grad)
        self.gates = {}  # (kind, layer) -> [batch, heads] gate of the current forward

    def reset(self):
        """Fresh gates for the next forward pass."""
        self.gates = {}

    def _gate(self, row, batch, heads, device):
        gate = self.gates.get(row)
        if gate is None:
            gate = torch.ones(batch, heads, dtype=torch.float32, device=device)
            for head, value in self.values.get(row, {}).items():
                if not 0 <= head < heads:
                    raise ValueError(
                        "head %d is out of range: %s layer %d has %d heads" % (head, row[0], row[1], heads)
                    )
                gate[:, head] = value
            gate.requires_grad_(self.grad)
            self.gates[row] = gate
        elif tuple(gate.shape) != (batch, heads):
            raise ValueError(
                "%s layer %d was called with %s examples x heads, then %s in one forward pass"
                % (row[0], row[1], tuple(gate.shape), (batch, heads))
            )
        return gate

    def attend(self, module, query, key, value, mask, scaling, dropout, kwargs):
        inputs = LayerInputs(query, key, value, mask, scaling_of(module, query, scaling))
        output = self.kernel_output(module, inputs, dropout, kwargs, mask_limit=False)
        if output is None:
            raise ValueError(
                "%s: the attention function of implementation %r was not found, so its heads cannot be gated"
                % (type(module).__name__, self.original(module))
            )
        batch, q, heads, _ = output.shape
        if heads != query.shape[1] or batch != query.shape[0]:
            raise ValueError(
                "%s returned attention output of shape %s, not [batch, queries, %d heads, dim]"
                % (type(module).__name__, tuple(output.shape), query.shape[1])
            )
        gate = self._gate(self.layer_of(module), batch, heads, output.device)
        return output * gate.to(output.dtype)[:, None, :, None], None

    def leaves(self):
        """The gates of the last forward, in `rows()` order: `[batch, heads]` each."""
        return [self.gates[row] for row in self.rows() if row in self.gates]

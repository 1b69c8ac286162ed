"""The ablation check: importance confirmed by an intervention. For the k most and the k least
important heads (ranked by importance normalised per layer), the mean loss over the same batches
with that head's output zeroed (its gate set to 0: zero ablation, as Michel et al. mask heads),
one head at a time, then each group of k at once, beside the loss with every head.

Cost: 2k + 3 forward passes over the batches without gradients (the importance pass is one
forward and one backward), so k = 3 costs about three importance passes (docs/importance.md).
"""

from tb_attention.analysis.importance import ranking
from tb_attention.capture.gates import HeadGates
from tb_attention.capture.model_state import device_of, untouched
from tb_attention.importance.batches import batch_loss


def ablated_loss(model, batches, heads, rows, loss_fn=None):
    """The mean loss over `batches` with each `(row, head)` of `heads` zeroed (`rows`: the (kind,
    layer) of each row of the importance grid). The model and the RNG are left as they were."""
    values = {}
    for row, head in heads:
        values.setdefault(tuple(rows[row]), {})[int(head)] = 0.0
    device = device_of(model)
    total, examples = 0.0, 0
    with untouched(model, device), HeadGates(model, values) as gates:
        for batch in batches:
            gates.reset()
            loss = batch_loss(model, batch, loss_fn, device)
            leaves = gates.leaves()
            size = leaves[0].shape[0] if leaves else 1
            total += float(loss) * size
            examples += size
    return total / examples


def ablation_check(model, batches, importance, k, loss_fn=None):
    """The ablation check of a HeadImportance: `{"mode": "zero", "k", "base_loss", "heads": [{
    "group": "most" | "least", "layer" (row), "head", "importance" (normalised), "loss"}],
    "joint": {"most": loss, "least": loss}}`."""
    normalized = importance.normalized
    layers, heads = normalized.shape
    k = min(int(k), (layers * heads) // 2)
    order = ranking(normalized)
    groups = {"most": order[:k], "least": order[::-1][:k]}
    rows = importance.rows
    out = {"mode": "zero", "k": k, "base_loss": ablated_loss(model, batches, [], rows, loss_fn), "heads": []}
    out["joint"] = {}
    for group, flat in groups.items():
        pairs = [(int(i // heads), int(i % heads)) for i in flat]
        for layer, head in pairs:
            loss = ablated_loss(model, batches, [(layer, head)], rows, loss_fn)
            out["heads"].append(
                {
                    "group": group,
                    "layer": layer,
                    "head": head,
                    "importance": float(normalized[layer, head]),
                    "loss": loss,
                }
            )
        out["joint"][group] = ablated_loss(model, batches, pairs, rows, loss_fn)
    return out

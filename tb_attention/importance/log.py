"""`add_importance`: one head-importance record per step (format 4, docs/format.md), written by the
same background event writer as the attention records, into the same run."""

import numpy as np

from tb_attention.format.importance import encode_importance, make_importance
from tb_attention.format.summary import importance_event
from tb_attention.inputs.record import parse_call
from tb_attention.writing.writer import queue_small_record

DEFAULT_TAG = "importance"


def add_importance(
    writer, tag, importance, global_step=None, *, rows=None, ablation=None, walltime=None, all_ranks=False
):
    """Log every head's raw importance at `global_step` under `tag` (one small record).

    `importance`: float `[layers, heads]` (`tb_attention.head_importance`), or what
    `tb_attention.measure_importance` returns (its rows, loss, examples and ablation check are
    stored too). `rows`: the (kind, layer) of each row of an encoder-decoder model (None: every
    row a self-attention layer). `writer`: a SummaryWriter or a log-dir path. Under
    torch.distributed only rank 0 writes unless `all_ranks`. The panel normalises each layer
    (l2) for display and labels; the record keeps the raw values."""
    fields = {}
    if hasattr(importance, "values") and hasattr(importance, "rows"):  # a HeadImportance
        fields = dict(loss=importance.loss, examples=importance.examples, batches=importance.batches)
        rows = importance.stored_rows if rows is None else rows
        ablation = importance.ablation if ablation is None else ablation
        importance = importance.values
    step, wall_time = parse_call(tag, global_step, walltime)
    if hasattr(importance, "detach"):  # a torch tensor
        importance = importance.detach().float().cpu().numpy()
    record = make_importance(np.asarray(importance), rows=rows, ablation=ablation, **fields)
    blob = encode_importance(record)
    return queue_small_record(writer, lambda: importance_event(tag, blob, step, wall_time), all_ranks=all_ranks)

"""Head-importance records (format 4) through the same index as the attention records: the
importance tags of each run, and the decoded records of a (run, tag), step by step."""

import dataclasses
import logging

from tb_attention.format.errors import FormatError
from tb_attention.format.importance import decode_importance

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class ImportanceStep:
    """One logged step of an importance tag: its step, wall time and decoded record
    (format/importance.py: values, rows, loss, examples, batches, ablation)."""

    step: int
    wall_time: float
    record: dict


def importance_tags(index, ctx, experiment_id):
    """`{run: [tag, ...]}` (sorted) of every run with head-importance records."""
    return {run: sorted(tags) for run, tags in index.tags(ctx, experiment_id, record="importance").items()}


def importance_steps(index, ctx, experiment_id, run, tag):
    """Every readable step of an importance tag, ascending (a step logged twice: the first);
    unreadable ones are logged and skipped. Raises NotFound for an unknown (run, tag)."""
    out, seen = [], set()
    for ref in index.steps(ctx, experiment_id, run, tag):
        if ref.step in seen:
            continue
        try:
            record = index.blob(ctx, ref, decode_importance)
        except FormatError as e:
            logger.warning("skipping unreadable importance record %s/%s@%d: %s", run, tag, ref.step, e)
            continue
        seen.add(ref.step)
        out.append(ImportanceStep(ref.step, ref.wall_time, record))
    return out

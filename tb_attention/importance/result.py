"""What one importance pass measured (imports no torch, so logging a given array needs none)."""

import dataclasses
from typing import List, Optional, Tuple

import numpy as np

from tb_attention.analysis.importance import normalize


@dataclasses.dataclass
class HeadImportance:
    """Raw head importance `values` (float32 `[layers, heads]`: the expected absolute gradient of
    the loss with respect to each head's gate), the (kind, layer) of each row, the mean loss over
    the `examples` of the `batches` it was measured on (every gate at 1), and the ablation check
    (`ablation.py`) when one was asked for."""

    values: np.ndarray
    rows: List[Tuple[str, int]]
    loss: float
    examples: int
    batches: int
    ablation: Optional[dict] = None

    @property
    def normalized(self):
        """Float32 `[layers, heads]`: each layer divided by its l2 norm (for display and labels)."""
        return normalize(self.values)

    @property
    def stored_rows(self):
        """The rows as a record stores them: None when every row is a self-attention layer."""
        return None if all(kind == "self" for kind, _ in self.rows) else self.rows

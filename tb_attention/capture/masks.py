"""The capture's mask function: a description of the mask a model asked for (causal, sliding
window, padding, packed sequences: transformers' own composable mask function and its offsets),
evaluated one block of query rows at a time, never as a whole queries x keys tensor.

transformers builds a model's masks through the mask function registered under its attention
implementation's name (`AttentionMaskInterface`); a name registered without one gets no mask at
all, so the capture registers `describe_mask` beside its attention function.
"""

import dataclasses
from typing import Any, Optional

import torch

# The model's own kernel gets its own mask when that mask is at most this large; past it the
# capture computes the layer's output itself, block by block (e.g. SDPA's boolean mask of a
# 32k-token sliding-window layer would be 1 GB, eager's float mask 4 GB).
KERNEL_MASK_BYTES = 64 << 20


@dataclasses.dataclass
class MaskSpec:
    """What `create_causal_mask` and its siblings asked the mask interface for (their keyword
    arguments), kept to be evaluated per block."""

    kwargs: dict

    @property
    def q_length(self):
        return int(self.kwargs["q_length"])

    @property
    def kv_length(self):
        return int(self.kwargs["kv_length"])

    @property
    def batch_size(self):
        return int(self.kwargs["batch_size"])

    @property
    def local_size(self) -> Optional[int]:
        return self.kwargs.get("local_size")

    def block(self, row_start, row_end, device):
        """Boolean `[batch, 1, rows, keys]`: which keys each query row of [row_start, row_end) may
        attend to, from transformers' own mask function (padding included)."""
        from transformers.masking_utils import sdpa_mask

        kwargs = dict(self.kwargs)
        kwargs.update(
            q_length=row_end - row_start,
            q_offset=_offset(kwargs.get("q_offset", 0)) + row_start,
            allow_is_causal_skip=False,
            allow_is_bidirectional_skip=False,
            device=device,
        )
        kwargs.pop("dtype", None)
        kwargs.pop("config", None)
        return sdpa_mask(**kwargs)

    def padding(self):
        """Bool `[batch, keys]` of the keys the 2D attention mask keeps (None: all)."""
        mask = self.kwargs.get("attention_mask")
        if mask is None or getattr(mask, "ndim", 0) != 2:
            return None
        offset = _offset(self.kwargs.get("kv_offset", 0))
        return mask[:, offset : offset + self.kv_length].bool()

    def kernel_mask(self, implementation, element_bytes, limit=True):
        """The mask the model's own implementation would have built, when that is small or
        free to build (or whatever its size, without `limit`), as `(True, mask)`; `(False,
        None)` when it would be too large."""
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS

        build = ALL_MASK_ATTENTION_FUNCTIONS._global_mapping.get(implementation)
        if build is None:  # an implementation without a mask function takes none
            return True, None
        if implementation == "sdpa" and self._sdpa_skips():
            return True, None
        size = self.batch_size * self.q_length * self.kv_length * element_bytes.get(implementation, 4)
        if not limit or implementation.startswith(("flash", "flex")) or size <= KERNEL_MASK_BYTES:
            return True, build(**self.kwargs)
        return False, None

    def _sdpa_skips(self):
        """Whether SDPA would take no mask at all: sdpa_mask's own two tests, in its own words."""
        try:
            from transformers.masking_utils import (
                _ignore_bidirectional_mask_sdpa,
                _ignore_causal_mask_sdpa,
                prepare_padding_mask,
            )
        except ImportError:  # another transformers: build (or compute) the mask instead
            return False
        kw = self.kwargs
        q_offset, kv_offset = _offset(kw.get("q_offset", 0)), _offset(kw.get("kv_offset", 0))
        padding = prepare_padding_mask(kw.get("attention_mask"), self.kv_length, kv_offset)
        if kw.get("allow_is_causal_skip", True) and _ignore_causal_mask_sdpa(
            padding, self.q_length, self.kv_length, q_offset, kv_offset, self.local_size
        ):
            return True
        return bool(
            kw.get("allow_is_bidirectional_skip", False)
            and _ignore_bidirectional_mask_sdpa(padding, self.kv_length, self.local_size)
        )


def _offset(value: Any) -> int:
    return int(value.item()) if isinstance(value, torch.Tensor) else int(value or 0)


def describe_mask(**kwargs):
    """The mask function registered for the capture: a MaskSpec, nothing materialised."""
    return MaskSpec(kwargs)

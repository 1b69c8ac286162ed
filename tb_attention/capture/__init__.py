"""Capturing a model's attention from its queries and keys, block by block, in bounded memory,
whatever attention kernel it runs (SDPA, flash, eager) and however long the input:

    with tb_attention.capture(model, tokenizer) as cap:
        model(**inputs)
    cap.log(writer, "probe/long", step)

The model's attention calls go through a capturing implementation registered in transformers'
`AttentionInterface` (session.py): each layer's output comes from the model's own kernel, and
beside it the weights are computed a block of rows at a time (blocks.py) and handed straight to
the record being built (recording.py -> writing/stream.py). Imports torch and transformers.
"""

from tb_attention.capture.api import AttentionCapture, capture

__all__ = ["AttentionCapture", "capture"]

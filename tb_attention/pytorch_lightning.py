"""`from tb_attention.pytorch_lightning import AttentionCallback`: the callback for the
`pytorch_lightning` namespace (`tb_attention.lightning` is the one for `lightning.pytorch`)."""

from tb_attention.integrations.lightning_callback import callback_class

AttentionCallback = callback_class("pytorch_lightning")

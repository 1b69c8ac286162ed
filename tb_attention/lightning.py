"""`from tb_attention.lightning import AttentionCallback`: the callback for `lightning.pytorch`
(`pip install "tb-attention[lightning]"`); for the `pytorch_lightning` namespace use
`tb_attention.pytorch_lightning`. See tb_attention/integrations/lightning_callback.py."""

from tb_attention.integrations.lightning_callback import callback_class

AttentionCallback = callback_class("lightning.pytorch")

"""An encoder-decoder record in the panel: an attention-kind selector (encoder / decoder / cross, as
bertviz offers), each kind drawn with its own token columns."""

import pytest
import torch

import tb_attention
from tests.helpers.http import BASE, q

pytestmark = pytest.mark.browser


def test_the_kind_selector_switches_tokens_and_lines(panel_factory, tmp_path, tensorboard, minilm):
    from tests.test_integrations_seq2seq import SOURCE, tiny

    tokenizer, _ = minilm
    model = tiny("bart", tokenizer.vocab_size).eval()
    enc = tokenizer(SOURCE, return_tensors="pt")
    dec = torch.tensor([[102, 101, 2000, 2001, 2002]])
    with torch.no_grad():
        out = model(**enc, decoder_input_ids=dec, output_attentions=True)
    source = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    target = tokenizer.convert_ids_to_tokens(dec[0])
    tb_attention.add_attention(
        tmp_path / "seq2seq",
        "translate",
        global_step=0,
        encoder_attention=out.encoder_attentions,
        decoder_attention=out.decoder_attentions,
        cross_attention=out.cross_attentions,
        encoder_tokens=source,
        decoder_tokens=target,
    )
    tb_attention.flush()
    tb = tensorboard(tmp_path)
    tb.wait_for(lambda: tb.get_json(BASE + "/steps?" + q(run="seq2seq", tag="translate"))["steps"])
    panel = panel_factory(tb)
    page = panel.open("run=seq2seq")
    assert panel.options(".kind-select") == ["encoder", "decoder", "cross"]
    assert page.is_visible(".kind-select")
    assert panel.texts(".hv-left .tok-text") == source and panel.texts(".hv-right .tok-text") == source
    panel.after(lambda: page.select_option(".kind-select", "cross"))
    assert panel.texts(".hv-left .tok-text") == target and panel.texts(".hv-right .tok-text") == source
    cross = out.cross_attentions[0][0]
    threshold = panel.number(".head-view", "data-line-threshold")
    assert int(panel.attr(".head-view", "data-lines")) == int((cross >= threshold).sum())
    panel.after(lambda: page.select_option(".kind-select", "decoder"))
    assert panel.texts(".hv-left .tok-text") == target and panel.texts(".hv-right .tok-text") == target
    # The kind is part of the selection: it survives a reload.
    page.reload()
    page.wait_for_function("window.__tbAttention")
    page.evaluate("window.__tbAttention.ready")
    panel.idle()
    assert page.input_value(".kind-select") == "decoder"

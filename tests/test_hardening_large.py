"""A BERT-large-shaped record (24 layers x 16 heads x 512 tokens, synthetic softmax attention)
writes, is served exactly by both loaders, and renders in the panel inside TensorBoard in headless
Chromium, with tokens and a tag that are markup shown as text and no console errors or dialogs."""

import numpy as np
import pytest

import tb_attention
from tests.helpers.data import UINT8_BOUND
from tests.helpers.http import BASE, LOADERS, q, served_layer, served_steps

LAYERS, HEADS, N = 24, 16, 512
RUN = "bert_large"
HOSTILE = "<img src=x onerror=alert(1)>"
TAG = "probe/<b>long</b>" + HOSTILE


def tokens():
    out = ["[CLS]"] + ["w%d" % i for i in range(1, N - 1)] + ["[SEP]"]
    out[3], out[4], out[5] = HOSTILE, "<script>alert(2)</script>", "🍓"
    return out


def layer_attention(layer, sharpness=6.0):
    """One layer `[1, heads, N, N]` of peaky float16 softmax attention, as a model returns it.

    Made one layer at a time: the whole float32 record would hold 400 MB at once.
    """
    import torch

    rng = np.random.default_rng(layer)
    logits = rng.standard_normal((HEADS, N, N), dtype=np.float32) * (sharpness / 2)
    idx = np.arange(N)
    for h in range(HEADS):  # every head also looks at a fixed offset: visible lines per row
        logits[h, idx, (idx + h - HEADS // 2) % N] += sharpness
    logits -= logits.max(axis=-1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=-1, keepdims=True)
    return torch.from_numpy(logits[None]).to(torch.float16)


@pytest.fixture(scope="module")
def bert_large(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("bert_large")
    attentions = tuple(layer_attention(layer) for layer in range(LAYERS))
    last = attentions[-1][0].float().numpy()
    tb_attention.add_attention(logdir / RUN, TAG, attentions, tokens(), 1000, sentence_b_start=256)
    del attentions
    tb_attention.flush()
    return logdir, last


@pytest.mark.slow
def test_bert_large_reads_back(bert_large):
    logdir, last = bert_large
    (record,) = tb_attention.read_attention(str(logdir))
    assert record.attention.shape == (LAYERS, HEADS, N, N) and record.tokens == tokens()
    assert np.abs(record.attention[-1] - last).max() <= UINT8_BOUND


@pytest.mark.slow
@pytest.mark.parametrize("load_fast", LOADERS)
def test_bert_large_is_served(tensorboard, bert_large, load_fast):
    logdir, last = bert_large
    tb = tensorboard(logdir, load_fast=load_fast)
    tb.wait_for(lambda: served_steps(tb, RUN, TAG) == [1000], timeout=180)
    (step,) = tb.get_json(BASE + "/steps?" + q(run=RUN, tag=TAG))["steps"]
    assert step["kinds"] == ["self"]
    step = step["parts"]["self"]
    assert step["shape"] == [LAYERS, HEADS, N, N] and step["tokens"] == tokens()
    assert step["sentence_b_start"] == 256
    assert np.abs(served_layer(tb, RUN, TAG, 1000, LAYERS - 1) - last).max() <= UINT8_BOUND
    status, _, _ = tb.get(BASE + "/layer?" + q(run=RUN, tag=TAG, step=1000, layer=LAYERS))
    assert status == 404


CANVAS_INK = """
() => {
  let canvases = 0, ink = 0;
  for (const c of document.querySelectorAll("canvas")) {
    if (!c.width || !c.height) continue;
    const ctx = c.getContext("2d");
    if (!ctx) continue;
    canvases += 1;
    const data = ctx.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) n += 1;
    ink = Math.max(ink, n);
  }
  return {canvases, ink};
}
"""


@pytest.mark.slow
@pytest.mark.browser
def test_bert_large_renders_in_tensorboard(tensorboard, bert_large, panel_factory):
    logdir, _ = bert_large
    tb = tensorboard(logdir, load_fast="true")
    tb.wait_for(lambda: served_steps(tb, RUN, TAG) == [1000], timeout=180)
    page = panel_factory(tb).page  # fails the test on a console error or a dialog
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(tb.url + "/#tb_attention")
    frame = page.frame_locator("iframe")
    # The markup token is on screen as its own text, not as an element.
    frame.get_by_text(HOSTILE, exact=True).first.wait_for(timeout=120_000)
    frame.get_by_text("🍓", exact=True).first.wait_for(timeout=30_000)
    (panel,) = [f for f in page.frames if f != page.main_frame and "tb_attention" in f.url]
    panel.wait_for_function("() => window.__tbAttention && window.__tbAttention.ready", timeout=60_000)
    panel.evaluate("() => window.__tbAttention.ready")
    # The head view draws its lines on a canvas: wait until one has ink on it.
    drawn = panel.wait_for_function(
        "(f) => { const r = (%s)(); return r.ink > 0 && r; }" % CANVAS_INK.strip(), timeout=120_000
    ).json_value()
    assert drawn["canvases"] >= 1 and drawn["ink"] > 100, drawn
    # No element came out of token or tag text (TensorBoard's own entry script aside).
    injected = panel.evaluate(
        "() => document.querySelectorAll('img[src=\"x\"], b').length"
        " + [...document.scripts].filter(s => s.text.includes('alert')).length"
    )
    assert injected == 0
    assert panel.evaluate("() => document.body.innerText").count("w100") >= 1
    assert any(
        TAG in t for t in panel.locator("option, [role=option], select, button, span, div").all_text_contents()
    ), "the tag is not shown as text"

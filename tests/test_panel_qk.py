"""The Query/Key view in headless Chromium against a real `tensorboard` process: a query picked in
the panel shows q·k, the scores and the softmax that `read_attention` gives for that head (from
the stored queries and keys) beside the stored attention; the comparison of two steps names the
dimensions that changed; a record without queries and keys says how to keep them."""

import numpy as np
import pytest

import tb_attention
from tests.conftest import SEED_A, SEED_B
from tests.helpers.browser import Panel, png_ink
from tests.helpers.qk_logs import LLAMA_HEAD, QK_TAG, changed_dims, write_qk_logs
from tests.helpers.tb_process import TensorBoardProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROWS = """els => els.map((e) => ({key: +e.dataset.key, dot: e.dataset.dot, logit: e.dataset.logit,
    softmax: e.dataset.softmax, stored: e.dataset.stored, shown: e.querySelector('.qk-softmax').textContent,
    shownDot: e.querySelector('.qk-dot').textContent}))"""


@pytest.fixture(scope="module")
def qk_tb(tmp_path_factory, minilm):
    logdir = tmp_path_factory.mktemp("qk_panel")
    head_dim = write_qk_logs(logdir, minilm, SEED_A, SEED_B)
    proc = TensorBoardProcess(logdir).start()
    try:
        proc.wait_for(lambda: {"llama", "minilm"} <= set(proc.get_json("/data/plugin/tb_attention/tags")["runs"]))
        yield proc, logdir, head_dim
    finally:
        proc.stop()


@pytest.fixture
def qk_panel(browser, qk_tb):
    p = Panel(browser, qk_tb[0])
    yield p
    p.close()
    assert p.errors == [] and p.dialogs == [], (p.errors, p.dialogs)


@pytest.mark.parametrize("run, step, layer, head, query", [("llama", 1, 1, 3, 11), ("minilm", 100, 2, 5, 4)])
def test_a_picked_query_shows_the_numbers_read_attention_gives(qk_panel, qk_tb, run, step, layer, head, query):
    _, logdir, _ = qk_tb
    page = qk_panel.open("run=%s&tag=%s&step=%d&view=qk&layer=%d&heads=%d" % (run, QK_TAG, step, layer, head))
    assert qk_panel.attr(".qk-view", "data-head") == str(head)
    qk_panel.after(lambda: page.click('.qk-query[data-index="%d"]' % query))
    assert qk_panel.attr(".qk-view", "data-query") == str(query)
    assert page.locator(".qk-query.chosen").get_attribute("data-index") == str(query)
    rows = page.eval_on_selector_all(".qk-table tr.qk-key", ROWS)
    record = next(tb_attention.read_attention(str(logdir), run=run, step=step))
    queries, keys = record.qk(layer, [head])
    weights, _ = record.qk_attention(layer, [head])
    dots = np.einsum("d,kd->k", queries[0, query].astype(np.float64), keys[0].astype(np.float64))
    assert [r["key"] for r in rows] == list(range(len(record.tokens)))
    np.testing.assert_array_equal(np.float32([float(r["softmax"]) for r in rows]), weights[0, query])
    np.testing.assert_array_equal(np.float32([float(r["stored"]) for r in rows]), record.layer(layer, [head])[0, query])
    np.testing.assert_allclose([float(r["dot"]) for r in rows], dots, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose([float(r["shown"]) for r in rows], weights[0, query], atol=5e-5 + 1e-7)
    np.testing.assert_allclose([float(r["shownDot"]) for r in rows], dots, atol=5e-4 + 1e-6)
    masked = [r["key"] for r in rows if r["logit"] == ""]
    assert masked == (list(range(query + 1, len(rows))) if record.causal else [])
    notes = " ".join(qk_panel.texts(".qk-note"))
    assert ("after rotary position embedding" in notes) is (run == "llama")
    assert page.locator(".qk-table").first.locator("tr.qk-qrow canvas").count() == 1


def test_compare_two_steps_shows_the_dimensions_that_changed(qk_panel, qk_tb):
    _, _, head_dim = qk_tb
    page = qk_panel.open("run=llama&tag=%s&step=0&view=qk&layer=0&heads=%d&query=9" % (QK_TAG, LLAMA_HEAD))
    assert qk_panel.attr(".qk-view", "data-changed") == ""
    qk_panel.after(lambda: page.select_option(".qk-step-b", "1"))
    assert qk_panel.attr(".qk-view", "data-step-b") == "1"
    listed = page.eval_on_selector_all(".qk-changed li", "els => els.map((e) => [+e.dataset.dim, +e.dataset.change])")
    assert {dim for dim, _ in listed[:2]} == changed_dims(head_dim)
    assert listed[2][1] == 0  # no other dimension moved at layer 0
    assert [int(c) for c in qk_panel.attr(".qk-view", "data-changed").split(",")[:2]] == [d for d, _ in listed[:2]]
    assert page.locator(".qk-table").count() == 2  # step 0 and step 1, the same dimensions
    page.select_option(".qk-order", "change")
    shown = [int(c) for c in qk_panel.attr(".qk-view", "data-dims").split(",")]
    assert set(shown[:2]) == changed_dims(head_dim)


def test_the_view_exports_what_it_shows(qk_panel, tmp_path):
    page = qk_panel.open("run=minilm&tag=%s&step=100&view=qk&layer=2&heads=5" % QK_TAG)
    with page.expect_download() as download:
        page.click(".export-png")
    data = download.value.path().read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    drawn = png_ink(page, data)
    table = page.eval_on_selector(".qk-table", "t => t.getBoundingClientRect().width")
    assert drawn["width"] >= 2 * table and 0.05 < drawn["ink"] < 0.9, drawn


def test_a_record_without_queries_and_keys_says_how_to_keep_them(panel):
    panel.open("run=finetune&view=qk")
    assert "qk=True" in panel.texts(".qk-view .message")[0]

"""The long-input panel tests' logdir, served by a real `tensorboard` process (`long_logs`, the
panel on it: `long_panel`), the numbers the panel should show read from it, and the page helpers
these tests share (a map's visible region, a cell's point, wheel zooms)."""

import numpy as np
import pytest

import tb_attention
from bench.llm_attention import llm_attention, llm_tokens
from tests.helpers.tb_process import TensorBoardProcess

N = 2048
NEEDLE = 1500
MATRIX = ".matrix-view .heatmap"


def long_tokens():
    tokens = llm_tokens(N)
    tokens[NEEDLE] = "\u0120needle"
    return tokens


def other_tokens():
    return ["\u0120checkpointing%d" % i for i in range(512)]


@pytest.fixture(scope="module")
def long_logs(tmp_path_factory):
    """(logdir, TensorBoard): long2048 (2 layers x 4 heads x 2048 tokens, dense: too large to
    fetch whole), sparse512 (top 16 keys per row), dense512 (the same tokens, other weights),
    other512 (other, longer tokens) and seq2seq (an encoder-decoder record)."""
    import torch

    logdir = tmp_path_factory.mktemp("long_panel")
    tb_attention.add_attention(str(logdir / "long2048"), "p", llm_attention(2, 4, N, seed=5), long_tokens(), 0)
    tb_attention.add_attention(
        str(logdir / "sparse512"), "p", llm_attention(2, 4, 512, seed=6), llm_tokens(512), 0, top_k=16
    )
    tb_attention.add_attention(str(logdir / "dense512"), "p", llm_attention(2, 4, 512, seed=7), llm_tokens(512), 0)
    tb_attention.add_attention(str(logdir / "other512"), "p", llm_attention(2, 4, 512, seed=8), other_tokens(), 0)
    rng = np.random.default_rng(1)

    def softmax(*shape):
        e = np.exp(3 * rng.standard_normal(shape).astype(np.float32))
        return torch.from_numpy(e / e.sum(-1, keepdims=True))

    enc, dec = (
        ["\u2581the", "\u2581pilot", "\u2581bought", "\u2581milk", "</s>"],
        ["<pad>", "\u2581der", "\u2581Pilot", "\u2581kaufte", "</s>"],
    )
    tb_attention.add_attention(
        str(logdir / "seq2seq"),
        "p",
        None,
        None,
        0,
        encoder_attention=(softmax(1, 2, 5, 5),),
        decoder_attention=(softmax(1, 2, 5, 5),),
        cross_attention=(softmax(1, 2, 5, 5),),
        encoder_tokens=enc,
        decoder_tokens=dec,
    )
    tb_attention.flush()
    proc = TensorBoardProcess(logdir).start()
    try:
        proc.wait_for(
            lambda: (
                {"long2048", "sparse512", "dense512", "other512", "seq2seq"}
                <= set(proc.get_json("/data/plugin/tb_attention/tags")["runs"])
            )
        )
        yield logdir, proc
    finally:
        proc.stop()


def record(logdir, run):
    (rec,) = tb_attention.read_attention(str(logdir), run=run)
    return rec


def shown(rec, layer):
    """`[heads, q, k]` of a layer as the panel shows it: a key a sparse row dropped (0 where the
    layer's mask does not explain it: docs/http_api.md, /tile) is not stored, NaN."""
    a = rec.layer(layer)
    if rec.encoding != "sparse":
        return a
    i, j = np.arange(a.shape[1])[:, None], np.arange(a.shape[2])[None, :]
    known = (j > i) if rec.causal else np.zeros((a.shape[1], a.shape[2]), bool)
    return np.where((a == 0) & ~known, np.float32(np.nan), a)


@pytest.fixture
def long_panel(panel_factory, long_logs):
    return panel_factory(long_logs[1])


def visible(d):
    return tuple(map(int, d["visible"].split(",")))


def pretty(token):
    return token[1:] if token.startswith("\u0120") else token


def telling_cells(values, state):
    """[(r, c)] of the strongest and the faintest non-zero weight among the cells a zoomed map
    draws whole (inside its visible region): the ends of its colour scale."""
    r0, r1, c0, c1 = visible(state)
    inner = values[r0 + 1 : r1 - 1, c0 + 1 : c1 - 1]
    strongest = np.unravel_index(np.nanargmax(inner), inner.shape)
    faintest = np.unravel_index(np.argmin(np.where(inner > 0, inner, np.inf)), inner.shape)
    assert 0 < inner[faintest] < inner[strongest]
    return [(r0 + 1 + int(i), c0 + 1 + int(j)) for i, j in (strongest, faintest)]


def point_at(page, figure, r, c):
    """Page (x, y) of heat-map cell (r, c) of `figure` (top-left corner) at its current zoom."""
    d = page.eval_on_selector(figure, "m => ({...m.dataset})")
    box = page.eval_on_selector(
        figure + " .hm-overlay", "c => { const b = c.getBoundingClientRect(); return [b.x, b.y]; }"
    )
    return box[0] + float(d["left"]) + c * float(d["cell"]), box[1] + float(d["top"]) + r * float(d["cell"])


def wheel_zoom(page, figure, r, c, times):
    """Wheel `times` notches over cell (r, c) of `figure`: the map zooms in about it."""
    page.mouse.move(*point_at(page, figure, r, c))
    for _ in range(times):
        page.mouse.wheel(0, -300)

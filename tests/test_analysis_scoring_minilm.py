"""Head-pattern scores (tb_attention/analysis/scoring.py) of the packaged MiniLM on the seed pair: the
patterns the literature reports, the table of docs/patterns.md, and the scores the writer stores."""

import pathlib

import numpy as np

from tb_attention.analysis import labels, scoring
from tb_attention.format.scores import scores_from_json, scores_to_json

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_minilm_seed_pair_shows_the_literature_patterns(seed_attention):
    import torch

    attentions, tokens, sentence_b_start = seed_attention
    scores = scoring.head_patterns(attentions, tokens, sentence_b_start)
    att = torch.stack([layer[0] for layer in attentions]).double()  # [L, H, q, k]

    # Direct computations from the model's own output_attentions.
    previous = torch.diagonal(att, offset=-1, dim1=-2, dim2=-1).mean(-1).numpy()
    following = torch.diagonal(att, offset=1, dim1=-2, dim2=-1).mean(-1).numpy()
    specials = [i for i, t in enumerate(tokens) if t in ("[CLS]", "[SEP]")]
    delimiter = att[..., specials].sum(-1).mean(-1).numpy()
    cls = att[..., tokens.index("[CLS]")].mean(-1).numpy()
    entropy = (-(att * att.clamp_min(1e-45).log()).sum(-1)).mean(-1).numpy()
    np.testing.assert_allclose(scores["previous_token"], previous, atol=1e-5)
    np.testing.assert_allclose(scores["next_token"], following, atol=1e-5)
    np.testing.assert_allclose(scores["delimiter"], delimiter, atol=1e-5)
    np.testing.assert_allclose(scores["cls"], cls, atol=1e-5)
    np.testing.assert_allclose(scores["entropy"], entropy, atol=1e-4)

    # Clark et al. report previous/next-token heads and heavy delimiter attention in the middle.
    named = labels.label_heads(scores)
    li, h = np.unravel_index(previous.argmax(), previous.shape)
    assert previous[li, h] > 0.9 and named[li, h] == "previous_token"
    li, h = np.unravel_index(following.argmax(), following.shape)
    assert following[li, h] > 0.5 and named[li, h] == "next_token"
    middle = delimiter[1:5]
    assert middle.mean() > 0.5 and middle.max() > 0.8
    # On MiniLM that delimiter attention goes to [CLS]; Clark's BERT-base sent it to [SEP].
    assert cls[1:5].mean() > 0.4 > scores["sep"][1:5].mean()
    assert att[1:5, :, tokens.index("[CLS]"), tokens.index("[CLS]")].mean() > 0.85  # [CLS] -> itself


def test_doc_table_matches_the_packaged_model(seed_attention):
    from tests.helpers.patterns_table import seed_table

    attentions, tokens, sentence_b_start = seed_attention
    table = seed_table(scoring.head_patterns(attentions, tokens, sentence_b_start))
    doc = (ROOT / "docs" / "patterns.md").read_text(encoding="utf-8")
    assert table in doc, "docs/patterns.md is stale: regenerate with `python -m tests.helpers.patterns_table`"


def test_writer_stores_the_scores_in_the_record(tmp_path, seed_attention):
    import tb_attention

    attentions, tokens, sentence_b_start = seed_attention
    tb_attention.add_attention(str(tmp_path), "probe/seed", attentions, tokens, 3, sentence_b_start=sentence_b_start)
    tb_attention.flush()
    (record,) = list(tb_attention.read_attention(str(tmp_path)))
    expected = scores_from_json(scores_to_json(scoring.head_patterns(attentions, tokens, sentence_b_start)))
    assert set(record.patterns) == set(scoring.METRICS)
    for name in scoring.METRICS:
        np.testing.assert_array_equal(record.patterns[name], expected[name], err_msg=name)

"""Heads that formed (tb_attention/analysis/formed.py) on hand-made score series, and the
induction probe (tb_attention/analysis/induction_probe.py) on the packaged tokenizer."""

import numpy as np
import pytest

from tb_attention import formed_heads, induction_probe
from tb_attention.format.scores import scores_to_json


def series(**metrics):
    """Per-step scores of 1 layer x 2 heads: metric -> list over steps of [head0, head1]."""
    steps = len(next(iter(metrics.values())))
    return [{m: np.array([values[s]], np.float32) for m, values in metrics.items()} for s in range(steps)]


STEPS = [0, 10, 20, 30, 40]


def test_a_head_that_crosses_once_formed_at_that_step():
    scores = series(previous_token=[[0.1, 0.2], [0.3, 0.2], [0.6, 0.2], [0.7, 0.2], [0.8, 0.3]])
    (entry,) = formed_heads(STEPS, scores)["formed"]
    assert (entry["label"], entry["layer"], entry["head"], entry["step"], entry["previous_step"]) == (
        "previous_token",
        0,
        0,
        20,
        10,
    )
    assert entry["score_before"] == pytest.approx(0.3) and entry["score_at"] == pytest.approx(0.6)
    assert entry["score_final"] == pytest.approx(0.8) and entry["first_step"] == 20


def test_oscillation_reports_the_step_it_stayed_from_and_the_first_crossing():
    scores = series(induction=[[0.1, 0.5], [0.5, 0.5], [0.3, 0.5], [0.35, 0.1], [0.9, 0.1]])
    answer = formed_heads(STEPS, scores)
    (formed,) = answer["formed"]
    assert (formed["head"], formed["step"], formed["first_step"], formed["previous_step"]) == (0, 40, 10, 30)
    (lost,) = answer["lost"]  # head 1 was an induction head and stopped being one at step 30
    assert (lost["head"], lost["step"], lost["score_final"]) == (1, 30, pytest.approx(0.1))


def test_a_window_of_steps_json_form_nan_and_missing_metrics():
    scores = series(sink=[[0.1, 0.1], [0.5, np.nan], [0.5, 0.1], [0.1, 0.6], [0.1, 0.6]])
    stored = [scores_to_json(s) for s in scores]  # null for NaN, as /patterns serves them
    stored[2] = None  # a step logged without scores
    # Head 1 is undefined at 10 and unscored at 20: it formed at 30, after the 0.1 of step 0.
    everything = formed_heads(STEPS, stored)
    assert [(e["head"], e["step"], e["previous_step"]) for e in everything["formed"]] == [(1, 30, 0)]
    assert everything["lost"] == []  # head 0 went up and back down: neither
    # From step 10 on, head 0 starts above and ends below: lost at 30; head 1 was never below.
    answer = formed_heads(STEPS, stored, step_a=10, step_b=40)
    assert (answer["from_step"], answer["to_step"], answer["formed"]) == (10, 40, [])
    assert [(e["head"], e["step"], e["previous_step"]) for e in answer["lost"]] == [(0, 30, 10)]
    assert formed_heads(STEPS[:1], stored[:1])["formed"] == []
    with pytest.raises(ValueError, match="after"):
        formed_heads(STEPS, stored, step_a=30, step_b=10)


def test_custom_thresholds_apply():
    scores = series(previous_token=[[0.1, 0.1], [0.35, 0.1]])
    assert formed_heads([0, 1], scores)["formed"] == []
    (entry,) = formed_heads([0, 1], scores, thresholds={"previous_token": 0.3})["formed"]
    assert entry["threshold"] == 0.3


def test_induction_probe_is_seeded_repeated_and_free_of_special_tokens(minilm):
    from tb_attention.integrations.probe_inputs import named_probes, tokenize_probe

    tokenizer, model = minilm
    probe = induction_probe(tokenizer, length=20, seed=3)
    assert probe == induction_probe(tokenizer, length=20, seed=3)
    assert probe != induction_probe(tokenizer, length=20, seed=4)
    ids = list(probe.token_ids)
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id and len(ids) == 42
    body = ids[1:-1]
    assert body[:20] == body[20:] and len(set(body[:20])) == 20
    assert not set(body) & set(tokenizer.all_special_ids)
    (named,) = named_probes([probe], "probe")  # as the callbacks tokenise it
    inputs = tokenize_probe(named, tokenizer, model, max_length=128)
    assert named.tag == "probe/induction" and inputs.model_inputs["input_ids"].tolist() == [ids]
    assert inputs.log_kwargs == {"tokens": tokenizer.convert_ids_to_tokens(ids)}
    raw = induction_probe(tokenizer, length=5, special_tokens=False)
    assert len(raw.token_ids) == 10 and raw.name == "induction"
    with pytest.raises(ValueError, match="length"):
        induction_probe(tokenizer, length=0)

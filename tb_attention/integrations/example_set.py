"""A set of examples scored at every logged step (`score_examples=`, docs/patterns.md, "Scores
over a set of examples"): each example's attention is scored block by block in one forward pass
and dropped; the record of the set holds its first example's attention, the mean scores as its
pattern scores and, in `example_scores`, how many examples define each score, their spread and
the mean's confidence interval (docs/format.md)."""

import collections.abc
import itertools
import logging
import numbers

from tb_attention.analysis.example_stats import ExampleStats
from tb_attention.format.scores import example_scores_to_json
from tb_attention.integrations.probe_inputs import Probe, ProbeInputs, parse_probe, tokenize_probe
from tb_attention.integrations.probe_pass import (
    capture_probe,
    on_attention_interface,
    probe_attention,
    score_probe,
)

logger = logging.getLogger(__name__)

_KINDS = (
    "a list of texts, (a, b) pairs, token-id lists, token-id probes, rows {'input_ids': ...} or "
    "{'text': ...}, or batches {'input_ids': [batch, seq], ...}; a dataset (or a slice of one, a "
    "dict of columns); or an int N: N batches of the integration's eval dataloader"
)


def _is_ids(value):
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(i, numbers.Integral) for i in value)


def _rows_of_columns(columns):
    """A dict of equal-length columns (a datasets slice, `ds[:128]`) as a list of row dicts."""
    lengths = {len(v) for v in columns.values() if isinstance(v, (list, tuple)) or hasattr(v, "shape")}
    if len(lengths) != 1:
        raise TypeError("score_examples as a dict must be columns of equal length (a dataset slice)")
    (n,) = lengths
    return [{name: values[i] for name, values in columns.items()} for i in range(n)]


def _items(examples):
    """The examples as a list of items (texts, pairs, ids, probes, row or batch dicts)."""
    if isinstance(examples, collections.abc.Mapping):
        ids = examples.get("input_ids")
        if ids is not None and getattr(ids, "ndim", None) == 2:
            return [examples]  # one batch
        return _rows_of_columns(examples)
    if isinstance(examples, (str, bytes)) or not isinstance(examples, collections.abc.Iterable):
        raise TypeError("score_examples is %r: give %s" % (type(examples).__name__, _KINDS))
    items = list(examples)
    if not items:
        raise ValueError("score_examples is empty: give at least one example")
    return items


def _row_inputs(row, tokenizer):
    """ProbeInputs of one tokenised row ({'input_ids', 'attention_mask'?, 'token_type_ids'?}),
    its padding dropped (one side only)."""
    import torch

    ids = [int(i) for i in _as_list(row["input_ids"])]
    mask = _as_list(row.get("attention_mask")) or [1] * len(ids)
    kept = [i for i, m in enumerate(mask) if m]
    if not kept or kept != list(range(kept[0], kept[-1] + 1)):
        raise ValueError("an example's attention_mask must keep one run of positions (padding on one side)")
    a, z = kept[0], kept[-1] + 1
    tensors = {"input_ids": torch.tensor([ids[a:z]])}
    tensors["attention_mask"] = torch.ones_like(tensors["input_ids"])
    kwargs = {"tokens": list(tokenizer.convert_ids_to_tokens(ids[a:z]))}
    types = _as_list(row.get("token_type_ids"))
    if types:
        types = [int(t) for t in types[a:z]]
        tensors["token_type_ids"] = torch.tensor([types])
        kwargs["sentence_b_start"] = types.index(1) if 1 in types[1:] else None
    return ProbeInputs(tensors, kwargs)


def _as_list(value):
    if value is None:
        return None
    return value.tolist() if hasattr(value, "tolist") else list(value)


def _batch_rows(batch):
    """The rows of a batch {'input_ids': [batch, seq], ...} (other fields, e.g. labels, dropped)."""
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if batch.get(n) is not None]
    return [{n: batch[n][i] for n in names} for i in range(len(batch["input_ids"]))]


def _inputs_of(index, item, tokenizer, model, max_length):
    """[ProbeInputs] of one item (a batch gives one per row)."""
    if isinstance(item, collections.abc.Mapping):
        if item.get("input_ids") is not None:
            rows = _batch_rows(item) if getattr(item["input_ids"], "ndim", 1) == 2 else [item]
            return [_row_inputs(row, tokenizer) for row in rows]
        if isinstance(item.get("text"), str):
            item = (item["text"], item["text_pair"]) if isinstance(item.get("text_pair"), str) else item["text"]
        else:
            raise TypeError("example %s is a dict with keys %s: it needs input_ids or text" % (index, sorted(item)))
    if isinstance(item, (tuple, list)) and any(getattr(v, "ndim", 0) >= 1 for v in item):
        raise TypeError(
            "example %s is a %s of arrays: give batches as dicts {'input_ids': [batch, seq], "
            "'attention_mask': ...} (e.g. a DataLoader over dict rows)" % (index, type(item).__name__)
        )
    if _is_ids(item):
        item = {"input_ids": list(item)}
        return [_row_inputs(item, tokenizer)]
    try:
        probe = parse_probe(index, item)
    except TypeError:
        raise TypeError("example %s is %r: score_examples takes %s" % (index, item, _KINDS)) from None
    return [tokenize_probe(Probe(tag="example", **probe), tokenizer, model, max_length)]


class ExampleSet:
    """The examples of `score_examples`, tokenised once for the model (the same set at every
    step); an int N takes the first N batches of the eval dataloader the integration has."""

    def __init__(self, examples, tag):
        self.tag = tag
        if isinstance(examples, numbers.Integral) and not isinstance(examples, bool):
            if examples < 1:
                raise ValueError("score_examples=%d: give a positive number of eval batches" % examples)
            self.batches, self.items = int(examples), None
        else:
            self.batches, self.items = None, _items(examples)
        self._inputs = None
        self._waiting_said = False

    @property
    def waiting(self):
        """Whether an int N still waits for the eval dataloader's batches."""
        return self.batches is not None and self._inputs is None

    def inputs(self, tokenizer, model, max_length, batches=None):
        """[ProbeInputs], tokenised on first use; None while an int N waits for eval batches."""
        if self._inputs is None:
            if getattr(getattr(model, "config", None), "is_encoder_decoder", False):
                raise ValueError("score_examples scores decoder-only and encoder-only models, not encoder-decoder ones")
            items = self.items
            if items is None:
                if batches is None:
                    if not self._waiting_said:
                        logger.info("tb_attention: score_examples=%d waits for the eval dataloader", self.batches)
                        self._waiting_said = True
                    return None
                items = list(itertools.islice(batches, self.batches))
            inputs = [one for i, item in enumerate(items) for one in _inputs_of(i, item, tokenizer, model, max_length)]
            if not inputs:
                raise ValueError("score_examples gave no example (an empty eval dataloader?)")
            self._inputs = inputs
        return self._inputs


class FixedScores:
    """A record's scorer that ignores the blocks it is fed: the record stores `mean` as its
    pattern scores and `summary` as its `example_scores`."""

    def __init__(self, mean, summary):
        self.mean, self.summary = mean, summary

    def add_block(self, *args):
        pass

    def add_layer(self, *args):
        pass

    def result(self):
        return self.mean

    def header_fields(self):
        return {"example_scores": example_scores_to_json(self.summary)}


def score_set(model, inputs, storage):
    """(mean, summary) of the examples' scores (analysis/example_stats.py)."""
    stats = ExampleStats()
    for one in inputs:
        stats.add(score_probe(model, one, storage))
    return stats.result()


def log_set(model, inputs, mean, summary, log_dir, tag, step, storage, all_ranks):
    """Log the set's record: its first example's attention, with `mean` and `summary`."""
    fixed = FixedScores(mean, summary)
    first = inputs[0]
    if on_attention_interface(model):

        def factory(shape, tokens, key_tokens, sentence_b_start):
            return fixed if key_tokens is None else None

        capture_probe(model, first, storage, scorer=factory).log(log_dir, tag, step, all_ranks=all_ranks)
        return
    from tb_attention.inputs.record import parse_record
    from tb_attention.writing.writer import log_record

    kwargs = {k: v for k, v in first.log_kwargs.items() if k != "retrieval"}
    record = parse_record(tag=tag, global_step=step, walltime=None, **probe_attention(model, first), **kwargs)
    log_record(log_dir, record, storage, all_ranks=all_ranks, scorer_for=lambda part, plan: fixed)

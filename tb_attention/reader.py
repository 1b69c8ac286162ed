"""`read_attention`: logged attention back in Python (notebooks, analysis, tests).

Built on TensorBoard's own event loading (`EventMultiplexer` and its data provider), so it reads
exactly what the TensorBoard server reads, from any logdir TensorBoard's Python loader can open.
"""

import dataclasses
import os
from typing import List, Optional

import numpy as np

from tb_attention.format import metadata
from tb_attention.format.scores import scores_from_json
from tb_attention.serving.store import AttentionStore


@dataclasses.dataclass
class AttentionRecord:
    run: str
    tag: str
    step: int
    wall_time: float
    tokens: List[str]
    key_tokens: Optional[List[str]]
    sentence_b_start: Optional[int]
    precision: str
    attention: np.ndarray  # float32 [layers, heads, queries, keys]
    patterns: Optional[dict]  # metric -> float32 [layers, heads], as computed when logged


def _data_provider(logdir, run=None):
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer

    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        tensor_size_guidance={metadata.PLUGIN_NAME: 0}  # 0: keep every step
    )
    if run is None or run == ".":
        multiplexer.AddRunsFromDirectory(logdir)
    else:  # a run is one directory: load only that one, under its usual name
        multiplexer.AddRun(os.path.join(logdir, run), name=run)
    multiplexer.Reload()
    return data_provider.MultiplexerDataProvider(multiplexer, logdir)


def _patterns(header):
    scores = header.get("patterns")
    return scores_from_json(scores) if scores else None


def read_attention(logdir, run=None, tag=None, step=None):
    """Yield an `AttentionRecord` per logged (run, tag, step), in that order.

    `run`, `tag` and `step` filter (run names are relative to `logdir`, "." for the top).
    """
    from tensorboard import context

    ctx = context.RequestContext()
    store = AttentionStore(_data_provider(logdir, run))
    for run_name, tags in sorted(store.tags(ctx, "").items()):
        if run is not None and run_name != run:
            continue
        for tag_name in sorted(tags):
            if tag is not None and tag_name != tag:
                continue
            for s in store.steps(ctx, "", run_name, tag_name):
                if step is not None and s.step != step:
                    continue
                header = store.header(ctx, s)
                yield AttentionRecord(
                    run=run_name,
                    tag=tag_name,
                    step=s.step,
                    wall_time=s.wall_time,
                    tokens=header["tokens"],
                    key_tokens=header.get("key_tokens"),
                    sentence_b_start=header.get("sentence_b_start"),
                    precision=header["precision"],
                    attention=store.attention(ctx, s),
                    patterns=_patterns(header),
                )

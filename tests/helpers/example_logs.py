"""Logs of a set of examples and of grouped-query attention: a tiny Llama (4 query heads
reading 2 KV heads) logged through the capture at three steps, a token-id probe and a set of 5
examples (`score_examples=`), while query heads 0 and 1 of layer 0 (KV head 0) are made, step by
step, to attend to their own position."""

import torch

from tests.helpers.tiny_models import Tokens, tiny_inputs, tiny_model

RUN = "gqa"
STEPS = (0, 1, 2)
SCALES = (0, 3, 10)  # how strongly the two heads' queries are their keys at each step
EXAMPLES = 5


class _Tokenizer(Tokens):
    def __call__(self, *args, **kwargs):
        raise AssertionError("token ids are not tokenised")


def _self_heads(model, scale):
    """Query heads 0 and 1 of layer 0 with queries = their keys x `scale` (rotary positions
    cancel at distance 0, so the larger the scale, the more each attends to itself)."""
    if not scale:
        return
    attention = model.model.layers[0].self_attn
    dim = attention.head_dim
    with torch.no_grad():
        keys = torch.randn(dim, attention.k_proj.weight.shape[1], generator=torch.Generator().manual_seed(0))
        attention.k_proj.weight[:dim] = keys
        attention.q_proj.weight[: 2 * dim] = torch.cat([keys, keys]) * scale


def write_example_logs(root):
    """Write the logs under `root / RUN`: tags probe/ids and probe/examples at STEPS."""
    import tb_attention
    from tb_attention.analysis.induction_probe import TokenProbe

    model = tiny_model("llama")
    ids = tiny_inputs("llama", length=20)["input_ids"][0].tolist()
    examples = [tiny_inputs("llama", length=14 + 2 * i, seed=i)["input_ids"][0].tolist() for i in range(EXAMPLES)]
    logger = tb_attention.ProbeLogger(_Tokenizer(), {"ids": TokenProbe("ids", ids)}, score_examples=examples)
    for step, scale in zip(STEPS, SCALES):
        _self_heads(model, scale)
        logger.log(model, step, str(root / RUN), True)
    tb_attention.flush()

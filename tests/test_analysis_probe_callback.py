"""The induction probe in AttentionCallback with a real transformers.Trainer: one line in the
callback's probes, and a causal model's attention on it (equal to a direct forward at each step)
and its induction scores are logged at every step."""

import numpy as np
import pytest

import tb_attention
from tests.helpers.training import Snapshots, direct_attention

pytestmark = pytest.mark.slow


def test_attention_callback_logs_the_induction_probe(minilm, tmp_path):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments

    tokenizer, _ = minilm
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=128,
    )
    model = LlamaForCausalLM(config)
    probe = tb_attention.induction_probe(tokenizer, length=16)
    ids = torch.tensor(probe.token_ids)
    data = [{"input_ids": ids, "labels": ids} for _ in range(8)]
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=4,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
        logging_strategy="no",
    )
    callback = tb_attention.AttentionCallback(
        tokenizer, [probe], log_dir=str(tmp_path / "logs"), every_n_steps=2, precision="float32"
    )
    snapshots = Snapshots()
    Trainer(model=model, args=args, train_dataset=data, callbacks=[callback, snapshots]).train()
    records = list(tb_attention.read_attention(str(tmp_path / "logs"), tag="probe/induction"))
    assert [r.step for r in records] == [0, 2, 4]
    probe_inputs = {"input_ids": ids[None], "attention_mask": torch.ones_like(ids)[None]}
    for r in records:
        assert r.tokens == tokenizer.convert_ids_to_tokens(list(probe.token_ids))
        # float32 records: the model's own weights on the probe at that step, as a direct forward gives them.
        np.testing.assert_allclose(
            r.attention, direct_attention(model, snapshots.weights[r.step], probe_inputs), atol=1e-6
        )
        att = r.attention.astype(np.float64)
        assert np.triu(att, 1).max() == 0  # causal: scored with the one-key row left out
        n = 16  # the probe is [CLS] r r [SEP]: the second copy's tokens have an earlier occurrence
        expected = np.mean([att[:, :, i, i - n + 1] for i in range(n + 1, 2 * n + 1)], axis=0)
        np.testing.assert_allclose(r.patterns["induction"], expected, atol=1e-5)
        np.testing.assert_allclose(r.patterns["sink"], att[:, :, 1:, 0].mean(-1), atol=1e-5)
    assert np.abs(records[-1].attention - records[0].attention).max() > 1e-3  # training moved it

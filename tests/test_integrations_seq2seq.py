"""Encoder-decoder models: `AttentionCallback` with a real `Seq2SeqTrainer` on a tiny T5 and a tiny
BART logs one record per step holding encoder, decoder and cross attention, each equal to a
direct teacher-forced forward at that step; `add_attention(encoder_attention=...)` the same by hand;
the panel shows each kind with its own tokens."""

import copy

import numpy as np
import pytest
import torch
from transformers import (
    BartConfig,
    BartForConditionalGeneration,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    T5Config,
    T5ForConditionalGeneration,
)

import tb_attention
from tests.helpers.data import UINT8_BOUND
from tests.helpers.training import Snapshots

SOURCE, TARGET = "the pilot bought fresh milk", "le pilote a achete du lait"
PAIRS = [
    ("the pilot bought fresh milk", "le pilote a achete du lait"),
    ("the chef cooked soup", "le chef a cuit la soupe"),
    ("a fine day", "une belle journee"),
    ("the store opens early", "le magasin ouvre tot"),
] * 2


def tiny(family, vocab_size):
    torch.manual_seed(0)
    if family == "t5":
        return T5ForConditionalGeneration(
            T5Config(
                vocab_size=vocab_size,
                d_model=32,
                d_kv=8,
                d_ff=64,
                num_layers=2,
                num_decoder_layers=2,
                num_heads=2,
                decoder_start_token_id=0,
                pad_token_id=0,
                attn_implementation="eager",
            )
        )
    return BartForConditionalGeneration(
        BartConfig(
            vocab_size=vocab_size,
            d_model=32,
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            max_position_embeddings=64,
            pad_token_id=0,
            bos_token_id=101,
            eos_token_id=102,
            decoder_start_token_id=102,
            attn_implementation="eager",
        )
    )


def dataset(tokenizer):
    enc = tokenizer(
        [s for s, _ in PAIRS],
        text_target=[t for _, t in PAIRS],
        padding="max_length",
        max_length=12,
        truncation=True,
        return_tensors="pt",
    )
    labels = enc["labels"].masked_fill(enc["labels"] == tokenizer.pad_token_id, -100)
    return [
        dict(input_ids=enc["input_ids"][i], attention_mask=enc["attention_mask"][i], labels=labels[i])
        for i in range(len(PAIRS))
    ]


@pytest.fixture(scope="module", params=["t5", "bart"])
def trained(request, minilm, tmp_path_factory):
    tokenizer, _ = minilm
    logdir = tmp_path_factory.mktemp(request.param)
    model = tiny(request.param, tokenizer.vocab_size)
    data = dataset(tokenizer)
    snapshots = Snapshots()
    args = Seq2SeqTrainingArguments(
        output_dir=str(logdir / "out"),
        max_steps=4,
        per_device_train_batch_size=4,
        learning_rate=5e-3,
        eval_strategy="steps",
        eval_steps=2,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    callback = tb_attention.AttentionCallback(tokenizer, {"translate": (SOURCE, TARGET)}, log_dir=str(logdir / "run"))
    Seq2SeqTrainer(
        model=model, args=args, train_dataset=data, eval_dataset=data[:4], callbacks=[callback, snapshots]
    ).train()
    return request.param, tokenizer, model, logdir, snapshots


def test_one_record_per_step_holds_three_kinds_equal_to_a_direct_forward(trained):
    family, tokenizer, model, logdir, snapshots = trained
    records = list(tb_attention.read_attention(str(logdir / "run")))
    assert [r.step for r in records] == [0, 2, 4]  # start, evaluations at 2 and 4 (4 is also the end)
    enc = tokenizer(SOURCE, text_target=TARGET, return_tensors="pt")
    decoder_ids = model.prepare_decoder_input_ids_from_labels(labels=enc["labels"])
    encoder_tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    decoder_tokens = tokenizer.convert_ids_to_tokens(decoder_ids[0])
    reference = copy.deepcopy(model).eval()
    for r in records:
        assert r.kinds == ["encoder", "decoder", "cross"]
        reference.load_state_dict(snapshots.weights[r.step])
        with torch.no_grad():
            out = reference(
                input_ids=enc["input_ids"],
                attention_mask=enc["attention_mask"],
                decoder_input_ids=decoder_ids,
                output_attentions=True,
            )
        for kind, attentions, tokens, keys in (
            ("encoder", out.encoder_attentions, encoder_tokens, None),
            ("decoder", out.decoder_attentions, decoder_tokens, None),
            ("cross", out.cross_attentions, decoder_tokens, encoder_tokens),
        ):
            part = r.part(kind)
            assert part.tokens == tokens and part.key_tokens == keys, kind
            expected = torch.stack([a[0] for a in attentions]).numpy()
            assert np.abs(part.attention - expected).max() <= UINT8_BOUND, (family, r.step, kind)
            if kind == "decoder":  # causal: no query sees a later target token
                assert np.all(np.triu(part.attention, k=1) == 0)
            assert part.patterns is not None and part.patterns["entropy"].shape == (2, 2)


def test_encoder_decoder_by_hand_and_its_errors(tmp_path, minilm):
    tokenizer, _ = minilm
    model = tiny("bart", tokenizer.vocab_size).eval()
    enc = tokenizer(SOURCE, return_tensors="pt")
    dec = torch.tensor([[102, 101, 2000, 2001]])
    with torch.no_grad():
        out = model(**enc, decoder_input_ids=dec, output_attentions=True)
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    with pytest.raises(TypeError, match="cross_attention needs encoder_tokens and decoder_tokens"):
        tb_attention.add_attention(tmp_path, "p", cross_attention=out.cross_attentions, global_step=0)
    with pytest.raises(TypeError, match="not both"):
        tb_attention.add_attention(
            tmp_path,
            "p",
            out.encoder_attentions,
            tokens,
            0,
            encoder_attention=out.encoder_attentions,
            encoder_tokens=tokens,
        )
    with pytest.raises(ValueError, match="4 tokens but the attention has 4|key_tokens but the attention has"):
        tb_attention.add_attention(
            tmp_path,
            "p",
            global_step=0,
            cross_attention=out.cross_attentions,
            encoder_tokens=tokens[:3],
            decoder_tokens=["a", "b", "c", "d"],
        )
    tb_attention.add_attention(
        tmp_path,
        "p",
        global_step=1,
        encoder_attention=out.encoder_attentions,
        cross_attention=out.cross_attentions,
        encoder_tokens=tokens,
        decoder_tokens=["</s>", "<s>", "x", "y"],
    )
    tb_attention.flush()
    (record,) = tb_attention.read_attention(str(tmp_path))
    assert record.kinds == ["encoder", "cross"] and record.step == 1
    # Each kind holds the forward's attention of that kind, with its own query and key tokens.
    for kind, attentions, queries, keys in (
        ("encoder", out.encoder_attentions, tokens, None),
        ("cross", out.cross_attentions, ["</s>", "<s>", "x", "y"], tokens),
    ):
        part = record.part(kind)
        expected = torch.stack([a[0] for a in attentions]).numpy()
        assert part.shape == expected.shape and part.kind == kind
        assert part.tokens == queries and part.key_tokens == keys, kind
        assert np.abs(part.attention - expected).max() <= UINT8_BOUND, kind
    assert record.part("cross").shape == (2, 2, 4, len(tokens))
    with pytest.raises(KeyError, match="no attention of kind 'decoder'"):
        record.part("decoder")

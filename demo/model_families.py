"""`python -m demo.model_families`: attention of a GPT-2-style decoder and a BART-style
encoder-decoder, both tiny and randomly initialised from configs (nothing is downloaded), trained
for a few steps on toy tasks: GPT-2 predicts the next word, BART reverses a sentence.

Logged with `tb_attention.add_attention`:
  gpt2/probe/self       the decoder's causal self-attention (lower-triangular)
  bart/probe/reverse    one record of three kinds (the panel's Attention selector): the encoder's
                        self-attention, the decoder's causal self-attention, and cross-attention
                        (target words over source words), which learns the anti-diagonal that
                        reversing needs
"""

import os
import sys

from demo import common

DESCRIPTION = "Attention of a tiny GPT-2 (causal) and BART (encoder, decoder, cross-attention) trained on toy tasks."

SENTENCES = [
    "the chef cooked the soup at the market",
    "the pilot opened the door at the station",
    "the nurse bought the lamp at the store",
    "i went to the store and bought fresh strawberries",
    "the farmer sold the boat at the harbor",
    "the student found the book at the library",
]
PROBE = "the pilot bought fresh strawberries at the market"
SPECIALS = ["<pad>", "<s>", "</s>"]
PAD, BOS, EOS = 0, 1, 2


class WordVocab:
    """Whitespace words <-> ids: the toy models need no downloaded tokenizer."""

    def __init__(self, sentences):
        words = sorted({w for s in sentences for w in s.split()})
        self.words = SPECIALS + words
        self.ids = {w: i for i, w in enumerate(self.words)}

    def __len__(self):
        return len(self.words)

    def encode(self, sentence):
        return [self.ids[w] for w in sentence.split()]

    def tokens(self, ids):
        return [self.words[i] for i in ids]


def gpt2(vocab_size, seed=0):
    """A 2-layer, 4-head GPT-2 with random weights and eager attention (weights are returned)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=32,
        n_embd=32,
        n_layer=2,
        n_head=4,
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=PAD,
        loss_type="ForCausalLM",
    )
    config._attn_implementation = "eager"
    return GPT2LMHeadModel(config)


def bart(vocab_size, seed=0):
    """A 2+2-layer, 4-head BART with random weights and eager attention."""
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    torch.manual_seed(seed)
    config = BartConfig(
        vocab_size=vocab_size,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=32,
        pad_token_id=PAD,
        bos_token_id=BOS,
        eos_token_id=EOS,
        decoder_start_token_id=BOS,
        forced_eos_token_id=None,
    )
    config._attn_implementation = "eager"
    return BartForConditionalGeneration(config)


def gpt2_batch(vocab, sentences):
    import torch

    ids = [[BOS] + vocab.encode(s) for s in sentences]
    width = max(map(len, ids))
    input_ids = torch.tensor([x + [PAD] * (width - len(x)) for x in ids])
    mask = (input_ids != PAD).long()
    mask[:, 0] = 1
    labels = input_ids.masked_fill(mask == 0, -100)
    return dict(input_ids=input_ids, attention_mask=mask, labels=labels)


def bart_batch(vocab, sentences):
    """Source: the sentence; target: its words reversed."""
    import torch

    src = [vocab.encode(s) + [EOS] for s in sentences]
    tgt = [list(reversed(vocab.encode(s))) + [EOS] for s in sentences]

    def pad(rows):
        width = max(map(len, rows))
        return torch.tensor([r + [PAD] * (width - len(r)) for r in rows])

    input_ids, labels = pad(src), pad(tgt)
    decoder_input_ids = torch.cat([torch.full((len(tgt), 1), BOS), labels[:, :-1]], dim=1)
    return dict(
        input_ids=input_ids,
        attention_mask=(input_ids != PAD).long(),
        decoder_input_ids=decoder_input_ids,
        labels=labels.masked_fill(labels == PAD, -100),
    )


def log_gpt2(model, vocab, logdir, step):
    import torch

    import tb_attention

    batch = gpt2_batch(vocab, [PROBE])
    model.eval()
    with torch.no_grad():
        out = model(input_ids=batch["input_ids"], output_attentions=True)
    model.train()
    tokens = vocab.tokens(batch["input_ids"][0].tolist())
    tb_attention.add_attention(logdir, "probe/self", out.attentions, tokens, global_step=step)


def log_bart(model, vocab, logdir, step):
    import torch

    import tb_attention

    batch = bart_batch(vocab, [PROBE])
    model.eval()
    with torch.no_grad():
        out = model(input_ids=batch["input_ids"], decoder_input_ids=batch["decoder_input_ids"], output_attentions=True)
    model.train()
    source = vocab.tokens(batch["input_ids"][0].tolist())
    target = vocab.tokens(batch["decoder_input_ids"][0].tolist())
    tb_attention.add_attention(
        logdir,
        "probe/reverse",
        global_step=step,
        encoder_attention=out.encoder_attentions,
        decoder_attention=out.decoder_attentions,
        cross_attention=out.cross_attentions,
        encoder_tokens=source,
        decoder_tokens=target,
    )


def train(model, batch, log, steps, every):
    """Adam on one fixed batch; `log(step)` at step 0 and every `every` steps."""
    import torch

    # Models this small run fastest on one thread; more only add synchronisation overhead.
    torch.set_num_threads(1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    log(0)
    for step in range(1, steps + 1):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step % every == 0 or step == steps:
            log(step)
    return loss.item()


def main(argv=None):
    args = common.parser("python -m demo.model_families", DESCRIPTION, "runs/families", 200).parse_args(argv)
    if not args.no_serve:
        common.check_port(args.port)
    import tb_attention

    vocab = WordVocab(SENTENCES + [PROBE])
    every = common.checkpoint_every(args.steps)
    gpt2_dir, bart_dir = (os.path.join(args.logdir, common.run_name(name)) for name in ("gpt2", "bart"))
    model = gpt2(len(vocab))
    loss = train(model, gpt2_batch(vocab, SENTENCES), lambda s: log_gpt2(model, vocab, gpt2_dir, s), args.steps, every)
    print("gpt2: next-word loss %.3f after %d steps -> %s" % (loss, args.steps, gpt2_dir))
    model = bart(len(vocab))
    loss = train(
        model, bart_batch(vocab, SENTENCES + [PROBE]), lambda s: log_bart(model, vocab, bart_dir, s), args.steps, every
    )
    print("bart: reversal loss %.3f after %d steps -> %s" % (loss, args.steps, bart_dir))
    tb_attention.flush()
    if not args.no_serve:
        return common.serve(args.logdir, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""References for head importance that do not go through tb-attention's gates: a head's output
scaled (or zeroed) where the model's output projection reads it (a forward pre-hook on that
projection: BERT's `attention.output.dense`, Llama's `self_attn.o_proj`), per-example losses, and
finite differences of the loss in the scale of one head."""

import contextlib

import torch

# Where each family's attention output projection is, by layer: the module whose input is the
# heads' outputs side by side, [batch, queries, heads * head_dim].
PROJECTIONS = {
    "bert": lambda model, layer: _bert(model).encoder.layer[layer].attention.output.dense,
    "llama": lambda model, layer: model.model.layers[layer].self_attn.o_proj,
}


def _bert(model):
    return getattr(model, "bert", model)


@contextlib.contextmanager
def scaled_head(model, family, layer, head, scale):
    """Head `head` of `layer` times `scale` (a number, or a tensor [batch] per example) at the
    input of its output projection, for the duration."""
    heads = model.config.num_attention_heads
    projection = PROJECTIONS[family](model, layer)
    dim = projection.in_features // heads

    def hook(module, args):
        x = args[0].clone()
        factor = scale if not torch.is_tensor(scale) else scale.to(x.dtype)[:, None, None]
        x[..., head * dim : (head + 1) * dim] = x[..., head * dim : (head + 1) * dim] * factor
        return (x,) + tuple(args[1:])

    handle = projection.register_forward_pre_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def finite_difference(model, family, batches, per_example_loss, layer, head, eps):
    """E_x |dL(x)/d scale| of head (layer, head) at scale 1, by central differences of each
    example's loss (`per_example_loss(model, batch)` -> [batch]), in eval mode without grad."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            losses = []
            for scale in (1 + eps, 1 - eps):
                with scaled_head(model, family, layer, head, scale):
                    losses.append(per_example_loss(model, batch).double())
            derivative = (losses[0] - losses[1]) / (2 * eps)
            total += float(derivative.abs().sum())
            count += derivative.numel()
    return total / count


def classifier_losses(model, batch):
    """Per-example cross-entropy of a sequence classifier on a batch with labels."""
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    return torch.nn.functional.cross_entropy(model(**inputs).logits.double(), batch["labels"], reduction="none")


def lm_losses(model, batch):
    """Per-example mean next-token cross-entropy of a causal LM on its input ids."""
    logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits[:, :-1]
    targets = batch["input_ids"][:, 1:]
    return torch.nn.functional.cross_entropy(logits.transpose(1, 2).double(), targets, reduction="none").mean(1)


def demo_batches(tokenizer, split, batch_size):
    """Batches (padded, with labels) of the demo task's `split` (demo/data), in file order."""
    from transformers import DataCollatorWithPadding

    from demo import common

    data = common.encode_pairs(tokenizer, common.load_pairs(split))
    collate = DataCollatorWithPadding(tokenizer)
    return [collate(data[i : i + batch_size]) for i in range(0, len(data), batch_size)]


def finetune_demo_classifier(seed, steps, batch_size=16, lr=1e-4):
    """(tokenizer, the packaged MiniLM with a fresh classification head fine-tuned for `steps`
    AdamW steps on the demo task, in eval mode): a plain loop, seeded (head, dropout, order)."""
    import transformers

    from demo import common

    transformers.set_seed(seed)
    tokenizer, model = common.load_classifier()
    data = common.encode_pairs(tokenizer, common.load_pairs("train"))
    from transformers import DataCollatorWithPadding

    collate = DataCollatorWithPadding(tokenizer)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed)).tolist()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        start = (step * batch_size) % len(order)
        batch = collate([data[i] for i in (order * 2)[start : start + batch_size]])
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return tokenizer, model.eval()

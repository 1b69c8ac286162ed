"""Write the demo's labelled sentence pairs (demo/data/{train,eval}.tsv), deterministically.

Task: does sentence B restate sentence A? Label 1 for a paraphrase (reordered or passive), 0 for
a negation or a swapped object/place. Telling them apart needs B's words to look back at A's,
so fine-tuning visibly reshapes attention. Run `python -m demo.make_data` to regenerate.
"""

import argparse
import csv
import pathlib
import random

DATA_DIR = pathlib.Path(__file__).resolve().parent / "data"
SEED = 20240601

SUBJECTS = [
    "chef",
    "teacher",
    "doctor",
    "farmer",
    "pilot",
    "nurse",
    "artist",
    "student",
    "baker",
    "driver",
    "lawyer",
    "singer",
]
# (past, base, past participle)
VERBS = [
    ("bought", "buy", "bought"),
    ("painted", "paint", "painted"),
    ("cleaned", "clean", "cleaned"),
    ("found", "find", "found"),
    ("sold", "sell", "sold"),
    ("fixed", "fix", "fixed"),
    ("washed", "wash", "washed"),
    ("carried", "carry", "carried"),
    ("opened", "open", "opened"),
    ("moved", "move", "moved"),
]
OBJECTS = ["book", "car", "box", "door", "table", "bike", "lamp", "basket", "window", "boat", "chair", "clock"]
PLACES = ["store", "park", "school", "station", "market", "garden", "office", "harbor", "museum", "library"]


def _other(rng, words, word):
    return rng.choice([w for w in words if w != word])


def make_pair(rng):
    """One (sentence_a, sentence_b, label), half paraphrases, half not."""
    s, (past, base, pp), o, p = rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(PLACES)
    a = "The %s %s the %s at the %s." % (s, past, o, p)
    kind = rng.random()
    if kind < 0.5:  # restatements
        b = rng.choice(
            [
                "The %s was %s by the %s at the %s." % (o, pp, s, p),
                "At the %s, the %s %s the %s." % (p, s, past, o),
                "At the %s, the %s was %s by the %s." % (p, o, pp, s),
            ]
        )
        return a, b, 1
    if kind < 0.75:  # negations: the same words plus "not"/"never"
        b = rng.choice(
            [
                "The %s did not %s the %s at the %s." % (s, base, o, p),
                "At the %s, the %s never %s the %s." % (p, s, past, o),
                "The %s was not %s by the %s at the %s." % (o, pp, s, p),
            ]
        )
        return a, b, 0
    # Swaps: one content word differs, so only comparing B with A tells.
    if rng.random() < 0.5:
        b = "The %s was %s by the %s at the %s." % (_other(rng, OBJECTS, o), pp, s, p)
    else:
        b = "At the %s, the %s %s the %s." % (_other(rng, PLACES, p), s, past, o)
    return a, b, 0


def make_split(rng, count, exclude=()):
    pairs, seen = [], set(exclude)
    while len(pairs) < count:
        pair = make_pair(rng)
        if pair[:2] not in seen:
            seen.add(pair[:2])
            pairs.append(pair)
    return pairs


def write_tsv(path, pairs):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(["sentence_a", "sentence_b", "label"])
        w.writerows(pairs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=480, help="training pairs (default 480)")
    parser.add_argument("--eval", type=int, default=96, help="held-out pairs (default 96)")
    args = parser.parse_args(argv)
    rng = random.Random(SEED)
    train = make_split(rng, args.train)
    held_out = make_split(rng, args.eval, exclude={p[:2] for p in train})
    DATA_DIR.mkdir(exist_ok=True)
    write_tsv(DATA_DIR / "train.tsv", train)
    write_tsv(DATA_DIR / "eval.tsv", held_out)
    print("wrote %d + %d pairs to %s" % (len(train), len(held_out), DATA_DIR))


if __name__ == "__main__":
    main()

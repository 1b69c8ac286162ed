"""Writer benchmark: blocking cost, cost against add_image heat-maps, bytes on disk, error.

Everything is measured side by side in one run and printed as ratios (machines are noisy).
Run: python bench/write.py [--repeat N]
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

import tb_attention  # noqa: E402
from bench.common import encode, load_minilm  # noqa: E402


def dir_bytes(path, match=""):
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files if match in f)
    return total


def forward(model, batch):
    with torch.no_grad():
        return model(**batch, output_attentions=True)


def time_forward(model, batch, repeat):
    forward(model, batch)
    start = time.perf_counter()
    for _ in range(repeat):
        out = forward(model, batch)
    return (time.perf_counter() - start) / repeat, out


def log_as_images(writer, attentions, step):
    """What people do today: one heat-map image per (layer, head), via add_image."""
    for layer, a in enumerate(attentions):
        for head in range(a.shape[1]):
            image = a[0, head].numpy()
            writer.add_image(
                "attention/layer%d/head%d" % (layer, head), image / max(image.max(), 1e-9), step, dataformats="HW"
            )


def stored_errors(record, reference):
    """The record's precision, its largest abs error and relative error (weights >= 1e-6)."""
    err = np.abs(record.attention.astype(np.float64) - reference)
    big = reference >= 1e-6
    return dict(precision=record.precision, max_err=float(err.max()), max_rel=float((err[big] / reference[big]).max()))


def time_training_loop(writer, model, batch, tokens, repeat):
    """A training loop as users write it: forward, then log. Returns the plain forward passes', the
    logging iterations' and add_attention's times, and how long the writer then took to drain."""
    # Plain and logging iterations alternate so both see the same machine load; the background
    # encoding of one record overlaps the next forward pass, as it would in training.
    plain, logged, blocking = [], [], []
    for step in range(repeat):
        writer.flush()  # nothing in the background: a plain forward pass
        t = time.perf_counter()
        out = forward(model, batch)
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        tb_attention.add_attention(writer, "probe", out.attentions, tokens, step)
        blocking.append(time.perf_counter() - t)
        # The next forward pass runs while the record is encoded in the background.
        t = time.perf_counter()
        out = forward(model, batch)
        logged.append(time.perf_counter() - t + blocking[-1])
    start = time.perf_counter()
    writer.flush()
    drain = time.perf_counter() - start
    return plain, logged, blocking, drain


def time_end_to_end(writer, attentions, tokens, repeat):
    """Seconds per record to call, encode, compress and write, for one record at a time."""
    t = time.perf_counter()
    for step in range(repeat):
        tb_attention.add_attention(writer, "end_to_end", attentions, tokens, step)
        writer.flush()
    return (time.perf_counter() - t) / repeat


def time_images(logdir, attentions, repeat):
    """The add_image heat-maps' blocking times, and seconds per step with the flush."""
    image_writer = SummaryWriter(logdir)
    image_repeat = max(1, repeat // 3)
    image_blocking = []
    t = time.perf_counter()
    for step in range(image_repeat):
        t_call = time.perf_counter()
        log_as_images(image_writer, attentions, step)
        image_blocking.append(time.perf_counter() - t_call)
    image_writer.flush()
    images_total = (time.perf_counter() - t) / image_repeat
    image_writer.close()
    return image_blocking, images_total


def bench_tokens(tokenizer, model, n_tokens, repeat):
    batch = encode(tokenizer, n_tokens)
    tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
    assert len(tokens) == n_tokens, len(tokens)
    _, out = time_forward(model, batch, 1)
    attentions = out.attentions
    reference = torch.stack(attentions)[:, 0].numpy()
    results = {"tokens": n_tokens}

    with tempfile.TemporaryDirectory() as d:
        writer = SummaryWriter(os.path.join(d, "ours"))
        tb_attention.add_attention(writer, "warmup", attentions, tokens, 0)
        writer.flush()
        plain, logged, blocking, drain = time_training_loop(writer, model, batch, tokens, repeat)
        ours_total = time_end_to_end(writer, attentions, tokens, repeat)
        writer.close()
        (record,) = tb_attention.read_attention(d, run="ours", tag="probe", step=0)
        errors = stored_errors(record, reference)
        ours_bytes = dir_bytes(os.path.join(d, "ours"))  # index and payload files (and an empty scalars file)
        per_record = ours_bytes / (2 * repeat + 1)  # warm-up + probe + end_to_end records
        image_blocking, images_total = time_images(os.path.join(d, "images"), attentions, repeat)

    forward_s = float(np.median(plain))
    results.update(
        forward_ms=forward_s * 1e3,
        blocking_ms=float(np.median(blocking)) * 1e3,
        slowdown=float(np.median(logged)) / forward_s - 1,
        drain_ms=drain * 1e3,
        ours_total_ms=ours_total * 1e3,
        images_blocking_ms=float(np.median(image_blocking)) * 1e3,
        images_total_ms=images_total * 1e3,
        record_mb=per_record / 1e6,
        float32_mb=reference.nbytes / 1e6,
        **errors,
    )
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--tokens", type=int, nargs="+", default=[128, 512])
    args = parser.parse_args()
    tokenizer, model = load_minilm()
    print(
        "tb-attention writer benchmark (packaged MiniLM, 6 layers x 12 heads, torch threads=%d)"
        % torch.get_num_threads()
    )
    for n in args.tokens:
        r = bench_tokens(tokenizer, model, n, args.repeat)
        print("\n== %d tokens ==" % n)
        print("forward pass (median)             %8.1f ms" % r["forward_ms"])
        print(
            "add_attention blocking (median)   %8.2f ms   ratio to forward   %.3f  (goal <= 0.10)"
            % (r["blocking_ms"], r["blocking_ms"] / r["forward_ms"])
        )
        print(
            "training-thread slowdown          %+7.1f %%   (add_attention + next forward, overlapping encoding, vs forward)"
            % (100 * r["slowdown"])
        )
        print(
            "add_image heat-maps, blocking     %8.1f ms   ratio ours/images  %.4f (goal <= 0.05)"
            % (r["images_blocking_ms"], r["blocking_ms"] / r["images_blocking_ms"])
        )
        print(
            "end to end incl. encode + flush   %8.1f ms   vs add_image+flush %.1f ms: ratio %.3f"
            % (r["ours_total_ms"], r["images_total_ms"], r["ours_total_ms"] / r["images_total_ms"])
        )
        print(
            "bytes on disk per record          %8.3f MB   ratio to float32  %.3f  (goal <= 0.20)"
            % (r["record_mb"], r["record_mb"] / r["float32_mb"])
        )
        print("max abs error (%s)             %8.5f      bound 1/510 = %.5f" % (r["precision"], r["max_err"], 1 / 510))
        print("max rel error, weights >= 1e-6    %8.4f      bound 0.06 (log16)" % r["max_rel"])


if __name__ == "__main__":
    main()

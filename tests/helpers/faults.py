"""Real write failures for tests, raised by the OS in a child process: a file size limit
(`RLIMIT_FSIZE`, with SIGXFSZ ignored so that write() fails with EFBIG instead of killing the
process) or a full file system (a small tmpfs). Nothing here touches the file objects.

`python -m tests.helpers.faults RUN_DIR MODE` logs records 0-2, then 3-4 under a limit that falls
in the middle of a payload chunk (MODE `payload`) or of an event frame (MODE `event`), or with
the file system of RUN_DIR's parent filled up (MODE `disk`), lifts it (frees the space) and logs
5-7; it prints a JSON report of what it saw (file sizes, the error flush raised).
"""

import contextlib
import errno
import glob
import json
import os
import resource
import signal
import sys

from tests.helpers.data import attention, peaky_attention, tokens_for

TAG = "p"
BEFORE, DURING, AFTER = [0, 1, 2], [3, 4], [5, 6, 7]
N = 40


@contextlib.contextmanager
def file_size_limit(limit):
    """Every file this process writes is limited to `limit` bytes until the block ends: a write
    that crosses it is short, the next one fails with EFBIG (SIGXFSZ is ignored)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


@contextlib.contextmanager
def disk_full(directory):
    """The file system holding `directory` is full (one file fills it until the OS answers
    ENOSPC) until the block ends, when that file is removed."""
    path = os.path.join(directory, "filler")
    with open(path, "wb", buffering=0) as f:
        for piece in (1 << 16, 512, 1):
            try:
                while True:
                    f.write(b"\0" * piece)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
    try:
        yield
    finally:
        os.unlink(path)


def record(mode, step):
    """(attention, tokens) of one step. `payload` (and `disk`): random weights (two chunks of about 2 KB a
    record) and short tokens; `event`: long token texts (400 characters each), so each index frame
    (about 17.6 KB) is far larger than the payload it points to (about 3.8 KB)."""
    if mode in ("payload", "disk"):
        return attention(step, 2, 3, N), tokens_for(N)
    return peaky_attention(2, 3, N, seed=step), ["%s-%s" % (t, "x" * 400) for t in tokens_for(N)]


def payload_files(run_dir):
    return sorted(glob.glob(os.path.join(str(run_dir), "plugins", "tb_attention", "*.tbattn")))


def event_files(run_dir):
    return sorted(glob.glob(os.path.join(str(run_dir), "events.out.tfevents.*tb_attention*")))


def sizes(paths):
    return {os.path.basename(p): os.path.getsize(p) for p in paths}


def _log(run_dir, mode, steps):
    import tb_attention

    for step in steps:
        a, tokens = record(mode, step)
        tb_attention.add_attention(run_dir, TAG, a, tokens, step)


def _limit_in_the_middle(run_dir, mode):
    """A size limit half-way into the next payload chunk or event frame (both files measured)."""
    (payload,) = payload_files(run_dir)
    (events,) = event_files(run_dir)
    p, e = os.path.getsize(payload), os.path.getsize(events)
    if mode == "payload":
        limit = p + 1000  # the next record's first chunk is about 2 KB
        assert e + 4000 < limit, (e, p)  # its event frame (about 1.6 KB) would still fit
    else:
        limit = e + 8000  # the next frame is about 17.6 KB
        assert p + 8000 < limit, (e, p)  # its chunks (about 4 KB) still fit
    return limit


def main(run_dir, mode):
    import tb_attention

    report = {}
    _log(run_dir, mode, BEFORE)
    tb_attention.flush()
    report["before"] = {"payload": sizes(payload_files(run_dir)), "events": sizes(event_files(run_dir))}
    fault = (
        disk_full(os.path.dirname(run_dir)) if mode == "disk" else file_size_limit(_limit_in_the_middle(run_dir, mode))
    )
    with fault:
        _log(run_dir, mode, DURING)
        try:
            tb_attention.flush()
        except tb_attention.AttentionWriteError as e:
            report["error"] = {"message": str(e), "records": e.records, "cause": repr(e.__cause__)}
        report["during"] = {"payload": sizes(payload_files(run_dir)), "events": sizes(event_files(run_dir))}
    _log(run_dir, mode, AFTER)
    tb_attention.flush()  # raises if anything after the limit failed
    report["after"] = {"payload": sizes(payload_files(run_dir)), "events": sizes(event_files(run_dir))}
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

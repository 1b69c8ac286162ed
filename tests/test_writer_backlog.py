"""A loop that logs faster than the writer writes: the records it queues hold at most
MAX_PENDING_BYTES of host memory (here: the CPU tensors they keep alive until the writer reads
them), then `add_attention` waits for the writer; nothing is dropped. The writer is held back
by a real job that waits. (`bench/soak.py` measures the same with a real slow writer.)"""

import threading
import time

import numpy as np
import torch

import tb_attention
from tb_attention.writing import background
from tb_attention.writing import writer as writer_module
from tests.helpers.data import UINT8_BOUND, attention, tokens_for


def test_queued_cpu_tensors_hold_at_most_the_bound_then_the_caller_waits(tmp_path, monkeypatch):
    from tensorboard.compat.proto import event_pb2

    run = tmp_path / "r"
    logged = {s: attention(s, 4, 4, 64) for s in range(4)}
    record_bytes = logged[0].nbytes  # 256 KiB of float32 that each queued record keeps alive
    monkeypatch.setattr(background, "MAX_PENDING_BYTES", 2 * record_bytes + 1000)
    event_writer = writer_module.event_writer_for(str(run))
    release = threading.Event()
    hold = event_pb2.Event(wall_time=1.0, file_version="brain.Event:2")
    event_writer.submit(lambda payload_file: release.wait(60) and hold, 0, "a job holding the writer")

    returned = []

    def log_all():
        for step, a in logged.items():
            tb_attention.add_attention(str(run), "p", torch.from_numpy(a.copy()), tokens_for(64), step)
            returned.append((step, event_writer.backlog()))

    caller = threading.Thread(target=log_all)
    caller.start()
    try:
        time.sleep(1.5)  # the writer is held: two records fit under the bound, the third waits
        assert [step for step, _ in returned] == [0, 1]
        queued, held = returned[-1][1]
        assert queued == 2 and held == 2 * record_bytes
    finally:
        release.set()
    caller.join(60)
    assert [step for step, _ in returned] == [0, 1, 2, 3]
    tb_attention.flush()
    assert event_writer.backlog() == (0, 0)
    records = list(tb_attention.read_attention(str(tmp_path)))
    assert [r.step for r in records] == [0, 1, 2, 3]
    for r in records:
        assert np.abs(r.attention - logged[r.step]).max() <= UINT8_BOUND

"""Real logdirs for tests: runs written with the real writer, TFRecord frames of event files, and
a snapshot of a tree to prove nothing wrote to it."""

import glob
import json
import os
import struct
import zlib

from tests.helpers.data import attention, peaky_attention, tokens_for


def write_run(run_dir, steps, tag="p", layers=2, heads=3, n=5, seed_base=0, precision="uint8", scalars=True):
    """Log `steps` through a torch SummaryWriter, then close it (which closes our event file too).

    Returns `{step: float32 [layers, heads, n, n]}` as logged.
    """
    from torch.utils.tensorboard import SummaryWriter

    import tb_attention

    writer = SummaryWriter(str(run_dir))
    logged = {}
    for step in steps:
        a = attention(seed_base + step, layers, heads, n)
        logged[step] = a
        if scalars:
            writer.add_scalar("loss", 1.0 / (step + 1), step)
        tb_attention.add_attention(writer, tag, a, tokens_for(n), step, precision=precision)
    writer.close()
    return logged


def write_steps(run_dir, tag, steps, layers=2, heads=3, n=5):
    """Log small peaky attention for `steps` with the real writer (appends to the run's event
    file when the run was logged before in this process), and flush."""
    import tb_attention

    for step in steps:
        tb_attention.add_attention(
            str(run_dir), tag, peaky_attention(layers, heads, n, seed=step), tokens_for(n), global_step=step
        )
    tb_attention.flush()


def write_unreadable_run(run_dir, tag, step=0):
    """A run whose only attention record is well framed but whose header blob is not JSON: TensorBoard
    lists its tag, /steps serves no step of it."""
    import time

    import numpy as np
    from tensorboard.compat.proto import event_pb2

    from tb_attention.format import header as headers
    from tb_attention.format import layers_v1, summary
    from tb_attention.writing import event_file

    a = peaky_attention(2, 3, 5, seed=0).astype(np.float32)
    blobs = layers_v1.encode(a, headers.make_v1_header(a.shape, tokens_for(5), None, None, "uint8"))
    os.makedirs(str(run_dir), exist_ok=True)
    version = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
    bad = summary.attention_event(tag, [b"{not json", *blobs[1:]], step, time.time())
    with open(os.path.join(str(run_dir), event_file.event_file_name()), "wb") as f:
        f.write(event_file.frame_record(version.SerializeToString()))
        f.write(event_file.frame_record(bad.SerializeToString()))


def write_v1_records(run_dir, records, tag, precision="uint8"):
    """A format-1 event file (as tb-attention 0.1 wrote it) of `records`: [(step, float32
    [layers, heads, q, k], tokens)]. For old-format logdirs of any content (tests, benchmarks)."""
    import time

    from tensorboard.compat.proto import event_pb2

    from tb_attention.format import header as headers
    from tb_attention.format import layers_v1, summary
    from tb_attention.writing import event_file

    os.makedirs(str(run_dir), exist_ok=True)
    path = os.path.join(str(run_dir), event_file.event_file_name())
    with open(path, "wb") as f:
        f.write(
            event_file.frame_record(
                event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString()
            )
        )
        for step, a, tokens in records:
            blobs = layers_v1.encode(a, headers.make_v1_header(a.shape, tokens, None, None, precision))
            event = summary.attention_event(tag, blobs, step, time.time())
            event.summary.value[0].metadata.plugin_data.content = b'{"version": 1}'
            f.write(event_file.frame_record(event.SerializeToString()))
    return path


def attention_event_files(run_dir):
    return sorted(glob.glob(os.path.join(str(run_dir), "events.out.tfevents.*tb_attention*")))


def frames(data):
    """`[(offset, size)]` of each complete TFRecord in `data` (an event file's bytes)."""
    out, offset = [], 0
    while offset + 12 <= len(data):
        (length,) = struct.unpack("<Q", data[offset : offset + 8])
        size = 8 + 4 + length + 4
        if offset + size > len(data):
            break
        out.append((offset, size))
        offset += size
    return out


def last_record_bytes(path):
    """The framed bytes of the last record of an event file."""
    with open(path, "rb") as f:
        data = f.read()
    offset, size = frames(data)[-1]
    return data[offset : offset + size]


def stored_indexes(run_dir):
    """[(tag, step, index)] of every attention record in a run's event files, each index the JSON
    header decoded from the file as docs/format.md lays it out (frames, Event, tensor blob)."""
    from tensorboard.compat.proto import event_pb2

    out = []
    for path in attention_event_files(run_dir):
        with open(path, "rb") as f:
            data = f.read()
        for offset, size in frames(data):
            event = event_pb2.Event.FromString(data[offset + 12 : offset + size - 4])
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "tb_attention":
                    out.append((value.tag, event.step, json.loads(value.tensor.string_val[0])))
    return out


def stored_bytes(run_dir, index):
    """The bytes a format-2 record's attention holds before compression: the content sizes of the
    zstd frames its index points to (every part's blocks; thumbnails aside), read from its payload."""
    import zstandard

    total = 0
    with open(os.path.join(str(run_dir), *index["file"].split("/")), "rb") as f:
        for part in index["parts"]:
            for layer in part["blocks"]:
                for offset, length, _ in layer:
                    f.seek(offset)
                    total += zstandard.frame_content_size(f.read(length))
    return total


def tree_snapshot(root):
    """`{relative path: (size, mtime_ns, crc)}` of every file under root: proof nothing wrote."""
    out = {}
    for dirpath, _, names in os.walk(str(root)):
        for name in names:
            path = os.path.join(dirpath, name)
            st = os.stat(path)
            with open(path, "rb") as f:
                crc = zlib.crc32(f.read())
            out[os.path.relpath(path, str(root))] = (st.st_size, st.st_mtime_ns, crc)
    return out

"""Reused scratch tensors for the block-by-block paths (capture, long records): a block's scores,
codes and widened rows are written into the same few buffers again and again instead of fresh
allocations of varying size, which glibc's allocator keeps around (its dynamic mmap threshold
rises to the sizes it sees, and freed heap pages fragment): the process's memory then stays at
what one block needs. One set per thread and device; a view is valid until the next `get` of the
same name on that thread."""

import threading

_local = threading.local()


def get(name, shape, dtype, device):
    """A contiguous tensor of `shape` and `dtype` on `device`, backed by the thread's buffer `name`
    (grown when too small; its content is whatever was there)."""
    import torch

    count = 1
    for n in shape:
        count *= int(n)
    buffers = getattr(_local, "buffers", None)
    if buffers is None:
        buffers = _local.buffers = {}
    key = (name, dtype, str(device))
    buf = buffers.get(key)
    if buf is None or buf.numel() < count:
        buf = buffers[key] = torch.empty(max(count, 1), dtype=dtype, device=device)
    return buf[:count].view(shape)


def release():
    """Drop this thread's buffers (after a capture: nothing of its size stays)."""
    _local.buffers = {}

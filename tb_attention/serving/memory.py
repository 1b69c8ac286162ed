"""Giving the memory our routes free back to the OS, so TensorBoard's RSS falls back after a burst
of requests.

A `/layer`, `/thumbnails` or `/change` answer for a long record allocates numpy buffers from
hundreds of KB to several MB in TensorBoard's request threads. glibc's malloc maps buffers above
its mmap threshold (128 KiB) and unmaps them when freed, but each free of a mapped buffer raises
that threshold (up to 32 MiB): later buffers come from the heaps and stay in the process once
freed. 16 panels reading 2048-token records left TensorBoard at 2.3 x its RSS (bench/load.py).
Keeping the threshold at glibc's default, fixed, returns each such buffer when it is freed;
smaller allocations are unchanged.
"""

import ctypes
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
THRESHOLD = 128 << 10  # glibc's default


def return_large_buffers():
    """On glibc (Linux), fix malloc's mmap threshold at 128 KiB for this process; elsewhere
    nothing. True when set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this process already uses
        if not hasattr(libc, "gnu_get_libc_version"):
            return False  # another C library: its allocator is left as it is
        return bool(libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD))
    except (OSError, AttributeError):
        return False

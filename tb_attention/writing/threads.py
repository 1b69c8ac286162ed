"""The writer's background threads run at a lower priority than training (encoding only needs
to finish eventually); `encoding_pool` is the pool that encodes blocks of heads in parallel."""

import os
import queue
import threading
from concurrent.futures import Future

# The lowest priority: on a busy CPU the scheduler gives these threads what training leaves.
NICE = 19
_pool_lock = threading.Lock()
_pool = None


def lower_thread_priority():
    """Let training threads win the CPU: encoding only needs to finish eventually.

    On Linux a thread is a task of its own, so setpriority on its native id renices just this
    thread. Elsewhere (or without permission) the thread keeps the process's priority.
    """
    if not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
    except OSError:
        pass


class DaemonPool:
    """A pool of daemon threads (concurrent.futures' threads stop before atexit handlers run,
    and the writer still encodes what is queued at interpreter exit)."""

    def __init__(self, workers):
        self.workers = workers
        self._jobs = queue.Queue()
        for n in range(workers):
            threading.Thread(target=self._run, name="tb-attention-encode-%d" % n, daemon=True).start()

    def _run(self):
        lower_thread_priority()
        while True:
            future, fn, args = self._jobs.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as e:
                    future.set_exception(e)

    def submit(self, fn, *args):
        future = Future()
        self._jobs.put((future, fn, args))
        return future


def encoding_pool():
    """(the background threads that encode blocks, their number): numpy and zstd release the
    GIL, so they run in parallel; reniced, so training keeps the CPU it needs."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[2] != os.getpid():  # a forked child has none of the parent's threads
            workers = max(1, min(4, os.cpu_count() or 1))
            _pool = (DaemonPool(workers), workers, os.getpid())
        return _pool[:2]

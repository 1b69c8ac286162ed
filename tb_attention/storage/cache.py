"""A thread-safe LRU bounded by entry count and by the bytes its entries say they hold."""

import collections
import threading


class LRU:
    def __init__(self, max_entries, max_bytes=None):
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._items = collections.OrderedDict()  # key -> (value, nbytes)
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key, value, nbytes=0):
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if self._max_bytes is not None and nbytes > self._max_bytes:
                return  # larger than the whole cache: not kept
            self._items[key] = (value, nbytes)
            self._bytes += nbytes
            while len(self._items) > self._max_entries or (
                self._max_bytes is not None and self._bytes > self._max_bytes
            ):
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    @property
    def nbytes(self):
        return self._bytes

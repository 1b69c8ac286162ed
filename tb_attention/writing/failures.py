"""Records the writer thread could not write: counted, warned about once per spell of failures,
and raised from the next `flush()` / `close()` (docs/write_failures.md)."""

import logging
import threading

logger = logging.getLogger("tb_attention.writing")

# Records named in a message; the count covers them all.
_NAMED = 5


class AttentionWriteError(RuntimeError):
    """Attention records that were logged but could not be written (disk full, quota, file size
    limit, I/O error, permission, a CPU tensor changed before it was read). `records` names
    them ("<tag> at step <n>"), the first error is the `__cause__`. Records logged before and
    after them are unaffected."""

    def __init__(self, message, records):
        super().__init__(message)
        self.records = records


def _describe(records):
    named = ", ".join(records[:_NAMED]) + (", ..." if len(records) > _NAMED else "")
    return "%d attention record%s (%s)" % (len(records), "" if len(records) == 1 else "s", named)


class WriteFailures:
    """What failed since the last `take()`. The writer thread `add`s a failed record and calls
    `written()` after each record it wrote; `flush()` / `close()` `take()` the error to raise."""

    def __init__(self, where):
        self.where = where
        self._lock = threading.Lock()
        self._records, self._first = [], None  # since the last take()
        self._spell, self._spell_error = [], None  # since the last record written

    def add(self, record, error):
        with self._lock:
            self._records.append(record)
            self._first = self._first or error
            self._spell.append(record)
            first_of_spell = self._spell_error is None
            self._spell_error = self._spell_error or error
        if first_of_spell:
            logger.warning(
                "tb_attention: could not write %s to %s: %s; later records are still written, and "
                "flush()/close() raise for the ones that fail",
                record,
                self.where,
                error,
                exc_info=None if isinstance(error, OSError) else error,  # a traceback for the unexpected
            )

    def written(self, record):
        """A record was written: a spell of failures before it ends, and is reported (once)."""
        if self._spell_error is None:
            return
        with self._lock:
            spell, error = self._spell, self._spell_error
            self._spell, self._spell_error = [], None
        logger.warning("tb_attention: could not write %s: %s; writing resumed with %s", _describe(spell), error, record)

    def take(self):
        """The AttentionWriteError for what failed since the last call, or None."""
        with self._lock:
            records, first = self._records, self._first
            self._records, self._first = [], None
        if not records:
            return None
        error = AttentionWriteError(
            "tb_attention could not write %s: %s: %s" % (_describe(records), type(first).__name__, first), records
        )
        error.__cause__ = first
        return error

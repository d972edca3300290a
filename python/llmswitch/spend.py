"""The spend ledger: every call's model, provider, deployment, tokens, cost, latency, status
and ``metadata`` (``user``, ``project``, ``key``, ``tags``).

Recording is on by default and in memory (the newest 100,000 calls). ``enable(path=...)``
also persists every call to an SQLite file, written on a background thread in batches;
reports then cover earlier runs too.

>>> llmswitch.spend.enable(path="spend.sqlite")
>>> llmswitch.spend_report(group_by=("tag",), since="2025-03-01")
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading

from ._llmswitch import (
    SpendReport,
    _set_clock,
    _spend_clear,
    _spend_configure,
    _spend_disable_store,
    _spend_enable_store,
    _spend_flush,
    _spend_is_recording,
    _spend_records,
    _spend_status,
    _spend_store_path,
    spend_report,
)

TYPE_CHECKING = False  # annotation-only imports (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "SpendReport",
    "clear",
    "disable",
    "enable",
    "flush",
    "is_enabled",
    "path",
    "records",
    "report",
    "status",
]

#: ``llmswitch.spend.report(...)`` is :func:`llmswitch.spend_report`.
report = spend_report


def enable(path: str | os.PathLike[str] | None = None, *, max_records: int | None = None) -> None:
    """Record every call (the default), and persist the records to an SQLite file.

    Args:
        path: the SQLite file (created if missing). Records already in memory are written
            too, and reports read the file, so they cover earlier runs. None: memory only.
        max_records: how many records to keep in memory (default 100,000; the oldest go
            first). The file keeps them all.

    Raises:
        OSError: if the file cannot be opened, created or written (a read-only file, a
            directory that does not exist, a database locked by another process).
    """
    _spend_configure(True, max_records)
    if path is not None:
        _spend_enable_store(os.fspath(path))
        _flush_on_sigterm()


def disable() -> None:
    """Stop recording calls, and stop persisting after writing what was recorded."""
    _spend_configure(False, None)
    _spend_disable_store()


def is_enabled() -> bool:
    """Whether calls are being recorded."""
    return _spend_is_recording()


def path() -> str | None:
    """The SQLite file the ledger persists to, or None."""
    p = _spend_store_path()
    return None if p is None else os.fspath(p)


def flush() -> None:
    """Wait until every call recorded so far is in the SQLite file (no-op without one).

    Raises:
        OSError: if records could not be written (disk full, file locked or made read-only):
            they are kept in memory (up to 100,000, then the oldest are dropped) and retried
            every second and with each new batch; :func:`status` has the counts.
    """
    _spend_flush()


def status() -> dict[str, Any]:
    """The ledger's state: ``recording``, ``path`` (the SQLite file or None), and the file's
    writer: ``written`` (records written), ``pending`` (kept in memory after a failed write,
    to be retried), ``dropped`` (lost because too many were pending) and ``last_error`` (the
    last write error, None once a write succeeds). A failing write is also logged once on the
    ``llmswitch`` logger."""
    return _spend_status()


def clear() -> None:
    """Forget the records held in memory (an SQLite file keeps its rows)."""
    _spend_clear()


def records(since: Any = None, until: Any = None) -> list[dict[str, Any]]:
    """The recorded calls started in ``[since, until)``, oldest first, as dicts.

    Args:
        since: a ``datetime`` (naive means UTC), ``date``, ISO 8601 string or Unix seconds.
        until: the same.

    Returns:
        Dicts with ``id``, ``started_at`` (Unix seconds), ``model``, ``provider``,
        ``deployment``, ``prompt_tokens``, ``completion_tokens``, ``cost``, ``latency``,
        ``status`` (``success``, ``failure``, ``cancelled``, ``blocked``), ``error``,
        ``stream``, ``estimated`` (tokens and cost counted by llmswitch: a stream that ended
        before the provider's usage arrived), ``user``, ``project``, ``key``, ``tags``,
        ``metadata`` (the other metadata fields) and ``downgraded_from``.
    """
    return _spend_records(since, until)


def _flush_at_exit() -> None:
    try:
        _spend_flush()
    except OSError as e:
        logging.getLogger("llmswitch").error("%s", e)


# Records are written off the calling thread; write the last ones before the process ends.
atexit.register(_flush_at_exit)


def _flush_on_sigterm() -> None:
    """Write the last records on SIGTERM too (Python skips ``atexit`` when SIGTERM kills it).

    Installed only while SIGTERM has its default action, from the main thread: a handler the
    application installed (before or after) is never replaced, and it usually exits through
    ``sys.exit``, which runs ``atexit``. Ours writes the records, then lets SIGTERM end the
    process as it would have.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):  # no SIGTERM, or signals unavailable here
        return


def _on_sigterm(signum: int, frame: object) -> None:
    try:
        _flush_at_exit()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


# Tests only: freeze the ledger and budget clock (Unix seconds, datetime or ISO string), or
# None for the system clock.
_set_clock = _set_clock

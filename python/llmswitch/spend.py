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
import os

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
    _spend_store_path,
    spend_report,
)

TYPE_CHECKING = False  # annotation-only imports (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SpendReport", "clear", "disable", "enable", "flush", "is_enabled", "path", "records", "report"]

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
        OSError: if the file cannot be opened or created.
    """
    _spend_configure(True, max_records)
    if path is not None:
        _spend_enable_store(os.fspath(path))


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
    """Wait until every call recorded so far is in the SQLite file (no-op without one)."""
    _spend_flush()


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


# Records are written off the calling thread; write the last ones before the process ends.
atexit.register(_spend_flush)

# Tests only: freeze the ledger and budget clock (Unix seconds, datetime or ISO string), or
# None for the system clock.
_set_clock = _set_clock

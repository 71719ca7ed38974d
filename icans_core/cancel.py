"""Cooperative cancellation: long work stops when whoever asked for it has gone.

The caller (the app's session, ui/lifecycle.py) hands the core a check for the duration of one piece
of work; the core's long loops (pairwise tests, one group or one view after another, validation
rules, report figures) call `checkpoint()` between steps, which raises `Cancelled` once the check
says the work is no longer wanted:

    with cancel.cancellable(session_ended.is_set):
        report.build_report(con, options, filter_lines, version)   # raises Cancelled if the session ends

A check may instead raise an exception of its own to stop the work (the app's script thread lets
Streamlit's own stop or rerun request raise there); it passes through the core untouched, as
Cancelled does: both derive from BaseException, so no `except Exception` in an analysis swallows
them (the same choice as asyncio.CancelledError's). Without a check (the command line, the tests)
checkpoint() does nothing.

The check is held in a context variable, not passed through every signature: the loops it reaches
are several calls deep (report -> view -> survival.logrank), and a context variable belongs to one
thread (and one asyncio task), so one session's check never reaches another session's work (each
script run and each download runs in a thread of its own). A thread started inside the work does
not inherit it. A DuckDB query cannot be stopped from here: the caller interrupts it
(`DuckDBPyConnection.interrupt()`, ui/lifecycle.py).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

_check: ContextVar[Callable[[], bool] | None] = ContextVar("icans_cancel_check", default=None)


class Cancelled(BaseException):
    """The work was stopped at a checkpoint because its check said nobody wants the result any more."""


@contextmanager
def cancellable(check: Callable[[], bool]) -> Iterator[None]:
    """Run the block with `check` (True = stop now) consulted at every checkpoint of this thread."""
    token = _check.set(check)
    try:
        yield
    finally:
        _check.reset(token)


def checkpoint() -> None:
    """Raise Cancelled if the current check says the work is no longer wanted (nothing without a check)."""
    check = _check.get()
    if check is not None and check():
        raise Cancelled()

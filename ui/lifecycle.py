"""Bounded work: a session's work stops when its browser leaves, and its memory is returned when it ends.

A Streamlit session outlives its browser tab: when the websocket closes, Streamlit asks the script
run to stop (it stops at the next Streamlit call) and keeps the session for
`server.disconnectedSessionTTL` seconds so that a browser that lost its connection for a moment can
resume it. Two things do not follow from that on their own:

- **Work that makes no Streamlit call does not stop.** Validation, the pairwise tests, a report
  being built (in a download's worker thread, outside the script run) and a DuckDB query run to
  their end. Here each websocket connection of a session has a `Life`, held in a session-scoped
  resource (`st.cache_resource(scope="session")`), which Streamlit releases when the websocket
  closes; its release sets `Life.ended` and interrupts every DuckDB connection the session is
  using (`DuckDBPyConnection.interrupt()`). The core sees the end through its checkpoints
  (icans_core/cancel.py): a script run's check is Streamlit's own yield point (reading session
  state, so a pending stop or rerun request is raised there too) plus `Life.ended`; a download's
  check is `Life.ended`. Either way the work stops at its next checkpoint, within one step of a
  loop (one pairwise test, one figure, one column being validated).
- **An ended session is not freed at once.** Streamlit drops a session whose time to resume has
  passed without shutting it down, and only when it next writes to its session store (the next
  disconnect of any session): on a quiet server, never. Here the departure is remembered (session
  id and weak references to its DuckDB connections, nothing of the user's data) and a reaper
  thread ends the session shortly before Streamlit's own deadline, on the event loop (where a
  resume would also run, so the two cannot interleave): its databases are closed, Streamlit's
  `close_session` shuts it down (session state, uploaded files, downloads), and the process hands
  freed memory back to the operating system (Arrow's memory pool and glibc's malloc_trim).

Log lines (INFO, logger "icans.lifecycle"; no session ids, no user data) say when a browser left,
when a run or a download stopped after that, and when a session ended and how much memory that
returned. docs/deployment.md ("Sessions that end") describes the settings.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import threading
import time
import weakref
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Callable, Iterator

import streamlit as st
from streamlit import config, runtime
from streamlit.runtime.scriptrunner_utils.exceptions import StopException
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from icans_core import cancel

log = logging.getLogger("icans.lifecycle")

_PROBE = "lifecycle_probe"  # a session-state key never set: reading it is Streamlit's yield point
# A session is ended this long before Streamlit would stop offering it for resuming (never after:
# then Streamlit no longer finds it to shut it down), at most this share of the time to resume.
END_MARGIN_SECONDS = 5.0
END_MARGIN_SHARE = 0.1
JUST_STOPPED = 1.0  # seconds: a run that stopped this shortly before the release stopped because of it


class Life:
    """One websocket connection of a session, from its first script run to the websocket's close."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.ended = threading.Event()
        self.ended_at: float | None = None  # time.monotonic() of the release
        self._lock = threading.Lock()
        self._connections: weakref.WeakSet = weakref.WeakSet()  # DuckDB connections to interrupt
        self._runs = 0  # script runs under way (one at a time, but a rerun starts as one stops)
        self._stopped_at: float | None = None  # when a run last stopped early, not yet told

    def watch(self, con) -> None:
        """Interrupt `con`'s query when the browser leaves (and close it when the session ends)."""
        with self._lock:
            self._connections.add(con)
        if self.ended.is_set():
            con.interrupt()

    def unwatch(self, con) -> None:
        with self._lock:
            self._connections.discard(con)

    def connections(self) -> list:
        with self._lock:
            return list(self._connections)

    @contextmanager
    def cursor(self, con) -> Iterator:
        """A cursor on `con` for another thread (a download), interrupted if the browser leaves."""
        cursor = con.cursor()
        self.watch(cursor)
        try:
            yield cursor
        finally:
            self.unwatch(cursor)
            cursor.close()

    def seconds_since_end(self) -> float:
        return time.monotonic() - self.ended_at if self.ended_at is not None else 0.0

    def _release(self) -> None:
        now = time.monotonic()
        with self._lock:
            self.ended_at = now
            self.ended.set()
            running, stopped_at = self._runs > 0, self._stopped_at
            connections = list(self._connections)
        for con in connections:
            try:
                con.interrupt()
            except Exception:  # a connection closed meanwhile has nothing to interrupt
                pass
        if running:
            log.info("a session's browser left during a script run; the run is asked to stop")
        elif stopped_at is not None and now - stopped_at < JUST_STOPPED:
            # Streamlit asks the run to stop as the websocket closes, a moment before this release
            log.info("a session's browser left during a script run, which stopped at Streamlit's request")
            log.info("a script run stopped 0.0 s after its session's browser left")
        else:
            log.info("a session's browser left")

    def _run_started(self) -> None:
        with self._lock:
            self._runs += 1
            self._stopped_at = None

    def _run_ended(self, stopped_early: bool) -> None:
        with self._lock:
            self._runs -= 1
            ended = self.ended_at is not None
            self._stopped_at = time.monotonic() if stopped_early and not ended else None
        if ended:
            log.info("a script run stopped %.1f s after its session's browser left", self.seconds_since_end())


def _released(life: Life) -> None:
    """Streamlit's release of the session-scoped resource: the websocket closed, the session shut down, or
    every cache was cleared (`st.cache_resource.clear()`, or a client's clear-cache request)."""
    try:
        loop = asyncio.get_running_loop()  # the release runs on Streamlit's event loop when a websocket closes
    except RuntimeError:
        loop = None
    if loop is None:
        _depart_unless_active(life, None)
    else:
        # Streamlit releases a closing websocket's resources while the session is still in its active map
        # and takes it out right after, in the same step of the loop: decide on the loop's next step.
        loop.call_soon(_depart_unless_active, life, loop)


def _depart_unless_active(life: Life, loop) -> None:
    if _session_active(life.session_id):
        # a cache clear: the browser is still there, so nothing ends (the next run makes a new Life;
        # a run under way keeps its own, see script_run)
        return
    life._release()
    _reaper.depart(life, loop)


def _session_active(session_id: str) -> bool:
    """Whether a browser is connected to the session (no runtime, as in AppTest or a tool: no)."""
    return bool(session_id) and runtime.exists() and runtime.get_instance().is_active_session(session_id)


@st.cache_resource(scope="session", on_release=_released, show_spinner=False)
def _life() -> Life:
    ctx = get_script_run_ctx()
    return Life(ctx.session_id if ctx is not None else "")


# The Life of the script run under way in this thread. A run keeps the Life it started with: once the
# browser leaves, Streamlit drops the session's resources, and asking the cache again would make a new,
# not-ended Life (a query interrupted by the leaving would then look like an error, and the ending
# would be forgotten).
_RUN_LIFE: ContextVar[Life | None] = ContextVar("icans_run_life", default=None)


def current() -> Life:
    """This session's current Life (from a script run; outside one, as in a tool or a test, a Life that
    no browser can end)."""
    if get_script_run_ctx() is None:
        return Life("")
    return _RUN_LIFE.get() or _life()


def ended() -> bool:
    """Whether this session's browser has left (from a script run; never outside one)."""
    return current().ended.is_set()


def raise_if_ended(exc: BaseException) -> None:
    """In an `except` block of a script run: once the browser has left, the exception is the stop (a
    query interrupted by it), not an error to report: raise Cancelled instead."""
    if ended():
        raise cancel.Cancelled() from exc


def watch(con) -> None:
    """Interrupt `con` when this session's browser leaves, and close it when the session ends (from a script run)."""
    current().watch(con)


class _RunLock:
    """One session's turn to run (a class of its own: a bare lock cannot be weakly referenced)."""
    __slots__ = ("lock", "__weakref__")

    def __init__(self) -> None:
        self.lock = threading.Lock()


# Session id -> its run lock, kept while some run of that session holds or waits for it.
_run_locks: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_run_locks_guard = threading.Lock()


@contextmanager
def _one_run_at_a_time() -> Iterator[None]:
    """Wait until the session's previous script run has ended.

    Streamlit's fastReruns (the default) answers a rerun request, a click while a page computes, by
    starting a new script thread at once and asking the old one to stop at its next Streamlit call. An
    old run inside a query of seconds makes no such call until the query returns, and meanwhile the new
    run would use the session's one DuckDB connection from another thread, which DuckDB refuses
    ("connection is busy with another call"). The old run stops at its next yield point, so the wait is
    short; the new run keeps answering its own stop request while it waits. Keyed by session id, not
    by the session's Life: a resumed session's runs get a new Life but share the connection."""
    ctx = get_script_run_ctx()
    if ctx is None:
        yield
        return
    with _run_locks_guard:
        turn = _run_locks.get(ctx.session_id)
        if turn is None:
            turn = _run_locks[ctx.session_id] = _RunLock()
    while not turn.lock.acquire(timeout=0.2):
        st.session_state.get(_PROBE)  # a yield point: this run too may have been asked to stop meanwhile
    try:
        yield
    finally:
        turn.lock.release()


@contextmanager
def script_run() -> Iterator[None]:
    """Run the app's script with the core's checkpoints stopping at a stop or rerun request or the browser's
    leaving, one run of a session at a time."""
    with _one_run_at_a_time():
        with _script_run():
            yield


@contextmanager
def _script_run() -> Iterator[None]:
    life = _life()
    token = _RUN_LIFE.set(life)

    def check() -> bool:
        st.session_state.get(_PROBE)  # Streamlit's yield point: raises its pending stop or rerun request
        return life.ended.is_set()

    life._run_started()
    stopped_early = True
    try:
        with cancel.cancellable(check):
            yield
        stopped_early = False
    except cancel.Cancelled:
        pass  # the browser left: the run ends here, quietly (nobody is there to show anything to)
    except StopException:
        raise
    except BaseException:
        stopped_early = False
        raise
    finally:
        life._run_ended(stopped_early)
        _RUN_LIFE.reset(token)


def download_check(life: Life) -> Callable[[], bool]:
    """The check for work done for `life`'s session outside its script run (a download's thread)."""
    return life.ended.is_set


# --- ending sessions whose browser has gone ---------------------------------------------------------

@dataclass
class _Departure:
    left_at: float
    loop: asyncio.AbstractEventLoop | None
    connections: list = field(default_factory=list)  # weak references


class _Reaper:
    """Ends the sessions whose browser left and did not come back in time (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._departures: dict[str, _Departure] = {}  # session id -> departure (no user data)
        self._thread: threading.Thread | None = None

    def depart(self, life: Life, loop) -> None:
        if not life.session_id:
            return
        refs = [weakref.ref(con) for con in life.connections()]
        with self._lock:
            self._departures[life.session_id] = _Departure(life.ended_at or time.monotonic(), loop, refs)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="icans-session-reaper", daemon=True)
                self._thread.start()
        self._wake.set()

    def departed(self, session_id: str) -> bool:
        """Whether the session is waiting to be ended."""
        with self._lock:
            return session_id in self._departures

    def _run(self) -> None:
        while True:
            wait = self._end_due()
            self._wake.wait(timeout=wait)
            self._wake.clear()

    def _end_due(self) -> float:
        """End every session past its time; seconds until the next one is due."""
        keep = keep_seconds()
        now = time.monotonic()
        with self._lock:
            due = [(sid, d) for sid, d in self._departures.items() if now - d.left_at >= keep]
            for sid, _ in due:
                del self._departures[sid]
            later = [d.left_at + keep - now for d in self._departures.values()]
        for session_id, departure in due:
            try:
                _end_session(session_id, departure)
            except Exception:
                log.exception("a session whose browser left could not be ended")
        return max(0.5, min(later, default=60.0))


def keep_seconds() -> float:
    """How long a session is kept for its browser to come back: Streamlit's time to resume, less a margin."""
    ttl = float(config.get_option("server.disconnectedSessionTTL"))
    return max(0.0, ttl - min(END_MARGIN_SECONDS, END_MARGIN_SHARE * ttl))


def _end_session(session_id: str, departure: _Departure) -> None:
    before = rss_mib()
    done = threading.Event()
    outcome = {"ended": False}

    def close_databases() -> None:
        for ref in departure.connections:
            con = ref()
            if con is not None:
                try:
                    con.close()
                except Exception:  # closed already (replaced by another cohort)
                    pass

    def on_loop() -> None:  # on Streamlit's event loop, where a resume would run too
        try:
            if not runtime.exists() or runtime.get_instance().is_active_session(session_id):
                return  # it came back (its new Life has not run yet) or the server is stopping
            close_databases()
            runtime.get_instance().close_session(session_id)
            outcome["ended"], outcome["at"] = True, time.monotonic()
        finally:
            done.set()

    if departure.loop is not None and not departure.loop.is_closed():
        departure.loop.call_soon_threadsafe(on_loop)
        done.wait(timeout=30)
    else:  # released outside the event loop: the session was shut down already (nothing can resume it)
        close_databases()
        outcome["ended"], outcome["at"] = True, time.monotonic()
    if not outcome["ended"]:
        return
    release_memory()
    log.info("a session ended %.0f s after its browser left: its databases were closed; "
             "server memory %.0f -> %.0f MiB", outcome["at"] - departure.left_at, before, rss_mib())


def release_memory() -> None:
    """Hand memory freed by closed sessions back to the operating system (what each allocator allows)."""
    gc.collect()
    try:
        import pyarrow

        pyarrow.default_memory_pool().release_unused()  # validation's Arrow buffers (mimalloc keeps them)
    except Exception:
        pass
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # glibc only; elsewhere there is nothing to call
    except (OSError, AttributeError):
        pass


def rss_mib(pid: int | str = "self") -> float:
    """A process's resident memory in MiB, this one's by default (Linux; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# One per server process: it holds session ids, times and weak references, never user data.
_reaper = _Reaper()

"""Deferred downloads (`st.download_button(data=callable)`) that belong to one browser and fail with a message.

Wrap the callable: `st.download_button("Report", downloads.owned(build, "the report"), ...)`.

- The file it makes is registered for the browser of the session that shows the button, so
  serve.py's gate (ui/browser_gate.py) serves it to that browser only, and only for a few minutes.
- It stops at the core's next checkpoint (icans_core/cancel.py) when the session's browser leaves
  (ui/lifecycle.py): nobody is there to receive it, and it is not registered for download.
- Streamlit runs the callable in a worker thread, outside the script: an exception there would
  leave the user with Streamlit's bare "Failed to generate file for download". Here it is logged
  with a reference, the session reruns, and the page then shows the same short message with that
  reference as any other error (ui/errors.reported).
"""

from __future__ import annotations

import logging
import secrets
import threading
from typing import Callable

from streamlit import runtime
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from icans_core import cancel
from ui import access, browser_gate, lifecycle

log = logging.getLogger("icans.downloads")

_lock = threading.Lock()
# session id -> [(what failed, reference)]: what the next run of that session must tell its user.
# Module-level because the worker thread has no session state of its own; it holds no user data.
_failures: dict[str, list[tuple[str, str]]] = {}


def owned(build: Callable[[], bytes | str], what: str) -> Callable[[], bytes | str]:
    """The callable to give st.download_button: `build()`, owned by this session's browser, failing with a message."""
    ctx = get_script_run_ctx()
    session_id = ctx.session_id if ctx is not None else None
    browser = access.this_browser()
    life = lifecycle.current()

    def make() -> bytes | str:
        try:
            with cancel.cancellable(lifecycle.download_check(life)):
                data = build()
            # Streamlit stores a str as its UTF-8 bytes (download_data_util): the gate knows the file by those
            content = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        except (cancel.Cancelled, Exception) as stopped:
            if life.ended.is_set():  # stopped, or interrupted, because the browser left: nobody to tell
                log.info("a download stopped %.1f s after its session's browser left", life.seconds_since_end())
                return b""
            if isinstance(stopped, cancel.Cancelled):
                raise
            reference = secrets.token_hex(4)
            log.exception("unexpected error in %s (reference %s)", what, reference)
            _report_failure(session_id, what, reference)
            raise
        browser_gate.register_download(content, browser)
        return data

    return make


def _report_failure(session_id: str | None, what: str, reference: str) -> None:
    if session_id is None:
        return
    with _lock:
        _failures.setdefault(session_id, []).append((what, reference))
    # Rerun the session now, so the message appears without waiting for the user's next click.
    # (Streamlit's own file watcher requests reruns from its thread the same way.)
    if runtime.exists():
        session = runtime.get_instance().get_app_session(session_id)
        if session is not None:
            session.request_rerun(None)


def pending_failures(session_id: str) -> list[tuple[str, str]]:
    """(what, reference) of this session's downloads that failed since its last run; each is returned once."""
    with _lock:
        return _failures.pop(session_id, [])

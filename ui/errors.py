"""The last line of defence: an unexpected error becomes a short message and a server log entry.

`client.showErrorDetails = "none"` already keeps tracebacks off the screen, but Streamlit then
shows a bare "error" box and the operator gets nothing to match it with. Here the user gets a
reference, and the server log gets the same reference with the full traceback.
"""

from __future__ import annotations

import logging
import secrets
from contextlib import contextmanager

import streamlit as st
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from ui import lifecycle

log = logging.getLogger("icans.errors")


@contextmanager
def reported(what: str):
    """Run the block; an Exception is logged with a reference and shown as a message, not a traceback.

    Streamlit's own st.stop / st.rerun / st.switch_page are BaseExceptions and pass through, as does
    icans_core.cancel.Cancelled; any exception once the session's browser has left (an interrupted
    query, ui/lifecycle.py) becomes Cancelled, since nobody is there to see a message.
    The first boundary of a run also tells of any download that failed since the last run
    (ui/downloads.py: a download is made outside the script, where it cannot show anything)."""
    show_download_failures()
    try:
        yield
    except Exception as exc:
        lifecycle.raise_if_ended(exc)  # e.g. a query interrupted because the browser left: nobody to show it to
        reference = secrets.token_hex(4)
        log.exception("unexpected error in %s (reference %s)", what, reference)
        st.error(f"Something went wrong on the server while showing {what}, so it is incomplete. "
                 f"Reloading the page usually helps; if it keeps happening, give the administrator "
                 f"this reference: {reference}.", icon=":material/error:")


def download_failed_message(what: str, reference: str) -> str:
    return (f"Something went wrong on the server while making {what}, so it was not downloaded. "
            f"Trying again usually helps; if it keeps happening, give the administrator this reference: "
            f"{reference}.")


def show_download_failures() -> None:
    """Show each download of this session that failed since its last run, with its reference (once)."""
    from ui import downloads  # here, not at the top: ui.downloads imports ui.access, which pages import first

    ctx = get_script_run_ctx()
    if ctx is None:
        return
    for what, reference in downloads.pending_failures(ctx.session_id):
        st.error(download_failed_message(what, reference), icon=":material/error:")

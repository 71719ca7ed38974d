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

log = logging.getLogger("icans.errors")


@contextmanager
def reported(what: str):
    """Run the block; an Exception is logged with a reference and shown as a message, not a traceback.

    Streamlit's own st.stop / st.rerun / st.switch_page are BaseExceptions and pass through."""
    try:
        yield
    except Exception:
        reference = secrets.token_hex(4)
        log.exception("unexpected error in %s (reference %s)", what, reference)
        st.error(f"Something went wrong on the server while showing {what}, so it is incomplete. "
                 f"Reloading the page usually helps; if it keeps happening, give the administrator "
                 f"this reference: {reference}.", icon=":material/error:")

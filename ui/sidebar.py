"""What every page shows in the sidebar: the loaded cohort and its size."""

from __future__ import annotations

import streamlit as st

from icans_core import store
from icans_core.content.sections import plural
from ui import links, session
from ui.text import plain


def show_cohort_badge() -> None:
    """The loaded cohort's name and patient count, on every page."""
    con = session.connection()
    info = store.cohort_info(con)
    patients = int(store.table_counts(con).set_index("table").loc["patients", "rows"])
    kind = session.kind_text()
    st.sidebar.markdown(f"**{plain(info['label'])}**  \n{plural(patients, 'patient')} · {kind}")  # a label is a file name: text


def show_share_link(slot=None):
    """The address of exactly this view (cohort, page, filters, options), with a copy button.

    On a private upload it says first that the link cannot show the data to anyone else. Drawn into
    `slot` (an st.sidebar.empty()) when given, replacing what it held, and returns the slot: the
    dashboard draws the link before the page (a page that stops early still has one) and again after
    it (with the page's own options)."""
    slot = slot if slot is not None else st.sidebar.empty()
    base = st.context.url
    if not base:  # no browser (e.g. a test run): nothing to link to
        return slot
    with slot.container():
        if session.cohort_ref() == session.REF_UPLOAD:
            st.warning("**This link cannot show this cohort to anyone else**: it is your private upload, "
                       "kept for this browser tab only. Whoever opens the link is told so and sees no "
                       "numbers. To share the data, publish it first.", icon=":material/lock:")
            st.page_link("views/cohort.py", label="Publish this cohort (Cohort page)", icon=":material/share:")
        st.caption("Link to this view: the cohort, filters and options travel with it (copy with the icon).")
        st.code(f"{base}?{links.link_query()}", language=None, wrap_lines=True)
    return slot

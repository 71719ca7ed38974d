"""What every page shows in the sidebar: the loaded cohort and its size."""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from icans_core import store
from ui import session
from ui.text import plain


def show_cohort_badge() -> None:
    """The loaded cohort's name and patient count, on every page."""
    con = session.connection()
    info = store.cohort_info(con)
    patients = int(store.table_counts(con).set_index("table").loc["patients", "rows"])
    kind = session.kind_text()
    st.sidebar.markdown(f"**{plain(info['label'])}**  \n{patients:,} patients · {kind}")  # a label is a file name: text


def show_share_link() -> None:
    """The address of exactly this view (page, filters, options), with a copy button."""
    base = st.context.url
    if not base:  # no browser (e.g. a test run): nothing to link to
        return
    params = [(key, value) for key in st.query_params for value in st.query_params.get_all(key)]
    link = base + ("?" + urlencode(params) if params else "")
    st.sidebar.caption("Link to this view: filters and options travel with it (copy with the icon).")
    st.sidebar.code(link, language=None, wrap_lines=True)

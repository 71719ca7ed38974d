"""A page's view, kept for this session's reruns that change nothing it shows.

Streamlit reruns the page for every interaction: going back to a page from the sidebar, a widget
that only changes another part of the screen. A content view (icans_core.content: Overview,
Cytokines, Resolution, Treatments, Expansion) depends only on the session's cohort (its database),
the selection and the page's options, so it is kept under exactly those and a rerun that changes
none of them shows it again instead of computing it again (seconds on a 10,000-patient registry).

Kept in st.session_state, so never seen by another session, and bound to the database object
itself: a new cohort (a new database) starts with nothing kept. The selection is named by what
ui/filters.py last applied and by the database's own signature of it (store.selection_signature: the
cohort loaded, the patients selected); with nothing applied (a page run alone) nothing is kept.
At most MAX_VIEWS views, the least recently shown given up first.
"""

from __future__ import annotations

from collections import OrderedDict

import duckdb
import streamlit as st

from icans_core import store

# One per content page: enough for going back and forth. A view holds the page's aggregates and its tables
# (about 45 MB for the five pages at 10,000 patients, measured); the Swimlanes page's rows are not kept
# (the largest, and quick to read again).
MAX_VIEWS = 5
_KEPT = "view_cache"
_APPLIED = "cohort_filter_applied"  # ui/filters.py: (the filter, the cohort's load time) of the selection


def cached_view(build, con: duckdb.DuckDBPyConnection, *options):
    """build(con, *options), or the view it gave for the same cohort, selection and options."""
    applied = st.session_state.get(_APPLIED)
    if applied is None:
        return build(con, *options)
    # the selection as the database holds it, however it was set (not only what ui/filters.py applied)
    key = (build.__module__, build.__qualname__, applied, store.selection_signature(con), options)
    try:
        hash(key)
    except TypeError:  # options that cannot name a view: build it every time
        return build(con, *options)
    kept = st.session_state.get(_KEPT)
    if kept is None or kept["con"] is not con:
        kept = {"con": con, "views": OrderedDict()}
        st.session_state[_KEPT] = kept
    views = kept["views"]
    if key in views:
        views.move_to_end(key)
        return views[key]
    view = build(con, *options)  # an interrupted build raises: nothing is kept
    views[key] = view
    while len(views) > MAX_VIEWS:
        views.popitem(last=False)
    return view


def forget() -> None:
    """Give up every kept view (the session's database is being replaced)."""
    st.session_state.pop(_KEPT, None)

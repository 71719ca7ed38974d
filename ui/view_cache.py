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

A view of a shared cohort (the sample, the deployment cohort, a published cohort: one read-only file
that every session opening it attaches, store.open_shared) is the same for every session with the same
selection and options, so it is also kept server-wide, for the next session that opens the same file with
them (a collaborator opening a shared link). That key can only be formed from a session's own connection
to the file: the file it attached (path and identity on disk when attached), the filter applied and its
own selection's signature. A session whose cohort is its own (an upload) never reads or adds a server-wide
view. At most MAX_SHARED_VIEWS, within MAX_SHARED_BYTES.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import duckdb
import pandas as pd
import streamlit as st

from icans_core import store

# One per content page: enough for going back and forth. A view holds the page's aggregates and its tables
# (about 45 MB for the five pages at 10,000 patients, measured); the Swimlanes page's rows are not kept
# (the largest, and quick to read again).
MAX_VIEWS = 5
_KEPT = "view_cache"
_APPLIED = "cohort_filter_applied"  # ui/filters.py: (the filter, the cohort's load time) of the selection
# Server-wide, views of shared files only (see above): a few, since each session keeps its own as well, and
# within a memory budget (a view holds per-patient tables: tens of MB each at 100,000 patients).
MAX_SHARED_VIEWS = 8
MAX_SHARED_BYTES = 256 * 2**20
_shared_views: OrderedDict = OrderedDict()
_shared_guard = threading.Lock()


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
    shared = _shared_key(con, key)
    view = _shared_view(shared)
    if view is None:
        view = build(con, *options)  # an interrupted build raises: nothing is kept
        _keep_shared(shared, view)
    views[key] = view
    while len(views) > MAX_VIEWS:
        views.popitem(last=False)
    return view


def _shared_key(con: duckdb.DuckDBPyConnection, key: tuple) -> tuple | None:
    """The server-wide name of this session's view when its cohort is a shared file, else None: the page
    and options, the file this very connection attached (its identity when attached: a file replaced at that
    path is another file), the filter applied (the same filter on the same file selects the same rows), and
    the selection by its rows (count, hash of the ids: a selection set behind the filters' back is another)."""
    attached = store.shared_file(con)
    if attached is None:
        return None
    module, name, (applied_filter, _loaded), (_loads, count, digest), options = key
    return (module, name, attached, applied_filter, count, digest, options)


def _shared_view(shared: tuple | None):
    if shared is None:
        return None
    with _shared_guard:
        kept = _shared_views.get(shared)
        if kept is None:
            return None
        _shared_views.move_to_end(shared)
        return kept[0]


def _keep_shared(shared: tuple | None, view) -> None:
    if shared is None:
        return
    size = _approximate_bytes(view)
    if size > MAX_SHARED_BYTES:
        return  # kept by its session only
    with _shared_guard:
        _shared_views[shared] = (view, size)
        while (len(_shared_views) > MAX_SHARED_VIEWS
               or sum(bytes_ for _, bytes_ in _shared_views.values()) > MAX_SHARED_BYTES):
            _shared_views.popitem(last=False)


def _approximate_bytes(view) -> int:
    """The memory of a view's tables and figure data (what grows with the patients), as pandas counts it."""
    frames = [getattr(section, name) for section in getattr(view, "sections", [])
              for name in ("frame", "data") if isinstance(getattr(section, name, None), pd.DataFrame)]
    frames += [value for value in getattr(view, "context", {}).values() if isinstance(value, pd.DataFrame)]
    return int(sum(frame.memory_usage(deep=True, index=True).sum() for frame in frames))


def forget() -> None:
    """Give up every kept view (the session's database is being replaced)."""
    st.session_state.pop(_KEPT, None)


def forget_shared() -> None:
    """Give up every server-wide view (for tests that patch an analysis: the next build must run it)."""
    with _shared_guard:
        _shared_views.clear()

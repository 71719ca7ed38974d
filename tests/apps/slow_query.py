"""A page whose every run holds its session's one DuckDB connection in a query of about two seconds, for
tests/test_browser_one_run_at_a_time.py (run by `streamlit run`).

The app's pages do the same at registry scale: a query of seconds on the session's connection
(ui/session.py). The page runs inside the app's `lifecycle.script_run()`, as dashboard.py does, unless
ICANS_TEST_WITHOUT_RUN_LOCK is set (the test's control)."""

import contextlib
import os

import duckdb
import streamlit as st

from ui import lifecycle


@st.cache_resource(scope="session", show_spinner=False)
def connection():  # one per session, as the app's session database
    return duckdb.connect()


with contextlib.nullcontext() if os.environ.get("ICANS_TEST_WITHOUT_RUN_LOCK") else lifecycle.script_run():
    con = connection()
    run = st.session_state["runs"] = st.session_state.get("runs", 0) + 1
    try:
        # a cross join of ~2 s with no Streamlit call in between (no yield point for a stop or rerun request)
        rows = con.execute("SELECT count(*) FROM range(12000) a, range(20000) b WHERE (a.range + b.range) % 7 = 0"
                           ).fetchone()[0]
        st.write(f"run {run} counted {rows} rows")
    except duckdb.Error as exc:
        st.write(f"run {run} failed: {type(exc).__name__}: {exc}")

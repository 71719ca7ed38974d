"""What every page shows in the sidebar: the loaded cohort and its size."""

from __future__ import annotations

import streamlit as st

from icans_core import store
from ui import session


def show_cohort_badge() -> None:
    """The loaded cohort's name and patient count, on every page."""
    con = session.connection()
    info = store.cohort_info(con)
    patients = int(store.table_counts(con).set_index("table").loc["patients", "rows"])
    kind = "synthetic sample" if session.is_sample() else "your upload, private to this session"
    st.sidebar.markdown(f"**{info['label']}**  \n{patients:,} patients · {kind}")

"""The analysis options every page shares, shown once in the sidebar: compare by, severe and resolved grades."""

from __future__ import annotations

import streamlit as st

from icans_core.episodes import EpisodeOptions
from icans_core.options import AnalysisOptions
from icans_core.store import GROUPING_LABELS, GROUPINGS

GROUP_BY, SEVERE, RESOLVED = "group_by", "severe_grade", "resolved_grade"
DEFAULTS = AnalysisOptions()


def show_analysis_options() -> None:
    """The sidebar controls; their values hold on every page and in the results export."""
    # Bound to the URL, a choice's shown text is its link value: the machine value, explained in help.
    st.sidebar.selectbox("Compare by", list(GROUPINGS), key=GROUP_BY, bind="query-params",
                         help="How patients are grouped on every page: "
                              + "; ".join(f"{key} = {label}" for key, label in GROUPING_LABELS.items())
                              + ". 'group' is the patient's study arm where the cohort gives one, else the product.")
    left, right = st.sidebar.columns(2)
    left.selectbox("Severe ICANS ≥", [1, 2, 3, 4, 5], index=DEFAULTS.episodes.severe_grade - 1, key=SEVERE,
                   bind="query-params",
                   help="An episode starts at the first assessment with this ICANS grade or higher (default 3).")
    severe = st.session_state[SEVERE]
    choices = list(range(severe))
    if st.session_state.get(RESOLVED, DEFAULTS.episodes.resolved_grade) >= severe:
        st.session_state[RESOLVED] = severe - 1  # resolution must be below the severe grade
    right.selectbox("Resolved ≤", choices, index=min(DEFAULTS.episodes.resolved_grade, severe - 1),
                    key=RESOLVED, bind="query-params",
                    help="An episode resolves at the first later assessment at this grade or lower (default 1).")


def current() -> AnalysisOptions:
    """The options as the sidebar holds them (defaults when a page runs on its own, as in tests)."""
    state = st.session_state
    return AnalysisOptions(
        episodes=EpisodeOptions(severe_grade=state.get(SEVERE, DEFAULTS.episodes.severe_grade),
                                resolved_grade=state.get(RESOLVED, DEFAULTS.episodes.resolved_grade)),
        group_by=state.get(GROUP_BY, DEFAULTS.group_by),
    )

"""Vega-Lite specs of Altair charts, each made under one process-wide lock with Altair's defaults.

Altair's data transformer and theme are global to the process. They are switched while a chart is
turned into the browser's message (ui/figures.browser_spec, as st.altair_chart does: a transformer that
collects the chart's rows into that session's datasets, and the theme "none"), inside the lock. A chart serialised
elsewhere at the same moment, without the lock, would have its rows collected into the other
session's message (one user's upload sent to another's browser) and lose them from its own spec.
Every other spec the app makes comes from here, and ui/figures.py takes LOCK (and installs it as
Streamlit's, for any st.altair_chart), so the two never overlap.
"""

from __future__ import annotations

import json
import threading

import altair as alt

# threading.Lock, as Streamlit's own (streamlit.elements.vega_charts._altair_globals_lock): not re-entrant
LOCK = threading.Lock()


def vega_lite(chart: alt.TopLevelMixin) -> dict:
    """The chart's spec with Altair's default transformer (its rows inline) and default theme."""
    with LOCK:
        # Under the lock nobody else has them switched (Streamlit's switch is scoped to its lock); were they
        # left so, they are set back for good. Not Altair's `with enable(...)`: leaving it restores the whole
        # registry as it was on entering, which would drop the transformer Streamlit registers (outside its
        # lock) just before it takes the lock to use it.
        if alt.data_transformers.active != "default":
            alt.data_transformers.enable("default")
        if alt.theme.active != "default":
            alt.theme.enable("default")
        return chart.to_dict()


def vega_lite_json(chart: alt.TopLevelMixin) -> str:
    """vega_lite(chart) as JSON text (what vl-convert takes for the PNG and SVG downloads)."""
    return json.dumps(vega_lite(chart))

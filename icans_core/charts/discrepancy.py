"""A swimlane layer marking every recorded grade that disagrees with the grade derived from observations.

Drawn on its own so that the swimlane figure adds it as one more layer (same x = day, y = patient_id and
yOffset = lane encodings as charts/swimlanes.py). The mark is an outlined "≠" on the lane (ICANS or CRS)
at the day of the disagreement; its legend entry exists only because the layer is drawn, and the layer
is drawn only when there is a disagreement. Draws icans_core.swimlanes.discrepancy_marks; computes nothing.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

SUB_ROWS = ["treatment", "ICANS", "CRS"]  # as charts/swimlanes.py lays a patient's row out
MARK_COLOUR = "#2b00d4"  # a strong blue-violet: apart from every grade colour and every class colour
NOT_EQUAL = "M-1,-0.45H1M-1,0.45H1M0.5,-1L-0.5,1"  # "≠" drawn as a path (outline only)
LEGEND_LABEL = "recorded grade ≠ derived (ASTCT)"
LEGEND_TITLE = "Grade check"


def discrepancy_layer(marks: pd.DataFrame, order: list[str], days: tuple[float, float] | None = None,
                      size: float = 60.0) -> alt.Chart:
    """An outlined "≠" at each disagreement. `marks`: swimlanes.discrepancy_marks' frame (patient_id, group,
    lane, day, last_day, disagreements, recorded_grade, derived_grade, driver, bin_days); `order`: the lanes'
    patients, top first."""
    shown = marks[marks["patient_id"].isin(order)].assign(check=LEGEND_LABEL)
    x_scale = alt.Scale(domain=list(days), nice=False) if days else alt.Scale(nice=False)
    return alt.Chart(shown).mark_point(filled=False, size=size, strokeWidth=2, opacity=1, clip=True).encode(
        x=alt.X("day:Q", scale=x_scale),
        y=alt.Y("patient_id:N", sort=list(order), scale=alt.Scale(domain=list(order), paddingInner=0.2,
                                                                    paddingOuter=0.1), axis=None),
        yOffset=alt.YOffset("lane:N", scale=alt.Scale(domain=SUB_ROWS, paddingInner=0.1)),
        shape=alt.Shape("check:N", title=LEGEND_TITLE, scale=alt.Scale(domain=[LEGEND_LABEL], range=[NOT_EQUAL])),
        color=alt.Color("check:N", title=LEGEND_TITLE, scale=alt.Scale(domain=[LEGEND_LABEL], range=[MARK_COLOUR])),
        tooltip=[alt.Tooltip("patient_id:N", title="Patient"), alt.Tooltip("lane:N", title="Syndrome"),
                 alt.Tooltip("day:Q", title="Day"), alt.Tooltip("last_day:Q", title="Last day"),
                 alt.Tooltip("disagreements:Q", title="Disagreements"),
                 alt.Tooltip("recorded_grade:N", title="Recorded grade"),
                 alt.Tooltip("derived_grade:N", title="Derived grade (ASTCT)"),
                 alt.Tooltip("driver:N", title="Set by (driving domain)")])

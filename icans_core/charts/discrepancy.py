"""A swimlane layer marking every recorded grade that disagrees with the grade derived from observations.

Drawn on its own so that the swimlane figure can add it as one more layer (same x = day, y =
patient_id and yOffset = lane encodings as charts/swimlanes.py): `alt.layer(lanes, discrepancy_layer(...))`.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

SUB_ROWS = ["treatment", "ICANS", "CRS"]  # as charts/swimlanes.py lays a patient's row out
MARK_COLOUR = "#d62728"


def discrepancy_layer(discrepancies: pd.DataFrame, order: list[str], days: tuple[float, float] | None = None,
                      size: float = 60.0) -> alt.Chart:
    """Crosses at each disagreement. `discrepancies`: grading.discrepancies' frame (patient_id, day,
    syndrome, recorded_grade, derived_grade, driver); `order`: the lanes' patients, top first."""
    shown = discrepancies[discrepancies["patient_id"].isin(order)].assign(lane=lambda f: f["syndrome"])
    x_scale = alt.Scale(domain=list(days), nice=False) if days else alt.Scale(nice=False)
    return alt.Chart(shown).mark_point(shape="cross", filled=True, size=size, color=MARK_COLOUR, clip=True).encode(
        x=alt.X("day:Q", scale=x_scale),
        y=alt.Y("patient_id:N", sort=list(order), scale=alt.Scale(domain=list(order), paddingInner=0.2,
                                                                    paddingOuter=0.1), axis=None),
        yOffset=alt.YOffset("lane:N", scale=alt.Scale(domain=SUB_ROWS, paddingInner=0.1)),
        tooltip=[alt.Tooltip("patient_id:N", title="Patient"), alt.Tooltip("syndrome:N", title="Syndrome"),
                 alt.Tooltip("day:Q", title="Day"), alt.Tooltip("recorded_grade:O", title="Recorded grade"),
                 alt.Tooltip("derived_grade:O", title="Derived grade (ASTCT)"),
                 alt.Tooltip("driver:N", title="Set by")])

"""Compact charts for the Overview page: tidy frames in, Altair charts out."""

from __future__ import annotations

import altair as alt
import pandas as pd

from icans_core.charts import style
from icans_core.summary import group_order


def grade_distribution_chart(distribution: pd.DataFrame) -> alt.FacetChart:
    """Maximum ASTCT grade per group as 100% stacked bars, CRS and ICANS side by side.

    `distribution` is summary.grade_distribution(...).
    """
    groups = group_order(distribution["group"])
    sizes = (distribution.drop_duplicates(["syndrome", "group"])
             .pivot(index="group", columns="syndrome", values="n_assessed"))
    n_text = "; ".join(
        f"{g} " + "/".join(str(int(sizes.at[g, s])) if s in sizes.columns and pd.notna(sizes.at[g, s]) else "0"
                           for s in ("CRS", "ICANS"))
        for g in groups)
    bars = alt.Chart(distribution).mark_bar().encode(
        y=alt.Y("group:N", sort=groups, title=None, axis=alt.Axis(labelLimit=220)),
        x=alt.X("percent:Q", title="Patients (%)", scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("grade:O", scale=style.grade_scale(), title="Maximum ASTCT grade"),
        order=alt.Order("grade:O", sort="ascending"),
        tooltip=[alt.Tooltip("syndrome:N", title="Syndrome"), alt.Tooltip("group:N", title="Group"),
                 alt.Tooltip("grade:O", title="Maximum grade"), alt.Tooltip("n:Q", title="Patients"),
                 alt.Tooltip("n_assessed:Q", title="Patients assessed"),
                 alt.Tooltip("percent:Q", title="Patients (%)", format=".1f")],
    ).properties(width=300, height=alt.Step(24))
    chart = bars.facet(column=alt.Column("syndrome:N", sort=["CRS", "ICANS"], title=None))
    return style.titled(chart, "Maximum CRS and ICANS grade per group",
                        [f"Patients assessed per group (CRS/ICANS): {n_text}",
                         "Percent of patients assessed for the syndrome; ASTCT consensus grades (Lee et al. 2019)"])

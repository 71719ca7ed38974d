"""Change in ICANS grade around the first dose of an intervention class (IVIG study, Fig 1B).

Draws the frames of icans_core.grade_change; computes nothing.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from icans_core.charts import style

GRADE_AXIS_TITLE = "ICANS grade (ASTCT, 0-5)"


def grade_change_chart(summary: pd.DataFrame, daily: pd.DataFrame | None, agent_class: str, *,
                       groups: list[str], group_sizes: dict[str, int],
                       title: str = "Change in ICANS grade after an intervention",
                       day0: str | None = None, severe_grade: int = 3,
                       lines_note: str = "each patient") -> alt.LayerChart:
    """Each patient's daily ICANS grade (thin lines, when `daily` is given), the group median
    (thick) with its interquartile range (shaded), over days relative to the first dose (rule at 0).

    summary: group, relative_day, n, median_grade, q1, q3, share_severe; daily: patient_id, group,
    first_dose_day, relative_day, icans_grade, assessed; group_sizes: patients per group;
    day0: which dose is day 0, in words (e.g. "first IVIG dose at or after severe-ICANS onset");
    lines_note: whose thin lines are drawn (e.g. "200 of 4,000 patients, a random sample").
    """
    day0 = day0 or f"first {agent_class} dose"
    colour = alt.Color("group:N", scale=style.group_scale(groups), title="Group",
                       legend=alt.Legend(values=[g for g in groups if g in group_sizes], symbolType="stroke",
                                         symbolStrokeWidth=3.5, symbolOpacity=1))
    x = alt.X("relative_day:Q", title=f"Days since first {agent_class} dose (day 0)",
              axis=alt.Axis(tickMinStep=1), scale=alt.Scale(nice=False))
    y = alt.Y("median_grade:Q", title=GRADE_AXIS_TITLE, scale=alt.Scale(domain=[0, 5]),
              axis=alt.Axis(values=[0, 1, 2, 3, 4, 5], format="d"))
    summary_tooltip = [alt.Tooltip("group:N", title="Group"), alt.Tooltip("relative_day:Q", title="Day"),
                       alt.Tooltip("n:Q", title="Patients (n)"),
                       alt.Tooltip("median_grade:Q", title="Median grade", format=".1f"),
                       alt.Tooltip("q1:Q", title="Q1", format=".1f"), alt.Tooltip("q3:Q", title="Q3", format=".1f"),
                       alt.Tooltip("share_severe:Q", title=f"Share grade >= {severe_grade}", format=".0%")]
    # A grade holds until the next day's value: steps, not slopes.
    base = alt.Chart(summary)
    band = base.mark_area(opacity=0.15, interpolate="step-after").encode(
        x=x, y=alt.Y("q1:Q", title=GRADE_AXIS_TITLE, scale=alt.Scale(domain=[0, 5])), y2="q3:Q", color=colour)
    median = base.mark_line(strokeWidth=3.5, interpolate="step-after").encode(x=x, y=y, color=colour)
    median_points = base.mark_point(filled=True, size=40).encode(x=x, y=y, color=colour, tooltip=summary_tooltip)
    layers = [band]
    with_patients = daily is not None and not daily.empty
    if with_patients:
        layers.append(alt.Chart(daily).mark_line(strokeWidth=1, opacity=0.35, interpolate="step-after").encode(
            x=x, y=alt.Y("icans_grade:Q", title=GRADE_AXIS_TITLE, scale=alt.Scale(domain=[0, 5])),
            color=colour, detail="patient_id:N",
            tooltip=[alt.Tooltip("patient_id:N", title="Patient"), alt.Tooltip("group:N", title="Group"),
                     alt.Tooltip("relative_day:Q", title="Day"),
                     alt.Tooltip("icans_grade:Q", title="ICANS grade"),
                     alt.Tooltip("assessed:N", title="Assessed that day"),
                     alt.Tooltip("first_dose_day:Q", title="First dose, days since infusion")]))
    day0_rule = alt.Chart(pd.DataFrame({"relative_day": [0], "label": [day0]}))
    layers += [median, median_points,
               day0_rule.mark_rule(strokeDash=[4, 3], color="#333333").encode(
                   x="relative_day:Q", tooltip=alt.Tooltip("label:N", title="Day 0"))]
    n = sum(group_sizes.values())
    parts = ", ".join(f"{g} {k}" for g, k in group_sizes.items())
    word = "patient" if n == 1 else "patients"
    subtitle = [f"n = {n} {word} ({parts})" if parts else f"n = {n} {word}",
                "Thick: group median, shaded: interquartile range" + (f", thin: {lines_note}" if with_patients else ""),
                f"Day 0: {day0}; grade carried forward from the last assessment of each whole day"]
    chart = style.layer(*layers).properties(width=640, height=300)
    return style.titled(chart, title, subtitle)

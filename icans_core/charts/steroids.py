"""Steroid exposure and intervention timing charts: tidy frames in, Altair charts out."""

from __future__ import annotations

import altair as alt
import pandas as pd

from icans_core import schema as S
from icans_core.charts import style
from icans_core.steroids import MEASURES, TREATED
from icans_core.summary import group_order

EQUIVALENCE_NOTE = "dexamethasone-equivalent mg: Meikle & Tyler 1977 (the table on the Treatments page)"


def _group_counts(summary: pd.DataFrame, groups: list[str]) -> str:
    counts = summary.drop_duplicates("group").set_index("group")
    return "; ".join(f"{g} {int(counts.at[g, 'n_treated'])}/{int(counts.at[g, 'n_patients'])}"
                     for g in groups if g in counts.index)


def steroid_chart(exposure: pd.DataFrame, summary: pd.DataFrame, measure: str = "cumulative_dex_mg",
                  log: bool = False, points: bool = True) -> alt.LayerChart:
    """Per-patient points of one steroid measure by group, over the group's IQR box and median.

    `exposure` is steroids.steroid_exposure(...), `summary` steroids.steroid_summary(...) of it;
    only treated patients with a value above 0 are drawn (a log axis has no 0); points=False
    draws only the boxes and medians (large cohorts: the browser gets the summary, not a row per patient).
    """
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}")
    groups = group_order(exposure["group"])
    colour = alt.Color("group:N", scale=style.group_scale(groups), title="Group", sort=groups)
    points_frame = exposure.loc[exposure[measure] > 0,
                                ["patient_id", "group", "steroid_days", "cumulative_dex_mg", "first_steroid_day"]]
    boxes_frame = summary.loc[(summary["measure"] == measure) & (summary["among"] == TREATED),
                              ["group", "n_patients", "n_treated", "n", "median", "q1", "q3", "mean"]]
    title = MEASURES[measure]
    y_scale = alt.Scale(type="log") if log else alt.Scale(zero=True)
    # Every group's name stays on the axis: no label is dropped for overlap or cut short.
    x = alt.X("group:N", sort=groups, title="Group",
              axis=alt.Axis(labelAngle=-30 if len(groups) > 3 else 0, labelLimit=0, labelOverlap=False))

    # Every layer sits on the same x offset scale (the points jitter on it, the summary at 0):
    # mixing offset and non-offset layers on one band scale mis-sizes the chart in Streamlit.
    offset_scale = alt.Scale(domain=[-3, 3])
    centre = alt.XOffset("centre:Q", scale=offset_scale, title=None)
    boxes = alt.Chart(boxes_frame).transform_calculate(centre="0").mark_rule(opacity=0.35, strokeWidth=14).encode(
        x=x, xOffset=centre, y=alt.Y("q1:Q", title=title, scale=y_scale), y2="q3:Q", color=colour,
        tooltip=[alt.Tooltip("group:N", title="Group"),
                 alt.Tooltip("n_treated:Q", title="Patients treated"),
                 alt.Tooltip("n_patients:Q", title="Patients in group"),
                 alt.Tooltip("median:Q", title=f"Median ({'mg' if measure == 'cumulative_dex_mg' else 'days'})",
                             format=",.1f"),
                 alt.Tooltip("q1:Q", title="Q1", format=",.1f"), alt.Tooltip("q3:Q", title="Q3", format=",.1f"),
                 alt.Tooltip("mean:Q", title="Mean", format=",.1f")])
    medians = alt.Chart(boxes_frame).transform_calculate(centre="0").mark_tick(thickness=3, size=46).encode(
        x=x, xOffset=centre, y=alt.Y("median:Q", title=title, scale=y_scale), color=colour,
        tooltip=[alt.Tooltip("group:N", title="Group"), alt.Tooltip("median:Q", title="Median", format=",.1f"),
                 alt.Tooltip("n_treated:Q", title="Patients treated")])
    points_layer = alt.Chart(points_frame).mark_circle(size=42, opacity=0.8).encode(
        x=x, xOffset=alt.XOffset("jitter:Q", scale=offset_scale, title=None),
        y=alt.Y(f"{measure}:Q", title=title, scale=y_scale), color=colour,
        tooltip=[alt.Tooltip("patient_id:N", title="Patient"), alt.Tooltip("group:N", title="Group"),
                 alt.Tooltip("steroid_days:Q", title="Steroid days"),
                 alt.Tooltip("cumulative_dex_mg:Q", title="Cumulative dexamethasone-equivalent (mg)",
                             format=",.1f"),
                 alt.Tooltip("first_steroid_day:Q", title="First steroid day (since infusion)")],
    ).transform_calculate(jitter="sqrt(-2*log(random()))*cos(2*PI*random())")
    layers = [boxes, medians, points_layer] if points else [boxes, medians]
    chart = style.layer(*layers).properties(width=alt.Step(110), height=340)
    note = EQUIVALENCE_NOTE if measure == "cumulative_dex_mg" else "distinct whole days with a systemic dose"
    drawn = "dots: each treated patient; " if points else "too many patients to draw one by one (CSV: every patient); "
    return style.titled(chart, f"{title} per patient" if points else f"{title}: distribution per group",
                        [f"Patients treated / in group: {_group_counts(boxes_frame, groups)}",
                         f"Box: interquartile range among treated patients; bar: median; {drawn}"
                         f"{'log scale; ' if log else ''}{note}"])


def intervention_timing_chart(by_class: pd.DataFrame) -> alt.Chart:
    """Median first day of each intervention class per group, one mark per class and group.

    `by_class` is summary.interventions_by_class(...); classes nobody received are not drawn.
    """
    frame = by_class[by_class["n_treated"] > 0]
    groups = group_order(by_class["group"])
    classes = [c for c in S.AGENT_CLASSES if c in set(frame["agent_class"])]
    classes += sorted(set(frame["agent_class"]) - set(classes))
    sizes = by_class.drop_duplicates("group").set_index("group")["n_patients"]
    # One row per group, so every group's name is on the axis; class by colour and symbol.
    chart = alt.Chart(frame).mark_point(filled=True, size=140, opacity=0.9).encode(
        x=alt.X("median_first_day:Q", title="Median first day given (days since CAR-T infusion)"),
        y=alt.Y("group:N", sort=groups, title="Group", scale=alt.Scale(domain=groups),
                axis=alt.Axis(labelLimit=0, labelOverlap=False)),
        color=alt.Color("agent_class:N", title="Intervention class", sort=classes, scale=alt.Scale(
            domain=classes, range=[style.CLASS_STYLE.get(c, style.CLASS_STYLE[S.OTHER])[0] for c in classes])),
        shape=alt.Shape("agent_class:N", title="Intervention class", sort=classes, scale=alt.Scale(
            domain=classes, range=[style.CLASS_STYLE.get(c, style.CLASS_STYLE[S.OTHER])[1] for c in classes])),
        tooltip=[alt.Tooltip("group:N", title="Group"), alt.Tooltip("agent_class:N", title="Class"),
                 alt.Tooltip("n_treated:Q", title="Patients treated"),
                 alt.Tooltip("n_patients:Q", title="Patients in group"),
                 alt.Tooltip("percent:Q", title="Treated (%)", format=".0f"),
                 alt.Tooltip("median_first_day:Q", title="Median first day", format=".2f")],
    ).properties(width=520, height=alt.Step(28))
    n_text = "; ".join(f"{g} {int(sizes[g])}" for g in groups if g in sizes.index)
    return style.titled(chart, "When each intervention class was first given",
                        [f"Median over treated patients of each patient's first dose; patients per group: {n_text}",
                         "Days since CAR-T infusion (day 0 = infusion)"])

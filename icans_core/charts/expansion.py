"""CAR-T expansion charts: cell counts per group over days, and per-patient Cmax / Tmax / AUC. Draws only."""

from __future__ import annotations

import altair as alt
import pandas as pd

from icans_core.charts import style
from icans_core.charts.kinetics import group_counts_text, median_layers, present_group_scale, scale_words
from icans_core.expansion import METRIC_LABELS


def expansion_chart(curves: pd.DataFrame, analyte: str, log_scale: bool = True,
                    groups: list[str] | None = None) -> alt.LayerChart:
    """Median (line and points) and IQR (band) of one cell-count analyte per group and day."""
    data = curves[curves["analyte"] == analyte]
    unit = data["unit"].iloc[0] if len(data) else ""
    groups = list(groups) if groups is not None else sorted(data["group"].unique())
    chart = median_layers(data, style.DAY_AXIS_TITLE, f"{analyte} ({unit})", log_scale, groups)
    subtitle = [f"Patients with counts: {group_counts_text(data, groups)}.",
                f"Median (line) and IQR (band) in {unit} per whole day, {scale_words(data, log_scale)}."]
    return style.titled(chart.properties(height=340, width=600), f"{analyte} in blood: median per group", subtitle)


def metric_strip_chart(points: pd.DataFrame, summary: pd.DataFrame, analyte: str, metric: str,
                       log_scale: bool = False, groups: list[str] | None = None,
                       draw_points: bool = True) -> alt.LayerChart:
    """One point per patient for one expansion metric, per group, with the group's median (tick) and IQR (bar);
    draw_points=False draws the median and IQR only (a large cohort: no row per patient goes to the browser)."""
    data = points[(points["analyte"] == analyte) & (points["metric"] == metric)]
    per_group = summary[(summary["analyte"] == analyte) & (summary["metric"] == metric)]
    label = METRIC_LABELS[metric]
    unit = data["unit"].iloc[0] if len(data) else ""
    groups = list(groups) if groups is not None else sorted(data["group"].unique())
    scale = present_group_scale(groups, data["group"].unique())
    y_title = f"{label} ({unit})"
    y_scale = alt.Scale(type="log") if log_scale else alt.Scale(zero=False)
    x = alt.X("group:N", title="Group", sort=scale.domain,
              axis=alt.Axis(labelAngle=-30 if len(groups) > 3 else 0, labelLimit=0, labelOverlap=False))
    offset_scale = alt.Scale(domain=[-4, 4])
    # Only what the points need leaves for the browser (one row per patient).
    strip = alt.Chart(data[["patient_id", "group", "value"]])
    if log_scale:  # a log axis has no place for 0
        strip = strip.transform_filter("datum.value > 0")
    strip = strip.transform_calculate(
        # Gaussian jitter (Box-Muller) so patients with equal values stay visible.
        jitter="sqrt(-2*log(random()))*cos(2*PI*random())",
    ).mark_circle(size=30, opacity=0.6).encode(
        x=x, xOffset=alt.XOffset("jitter:Q", scale=offset_scale, title=None),
        y=alt.Y("value:Q", title=y_title, scale=y_scale),
        color=alt.Color("group:N", title="Group", scale=scale, sort=scale.domain),
        tooltip=[alt.Tooltip("patient_id:N", title="Patient"), alt.Tooltip("group:N", title="Group"),
                 alt.Tooltip("value:Q", title=y_title, format=".4~g")])
    summary_tooltip = [alt.Tooltip("group:N", title="Group"), alt.Tooltip("n:Q", title="n patients"),
                       alt.Tooltip("median:Q", title="Median", format=".4~g"),
                       alt.Tooltip("q1:Q", title="Q1", format=".4~g"), alt.Tooltip("q3:Q", title="Q3", format=".4~g"),
                       alt.Tooltip("p_value:Q", title="p (between groups)", format=".3g"),
                       alt.Tooltip("test:N", title="Test")]
    # Offset 0 is the middle of the jitter: the summary sits at the centre of its group's strip.
    centre = alt.XOffset("centre:Q", scale=offset_scale, title=None)
    iqr = alt.Chart(per_group).transform_calculate(centre="0").mark_rule(strokeWidth=3, color="black").encode(
        x=x, xOffset=centre, y=alt.Y("q1:Q", title=y_title, scale=y_scale), y2="q3:Q", tooltip=summary_tooltip)
    median = alt.Chart(per_group).transform_calculate(centre="0").mark_tick(
        thickness=3, size=40, color="black").encode(
        x=x, xOffset=centre, y=alt.Y("median:Q", title=y_title, scale=y_scale), tooltip=summary_tooltip)
    counts = ", ".join(f"{g} n={int(n)}" for g, n in zip(per_group["group"], per_group["n"]))
    test = per_group["test"].dropna()
    p_value = per_group["p_value"].dropna()
    tested = (f"{test.iloc[0]} p = {p_value.iloc[0]:.3g}." if len(test) and len(p_value)
              else "Not tested: fewer than 2 groups with 2 patients.")
    first = (f"One point per patient ({counts}); black: median and IQR." if draw_points else
             f"Median (tick) and IQR (bar) per group ({counts}); too many patients to draw one by one.")
    subtitle = [f"{first} {tested}", f"{label} in {unit}, {scale_words(data, log_scale)}."]
    layers = [strip, iqr, median] if draw_points else [iqr, median]
    chart = style.layer(*layers).properties(height=320, width=alt.Step(110))
    return style.titled(chart, f"{label} of {analyte} per patient" if draw_points else f"{label} of {analyte} per group",
                        subtitle)

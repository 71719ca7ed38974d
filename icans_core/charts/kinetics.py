"""Cytokine kinetics chart (the IVIG study's Fig 3): medians per group over days, with the
median day of each intervention and the days the groups differ. Draws only."""

from __future__ import annotations

import altair as alt
import pandas as pd

from icans_core.charts import style

# The published figure style: one symbol for a significant difference, another for a trend.
MARK_SYMBOLS = {"significant": "*", "trend": "†"}  # the default style (MARK_STYLES["dagger"])
INTERVENTION_DASH = [6, 4]


def present_group_scale(groups: list[str], present) -> alt.Scale:
    """The group colours of the full, stable list of groups, listing only the groups drawn.

    A group keeps its colour when others drop out (e.g. aligned at onset, patients without
    an episode leave): the colour comes from its place in `groups`, not among those present.
    """
    present = set(present)
    unlisted = sorted(present - set(groups))
    full = style.group_scale([*groups, *unlisted])
    colours = dict(zip(full.domain, full.range))
    shown = [g for g in groups if g in present] + unlisted
    return alt.Scale(domain=shown, range=[colours[g] for g in shown])


def median_layers(data: pd.DataFrame, x_title: str, y_title: str, log_scale: bool, groups: list[str],
                  extra_tooltips: list[alt.Tooltip] = (), legend: bool = True) -> alt.LayerChart:
    """Interquartile band, median line and points per group (shared with the expansion curves)."""
    y_scale = alt.Scale(type="log") if log_scale else alt.Scale(zero=False)
    scale = present_group_scale(groups, data["group"].unique())
    base = alt.Chart(data).encode(
        x=alt.X("day:Q", title=x_title),
        # The legend takes the band's mark; solid symbols read better than a faint swatch.
        color=alt.Color("group:N", title="Group", scale=scale, sort=scale.domain,
                        legend=alt.Legend(symbolType="circle", symbolOpacity=1, labelLimit=300) if legend else None))
    band = base.mark_area(opacity=0.15).encode(
        y=alt.Y("q1:Q", title=y_title, scale=y_scale), y2="q3:Q")
    line = base.mark_line().encode(y=alt.Y("median:Q", title=y_title, scale=y_scale))
    if log_scale:  # a log axis has no place for 0: leave such points out rather than break the chart
        band = band.transform_filter("datum.q1 > 0")
        line = line.transform_filter("datum.median > 0")
    tooltips = [alt.Tooltip("group:N", title="Group"), alt.Tooltip("day:Q", title="Day"),
                alt.Tooltip("n:Q", title="n patients"), alt.Tooltip("median:Q", title="Median", format=".3~g"),
                alt.Tooltip("q1:Q", title="Q1", format=".3~g"), alt.Tooltip("q3:Q", title="Q3", format=".3~g"),
                alt.Tooltip("n_below_lloq:Q", title="n below LLOQ"), *extra_tooltips]
    points = base.mark_point(filled=True, size=40).encode(
        y=alt.Y("median:Q", title=y_title, scale=y_scale), tooltip=tooltips)
    if log_scale:
        points = points.transform_filter("datum.median > 0")
    return style.layer(band, line, points)


def scale_words(data: pd.DataFrame, log_scale: bool) -> str:
    """How the y axis reads in a subtitle, owning up to values a log axis cannot show."""
    if not log_scale:
        return "linear scale"
    hidden = data["q1"] <= 0 if "q1" in data else data["value"] <= 0
    return "log scale (values of 0 or less not drawn)" if hidden.any() else "log scale"


def group_counts_text(data: pd.DataFrame, groups: list[str]) -> str:
    """'A n=10, B n=9' from the frame's n_patients column, in the groups' order."""
    counts = data.drop_duplicates("group").set_index("group")["n_patients"]
    return ", ".join(f"{g} n={int(counts[g])}" for g in groups if g in counts.index)


MARK_STYLES = {
    "dagger": {"significant": "*", "trend": "†"},  # * p < 0.05, † p < 0.1
    "study": {"significant": "**", "trend": "*"},  # the IVIG study's Fig 3: ** p < 0.05, * p < 0.1
}
GROUP_DASHES = [[6, 4], [2, 3], [10, 3, 2, 3], [1, 1], [12, 6], [4, 2, 1, 2]]
WIDTH, HEIGHT = 600, 360
PANEL_WIDTH, PANEL_HEIGHT = 380, 260


def mark_legend(mark_style: str, marked_on: str = "p") -> str:
    """The marks in words, e.g. '** p < 0.05, * p < 0.1'."""
    symbols = MARK_STYLES[mark_style]
    return f"{symbols['significant']} {marked_on} < 0.05, {symbols['trend']} {marked_on} < 0.1"


def _panel(medians: pd.DataFrame, marks: pd.DataFrame, intervention_days: pd.DataFrame, analyte: str,
           log_scale: bool, day_title: str, groups: list[str], mark_style: str, width: int, height: int,
           legend: bool = True) -> alt.LayerChart:
    data = medians[medians["analyte"] == analyte]
    unit = data["unit"].iloc[0] if len(data) else ""
    y_title = f"{analyte} ({unit})"
    medians_layer = median_layers(data, day_title, y_title, log_scale, groups, [
        alt.Tooltip("p_value:Q", title="p (that day)", format=".3g"),
        alt.Tooltip("q_value:Q", title="q (BH)", format=".3g"),
        alt.Tooltip("test:N", title="Test")], legend=legend)
    rules = _intervention_rules(intervention_days[intervention_days["group"].isin(set(data["group"]))], groups,
                                legend)
    y_scale = alt.Scale(type="log") if log_scale else alt.Scale(zero=False)
    symbols = MARK_STYLES[mark_style]
    shown_marks = marks[marks["analyte"] == analyte].assign(symbol=lambda m: m["mark"].map(symbols))
    significance = alt.Chart(shown_marks).mark_text(dy=-6, baseline="bottom", fontSize=15, fontWeight="bold",
                                                    color="black").encode(
        x=alt.X("day:Q", title=day_title), y=alt.Y("y:Q", title=y_title, scale=y_scale), text="symbol:N",
        tooltip=[alt.Tooltip("day:Q", title="Day"), alt.Tooltip("mark:N", title="Difference"),
                 alt.Tooltip("p_value:Q", title="p", format=".3g"),
                 alt.Tooltip("q_value:Q", title="q (BH)", format=".3g")])
    # Groups and intervention classes each keep their own colour legend.
    return alt.layer(medians_layer, rules, significance).resolve_scale(color="independent").properties(
        width=width, height=height)


def cytokine_chart(medians: pd.DataFrame, marks: pd.DataFrame, intervention_days: pd.DataFrame, analyte: str,
                   log_scale: bool = True, day_title: str = style.DAY_AXIS_TITLE,
                   groups: list[str] | None = None, marked_on: str = "p",
                   mark_style: str = "dagger") -> alt.LayerChart:
    """Median (points and line) and IQR (band) of one analyte per group and day, dashed rules at
    the median intervention days per group (one dash pattern per group), and a symbol over days
    where the groups differ (mark_style 'dagger': * p < 0.05, † p < 0.1; 'study': ** and *)."""
    data = medians[medians["analyte"] == analyte]
    unit = data["unit"].iloc[0] if len(data) else ""
    groups = list(groups) if groups is not None else sorted(data["group"].unique())
    chart = _panel(medians, marks, intervention_days, analyte, log_scale, day_title, groups, mark_style,
                   WIDTH, HEIGHT)
    subtitle = [
        f"Patients with values: {group_counts_text(data, groups)}. Median (line) and IQR (band), "
        f"{unit}, {scale_words(data, log_scale)}.",
        f"Dashed lines: median day each class was first given, one dash pattern per group. "
        f"{mark_legend(mark_style, marked_on)} between groups that day (Mann-Whitney U, or Kruskal-Wallis "
        "for more than 2 groups).",
    ]
    return style.titled(chart, f"{analyte}: median per group over time", subtitle)


def cytokine_panels_chart(medians: pd.DataFrame, marks: pd.DataFrame, intervention_days: pd.DataFrame,
                          analytes: list[str], log_scale: bool = True, day_title: str = style.DAY_AXIS_TITLE,
                          groups: list[str] | None = None, marked_on: str = "p", mark_style: str = "study",
                          columns: int = 2) -> alt.ConcatChart:
    """Several analytes as one small-multiples figure (the IVIG study's Fig 3): a panel per analyte,
    each with its own y axis and unit, one shared legend."""
    drawn = [a for a in analytes if (medians["analyte"] == a).any()]
    groups = list(groups) if groups is not None else sorted(medians["group"].unique())
    # The legends are drawn once, beside the first panel: every panel shares its colours and dashes.
    panels = [_panel(medians, marks, intervention_days, a, log_scale, day_title, groups, mark_style,
                     PANEL_WIDTH, PANEL_HEIGHT, legend=i == 0).properties(
                         title=alt.TitleParams(a, anchor="start", fontSize=13))
              for i, a in enumerate(drawn)]
    data = medians[medians["analyte"].isin(drawn)]
    counts = data.groupby("group")["n_patients"].max()
    chart = alt.concat(*panels, columns=min(columns, max(len(panels), 1))).resolve_scale(
        y="independent", x="shared")
    subtitle = [
        f"Median (line) and IQR (band) per group and day, {scale_words(data, log_scale)}; patients with values: "
        + ", ".join(f"{g} n={int(counts[g])}" for g in groups if g in counts.index) + ".",
        f"Dashed lines: median day each class was first given, one dash pattern per group. "
        f"{mark_legend(mark_style, marked_on)} between groups that day (Mann-Whitney U / Kruskal-Wallis).",
    ]
    return style.titled(chart, "Serum cytokines: median per group over time", subtitle)


def _intervention_rules(intervention_days: pd.DataFrame, groups: list[str], legend: bool = True) -> alt.Chart:
    days = intervention_days.copy()
    present = [g for g in groups if g in set(days["group"])] + sorted(set(days["group"]) - set(groups))
    days["label"] = [
        f"{c} ({g}): median day {d:.3g} (n={n} of {t})"
        for c, g, d, n, t in zip(days["agent_class"], days["group"], days["median_day"],
                                 days["n_patients"], days["n_group"])]
    return alt.Chart(days).mark_rule(strokeWidth=1.8, opacity=0.85).encode(
        x=alt.X("median_day:Q"),
        color=alt.Color("agent_class:N", title="Intervention (first dose)", scale=_class_scale(days),
                        legend=alt.Legend(symbolType="stroke", symbolStrokeWidth=2, labelLimit=300) if legend else None),
        strokeDash=alt.StrokeDash("group:N", title="Intervention line: group", scale=alt.Scale(
            domain=present, range=[GROUP_DASHES[i % len(GROUP_DASHES)] for i in range(len(present))]),
            legend=alt.Legend(symbolType="stroke", symbolStrokeWidth=2, symbolSize=300, labelLimit=300)
            if legend else None),
        tooltip=[alt.Tooltip("label:N", title="Intervention"), alt.Tooltip("group:N", title="Group"),
                 alt.Tooltip("agent_class:N", title="Class"),
                 alt.Tooltip("median_day:Q", title="Median day", format=".3g"),
                 alt.Tooltip("n_patients:Q", title="n given")])


def _class_scale(days: pd.DataFrame) -> alt.Scale:
    # The shared class colours, with only the classes drawn in the legend.
    shown = [c for c in style.CLASS_STYLE if c in set(days["agent_class"])]
    if not shown:
        return style.class_colour_scale()
    return alt.Scale(domain=shown, range=[style.CLASS_STYLE[c][0] for c in shown])

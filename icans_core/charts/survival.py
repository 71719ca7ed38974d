"""Resolution curves: Kaplan-Meier with its number-at-risk table, and the cumulative incidence.

Builders only: they take the tidy frames of icans_core.survival and draw them.
"""

from __future__ import annotations

import json

import altair as alt
import pandas as pd

from icans_core.charts import style

RESOLVED, STILL_SEVERE = "resolved", "still severe"
ORIENTATIONS = {
    RESOLVED: ("resolved", "resolved_ci_lower", "resolved_ci_upper", "Proportion resolved"),
    STILL_SEVERE: ("survival", "ci_lower", "ci_upper", "Proportion still with severe ICANS"),
}
CI_LABELS = {"log": "log transform (R survival's default)",
             "log-log": "log-log transform (lifelines' default, exponential Greenwood)"}
EVENT_DASHES = {"resolution": [1, 0], "death": [6, 4]}
WIDTH, HEIGHT, ROW_HEIGHT = 560, 320, 22


def _groups_scale(present: list[str], groups: list[str] | None) -> alt.Scale:
    """The group colours of the whole cohort (stable across options), limited to the groups drawn."""
    order = list(groups or [])
    order += sorted(set(present) - set(order))
    full = style.group_scale(order)
    colours = dict(zip(full.domain, full.range))
    shown = [g for g in order if g in set(present)]
    return alt.Scale(domain=shown, range=[colours[g] for g in shown])


def _legend(counts: pd.DataFrame, title: str = "Group") -> alt.Legend:
    """A legend whose labels carry each group's n."""
    labels = {str(g): f"{g} (n = {int(n)})" for g, n in zip(counts["group"], counts["n"])}
    # The band layer comes first, so the symbol is set to a full-strength stroke to match the line.
    return alt.Legend(title=title, labelExpr=f"{json.dumps(labels)}[datum.label] || datum.label", labelLimit=320,
                      symbolType="stroke", symbolOpacity=1, symbolStrokeWidth=3)


def _n_subtitle(counts: pd.DataFrame, what: str = "patients with a severe-ICANS episode") -> str:
    per_group = ", ".join(f"{g} {int(n)}" for g, n in zip(counts["group"], counts["n"]))
    n = int(counts["n"].sum())
    if n == 1:  # "1 patient with ...", never "1 patients"
        what = what.replace("patients", "patient", 1).replace("episodes", "episode", 1)
    return f"n = {n} {what} ({per_group})"


def km_chart(km: pd.DataFrame, medians: pd.DataFrame, origin_label: str, ci: str = "log",
             orientation: str = RESOLVED, groups: list[str] | None = None,
             x_values: list[float] | None = None) -> alt.LayerChart:
    """Kaplan-Meier steps per group with their 95% band and censoring marks (+).

    `km` from survival.kaplan_meier, `medians` (group, n) from survival.median_times;
    `groups` fixes the colour order (all groups of the cohort), `x_values` the day ticks.
    """
    y_field, low, high, y_title = ORIENTATIONS[orientation]
    scale = _groups_scale(sorted(km["group"].unique()), groups)
    x = alt.X("time:Q", title=f"Days since {origin_label}",
              scale=alt.Scale(domain=[0, float(km["time"].max()) if len(km) else 1], nice=False),
              axis=alt.Axis(values=x_values) if x_values else alt.Axis())
    colour = alt.Color("group:N", scale=scale, legend=_legend(medians))
    tooltip = [alt.Tooltip("group:N", title="Group"), alt.Tooltip("time:Q", title="Day", format=".2~f"),
               alt.Tooltip(f"{y_field}:Q", title=y_title, format=".3f"),
               alt.Tooltip(f"{low}:Q", title="95% CI lower", format=".3f"),
               alt.Tooltip(f"{high}:Q", title="95% CI upper", format=".3f"),
               alt.Tooltip("n_at_risk:Q", title="n at risk"), alt.Tooltip("n_events:Q", title="resolved at this day"),
               alt.Tooltip("n_censored:Q", title="censored at this day")]
    base = alt.Chart(km).encode(x=x, color=colour)
    band = base.mark_area(interpolate="step-after", opacity=0.15).encode(
        y=alt.Y(f"{low}:Q"), y2=alt.Y2(f"{high}:Q"))
    line = base.mark_line(interpolate="step-after", strokeWidth=2).encode(
        y=alt.Y(f"{y_field}:Q", title=y_title, scale=alt.Scale(domain=[0, 1])), tooltip=tooltip)
    censored = base.mark_point(shape="cross", size=60, filled=True, opacity=0.9).encode(
        y=alt.Y(f"{y_field}:Q"), tooltip=tooltip).transform_filter(alt.datum.n_censored > 0)
    return style.layer(band, line, censored).properties(width=WIDTH, height=HEIGHT)


def at_risk_chart(at_risk: pd.DataFrame, groups: list[str] | None = None) -> alt.Chart:
    """The number-at-risk table: one text row per group at the chosen days."""
    present = sorted(at_risk["group"].unique())
    scale = _groups_scale(present, groups)
    return alt.Chart(at_risk, title=alt.TitleParams("Number at risk", fontSize=11, anchor="start")).mark_text(
        fontSize=11).encode(
        x=alt.X("time:Q", axis=None),
        y=alt.Y("group:N", sort=scale.domain, title=None, axis=alt.Axis(ticks=False, domain=False, labelPadding=14)),
        text=alt.Text("n_at_risk:Q"),
        color=alt.Color("group:N", scale=scale, legend=None),
        tooltip=[alt.Tooltip("group:N", title="Group"), alt.Tooltip("time:Q", title="Day"),
                 alt.Tooltip("n_at_risk:Q", title="n at risk")],
    ).properties(width=WIDTH, height=ROW_HEIGHT * max(len(present), 1))


def km_figure(km: pd.DataFrame, medians: pd.DataFrame, at_risk: pd.DataFrame, origin_label: str,
              ci: str = "log", orientation: str = RESOLVED, groups: list[str] | None = None,
              test_text: str = "") -> alt.VConcatChart:
    """The Kaplan-Meier plot above its number-at-risk table, on one shared day axis, titled;
    `test_text` (e.g. 'Log-rank p = 0.42') is written inside the plot's top corner."""
    ticks = sorted(at_risk["time"].unique().tolist())
    curve = km_chart(km, medians, origin_label, ci, orientation, groups, x_values=ticks)
    if test_text:
        # The corner away from the curves: top right when they rise (resolved), bottom right when they fall.
        top = orientation != RESOLVED
        note = alt.Chart(pd.DataFrame({"text": [test_text]})).mark_text(
            align="right", baseline="top" if top else "bottom", fontSize=13, x="width",
            y=6 if top else HEIGHT - 6, dx=-6).encode(text="text:N")
        curve = style.layer(curve, note)
    table = at_risk_chart(at_risk, groups)
    what = "resolved" if orientation == RESOLVED else "still with severe ICANS"
    figure = alt.vconcat(curve, table, spacing=6).resolve_scale(x="shared", color="shared")
    return style.titled(figure, "Time to resolution of severe ICANS", [
        _n_subtitle(medians),
        f"Kaplan-Meier proportion {what} (0-1) by days since {origin_label}",
        f"Shaded: 95% CI, {CI_LABELS.get(ci, ci)}; +: censored (death counts as censored here)",
    ])


def cif_chart(cif: pd.DataFrame, counts: pd.DataFrame, origin_label: str,
              groups: list[str] | None = None) -> alt.LayerChart:
    """Aalen-Johansen cumulative incidence of resolution (solid) and of death (dashed) per group, titled.

    `cif` from survival.cumulative_incidence, `counts` (group, n), e.g. survival.median_times.
    """
    scale = _groups_scale(sorted(cif["group"].unique()), groups)
    x = alt.X("time:Q", title=f"Days since {origin_label}",
              scale=alt.Scale(domain=[0, float(cif["time"].max()) if len(cif) else 1], nice=False))
    colour = alt.Color("group:N", scale=scale, legend=_legend(counts))
    dash = alt.StrokeDash("event:N", title="Event", scale=alt.Scale(
        domain=list(EVENT_DASHES), range=list(EVENT_DASHES.values())))
    tooltip = [alt.Tooltip("group:N", title="Group"), alt.Tooltip("event:N", title="Event"),
               alt.Tooltip("time:Q", title="Day", format=".2~f"),
               alt.Tooltip("cumulative_incidence:Q", title="Cumulative incidence", format=".3f"),
               alt.Tooltip("ci_lower:Q", title="95% CI lower", format=".3f"),
               alt.Tooltip("ci_upper:Q", title="95% CI upper", format=".3f"),
               alt.Tooltip("n_at_risk:Q", title="n at risk")]
    base = alt.Chart(cif).encode(x=x, color=colour)
    band = base.mark_area(interpolate="step-after", opacity=0.12).encode(
        y=alt.Y("ci_lower:Q"), y2=alt.Y2("ci_upper:Q"), detail="event:N")
    line = base.mark_line(interpolate="step-after", strokeWidth=2).encode(
        y=alt.Y("cumulative_incidence:Q", title="Cumulative incidence (proportion)", scale=alt.Scale(domain=[0, 1])),
        strokeDash=dash, tooltip=tooltip)
    chart = style.layer(band, line).properties(width=WIDTH, height=HEIGHT)
    return style.titled(chart, "Cumulative incidence of resolution, with death as a competing event", [
        _n_subtitle(counts),
        f"Aalen-Johansen estimate (proportion 0-1) by days since {origin_label}",
        "Solid: resolution; dashed: death before resolution; shaded: 95% CI (log-log, delta method)",
    ])

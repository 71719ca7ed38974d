"""CAR-T expansion: cell counts in blood per group over days, and Cmax, Tmax and AUC0-28 per patient."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from icans_core import derived_tables, expansion, kinetics, store
from icans_core import schema as S
from icans_core.charts.expansion import expansion_chart, metric_strip_chart
from icans_core.content.sections import Figure, Heading, Note, Table, View

from icans_core.options import AnalysisOptions

TITLE = "Expansion"
METRIC_CHOICES = {"cmax": "Cmax (highest count)", "auc_0_28": "AUC0-28 (area, days 0-28)",
                  "tmax_day": "Tmax (day of Cmax)"}
MAX_POINTS = 1000  # beyond this many patients the metric chart shows the distribution, not each patient


@dataclass(frozen=True)
class ExpansionOptions:
    analyte: str | None = None  # None: the first cell count the cohort has
    log_scale: bool = True
    metric: str = "cmax"


def cell_analytes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The CAR-T cell-count analytes measured in the selected patients."""
    measured = set(store.lab_analytes(con)["analyte"])
    return [a for a in S.CELL_COUNT_ANALYTES if a in measured]


def build(con: duckdb.DuckDBPyConnection, analysis: AnalysisOptions,
          options: ExpansionOptions = ExpansionOptions()) -> View:
    """The Expansion view's sections."""
    view = View("expansion", TITLE)
    patients = store.patients_frame(con, analysis.group_by)
    if patients.empty:  # checked first: the analytes measured are those of the selected patients
        return view.add(Note("No patients are selected: widen the cohort filters to see CAR-T expansion.", "info"))
    analytes = cell_analytes(con)
    if not analytes:
        return view.add(Note("The selected patients have no CAR-T cell counts (labs with analyte 'CAR-T cells', "
                             "'CD4+ CAR-T cells' or 'CD8+ CAR-T cells'), so expansion cannot be shown. Add them to "
                             "the labs table of the upload.", "info"))
    analyte = options.analyte if options.analyte in analytes else analytes[0]
    group_by, metric = analysis.group_by, options.metric
    groups = store.group_names(con, group_by)  # one colour per group whatever the filter
    curves = expansion.cohort_expansion_curves(con, analytes, group_by)
    metrics = derived_tables.expansion_metrics(con)  # derived once per cohort, restricted (issue 11)
    metrics = metrics[metrics["analyte"].isin(analytes)].reset_index(drop=True)
    points = expansion.melt_metrics(metrics, patients)  # once: the strip chart and the summary both read it
    summary = expansion.summarise_points(points)

    shown_curves = curves[curves["analyte"] == analyte]
    view.add(Heading("Expansion curves"))
    if shown_curves.empty:
        view.add(Note(f"No {analyte} counts for these patients.", "info"))
    else:
        view.add(Figure(expansion_chart(curves, analyte, options.log_scale, groups), shown_curves,
                        f"expansion-{analyte}", "expansion_curves"))
    sizes = kinetics.count_patients(shown_curves)
    small = [f"{r.group} (n={r.n_patients})" for r in sizes[sizes["small"]].itertuples()]
    if small:
        view.add(Note(f"Small groups, fewer than {kinetics.SMALL_GROUP} patients with {analyte}: "
                      f"{'; '.join(small)}. Read their medians and tests with care.", "warning"))

    view.add(Heading("Cmax, Tmax and AUC0-28 per patient"))
    chosen = points[(points["analyte"] == analyte) & (points["metric"] == metric)]
    per_group = summary[(summary["analyte"] == analyte) & (summary["metric"] == metric)]
    if chosen.empty:
        view.add(Note(f"No patient has a {expansion.METRIC_LABELS[metric]} for {analyte}"
                      + (" (the area needs at least 2 counts between day 0 and day 28)." if metric == "auc_0_28"
                         else "."), "info"))
    else:
        draw_points = len(chosen) <= MAX_POINTS
        # Tmax is a day (day 0 is possible): never on a log scale.
        strip = metric_strip_chart(points, summary, analyte, metric, options.log_scale and metric != "tmax_day",
                                   groups, draw_points=draw_points)
        view.add(Figure(strip, chosen if draw_points else per_group, f"expansion-{metric}-{analyte}",
                        "expansion_strip",
                        "" if draw_points else f"{len(chosen):,} patients: the figure shows each group's median "
                        "and IQR (its CSV); every patient's value is in the per-patient table."))
    view.add(Table(
        expansion.attach_groups(metrics, patients), "expansion-per-patient", "expansion_metrics",
        "Cmax = highest count (cells/uL); Tmax = first day it is reached; AUC0-28 = trapezoidal area (cells/uL x "
        "days) over the observed counts with 0 <= day <= 28, not extrapolated to day 0 or 28, and blank with fewer "
        "than 2 counts in that window. Values below the LLOQ are used as recorded.",
        formats={"tmax_day": "g"}, limit=50))
    view.add(Heading("Cmax, Tmax and AUC0-28 per group, with tests"), Table(
        summary, "expansion-per-group", "expansion_summary",
        "Median and IQR (linear quartiles, R type 7) per group. Groups with at least 2 patients are compared per "
        "analyte and metric: Mann-Whitney U (two-sided; exact below 50 per group without ties, as R's wilcox.test) "
        "for two groups, Kruskal-Wallis for more; q is the Benjamini-Hochberg adjustment over the analyte x metric "
        "tests in this table; blank p / q: not tested.", formats={"p_value": "p", "q_value": "p"}))
    return view

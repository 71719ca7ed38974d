"""Overview: key numbers, Table 1 per group with its tests, maximum grades, and published series."""

from __future__ import annotations

import duckdb

from icans_core import derived_tables, published, store, summary
from icans_core.charts.overview import grade_distribution_chart
from icans_core.content.sections import Bullets, Figure, Heading, Note, Numbers, Table, View
from icans_core.options import AnalysisOptions

TITLE = "Overview"


def build(con: duckdb.DuckDBPyConnection, analysis: AnalysisOptions) -> View:
    """The Overview's sections for the selected patients."""
    view = View("overview", TITLE)
    patients = store.patients_frame(con, analysis.group_by)
    if patients.empty:
        return view.add(Note("No patients are selected: widen the cohort filters to see an overview.", "info"))
    options = analysis.episodes
    # per-patient tables derived once per cohort and options, restricted to the selection (issue 11)
    episodes = derived_tables.episodes(con, analysis.group_by, options)
    exposure = derived_tables.steroid_exposure(con, analysis.group_by)

    view.add(Numbers(summary.key_numbers(patients, episodes)),
             Note(f"Severe ICANS: ASTCT grade {options.severe_grade} or higher; resolved at grade "
                  f"{options.resolved_grade} or lower; time from {options.origin_label}.", "caption"))
    small = summary.small_groups(patients)
    if len(small):
        listed = ", ".join(f"{g} ({n})" for g, n in small.itertuples(index=False))
        view.add(Note(f"Small groups (fewer than {summary.SMALL_GROUP} patients): {listed}. Percentages and "
                      "p-values for them are fragile; read the counts.", "warning"))

    tidy = summary.summary_from_per_patient(derived_tables.table1_inputs(con, analysis.group_by, options))
    tests = summary.used_tests(tidy)
    view.add(Heading("Patient characteristics per group (Table 1)"),
             Table(summary.summary_table(tidy), "table-1", "overview_table1",
                   "Tests compare the groups (the 'All patients' column is not part of any test); missing values "
                   "are shown as 'unknown' and left out of tests. "
                   + " ".join(f"{t}: {e}." for t, e in tests.itertuples(index=False))))

    view.add(Heading("Maximum CRS and ICANS grade per group"))
    distribution = summary.grade_distribution(patients, store.max_grades(con))
    if distribution.empty:
        view.add(Note("No CRS or ICANS assessment is recorded for the selected patients.", "info"))
    else:
        view.add(Figure(grade_distribution_chart(distribution), distribution, "max-grade-per-group",
                        "overview_grades"))

    view.add(Heading("This cohort beside published series"))
    if episodes.empty:
        view.add(Note("No selected patient had a severe-ICANS episode: only the published series are listed.",
                      "info"))
    view.add(Table(
        published.compare_with_published(episodes, exposure), "comparison-with-published-series",
        "overview_published",
        "Response rate = share of severe-ICANS episodes resolved; TTR = time to resolution (this cohort: median "
        "over resolved episodes); CSD = cumulative systemic steroid dose in dexamethasone mg (this cohort: median "
        "over patients with an episode, whole follow-up). N/R = not reported (a blank median for this cohort: "
        "none resolved). The published series are steroid-refractory or selected populations: compare with care.",
        formats={"response_rate": "percent", "median_ttr_days": ".1f", "median_csd_mg": ".1f",
                 "mean_steroid_days": ".1f"},
        missing={"response_rate": "N/R", "median_ttr_days": "N/R", "median_csd_mg": "N/R",
                 "mean_steroid_days": "N/R"}))
    view.add(Bullets("Sources", [f"{c}: {what}" for c, what in published.citations().itertuples(index=False)]))
    return view

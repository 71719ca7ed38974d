"""Treatments: systemic steroid exposure per patient and group, the dexamethasone equivalents used, and the
interventions received per class and group with when they were first given."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from icans_core import derived_tables, schema, steroids, store, summary
from icans_core.charts.steroids import intervention_timing_chart, steroid_chart
from icans_core.content.sections import Figure, Heading, Note, Table, View
from icans_core.options import AnalysisOptions

TITLE = "Treatments"
MAX_POINTS = 1000  # beyond this many treated patients the chart shows the distribution, not each patient


@dataclass(frozen=True)
class TreatmentOptions:
    measure: str = next(iter(steroids.MEASURES))
    log: bool = False
    severe_only: bool = False


def _equivalents() -> list:
    return [Heading("Dexamethasone equivalents used"), Table(
        steroids.equivalence_table(), "dexamethasone-equivalents", "treatments_equivalents",
        f"Source: {schema.STEROID_EQUIVALENCE_SOURCE}. mg of the drug x factor = mg dexamethasone; equipotent_mg is "
        "the dose equal to 0.75 mg dexamethasone. Some sources differ slightly. Intrathecal hydrocortisone or "
        "dexamethasone is intrathecal therapy, not systemic exposure.")]


def build(con: duckdb.DuckDBPyConnection, analysis: AnalysisOptions,
          options: TreatmentOptions = TreatmentOptions()) -> View:
    """The Treatments view's sections."""
    view = View("treatments", TITLE)
    patients = store.patients_frame(con, analysis.group_by)
    interventions = store.interventions_frame(con)
    if patients.empty:
        return view.add(Note("No patients are selected: widen the cohort filters to see their treatments.", "info"),
                        *_equivalents())
    if interventions.empty:
        return view.add(Note("The selected patients have no recorded interventions (the interventions table is "
                             "empty or was not uploaded).", "info"), *_equivalents())
    # derived once per cohort and options, restricted to the selection (issue 11)
    exposure = derived_tables.steroid_exposure(con, analysis.group_by)
    episodes = derived_tables.episodes(con, analysis.group_by, analysis.episodes) if options.severe_only else None
    shown = steroids.severe_icans_exposure(exposure, episodes) if options.severe_only else exposure
    steroid_groups = steroids.steroid_summary(exposure, episodes)

    left_out = steroids.left_out_rows(interventions)
    if len(left_out):
        view.add(Note(f"{len(left_out)} systemic corticosteroid row(s) are left out of the cumulative "
                      "dexamethasone-equivalent dose (their dose is not in mg or is missing); their days still "
                      "count as steroid days.", "warning"),
                 Table(left_out, "steroid-rows-left-out", "treatments_left_out", limit=50))
    view.add(Heading("Systemic steroid exposure per group"))
    if shown.empty:
        view.add(Note("No selected patient had a severe-ICANS episode." if options.severe_only
                      else "No patients to show.", "info"))
    elif not (shown["steroid_days"] > 0).any():
        view.add(Note("None of these patients received a systemic corticosteroid.", "info"))
    else:
        small = summary.small_groups(shown)
        if len(small):
            listed = ", ".join(f"{g} ({n})" for g, n in small.itertuples(index=False))
            view.add(Note(f"Small groups (fewer than {summary.SMALL_GROUP} patients): {listed}.", "warning"))
        treated = int((shown[options.measure] > 0).sum())
        points = treated <= MAX_POINTS
        view.add(Figure(steroid_chart(shown, steroid_groups, options.measure, options.log, points=points), shown,
                        f"steroid-{options.measure}", "treatments_steroid_chart",
                        "" if points else f"{treated:,} treated patients: the figure shows each group's median and "
                        "IQR; the CSV has every patient."))
        view.add(Table(steroid_groups, "steroid-exposure-per-group", "treatments_steroid_summary",
                       "Among 'treated patients' (at least one systemic steroid day) and among 'all patients' "
                       "(untreated count as 0). Quartiles by linear interpolation (R's default). Groups compared "
                       "with Mann-Whitney U (two groups) or Kruskal-Wallis (more); blank p: not tested.",
                       formats={"median": ".1f", "q1": ".1f", "q3": ".1f", "mean": ".1f", "p_value": "p"}))
        view.add(Table(shown, "steroid-exposure-per-patient", "treatments_per_patient",
                       "patient_id, steroid_days, cumulative_dex_mg are the export's steroid_exposure.csv; blank "
                       "first_steroid_day: no systemic steroid.", limit=50, collapsed="Steroid exposure per patient"))
    view.add(*_equivalents())
    by_class = summary.interventions_by_class(interventions, patients)
    view.add(Heading("Interventions received per class and group"),
             Table(by_class, "interventions-per-class", "treatments_by_class",
                   "percent of the group's patients; median_first_day over treated patients (blank: nobody in the "
                   "group received the class).", formats={"percent": "pct", "median_first_day": ".2f"}))
    if (by_class["n_treated"] > 0).any():
        view.add(Figure(intervention_timing_chart(by_class), by_class, "intervention-timing", "treatments_timing"))
    return view

"""Per-patient tables derived once per cohort and options, restricted to the selection on each call.

Each function here returns exactly what its analysis computes on the selected patients, but the
analysis runs once, on the whole cohort, per session connection and options (store.derived_rows
keeps the result in the connection's own database, which a new cohort empties); a filter change
then only picks the selected patients' rows. This is sound because each of these analyses works
patient by patient (a patient's episode, exposure, metrics and intervals depend on that
patient's rows alone) and keeps the patients' order, so restricting the whole-cohort result
equals computing it on the selection (tests/test_derived.py checks it on filtered selections).
"""

from __future__ import annotations

from dataclasses import replace

import duckdb
import pandas as pd

from icans_core import expansion, grading, nca, schema, steroids, store, summary, swimlanes
from icans_core.episodes import ONSET, EpisodeOptions, compute_episodes


def _origin_key(origin: str) -> str:
    return "onset" if origin == ONSET else f"class{schema.AGENT_CLASSES.index(origin)}"


def _group_key(group_by: str) -> str:
    store._grouping(group_by)  # refuses an unknown grouping
    return group_by


def _episodes_key(group_by: str, options: EpisodeOptions) -> str:
    return (f"{_group_key(group_by)}_{int(options.severe_grade)}_{int(options.resolved_grade)}_"
            f"{_origin_key(options.origin)}")


def episodes(con: duckdb.DuckDBPyConnection, group_by: str = "group",
             options: EpisodeOptions = EpisodeOptions()) -> pd.DataFrame:
    """compute_episodes of the selected patients. Columns: as compute_episodes."""
    key = f"episodes_{_episodes_key(group_by, options)}"
    return store.derived_rows(con, key, lambda: compute_episodes(
        store.toxicity_frame(con, everyone=True), store.patients_frame(con, group_by, everyone=True),
        store.interventions_frame(con, everyone=True), options))


def steroid_exposure(con: duckdb.DuckDBPyConnection, group_by: str = "group") -> pd.DataFrame:
    """steroids.steroid_exposure of the selected patients. Columns: as steroid_exposure."""
    return store.derived_rows(con, f"steroid_exposure_{_group_key(group_by)}", lambda: steroids.steroid_exposure(
        store.interventions_frame(con, everyone=True), store.patients_frame(con, group_by, everyone=True)))


def expansion_metrics(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """expansion.expansion_metrics of the selected patients' cell counts. Columns: as expansion_metrics."""
    return store.derived_rows(con, "expansion_metrics", lambda: expansion.expansion_metrics(
        store.lab_values(con, list(schema.CELL_COUNT_ANALYTES), everyone=True)))


def grade_intervals(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """swimlanes.grade_intervals of the selected patients. Columns: as grade_intervals."""
    return store.derived_rows(con, "grade_intervals", lambda: swimlanes.grade_intervals(
        store.toxicity_frame(con, everyone=True)))


def nca_metrics(con: duckdb.DuckDBPyConnection, options: nca.NcaOptions = nca.NcaOptions()) -> pd.DataFrame:
    """nca.nca_metrics of the selected patients' cell counts under `options`. Columns: as nca_metrics."""
    key = (f"nca_{nca.METHODS.index(options.method)}_{nca.WINDOWS.index(options.window)}_"
           f"{nca.BLQ_RULES.index(options.blq)}")
    return store.derived_rows(con, key, lambda: nca.nca_metrics(
        store.lab_values(con, list(schema.CELL_COUNT_ANALYTES), everyone=True), options))


def table1_inputs(con: duckdb.DuckDBPyConnection, group_by: str = "group",
                  options: EpisodeOptions = EpisodeOptions()) -> pd.DataFrame:
    """summary.per_patient of the selected patients (Table 1's inputs: characteristics, maximum
    grades, severe ICANS under `options`, treatments received, steroid exposure, time to
    resolution). Columns: as summary.per_patient."""
    def compute() -> pd.DataFrame:
        patients = store.patients_frame(con, group_by, everyone=True)
        toxicity, interventions = store.toxicity_frame(con, everyone=True), store.interventions_frame(con, everyone=True)
        return summary.per_patient(patients, toxicity, interventions, steroids.steroid_exposure(interventions, patients),
                                   compute_episodes(toxicity, patients, interventions, options))
    return store.derived_rows(con, f"table1_{_episodes_key(group_by, options)}", compute)


def derived_grades(con: duckdb.DuckDBPyConnection, everyone: bool = False, limit: int | None = None) -> pd.DataFrame:
    """grading.grade_observations of the selected patients' (every patient's with `everyone`) bedside
    observations: the ASTCT grade each observation gives, and the domain that set it; the first `limit`
    rows only if given. Columns: grading.GRADED_COLUMNS."""
    if not store.has_observations(con):
        return pd.DataFrame(columns=grading.GRADED_COLUMNS)
    return store.derived_rows(con, "derived_grades", _grade_observations(con), everyone=everyone, limit=limit)


def derived_grade_count(con: duckdb.DuckDBPyConnection) -> int:
    """How many rows derived_grades gives for the selected patients (1.7 million at 100,000 patients: counted
    where they are, not read to be counted)."""
    if not store.has_observations(con):
        return 0
    return store.derived_row_count(con, "derived_grades", _grade_observations(con))


def _grade_observations(con: duckdb.DuckDBPyConnection):
    return lambda: grading.grade_observations(store.observations_frame(con, everyone=True),
                                              store.patients_frame(con, everyone=True),
                                              store.interventions_frame(con, everyone=True))


def grade_discrepancies(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """grading.discrepancies of the selected patients: every recorded grade that differs from the grade
    derived from observations at the same patient and day. Columns: grading.DISCREPANCY_COLUMNS
    (patient_id, day, syndrome, recorded_grade, derived_grade, driver, difference)."""
    if not store.has_observations(con):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in grading.DISCREPANCY_COLUMNS})

    def compute() -> pd.DataFrame:
        found = grading.discrepancies(derived_grades(con, everyone=True), store.toxicity_sources_frame(con, everyone=True))
        # typed text even when empty, so the kept table has the columns' types
        return found.astype({"patient_id": "string", "syndrome": "string", "driver": "string"}) if found.empty \
            else found

    return store.derived_rows(con, "grade_discrepancies", compute)


def prederive(con: duckdb.DuckDBPyConnection) -> None:
    """Compute into `con`'s database (a cohort file being written: store.save_cohort_file) the derived
    tables a session asks for under the default options, so that every session attaching the file
    reads them instead of computing its own: a new session's first page, and a page opened from a
    link, then only restrict them. Other options are computed per session, as before."""
    options = EpisodeOptions()
    episodes(con, "group", options)
    # Swimlanes' grade change counts day 0 from the first dose of a class after onset: the episodes with
    # that class as origin, for each class the cohort gives (0.3 s each at 10,000 patients)
    for agent_class in swimlanes.intervention_classes(store.interventions_frame(con, everyone=True)):
        if agent_class in schema.AGENT_CLASSES:
            episodes(con, "group", replace(options, origin=agent_class))
    steroid_exposure(con, "group")
    table1_inputs(con, "group", options)
    grade_intervals(con)
    expansion_metrics(con)
    nca_metrics(con)
    derived_grades(con)
    grade_discrepancies(con)

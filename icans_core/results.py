"""The results export: the contract's tidy tables, computed by the same functions the pages call.

    tables = compute_results(con, AnalysisOptions())
    write_results(tables, "out/")

Each table has exactly the contract's columns (data-contract.md, "Results export").
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from icans_core import competing_risks, cox, derived_tables, kinetics, nca, schema, steroids, store, summary, survival
from icans_core.cancel import checkpoint
from icans_core.episodes import compute_episodes
from icans_core.options import AnalysisOptions
from icans_core.spreadsheet_safe import spreadsheet_csv

RESULT_COLUMNS: dict[str, list[str]] = {
    "episodes": ["patient_id", "group", "onset_day", "peak_grade", "resolution_day", "time_to_resolution",
                 "outcome"],
    "resolution_summary": ["group", "n", "resolved", "median_days", "median_ci_lower", "median_ci_upper"],
    "resolution_test": ["test", "statistic", "df", "p_value"],
    "steroid_exposure": ["patient_id", "steroid_days", "cumulative_dex_mg"],
    "expansion": ["patient_id", "analyte", "cmax", "tmax_day", "auc_0_28"],
    "cytokine_medians": ["group", "analyte", "day", "n", "median", "q1", "q3", "p_value", "q_value"],
    "swimlanes": ["patient_id", "lane", "start_day", "end_day", "grade"],
}
# Files added to the contract's ("more files may be added"); documented in docs/data-format.md.
MORE_RESULT_COLUMNS: dict[str, list[str]] = {
    "km_curve": [*survival.KM_COLUMNS, "ci_transform"],
    "number_at_risk": survival.AT_RISK_COLUMNS,
    "cumulative_incidence": [*competing_risks.CIF_COLUMNS, "ci_method"],
    "resolution_tests": ["test", "event", "statistic", "df", "p_value", "p_holm"],
    "cox": [*cox.COEF_COLUMNS, "n", "events"],
    "cox_tests": cox.TEST_COLUMNS,
    "table1": [*summary.SUMMARY_COLUMNS, "test_explanation"],
    "expansion_nca": nca.NCA_COLUMNS,
    "analysis_notes": ["analysis", "note"],
}


def serum_analytes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every analyte of the cohort except the CAR-T cell counts: the family of the cytokine tests."""
    return [a for a in store.lab_analytes(con)["analyte"] if a not in schema.CELL_COUNT_ANALYTES]


def compute_results(con: duckdb.DuckDBPyConnection, options: AnalysisOptions = AnalysisOptions(),
                    cox_covariates: tuple[str, ...] = (), nca_options: nca.NcaOptions = nca.NcaOptions()
                    ) -> dict[str, pd.DataFrame]:
    """Every result table of the export for the selected patients, keyed by file stem (the contract's, then more)."""
    # Per-patient tables come from the session's derived tables (computed once per cohort and
    # options, then restricted to the selection: the same rows as computing them on it).
    episodes = derived_tables.episodes(con, options.group_by, options.episodes)
    tables = {
        "episodes": episodes,
        "resolution_summary": survival.median_times(episodes, options.ci),
        "resolution_test": survival.logrank(episodes),
        "steroid_exposure": derived_tables.steroid_exposure(con, options.group_by),
        "expansion": derived_tables.expansion_metrics(con),
        "cytokine_medians": kinetics.cohort_cytokine_medians(con, serum_analytes(con), options.group_by),
        "swimlanes": derived_tables.grade_intervals(con),
    }
    contract = {name: tables[name].reindex(columns=columns) for name, columns in RESULT_COLUMNS.items()}
    return {**contract, **compute_more_results(con, options, episodes=episodes,
                                               cox_covariates=cox_covariates, nca_options=nca_options)}


def compute_more_results(con: duckdb.DuckDBPyConnection, options: AnalysisOptions = AnalysisOptions(), *,
                         episodes: pd.DataFrame | None = None, patients: pd.DataFrame | None = None,
                         toxicity: pd.DataFrame | None = None, interventions: pd.DataFrame | None = None,
                         cox_covariates: tuple[str, ...] = (), nca_options: nca.NcaOptions = nca.NcaOptions()
                         ) -> dict[str, pd.DataFrame]:
    """The files added to the contract's (docs/data-format.md, "More result files"), keyed by file stem.

    km_curve, number_at_risk, cumulative_incidence, resolution_tests (log-rank with p_holm and
    Gray's test), cox, cox_tests, table1, expansion_nca and analysis_notes (the rules and options
    the numbers follow), each with the columns in MORE_RESULT_COLUMNS.
    """
    # Given frames are used as given. Without them, the per-patient tables come from the session's
    # derived tables (computed once per cohort and options, restricted to the selection: the same
    # rows); `episodes`, if given then, must be the selection's episodes under options.episodes.
    given = toxicity is not None or interventions is not None or patients is not None
    patients = store.patients_frame(con, options.group_by) if patients is None else patients
    if given:
        toxicity = store.toxicity_frame(con) if toxicity is None else toxicity
        interventions = store.interventions_frame(con) if interventions is None else interventions
    if episodes is None:
        episodes = (compute_episodes(toxicity, patients, interventions, options.episodes) if given else
                    derived_tables.episodes(con, options.group_by, options.episodes))
    checkpoint()
    km = survival.kaplan_meier(episodes, options.ci)
    km_curve = km.assign(ci_transform=options.ci)
    cif = competing_risks.cumulative_incidence(episodes).assign(ci_method=competing_risks.CI_METHOD)
    logrank = survival.logrank(episodes).assign(event="resolution")
    gray = competing_risks.gray_test(episodes).assign(p_holm=float("nan"))
    tests = pd.concat([frame for frame in (logrank, gray) if len(frame)], ignore_index=True) \
        if len(logrank) or len(gray) else pd.DataFrame()
    model = cox.fit_cox(episodes, patients, list(cox_covariates))
    checkpoint()
    if given:
        exposure = steroids.steroid_exposure(interventions, patients)
        table1 = summary.cohort_summary(patients, toxicity, interventions, exposure, episodes)
        kinetics_rows = nca.nca_metrics(store.lab_values(con, list(schema.CELL_COUNT_ANALYTES)), nca_options)
    else:
        table1 = summary.summary_from_per_patient(
            derived_tables.table1_inputs(con, options.group_by, options.episodes))
        kinetics_rows = derived_tables.nca_metrics(con, nca_options)
    table1["test_explanation"] = table1["test"].map(summary.TEST_EXPLANATIONS).fillna("")
    notes = [("median", survival.MEDIAN_RULE), ("km_curve", f"95% band: {survival.CI_TRANSFORMS[options.ci]}"),
             ("cumulative_incidence", competing_risks.CI_METHOD), ("resolution_tests", survival.LOGRANK_RULE),
             ("resolution_tests", competing_risks.GRAY_RULE),
             ("cox", f"resolution ~ group{''.join(' + ' + c for c in model.covariates)}; " + cox.METHOD),
             *(("cox", warning) for warning in model.warnings),
             ("expansion_nca", f"AUC method {nca_options.method}; window {nca_options.window}; "
                               f"below-LLOQ counts {nca_options.blq}. " + nca.RULES)]
    pairwise = survival.pairwise_note(episodes)
    if pairwise:
        notes.append(("resolution_tests", pairwise))
    more = {
        "km_curve": km_curve,
        "number_at_risk": survival.number_at_risk(km),
        "cumulative_incidence": cif,
        "resolution_tests": tests,
        "cox": model.coefficients.assign(n=model.n, events=model.events),
        "cox_tests": model.tests,
        "table1": table1,
        "expansion_nca": kinetics_rows,
        "analysis_notes": pd.DataFrame(notes, columns=["analysis", "note"]),
    }
    return {name: more[name].reindex(columns=columns) for name, columns in MORE_RESULT_COLUMNS.items()}


def write_results(tables: dict[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Write each table as <name>.csv; a missing value (e.g. a median CI not reached) is an empty field.

    Text that a spreadsheet would run as a formula (an id like "=HYPERLINK(...)") gets a leading
    apostrophe: these files are meant to be opened in Excel. Numbers are written exactly (the shortest
    text that reads back as the same number: 1000000000.25, 1e+308; never "inf" or "-0").
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in tables.items():
        path = out / f"{name}.csv"
        spreadsheet_csv(frame, path)  # every number exactly as computed: shortest round-trip text
        written.append(path)
    return written

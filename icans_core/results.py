"""The results export: the contract's tidy tables, computed by the same functions the pages call.

    tables = compute_results(con, AnalysisOptions())
    write_results(tables, "out/")

Each table has exactly the contract's columns (data-contract.md, "Results export").
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from icans_core import derived_tables, kinetics, schema, store, survival
from icans_core.options import AnalysisOptions
from icans_core.spreadsheet_safe import neutralise_formulas

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


def serum_analytes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every analyte of the cohort except the CAR-T cell counts: the family of the cytokine tests."""
    return [a for a in store.lab_analytes(con)["analyte"] if a not in schema.CELL_COUNT_ANALYTES]


def compute_results(con: duckdb.DuckDBPyConnection, options: AnalysisOptions = AnalysisOptions()
                    ) -> dict[str, pd.DataFrame]:
    """Every result table of the export for the selected patients, keyed by file stem."""
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
    return {name: tables[name].reindex(columns=columns) for name, columns in RESULT_COLUMNS.items()}


def write_results(tables: dict[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Write each table as <name>.csv; a missing value (e.g. a median CI not reached) is an empty field.

    Text that a spreadsheet would run as a formula (an id like "=HYPERLINK(...)") gets a leading
    apostrophe: these files are meant to be opened in Excel.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in tables.items():
        path = out / f"{name}.csv"
        neutralise_formulas(frame).to_csv(path, index=False, na_rep="",
                                          float_format="%.10g")  # no binary-fraction noise
        written.append(path)
    return written

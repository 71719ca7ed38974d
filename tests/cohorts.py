"""Tiny hand-made cohorts as CSV text, and ways to break them one cell at a time."""

from __future__ import annotations

import csv
import io

from icans_core.readers import Source

VALID = {
    "patients": [
        ["patient_id", "product", "group", "disease", "age_years", "sex", "ecog", "last_followup_day",
         "death_day", "death_cause"],
        ["P1", "axi-cel", "Steroids + IVIG", "DLBCL", "61", "F", "1", "100", "", ""],
        ["P2", "tisa-cel", "Steroids alone", "FL", "70", "M", "0", "200", "", ""],
    ],
    "toxicity": [
        ["patient_id", "day", "crs_grade", "icans_grade", "ice_score"],
        ["P1", "1", "2", "0", "10"],
        ["P1", "5", "1", "3", "2"],
        ["P1", "9", "0", "1", "8"],
        ["P2", "2", "1", "", ""],
    ],
    "interventions": [
        ["patient_id", "agent", "start_day", "end_day", "daily_dose", "dose_unit", "route"],
        ["P1", "dexamethasone", "5", "7", "40", "mg", "IV"],
        ["P1", "IVIG", "7", "9", "0.4", "g/kg", "IV"],
    ],
    "labs": [
        ["patient_id", "day", "analyte", "value", "unit", "below_lloq"],
        ["P1", "1", "IL-6", "150", "pg/mL", "false"],
        ["P1", "2", "CRP", "5", "mg/dL", "false"],
        ["P2", "1", "IL-6", "1.5", "pg/mL", "true"],
        ["P2", "2", "IL-6", "20", "pg/mL", ""],
    ],
}


def copy_tables(tables: dict | None = None) -> dict[str, list[list[str]]]:
    """A deep copy of a cohort's rows (the valid one by default)."""
    return {name: [list(r) for r in rows] for name, rows in (tables or VALID).items()}


def with_cell(table: str, row: int, column: str, value: str, tables: dict | None = None) -> dict:
    """The cohort with one cell changed; `row` is the spreadsheet row (header = 1)."""
    out = copy_tables(tables)
    header = out[table][0]
    out[table][row - 1][header.index(column)] = value
    return out


def csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def sources(tables: dict | None = None) -> list[Source]:
    """The cohort as uploaded CSV files."""
    return [Source(f"{name}.csv", csv_text(rows).encode()) for name, rows in (tables or VALID).items()]


def ivig_study_files(sample_dir) -> dict[str, bytes]:
    """A 19-patient cohort shaped like the IVIG study (9 steroids + IVIG, 10 steroids alone), cut from the
    sample: its CSV files by name, as a user would upload them."""
    import pandas as pd
    from pathlib import Path

    folder = Path(sample_dir)
    patients = pd.read_csv(folder / "patients.csv", dtype=str, keep_default_na=False)
    ivig = patients[patients["group"] == "Steroids + IVIG"]["patient_id"].head(9)
    alone = patients[(patients["group"] == "Steroids alone") & (patients["product"] == "axi-cel")]["patient_id"].head(10)
    chosen = set(ivig) | set(alone)
    files = {}
    for table in ("patients", "toxicity", "interventions", "labs"):
        frame = pd.read_csv(folder / f"{table}.csv", dtype=str, keep_default_na=False)
        files[f"{table}.csv"] = frame[frame["patient_id"].isin(chosen)].to_csv(index=False).encode()
    return files

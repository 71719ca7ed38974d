"""Rules across rows and tables, which no single cell breaks: each one would otherwise change a result
without a word (issue 10, "Silent data changes").

- a row repeated exactly (toxicity, interventions, labs): warned; both copies load and count (a repeated
  steroid row doubles the cumulative dose), and the user is told which row it repeats;
- different grades of one syndrome for one patient at the same day value: refused, because which one
  holds would depend on row order;
(A rule that fires on many rows lists the first 100, then one problem counting the rest: `problems.capped`.)
- a negative concentration or cell count (a known analyte): refused; a negative value of another
  analyte (which may be a signed measure) is warned;
- an assessment, sample or treatment after the patient's death_day: warned; after the last_followup_day
  of a patient who did not die (the last day known alive): warned; a last_followup_day before day 0: warned.

Runs on the typed, normalised tables of `validation` (their `.frame`, `.raw` and `.spec`); every problem
names the file, the spreadsheet row, the column and the value as the user wrote it.
"""

from __future__ import annotations

import pandas as pd

from icans_core import schema as S
from icans_core.problems import MAX_ALIKE, Problem, capped, error, warning

_SYNDROMES = {"crs_grade": "CRS", "icans_grade": "ICANS"}
_DUPLICATE_EFFECT = {
    "interventions": " (a repeated dose counts twice in the cumulative steroid total)",
    "labs": " (the sample counts twice)",
    "toxicity": "",
}


def check_across_rows(tables: dict) -> list[Problem]:
    """Every cross-row and cross-table problem of a cohort's typed tables (see the module's rules)."""
    problems: list[Problem] = []
    for name in ("toxicity", "interventions", "labs"):
        if name in tables:
            problems += duplicate_rows(tables[name])
    if "toxicity" in tables:
        problems += conflicting_grades(tables["toxicity"])
    if "labs" in tables:
        problems += negative_values(tables["labs"])
    if "patients" in tables:
        for name, columns in (("toxicity", ["day"]), ("labs", ["day"]), ("interventions", ["start_day", "end_day"])):
            if name in tables:
                problems += after_death(tables["patients"], tables[name], columns)
                problems += after_last_followup(tables["patients"], tables[name], columns)
        problems += followup_before_infusion(tables["patients"])
    return problems


def _raw(table, row: int, column: str) -> object:
    frame = table.raw.frame
    return frame.at[row, column] if column in frame.columns else None


def duplicate_rows(table) -> list[Problem]:
    """A warning on every row identical (in every column of the format) to an earlier one."""
    columns = table.spec.column_names
    keys = table.frame[columns]
    repeated = keys.duplicated(keep=False)
    if not repeated.any():
        return []
    copies = keys[repeated]
    group = copies.groupby(columns, dropna=False, sort=False).ngroup()
    first_row = pd.Series(copies.index, index=copies.index).groupby(group).transform("min")
    later = copies.index[copies.index != first_row]
    source = table.raw.source
    raw = table.raw.frame
    shown = [c for c in columns if c in raw.columns]
    problems = [
        warning(source, f"Duplicate row: the same as row {int(first_row[row])} in every column. Both are loaded and "
                        f"counted{_DUPLICATE_EFFECT[table.spec.name]}; delete one if it is a copy.",
                row=int(row), column="(every column)",
                value=", ".join("" if pd.isna(raw.at[row, c]) else str(raw.at[row, c]) for c in shown))
        for row in later
    ]
    return capped(problems, source, "(every column)")


def conflicting_grades(table) -> list[Problem]:
    """An error on every assessment whose grade differs from another of the same patient, syndrome and day."""
    problems = []
    f = table.frame
    for column, syndrome in _SYNDROMES.items():
        graded = f[["patient_id", "day", column]].dropna()
        if graded.empty:
            continue
        kinds = graded.groupby(["patient_id", "day"])[column].transform("nunique")
        clash = graded[kinds > 1]
        found: list[Problem] = []
        for (_, day), rows in clash.groupby(["patient_id", "day"], sort=False):
            if len(found) > MAX_ALIKE:  # the rest are counted, not described (bounded work for any upload)
                break
            listed = ", ".join(f"row {r} says {int(g)}" for r, g in zip(rows.index, rows[column]))
            for row in rows.index:
                found.append(error(
                    table.raw.source,
                    f"Conflicting {syndrome} grades for this patient at the same time (day {day:g}: {listed}): "
                    "which one holds is undefined. Give each assessment its own time (e.g. 5.25 and 5.75), "
                    "or delete the wrong one.",
                    row=int(row), column=column, value=_raw(table, row, column)))
        if len(found) < len(clash):  # placeholders, only counted by `capped`
            described = {p.row for p in found}
            found += [error(table.raw.source, "", row=int(row), column=column)
                      for row in clash.index if int(row) not in described]
        problems += capped(found, table.raw.source, column)
    return problems


def negative_values(table) -> list[Problem]:
    """Negative lab values: an error for a known analyte (a concentration or a cell count), else a warning."""
    f = table.frame
    negative = f[(f["value"] < 0).fillna(False).astype(bool)]
    known = negative["analyte"].isin(list(S.ANALYTES))
    source = table.raw.source
    errors = capped([error(source, f"Negative {analyte}: a concentration or a cell count cannot be below 0 (a code for "
                            "missing, or for below the limit of quantification?). Give the limit with below_lloq "
                            "= true, or leave the row out.", row=int(row), column="value",
                    value=_raw(table, row, "value"))
              for row, analyte in negative.loc[known, "analyte"].items()], source, "value")
    warnings = [warning(source, "Negative value: kept as given, as this analyte is not one of the format's "
                                "concentrations or cell counts; check it is not a code for missing.",
                        row=int(row), column="value", value=_raw(table, row, "value"))
                for row in negative.index[~known]]
    return errors + capped(warnings, source, "value")


def after_death(patients, table, columns: list[str]) -> list[Problem]:
    """A warning on every row dated after its patient's death_day (on the day of death itself is fine)."""
    return _after(patients, table, columns, "death_day", "After death", "death_day")


def after_last_followup(patients, table, columns: list[str]) -> list[Problem]:
    """A warning on every row of a patient without a death_day dated after their last_followup_day, the last
    day they were known alive: a resolution assessed then would be counted, so the user must check it."""
    alive = patients.frame["death_day"].isna() if "death_day" in patients.frame.columns else True
    return _after(patients, table, columns, "last_followup_day", "After the last follow-up",
                  "last_followup_day (the last day the patient was known alive)", only=alive)


def followup_before_infusion(patients) -> list[Problem]:
    """A warning on a last_followup_day before day 0: follow-up is counted from the CAR-T infusion."""
    frame = patients.frame
    early = frame["last_followup_day"].astype("Float64").lt(0).fillna(False).astype(bool)
    found = [warning(patients.raw.source, f"Last follow-up before the infusion (day {frame.at[row, 'last_followup_day']:g}): "
                                          "follow-up is counted from day 0. Kept as given; check the day.",
                     row=int(row), column="last_followup_day", value=_raw(patients, row, "last_followup_day"))
             for row in early[early].index]
    return capped(found, patients.raw.source, "last_followup_day")


def _after(patients, table, columns: list[str], limit_column: str, title: str, limit_text: str,
           only=True) -> list[Problem]:
    p = patients.frame
    if limit_column not in p.columns:
        return []
    chosen = p[limit_column].notna() & only
    limits = p.loc[chosen, ["patient_id", limit_column]].drop_duplicates("patient_id")
    if limits.empty:
        return []
    limit = table.frame["patient_id"].map(limits.set_index("patient_id")[limit_column]).astype("Float64")
    # a whole day is a date without a time: anything on that day may still be before it ends
    whole = limit == limit.round()
    problems = []
    flagged = pd.Series(False, index=table.frame.index)
    for column in columns:
        day = table.frame[column].astype("Float64")
        late = ((whole & (day >= limit + 1)) | (~whole & (day > limit))).fillna(False).astype(bool) & ~flagged
        flagged |= late
        found = [warning(table.raw.source, f"{title}: day {day[row]:g} is after this patient's {limit_text} "
                                           f"({limit[row]:g}). Kept as given; check the day and the {limit_column}.",
                         row=int(row), column=column, value=_raw(table, row, column))
                 for row in late[late].index]
        problems += capped(found, table.raw.source, column)
    return problems

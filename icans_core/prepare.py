"""`python -m icans_core prepare`: calendar dates become days since infusion, on the user's machine.

Run locally, so dates never reach the server. Input: the contract's input forms (a workbook, a
.zip of CSVs, CSV / Parquet files named after the tables) whose patients table has each patient's
infusion date (column `infusion_date` unless told otherwise). For every table:
- a day column of the contract (day, start_day, end_day, last_followup_day, death_day, onset_day,
  resolution_day) holding dates, or a column named after one with "date" for "day" (date ->
  day, start_date -> start_day, death_date -> death_day, ...), is converted: day = calendar days
  from the infusion date (day 0 = infusion day) + the time of day as a fraction (06:00 = .25).
  Cells already holding a number of days are kept as they are;
- the infusion date, columns named like an identifier (name, MRN, date of birth, ...), and columns
  outside the contract are dropped; every removal is listed in prepare-report.csv;
- anything that cannot be converted is refused, naming the file, row, column and value: a date
  that cannot be read, a day-first / month-first date without --date-order, a patient without an
  infusion date, a date or identifier in a contract text column.
The result is validated like an upload before anything is written (all-or-nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import pandas as pd

from icans_core import deidentify
from icans_core import schema as S
from icans_core.ingest import load_raw_tables
from icans_core.limits import Limits
from icans_core.problems import Problem, error, show_value
from icans_core.readers import TEXT, RawTable, Source, read_sources, sources_from_paths

REPORT_NAME = "prepare-report.csv"
REPORT_COLUMNS = ["table", "column", "rows", "action", "detail"]
_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?$")
_NUMERIC = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{2,4})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_WORDY_FORMATS = ("%d-%b-%Y", "%d %b %Y", "%d %B %Y", "%d-%B-%Y", "%B %d, %Y", "%b %d, %Y", "%B %d %Y", "%b %d %Y")
_NUMBER = re.compile(r"^-?\d+(?:[.,]\d+)?$")


class DateProblem(ValueError):
    """A cell that cannot be read as a date (the message says why)."""


def parse_date(text: str, date_order: str | None) -> datetime | None:
    """The date (and time) a cell holds, None if it does not look like a date; DateProblem if it does but
    cannot be read unambiguously."""
    text = text.strip()
    if m := _ISO.match(text):
        parts = [int(p) if p else 0 for p in m.groups()]
        return _build(text, *parts)
    if m := _NUMERIC.match(text):
        a, b, year = int(m[1]), int(m[2]), m[3]
        if len(year) != 4:
            raise DateProblem("Write the year with four digits (a two-digit year cannot be read safely).")
        if date_order is None:
            raise DateProblem("Day first or month first? Run prepare with --date-order dmy (03/04/2024 = 3 April) "
                              "or --date-order mdy (= March 4).")
        day, month = (a, b) if date_order == "dmy" else (b, a)
        return _build(text, int(year), month, day, int(m[4] or 0), int(m[5] or 0), int(m[6] or 0))
    for pattern in _WORDY_FORMATS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    if re.search(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}", text) or re.match(r"^\d{1,2}[-\s][A-Za-z]{3,9}", text):
        raise DateProblem("Looks like a date but cannot be read: use YYYY-MM-DD (optionally with HH:MM).")
    return None


def _build(text: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise DateProblem(f"Not a calendar date ({exc}).") from None


def days_since(moment: datetime, infusion: datetime) -> float:
    """Days since the infusion day (day 0), with the time of day as a fraction: the contract's time."""
    whole = (moment.date() - infusion.date()).days
    fraction = (moment.hour * 3600 + moment.minute * 60 + moment.second) / 86400
    return round(whole + fraction, 6)


def _day_columns(spec: S.TableSpec) -> list[str]:
    return [c.name for c in spec.columns if c.kind == "number" and c.minimum == S.EARLIEST_DAY]


def _dated_name(column: str, spec: S.TableSpec) -> str | None:
    """The day column a dated column stands for: date -> day, start_date -> start_day, ..."""
    days = _day_columns(spec)
    for candidate in (re.sub(r"(^|_)date($|_)", r"\1day\2", column), column.replace("date", "day")):
        if candidate in days and candidate != column:
            return candidate
    return None


@dataclass
class Prepared:
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # contract columns, as text
    removed: list[dict] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # what the user wrote where prepare wrote something else: (source, row, output column) -> (input column,
    # the cell as given, what it became); and renamed columns: (source, output column) -> input column
    origins: dict[tuple[str, int, str], tuple[str, str, str]] = field(default_factory=dict)
    renamed: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def report(self) -> pd.DataFrame:
        """What was removed or converted. Columns: table, column, rows, action, detail."""
        return pd.DataFrame(self.removed, columns=REPORT_COLUMNS)

    def write(self, out_dir) -> list[Path]:
        """Write the contract CSV files and prepare-report.csv; return the paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, frame in self.tables.items():
            path = out / f"{name}.csv"
            frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n", na_rep="")
            paths.append(path)
        path = out / REPORT_NAME
        self.report.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
        return [*paths, path]


def prepare_paths(paths: list, infusion_column: str = "infusion_date", date_order: str | None = None) -> Prepared:
    """Prepare files or folders on disk (the command line's input)."""
    sources, problems = sources_from_paths(paths)
    if problems:
        return Prepared(problems=problems)
    return prepare_sources(sources, infusion_column, date_order)


def prepare_sources(sources: list[Source], infusion_column: str = "infusion_date",
                    date_order: str | None = None) -> Prepared:
    """Convert dated tables into contract tables; every problem named, nothing returned on error."""
    raw_tables, problems = read_sources(sources, Limits.from_environment().for_files_on_disk())
    result = Prepared(problems=list(problems))
    if result.errors:
        return result
    infusion_column = infusion_column.strip().lower()
    patients = next((t for t in raw_tables if t.table == "patients"), None)
    if patients is None:
        result.problems.append(error("(cohort)", "The patients table is missing: it must hold each patient's "
                                                 "infusion date."))
        return result
    infusions = _infusion_dates(patients, infusion_column, date_order, result)  # errors listed, then the rest
    for raw in raw_tables:
        result.tables[raw.table] = _prepare_table(raw, infusions, infusion_column, date_order, result)
    if result.errors:
        result.tables = {}
        return result
    # the prepared tables must load exactly as an upload would
    prepared_raw = [RawTable(name, raw.source, frame.set_axis(raw.frame.index, axis=0))
                    for (name, frame), raw in zip(result.tables.items(), raw_tables)]
    check = load_raw_tables(prepared_raw, [], [])
    result.problems += [_as_given(p, result) for p in check.problems]
    if result.errors:
        result.tables = {}
    return result


def _infusion_dates(patients: RawTable, column: str, date_order: str | None, result: Prepared) -> dict[str, datetime]:
    frame = patients.frame
    if column not in frame.columns:
        result.problems.append(error(patients.source, f"The patients table has no '{column}' column: prepare needs "
                                                      "each patient's infusion date (or name the column with "
                                                      "--infusion-date-column).", row=1, column=column))
        return {}
    if "patient_id" not in frame.columns:
        result.problems.append(error(patients.source, "The patients table has no 'patient_id' column.", row=1,
                                     column="patient_id"))
        return {}
    found = {}
    for row, patient, value in zip(frame.index, frame["patient_id"], frame[column]):
        if pd.isna(value):
            result.problems.append(error(patients.source, "No infusion date: days since infusion cannot be "
                                                          "computed for this patient.", row=int(row), column=column))
            continue
        try:
            moment = parse_date(value, date_order)
        except DateProblem as problem:
            result.problems.append(error(patients.source, str(problem), row=int(row), column=column, value=value))
            continue
        if moment is None:
            result.problems.append(error(patients.source, "Not a date: the infusion date must be a calendar date.",
                                         row=int(row), column=column, value=value))
            continue
        if not pd.isna(patient):
            found[str(patient)] = moment
    return found


def _prepare_table(raw: RawTable, infusions: dict[str, datetime], infusion_column: str, date_order: str | None,
                   result: Prepared) -> pd.DataFrame:
    spec = S.TABLES[raw.table]
    frame = raw.frame
    out: dict[str, pd.Series] = {}
    targets: dict[str, str] = {}  # output day column -> input column
    for column in frame.columns:
        removed = _removal(raw.table, column, spec, infusion_column, frame[column])
        if removed:
            result.removed.append({"table": raw.table, "column": column, "rows": int(frame[column].notna().sum()),
                                   "action": "removed", "detail": removed})
            continue
        target = column if column in _day_columns(spec) else _dated_name(column, spec)
        if target is not None:
            if target in targets:
                result.problems.append(error(raw.source, f"Both '{targets[target]}' and '{column}' give {target}: keep "
                                                         "one of them.", row=1, column=column))
                continue
            targets[target] = column
            out[target] = _convert_days(raw, column, infusions, date_order, result)
            if target != column:
                result.renamed[(raw.source, target)] = column
                result.removed.append({"table": raw.table, "column": column, "rows": int(frame[column].notna().sum()),
                                       "action": "converted", "detail": f"dates -> {target} (days since infusion)"})
            continue
        out[column] = _checked_text(raw, column, spec, result)
    if raw.decimal_comma:  # the output is a comma-separated CSV, where the dot is the decimal mark
        for name in [c for c in out if spec.column(c).kind in ("number", "integer")]:
            out[name] = _decimal_points(raw, targets.get(name, name), name, out[name], result)
    columns = [c for c in spec.column_names if c in out]
    return pd.DataFrame({c: out[c] for c in columns}, index=frame.index).reset_index(drop=True)


_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+$")


def _decimal_points(raw: RawTable, column: str, name: str, cells: pd.Series, result: Prepared) -> pd.Series:
    """A semicolon CSV's numbers for the comma-separated output: a decimal comma becomes a decimal point
    (14,25 -> 14.25, listed in the report), after the upload's rule for ambiguous notation (1.500, 1,000:
    refused, naming the cell as given). Only cells as the user wrote them: a converted date is a day already."""
    from icans_core.validation import _ambiguous_notation

    given = raw.frame[column]
    own = cells[(cells == given).fillna(False).astype(bool)]
    for row, problem in _ambiguous_notation(own).items():
        result.problems.append(error(raw.source, problem, row=int(row), column=column, value=given.at[row]))
    commas = own[own.str.fullmatch(_DECIMAL_COMMA.pattern).fillna(False).astype(bool)]
    if commas.empty:
        return cells
    for row, value in commas.items():
        result.origins[(raw.source, int(row), name)] = (column, value, value.replace(",", "."))
    result.removed.append({"table": raw.table, "column": column, "rows": len(commas), "action": "converted",
                           "detail": "decimal commas written as decimal points (14,25 -> 14.25)"})
    return cells.mask(cells.index.isin(commas.index), commas.str.replace(",", ".", regex=False)).astype(TEXT)


def _as_given(problem: Problem, result: Prepared) -> Problem:
    """A problem found in the prepared tables, pointed at the cell as the user wrote it: the user's column
    name, and the user's text as the value (a date, not the day it became), with what prepare made of it."""
    if problem.column is None:
        return problem
    origin = result.origins.get((problem.source, problem.row, problem.column)) if problem.row is not None else None
    if origin is None:
        column = result.renamed.get((problem.source, problem.column))
        return problem if column is None else replace(problem, column=column)
    column, given, made = origin
    return replace(problem, column=column, value=show_value(given),
                   problem=f"{problem.problem} (The cell as given, '{given}', was converted by prepare to {made}.)")


def _removal(table: str, column: str, spec: S.TableSpec, infusion_column: str, cells: pd.Series) -> str | None:
    """Why a column is dropped, or None if it is kept."""
    if table == "patients" and column == infusion_column:
        return "the infusion date (each patient's day 0)"
    what = deidentify.identifier_column(column)
    if what:
        return f"an identifier column ({what})"
    if column in spec.column_names or _dated_name(column, spec):
        return None
    dated = any(deidentify.identifier_value(str(v)) for v in cells.dropna().unique()[:10_000])
    return ("not part of the data format, and it holds dates or identifiers" if dated
            else "not part of the data format")


def _convert_days(raw: RawTable, column: str, infusions: dict[str, datetime], date_order: str | None,
                  result: Prepared) -> pd.Series:
    cells = raw.frame[column]
    patients = raw.frame["patient_id"] if "patient_id" in raw.frame.columns else pd.Series(pd.NA, index=cells.index)
    out = []
    for row, patient, value in zip(cells.index, patients, cells):
        if pd.isna(value):
            out.append(None)
            continue
        if _NUMBER.match(value):
            out.append(value)  # already a number of days
            continue
        try:
            moment = parse_date(value, date_order)
        except DateProblem as problem:
            result.problems.append(error(raw.source, str(problem), row=int(row), column=column, value=value))
            out.append(None)
            continue
        if moment is None:
            result.problems.append(error(raw.source, "Neither a date nor a number of days.", row=int(row),
                                         column=column, value=value))
            out.append(None)
            continue
        infusion = infusions.get(str(patient)) if not pd.isna(patient) else None
        if infusion is None:
            result.problems.append(error(raw.source, "This row's patient has no infusion date in the patients table: "
                                                     "the date cannot be converted.", row=int(row),
                                         column="patient_id", value=patient))
            out.append(None)
            continue
        day = f"{days_since(moment, infusion):.10g}"
        result.origins[(raw.source, int(row), _output_name(raw, column))] = (column, value, f"day {day}")
        out.append(day)
    return pd.Series(out, index=cells.index, dtype=TEXT)


def _output_name(raw: RawTable, column: str) -> str:
    spec = S.TABLES[raw.table]
    return column if column in _day_columns(spec) else (_dated_name(column, spec) or column)


def _checked_text(raw: RawTable, column: str, spec: S.TableSpec, result: Prepared) -> pd.Series:
    """A kept column: a contract text column must hold no date or identifier (it cannot be converted)."""
    cells = raw.frame[column]
    if spec.column(column).kind == "text":
        for row, value in cells.dropna().items():
            what = deidentify.identifier_value(str(value))
            if what:
                result.problems.append(error(raw.source, f"This value looks like {what}; prepare cannot convert it. "
                                                         "Replace it (a pseudonym, or days since infusion) and run "
                                                         "prepare again.", row=int(row), column=column, value=value))
    return cells

"""Problems found while reading or validating a cohort, and the report users read.

A problem names where it is (file or sheet, spreadsheet row, column), the value
found and what is wrong. Errors stop a cohort from loading; warnings do not.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Literal

import pandas as pd

Severity = Literal["error", "warning"]
REPORT_COLUMNS = ["severity", "source", "row", "column", "value", "problem"]


@dataclass(frozen=True)
class Problem:
    severity: Severity
    source: str  # file name, or "workbook.xlsx › sheet"
    row: int | None  # spreadsheet row: the header is row 1, the first data row is row 2
    column: str | None
    value: str | None
    problem: str


def error(source: str, problem: str, row: int | None = None, column: str | None = None,
          value: object = None) -> Problem:
    """An error: the cohort will not load."""
    return Problem("error", source, row, column, show_value(value), problem)


def warning(source: str, problem: str, row: int | None = None, column: str | None = None,
            value: object = None) -> Problem:
    """A warning: the cohort loads, and the user is told."""
    return Problem("warning", source, row, column, show_value(value), problem)


# Control characters, and the invisible ones that change how text looks or reads: zero-width
# spaces and joiners, bidirectional overrides (U+202E shows "P1\u202e3x" as "P1x3"), the BOM.
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e"
                        r"\u2060-\u2064\u2066-\u206f\ufeff]")


# A rule that fires on a whole column (an id column formatted 000, a registry's duplicated export) would
# otherwise bury the report under a million alike lines.
MAX_ALIKE = 100


def capped(problems: list[Problem], source: str, column: str | None, limit: int = MAX_ALIKE) -> list[Problem]:
    """The first `limit` problems of one kind, then one that says how many more there are and where."""
    if len(problems) <= limit:
        return problems
    rest = problems[limit:]
    rows = [p.row for p in rest if p.row is not None]
    where = f" (rows {min(rows):,} to {max(rows):,})" if rows else ""
    first = problems[0]
    return problems[:limit] + [Problem(first.severity, source, rest[0].row, column, None,
                                       f"...and {len(rest):,} more like the above{where}: {first.problem}")]


def show_value(value: object) -> str | None:
    """A cell value as the user would recognise it, shortened if long; invisible characters are
    written as escapes (\\u200d), so that a value that looks right shows why it is not."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    text = str(value)
    if not text.strip():
        return None
    text = text if len(text) <= 80 else text[:77] + "..."
    return _INVISIBLE.sub(_escape, text)


def _escape(match: re.Match) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def report_frame(problems: list[Problem]) -> pd.DataFrame:
    """The validation report: one row per problem, errors first, in file and row order.

    Columns: severity, source, row (Int64, spreadsheet row), column, value, problem.
    """
    frame = pd.DataFrame([asdict(p) for p in problems], columns=REPORT_COLUMNS)
    frame["row"] = frame["row"].astype("Int64")
    order = frame["severity"].map({"error": 0, "warning": 1})
    frame = frame.assign(_order=order).sort_values(
        ["_order", "source", "row", "column"], na_position="first", kind="stable"
    )
    return frame.drop(columns="_order").reset_index(drop=True)


def format_problem(p: Problem) -> str:
    """One problem as a line of text for the command line."""
    where = p.source
    if p.row is not None:
        where += f", row {p.row}"
    if p.column:
        where += f", column {p.column}"
    value = f" (value: {p.value!r})" if p.value is not None else ""
    return f"{p.severity.upper()}: {where}: {p.problem}{value}"

"""The pieces a view is made of, and how their numbers are written, shared by every renderer.

A view (icans_core.content.<view>.build) returns a `View`: a title and a list of sections, each
one of the dataclasses below. The Streamlit page (ui/render.py), the HTML report
(icans_core/report.py) and the PDF report (icans_core/report_pdf.py) walk the same list, so they
cannot show different figures, tables or captions. Text is plain text, never markup: each
renderer escapes it for its own medium.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import altair as alt
import numpy as np
import pandas as pd

from icans_core.spreadsheet_safe import spreadsheet_csv

NOT_REACHED = "not reached"


@dataclass(frozen=True)
class Heading:
    text: str


@dataclass(frozen=True)
class Note:
    """A sentence or paragraph; kind is 'text', 'caption', 'info' (an absent result) or 'warning'."""

    text: str
    kind: str = "text"


@dataclass(frozen=True)
class Bullets:
    title: str
    items: list[str]


@dataclass(frozen=True)
class Numbers:
    """Key numbers in large type: a frame with measure, value, detail."""

    frame: pd.DataFrame


@dataclass(frozen=True)
class Figure:
    """A chart, the frame its CSV download holds, the file stem of its PNG/SVG/CSV and a caption."""

    chart: alt.TopLevelMixin
    data: pd.DataFrame
    stem: str
    key: str
    caption: str = ""


@dataclass(frozen=True)
class Table:
    """A table as shown (display text per cell) and as downloaded (the frame itself).

    formats: column -> 'p' (3 significant digits), 'percent' (0-1 as %), 'pct' (0-100 as %),
    'int', or a Python format spec such as '.1f'; other float columns get 4 significant digits.
    missing: column -> text for a blank cell (e.g. 'not reached'); a blank cell is otherwise empty.
    limit: the reports show the first `limit` rows (patient-level tables); the page shows all.
    collapsed: the page shows it folded (an expander titled with the caption's heading).
    """

    frame: pd.DataFrame
    stem: str
    key: str
    caption: str = ""
    formats: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    limit: int | None = None
    collapsed: str | None = None


@dataclass
class View:
    """One clinical view: its name (the report's anchor), title and sections in reading order.

    context holds what a page needs besides the sections (e.g. the lanes' patient order).
    """

    name: str
    title: str
    sections: list = field(default_factory=list)
    context: dict = field(default_factory=dict)

    def figures(self) -> list[Figure]:
        return [s for s in self.sections if isinstance(s, Figure)]

    def tables(self) -> list[Table]:
        return [s for s in self.sections if isinstance(s, Table)]

    def add(self, *sections) -> "View":
        self.sections.extend(sections)
        return self


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 patient', '2 patients' (and '1,000 patients')."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def csv_text(frame: pd.DataFrame) -> str:
    """The frame as CSV, written as every CSV of the app is (spreadsheet_safe.spreadsheet_csv): formula-safe
    cells and every number exactly (the shortest text that reads back as the same number)."""
    return spreadsheet_csv(frame)


def format_cell(value, fmt: str | None = None, missing: str = "") -> str:
    """One cell as a table shows it (a blank for missing values, never 'None' or 'nan')."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return missing
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)) and fmt in (None, "int", "p"):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if fmt == "p":
            return "< 0.001" if value < 0.001 else f"{value:.3g}"
        if fmt == "percent":
            return f"{100 * value:.0f}%"
        if fmt == "pct":
            return f"{value:.0f}%"
        if fmt == "int":
            return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.0f}"
        if fmt:
            return format(value, fmt)
        if value.is_integer() and abs(value) < 1e15:
            return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.0f}"
        if abs(value) >= 1e4:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def display_frame(table: Table, rows: int | None = None) -> pd.DataFrame:
    """The table's cells as text (what every renderer shows), optionally only the first `rows` rows."""
    frame = table.frame if rows is None else table.frame.head(rows)
    out = pd.DataFrame(index=range(len(frame)))
    for column in frame.columns:
        fmt, missing = table.formats.get(column), table.missing.get(column, "")
        out[str(column)] = [format_cell(v, fmt, missing) for v in frame[column].tolist()]
    return out

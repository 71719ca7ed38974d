"""Read every input form of the contract into raw tables, without judging their values.

Forms: one .xlsx workbook (a sheet per table), a .zip of CSV files named after the
tables, separate .csv / .parquet files named after the tables. A raw table keeps
every cell as read (strings from CSV; numbers, booleans or datetimes from xlsx and
parquet) and is indexed by the spreadsheet row the user sees (header = row 1), so
every later message can point at the right row. Problems are collected, never raised.

Hostile input is stopped here, before it costs memory or time: the limits of `icans_core.limits`
(upload size, rows per table, archive expansion, columns) are checked as early and as cheaply as
each form allows, e.g. a CSV's rows are counted before one is parsed. (Only a malformed limit
setting raises: that is the deployment's error, not the upload's.)
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from itertools import islice
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pa_compute

from icans_core import limits as L
from icans_core.cancel import checkpoint
from icans_core.limits import Limits
from icans_core.problems import MAX_ALIKE, Problem, capped, error, warning
from icans_core.schema import INFO_SHEETS, TABLES

XLSX_MAGIC = b"PK\x03\x04"  # an .xlsx is a zip archive
# Compound-file header: an old .xls, or an .xlsx encrypted with a password (Excel wraps those in one)
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
UTF8_BOM = b"\xef\xbb\xbf"  # accepted before the header (Excel's "CSV UTF-8" writes it)
TEXT = "string[pyarrow]"
PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class Source:
    """One input as the user gave it: a file name and its bytes."""

    name: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class RawTable:
    """A table as read: object cells, indexed by spreadsheet row, columns trimmed and lower-cased."""

    table: str
    source: str
    frame: pd.DataFrame
    decimal_comma: bool = False


def read_sources(sources: list[Source], limits: Limits | None = None) -> tuple[list[RawTable], list[Problem]]:
    """Read every source into raw tables; problems name the file and what is wrong.

    `limits` defaults to the limits in force (`Limits.from_environment()`): an upload over the
    size limit is refused before any of it is read, a table over the row limit as soon as it is counted.
    """
    limits = limits or Limits.from_environment()
    tables: list[RawTable] = []
    problems: list[Problem] = []
    if not sources:
        problems.append(error("(no input)", "No files were given. Upload a .xlsx workbook, a .zip "
                              "of CSV files, or CSV / Parquet files named after the tables."))
    total = sum(len(s.data) for s in sources)
    if limits.max_upload_bytes is not None and total > limits.max_upload_bytes:
        names = ", ".join(s.name for s in sources)
        return [], [error(names if len(names) <= 120 else names[:117] + "...",
                          f"The upload is {_size(total)}, more than the limit of "
                          f"{_size(limits.max_upload_bytes)}. Zip the CSV files, or check the cohort "
                          "with `python -m icans_core validate`; the server's administrator can raise the "
                          f"limit with the environment variable {L.UPLOAD_ENV} (and server.maxUploadSize).")]
    for source in sources:
        checkpoint()
        found, found_problems = _read_source(source, limits)
        tables += found
        problems += found_problems
    problems += _duplicate_tables(tables)
    return tables, problems


def _size(n: int) -> str:
    return f"{n / L.MIB:,.1f} MB" if n >= L.MIB // 10 else f"{n:,} bytes"


def _read_source(source: Source, limits: Limits) -> tuple[list[RawTable], list[Problem]]:
    suffix = PurePosixPath(source.name).suffix.lower()
    if not source.data:
        return [], [error(source.name, "The file is empty.")]
    try:
        if suffix == ".xlsx":
            return _read_workbook(source, limits)
        if suffix == ".zip":
            return _read_zip(source, limits)
        if suffix in (".csv", ".parquet"):
            table = _table_name(source.name)
            if table is None:
                return [], [_unknown_table(source.name)]
            reader = _read_csv if suffix == ".csv" else _read_parquet
            return reader(source.name, source.data, table, limits)
    except Exception as exc:  # any reader failure becomes a message, never a traceback
        return [], [error(source.name, f"The file could not be read as {suffix[1:]}: {_short(exc)}")]
    return [], [error(source.name, "Unsupported file type. Use .xlsx, .zip, .csv or .parquet.")]


def _table_name(file_name: str) -> str | None:
    stem = PurePosixPath(file_name).stem.strip().lower()
    return stem if stem in TABLES else None


def _unknown_table(where: str) -> Problem:
    names = ", ".join(TABLES)
    return error(where, f"Not a table of the data format: the name must be one of {names}.")


def _short(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _too_many_rows(where: str, table: str, limits: Limits, row: int | None = None) -> Problem:
    return error(where, f"The '{table}' table has more than {limits.max_rows:,} rows, the most one table may "
                        "have (this row is the first beyond it). The limit is the environment variable "
                        f"{L.ROWS_ENV}: the server's administrator can raise it, and on the command line "
                        "you can set it yourself.", row=row or limits.max_rows + 2)


def _too_many_columns(where: str, width: int) -> Problem:
    return error(where, f"The header has {width:,} columns, more than the {L.MAX_COLUMNS:,} a table may have "
                        "(the widest table of the format has 10): the file is malformed.", row=1)


def _not_csv_text(where: str, data: bytes) -> Problem | None:
    """Binary files named .csv, refused with what they are (checked before decoding a byte)."""
    if data.startswith(XLSX_MAGIC):
        return error(where, "This is a .zip archive or an .xlsx workbook, not CSV text: give it its "
                            "own extension (.zip or .xlsx).")
    if data.startswith(OLE_MAGIC):
        return error(where, "This is an Excel .xls workbook, not CSV text: save it as 'CSV UTF-8'.")
    if data.startswith(UTF16_BOMS):
        return error(where, "This is UTF-16 text (Excel's 'Unicode Text'), not UTF-8: save the file as "
                            "'CSV UTF-8' and upload it again.")
    return None


def _more_records_than(text: str, delimiter: str, limit: int) -> bool:
    """Whether the CSV text holds more than `limit` records, found without parsing it when possible.

    A record ends at a line break outside quotes, so line breaks + 1 bound the records from above,
    and without any quote character they are the records: both are counted at C speed. Otherwise
    the records are counted as csv reads them, stopping at the limit.
    """
    breaks = text.count("\n")
    if "\r" in text:  # (a search stops at the first; most files have none, and counting is slower)
        breaks += text.count("\r") - text.count("\r\n")
    if breaks + 1 <= limit:
        return False
    if '"' not in text:
        return breaks + (not text.endswith(("\n", "\r"))) > limit
    records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return sum(1 for _ in islice(records, limit + 1)) > limit
    except csv.Error:
        return False  # malformed: the full read reports it with its row


def _read_csv(where: str, data: bytes, table: str, limits: Limits) -> tuple[list[RawTable], list[Problem]]:
    if (binary := _not_csv_text(where, data)) is not None:
        return [], [binary]
    try:
        text = data.decode("utf-8-sig")  # a BOM is accepted
    except UnicodeDecodeError as exc:
        return [], [error(where, f"Not UTF-8 text (byte {exc.start}). Save the file as "
                                 "'CSV UTF-8' and upload it again.")]
    if "\x00" in text:
        return [], [error(where, "The file contains NUL bytes: it is not a CSV text file.")]
    if not text or text.isspace():  # as `not text.strip()`, without a copy of the text
        return [], [error(where, "The file is empty.")]
    delimiter = _sniff_delimiter(text)
    if _more_records_than(text, delimiter, limits.max_rows + 1):  # the header, then the rows
        return [], [_too_many_rows(where, table, limits)]
    if (fast := _read_plain_csv(where, text, data, delimiter, table)) is not None:
        return fast
    # csv.reader rather than pandas: it yields every record, blank ones included, so
    # record numbers are the spreadsheet rows the user sees, and ragged rows can be named.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        records = list(reader)
    except csv.Error as exc:
        return [], [error(where, _csv_problem(exc), row=reader.line_num)]
    header, body = records[0], records[1:]
    if not any(h.strip() for h in header):
        return [], [error(where, "The first row must be the header (column names); it is empty.", row=1)]
    width = len(header)
    if width > L.MAX_COLUMNS:
        return [], [_too_many_columns(where, width)]
    problems = [
        error(where, f"This row has {len(r)} fields but the header has {width}: the CSV is malformed "
                     "(a stray delimiter, or an unquoted value containing one).", row=i)
        for i, r in enumerate(body, start=2) if len(r) > width and any(v.strip() for v in r[width:])
    ]
    if problems:
        return [], problems
    rows = [r[:width] + [""] * (width - len(r)) if len(r) != width else r for r in body]
    columns = list(zip(*rows)) if rows else [()] * width
    frame = pd.DataFrame({i: pd.Series(list(c), dtype=TEXT) for i, c in enumerate(columns)})
    frame.columns = header
    frame.index = pd.RangeIndex(2, len(rows) + 2)
    return [RawTable(table, where, _tidy(frame), decimal_comma=delimiter == ";")], []


def _read_plain_csv(where: str, text: str, data: bytes, delimiter: str,
                    table: str) -> tuple[list[RawTable], list[Problem]] | None:
    """The table read by Arrow's CSV reader, as text, when the file is plain; else None (read by csv.reader).

    Plain: no quote character, no blank line before the last row, one line break convention, every row as
    wide as the header, no cell over csv's field limit. Then each line is one record, so the rows are
    numbered exactly as csv.reader numbers them, and the cells are the same strings; Arrow reads them
    in C without a Python object per cell (2.5 million rows: seconds, not a minute and gigabytes).

    `text` is `data` decoded (so `data` is UTF-8): the checks and Arrow read the bytes themselves, a
    line break or quote being the same byte in UTF-8 as in the text, with no copy of the file made.
    """
    import pyarrow.csv as pa_csv

    start = len(UTF8_BOM) if data.startswith(UTF8_BOM) else 0
    end = len(data)
    while end > start and data[end - 1] in b"\r\n":  # the body: without the line breaks at its end
        end -= 1
    if data.find(b'"', start) >= 0 or data.find(b"\n\n", start, end) >= 0 or data.find(b"\r\r", start, end) >= 0:
        return None
    if data.find(b"\r", start, end) >= 0 and (data.count(b"\r") != data.count(b"\r\n")
                                              or data.find(b"\r\n\r\n", start, end) >= 0):
        return None
    line = text.find("\n")
    try:
        header = next(csv.reader([text.rstrip("\r\n") if line < 0 else text[:line].rstrip("\r")],
                                 delimiter=delimiter))
    except csv.Error:
        return None  # a header name over csv's field limit: the full read names the row
    if not any(h.strip() for h in header) or len(header) > L.MAX_COLUMNS or len(set(header)) != len(header):
        return None  # the full read reports it
    names = [f"c{i}" for i in range(len(header))]
    try:
        parsed = pa_csv.read_csv(
            pa.BufferReader(pa.py_buffer(data)[start:end]),
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, quote_char=False, ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(column_types={n: pa.large_string() for n in names},
                                                  strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # a ragged row, or anything unusual: the full read says what and where
    for column in parsed.columns:
        # a cell's bytes bound its characters: count characters only in a column where that can matter
        if len(column) and pa_compute.max(pa_compute.binary_length(column)).as_py() > csv.field_size_limit() \
                and pa_compute.max(pa_compute.utf8_length(column)).as_py() > csv.field_size_limit():
            return None
    frame = pd.DataFrame({i: pd.Series(pd.arrays.ArrowStringArray(parsed.column(i).combine_chunks()), dtype=TEXT)
                          for i in range(len(names))})
    frame.columns = header
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    return [RawTable(table, where, _tidy(frame), decimal_comma=delimiter == ";")], []


def _csv_problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return (f"A cell is longer than {csv.field_size_limit():,} characters (perhaps a quote that is "
                "never closed): the CSV is malformed.")
    return f"The CSV is malformed: {_short(exc)}."


def _sniff_delimiter(text: str) -> str:
    end = text.find("\n")
    header = text[:end] if end >= 0 else text  # not split(): that would copy the whole text
    return ";" if header.count(";") > header.count(",") else ","


def _read_parquet(where: str, data: bytes, table: str, limits: Limits) -> tuple[list[RawTable], list[Problem]]:
    import pyarrow.parquet as pq

    if not data.startswith(PARQUET_MAGIC):
        return [], [error(where, "Not a Parquet file (the file does not start with PAR1).")]
    metadata = pq.ParquetFile(io.BytesIO(data)).metadata  # the footer: counts without reading the data
    if metadata.num_rows > limits.max_rows:
        return [], [_too_many_rows(where, table, limits)]
    if metadata.num_columns > L.MAX_COLUMNS:
        return [], [_too_many_columns(where, metadata.num_columns)]
    frame = pd.read_parquet(io.BytesIO(data))
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    return [RawTable(table, where, _tidy(frame))], []


def _read_workbook(source: Source, limits: Limits) -> tuple[list[RawTable], list[Problem]]:
    import openpyxl  # DuckDB's excel extension downloads at run time; openpyxl does not

    if source.data.startswith(OLE_MAGIC):
        return [], [error(source.name, "This is a password-protected (encrypted) workbook or an old .xls "
                                       "file, which cannot be read. Remove the password, or save it as "
                                       "'Excel Workbook (.xlsx)', and upload it again.")]
    if not source.data.startswith(XLSX_MAGIC):
        return [], [error(source.name, "Not an .xlsx workbook. Save it from your spreadsheet "
                                       "program as 'Excel Workbook (.xlsx)'.")]
    try:
        archive = zipfile.ZipFile(io.BytesIO(source.data))
    except zipfile.BadZipFile:
        return [], [error(source.name, "The workbook is damaged (perhaps cut short while uploading or "
                                       "saving): it could not be read. Save it again and upload it.")]
    with archive:
        # the workbook's XML is decompressed by openpyxl: the same guard as for a .zip
        if (bomb := _expansion_problem(source, archive.infolist(), limits)) is not None:
            return [], [bomb]
    try:
        book = openpyxl.load_workbook(io.BytesIO(source.data), read_only=True, data_only=True)
    except Exception as exc:
        return [], [error(source.name, "The workbook could not be read (it is damaged, or not a workbook "
                                       f"Excel would open): {_short(exc)}")]
    tables, problems = [], []
    try:
        recomputes = _recomputes_on_load(book)  # one workbook.xml for every sheet
        for sheet in book.worksheets:
            where = f"{source.name} › {sheet.title}"
            table = sheet.title.strip().lower()
            if table in INFO_SHEETS:
                continue  # the template's own documentation sheets
            if table not in TABLES:
                problems.append(warning(where, "Sheet ignored: its name is not a table of the data "
                                               f"format ({', '.join(TABLES)})."))
                continue
            if (hidden := _hidden_sheet(sheet, where, table)) is not None:
                problems.append(hidden)
                if hidden.severity == "error":
                    continue
            found, found_problems = _read_sheet(sheet, where, table, limits, recomputes)
            tables += found
            problems += found_problems
    finally:
        book.close()
    return tables, problems


def _hidden_sheet(sheet, where: str, table: str) -> Problem | None:
    """A hidden table sheet is read, with a warning (the user may not know it is there); a "very hidden"
    one, which only a macro or a script can make and Excel's menus cannot show, is refused."""
    state = getattr(sheet, "sheet_state", "visible")
    if state == "hidden":
        return warning(where, f"This sheet is hidden in the workbook; it was read as the '{table}' table. Unhide "
                              "it (right-click a sheet tab › Unhide) to see what was loaded, or delete it.")
    if state == "veryHidden":
        return error(where, f"This sheet is 'very hidden' (made so by a macro or a script; Excel's Unhide does "
                            f"not show it), so its '{table}' table is not read. Make it visible, or delete it.")
    return None


_FULL_CALC_ON_LOAD = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?calcPr\b[^>]*\sfullCalcOnLoad=[\"'](?:1|true)[\"']")


def _recomputes_on_load(book) -> bool:
    """Whether the workbook asks spreadsheet programs to recompute every formula when it is opened
    (`<calcPr fullCalcOnLoad="1">`): scripts that cannot compute formulas write that (openpyxl, XlsxWriter),
    with an empty or a placeholder result (XlsxWriter saves 0); Excel and LibreOffice do not. Read from the
    workbook's XML: openpyxl's own `calculation.fullCalcOnLoad` is True when the attribute is absent."""
    archive = getattr(book, "_archive", None)
    if archive is None:
        return False
    parts = [n for n in archive.namelist() if PurePosixPath(n).name.lower() == "workbook.xml"]
    for name in parts[:1]:
        with archive.open(name) as stream:
            return _FULL_CALC_ON_LOAD.search(stream.read(4 << 20)) is not None
    return False


def _read_sheet(sheet, where: str, table: str, limits: Limits,
                recomputes: bool = False) -> tuple[list[RawTable], list[Problem]]:
    # A sheet's stored dimensions are a claim, not a fact: "A1:XFD1048576" would make openpyxl pad
    # every row to 16,384 cells and add a million empty rows. Read what the sheet holds instead.
    sheet.reset_dimensions()
    header_row = next(sheet.iter_rows(min_row=1, max_row=1, values_only=True), ())
    header = [("" if v is None else str(v)) for v in header_row]
    while header and not header[-1].strip():
        header.pop()
    if not header:
        return [], [error(where, "The sheet has no header row.", row=1)]
    width = len(header)
    if width > L.MAX_COLUMNS:
        return [], [_too_many_columns(where, width)]
    rows, body = [], []
    # Number formats are read cell by cell (slower) only when the workbook has one that can show a
    # number other than as it is loaded (000, "P"000, 0%): see `_misleading_format`.
    formats = _has_misleading_formats(sheet.parent)
    shown: list[tuple[int, int, object, str]] = []  # (row, column position, value, number format)
    # Cells right of the header are not read at all (max_col): a column without a header name is
    # not part of the format anyway. Blank rows are not kept, nor counted against the limit.
    for row, values in enumerate(sheet.iter_rows(min_row=2, max_col=width, values_only=not formats), start=2):
        if formats:
            cells, values = values, tuple(c.value for c in values)
            shown += [(row, i, c.value, c.number_format) for i, c in enumerate(cells)
                      if isinstance(c.value, (int, float)) and not isinstance(c.value, bool)
                      and _misleading_format(c.number_format)]
        if any(v is not None for v in values):
            if len(body) == limits.max_rows:
                return [], [_too_many_rows(where, table, limits, row)]
            rows.append(row)
            body.append(values)
    frame = pd.DataFrame(body, columns=header, dtype=object, index=pd.Index(rows, dtype="int64"))
    tidy = _tidy(frame)
    layout = _layout_problems(_sheet_layout(sheet, width), tidy, where, table, recomputes)
    return [RawTable(table, where, tidy)], layout + _format_warnings(shown, tidy, where)


# --- what openpyxl's read-only mode does not tell: formulas, hidden rows and columns -----------------------
# read_only + data_only gives each cell's saved value only: a formula saved without a result reads as an
# empty cell, and rows and columns hidden in the sheet read like any other. The sheet's XML says both. It is
# scanned as bytes first (a sheet without "<f" or hidden="1" is not parsed again), then parsed by
# openpyxl's own parser (defusedxml where installed), element by element, so memory stays flat.
_LAYOUT_HINT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]|\shidden=\"(?:1|true)\"")
_CELL_REF = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)$")


@dataclass
class _Layout:
    """A sheet's formula cells (first MAX_ALIKE per column and kind, and counts) and hidden rows and columns."""

    formulas: dict[tuple[str, int], list[tuple[int, str]]]  # (kind, column) -> [(row, formula)]
    more: dict[tuple[str, int], tuple[int, int, int]]  # (kind, column) -> beyond MAX_ALIKE: first row, last, count
    hidden_rows: set[int]
    hidden_columns: set[int]


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _sheet_layout(sheet, width: int) -> _Layout | None:
    from openpyxl.utils import column_index_from_string
    from openpyxl.xml.functions import iterparse

    archive = getattr(getattr(sheet, "parent", None), "_archive", None)
    path = getattr(sheet, "_worksheet_path", None)
    if archive is None or path is None:
        return None
    with archive.open(path) as stream:
        tail, hinted = b"", False
        while chunk := stream.read(1 << 20):
            if _LAYOUT_HINT.search(tail + chunk):
                hinted = True
                break
            tail = chunk[-40:]
    layout = _Layout({}, {}, set(), set())
    if not hinted:
        return layout
    row = column = 0
    data = None
    with archive.open(path) as stream:
        for event, element in iterparse(stream, events=("start", "end")):
            name = _local(element.tag)
            if event == "start":
                if name == "row":
                    given = element.get("r")
                    row = int(given) if given and given.isdigit() else row + 1
                    column = 0
                    if element.get("hidden") in ("1", "true"):
                        layout.hidden_rows.add(row)
                elif name == "sheetData":
                    data = element
                continue
            if name == "c":
                ref = _CELL_REF.match(element.get("r") or "")
                column = column_index_from_string(ref[1]) if ref else column + 1
                if 2 <= row and column <= width:
                    _note_formula(layout, element, row, column)
                element.clear()
            elif name == "row" and data is not None:
                data.clear()  # the row is done: keep no element of it
            elif name == "col" and element.get("hidden") in ("1", "true"):
                try:
                    first, last = int(element.get("min", "0")), int(element.get("max", "0"))
                except ValueError:
                    continue
                layout.hidden_columns.update(range(max(first, 1), min(last, width) + 1))
    return layout


def _note_formula(layout: _Layout, cell, row: int, column: int) -> None:
    formula = value = None
    for child in cell:
        name = _local(child.tag)
        if name == "f":
            formula = child
        elif name == "v":
            value = child
    if formula is None:
        return
    # no result saved: no <v>, or an empty one that is not an empty text result (t="str", a formula giving "")
    saved = value is not None and (bool(value.text) or cell.get("t") in ("str", "inlineStr"))
    key = ("saved" if saved else "unsaved", column)
    text = "=" + (formula.text or "").strip() if formula.text else "(a shared formula)"
    found = layout.formulas.setdefault(key, [])
    if len(found) < MAX_ALIKE:
        found.append((row, text))
    else:
        first, _, count = layout.more.get(key, (row, row, 0))
        layout.more[key] = (first, row, count + 1)


def _layout_problems(layout: _Layout | None, tidy: pd.DataFrame, where: str, table: str,
                     recomputes: bool) -> list[Problem]:
    from openpyxl.utils import get_column_letter

    if layout is None:
        return []
    names = list(tidy.columns)
    known = set(TABLES[table].column_names)
    problems: list[Problem] = []
    for (kind, column), found in sorted(layout.formulas.items(), key=lambda item: item[0][1]):
        name = names[column - 1] if column <= len(names) else None
        if name not in known:
            continue  # a column that is not read (it is warned as ignored)
        alike = []
        # by position: a header may repeat a name (refused by validation, which must get to say so), and
        # tidy[name] would then be several columns
        cells = tidy.iloc[:, column - 1]
        for row, formula in found:
            loaded = cells.at[row] if row in cells.index else None
            loaded = None if loaded is None or pd.isna(loaded) else str(loaded)
            if kind == "unsaved":
                alike.append(error(where, f"Formula with no saved value ({formula}): the file was written by a "
                                          "program that does not compute formulas (a script such as openpyxl), so "
                                          "the cell would read as empty. Open and save the file in Excel or "
                                          "LibreOffice, or paste values (copy, then Paste Special › Values).",
                                   row=row, column=name, value=formula))
            elif recomputes:
                alike.append(error(where, f"Formula whose saved result may not be what the spreadsheet shows "
                                          f"({formula}, saved result {loaded if loaded is not None else 'empty'}): "
                                          "the workbook asks spreadsheet programs to recompute every formula when "
                                          "it is opened, as scripts that cannot compute formulas write it (XlsxWriter "
                                          "saves 0). Open and save the file in Excel or LibreOffice, or paste values "
                                          "(copy, then Paste Special › Values).", row=row, column=name, value=formula))
            else:
                alike.append(warning(where, f"This cell is a formula ({formula}): the result the spreadsheet program "
                                            f"saved with it, {loaded if loaded is not None else 'empty'}, is what is "
                                            "loaded. Check that it is the value you see, or paste values (copy, then "
                                            "Paste Special › Values) to be sure.",
                                     row=row, column=name, value=loaded))
        problems += alike
        if (kind, column) in layout.more and alike:
            first_row, last_row, count = layout.more[(kind, column)]
            problems.append(Problem(alike[0].severity, where, first_row, name, None,
                                    f"...and {count:,} more like the above (rows {first_row:,} to {last_row:,}): "
                                    f"{alike[0].problem}"))
    hidden_rows = sorted(layout.hidden_rows & ({1} | set(tidy.index)))
    if hidden_rows:
        problems.append(warning(where, f"{_count(len(hidden_rows), 'row')} of this sheet "
                                       f"{'is' if len(hidden_rows) == 1 else 'are'} hidden ({_ranges(hidden_rows)}), "
                                       f"and read as part of the '{table}' table like any other. Unhide "
                                       f"{'it' if len(hidden_rows) == 1 else 'them'} (select the rows around, "
                                       "right-click › Unhide; or clear the filter) to see what was loaded, or "
                                       "delete what should not be.", row=hidden_rows[0]))
    for column in sorted(layout.hidden_columns):
        name = names[column - 1] if column <= len(names) else None
        if name in known and tidy.iloc[:, column - 1].notna().any():  # by position, as above
            problems.append(warning(where, f"The column '{name}' is hidden in this sheet (column "
                                           f"{get_column_letter(column)}), and read as part of the '{table}' table like "
                                           "any other. Unhide it (select the columns around, right-click › Unhide) "
                                           "to see what was loaded.", row=1, column=name))
    return problems


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def _ranges(numbers: list[int], most: int = 20) -> str:
    """Sorted numbers as ranges: 'rows 5, 7-9' (the first `most` ranges, then how many more)."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    shown = ", ".join(f"{a:,}" if a == b else f"{a:,}-{b:,}" for a, b in spans[:most])
    rest = f", and {len(spans) - most:,} more ranges" if len(spans) > most else ""
    return f"row{'' if len(numbers) == 1 else 's'} {shown}{rest}"


# A number format that makes a spreadsheet show a number as other text than the number that is loaded:
# zero padding (000 shows 7 as 007), literal text ("P"000 shows P007, 0" mg"), a percentage (0% shows
# 0.5 as 50%). Rounding formats (0.00, #,##0) are not among them: the full number is loaded, as the
# spreadsheet itself computes with it. Date formats never get here: openpyxl reads those as dates.
_PADDED = re.compile(r"(?<![0#?.,])0{2,}")


def _misleading_format(number_format: str | None) -> bool:
    if not number_format or number_format in ("General", "@"):
        return False
    code = number_format.split(";")[0]
    code = re.sub(r"\[[^\]]*\]", "", code)  # colours and conditions: [Red], [>100]
    literal = re.search(r'"[^"]*"|\\.', code) is not None or re.search(r"[A-Za-z]", re.sub(r"[Ee][+-]", "", code))
    integer_part = code.split(".")[0]
    return bool(literal or "%" in code or _PADDED.search(integer_part))


def _has_misleading_formats(book) -> bool:
    try:  # openpyxl's own tables of the workbook's cell styles and custom formats
        from openpyxl.styles.numbers import BUILTIN_FORMATS, BUILTIN_FORMATS_MAX_SIZE

        ids = {style.numFmtId for style in book._cell_styles}
        codes = [BUILTIN_FORMATS.get(i, "General") if i < BUILTIN_FORMATS_MAX_SIZE else
                 book._number_formats[i - BUILTIN_FORMATS_MAX_SIZE] for i in ids]
    except (AttributeError, IndexError, TypeError):
        return True  # cannot tell cheaply: read every cell's format
    return any(_misleading_format(code) for code in codes)


def _format_warnings(shown: list[tuple[int, int, object, str]], tidy: pd.DataFrame, where: str) -> list[Problem]:
    """One warning per number cell whose format shows it otherwise (at most 100 per column, then a count)."""
    by_column: dict[int, list[Problem]] = {}
    for row, position, value, number_format in shown:
        if position >= len(tidy.columns):
            continue
        loaded = _cell_text(value)
        padded = re.fullmatch(r"0+", number_format)
        looks = f" as {loaded.zfill(len(number_format))}" if padded and loaded.isdigit() else " differently"
        by_column.setdefault(position, []).append(warning(
            where, f"This number cell has the number format '{number_format}', so the spreadsheet shows it"
                   f"{looks}, but it holds the number {loaded}, which is what is loaded. If the shown text is "
                   "the value (an id such as 007), type it as text (start it with an apostrophe).",
            row=row, column=tidy.columns[position], value=loaded))
    return [p for position, found in sorted(by_column.items())
            for p in capped(found, where, tidy.columns[position])]


def _expansion_problem(source: Source, members: list[zipfile.ZipInfo], limits: Limits) -> Problem | None:
    """A refusal when an archive would expand far beyond its size (a zip bomb), else None.

    The sizes are the archive's own claims, checked before anything is decompressed; a member that
    lies is cut at its claimed size by zipfile and then fails its CRC check.
    """
    total = sum(m.file_size for m in members)
    ratio = total / max(len(source.data), 1)
    if total > limits.max_expanded_bytes or ratio > L.MAX_COMPRESSION_RATIO:
        return error(source.name, f"The archive expands to {total:,} bytes, {ratio:,.0f} times its size: "
                                  "refused as a possible zip bomb. An archive may expand to at most "
                                  f"{_size(limits.max_expanded_bytes)} and "
                                  f"{L.MAX_COMPRESSION_RATIO} times its size.")
    return None


def _read_zip(source: Source, limits: Limits) -> tuple[list[RawTable], list[Problem]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(source.data))
    except zipfile.BadZipFile:
        return [], [error(source.name, "Not a valid .zip archive.")]
    with archive:
        # Nothing is ever extracted to disk, but a name climbing out of the archive ("zip slip")
        # is never made by zipping a folder: the archive was crafted.
        unsafe = [m.filename for m in archive.infolist()
                  if m.filename.startswith("/") or ".." in PurePosixPath(m.filename).parts]
        if unsafe:
            return [], [error(source.name, f"The archive holds a file with an unsafe path ({unsafe[0]}): "
                                           "make the .zip from the folder holding the tables.")]
        members = [m for m in archive.infolist() if not m.is_dir() and not _is_hidden(m.filename)]
        if len(members) > L.MAX_ARCHIVE_MEMBERS:
            return [], [error(source.name, f"The archive holds {len(members):,} files; a cohort is at most "
                                           f"{len(TABLES)} tables (at most {L.MAX_ARCHIVE_MEMBERS} files "
                                           "are accepted).")]
        if (bomb := _expansion_problem(source, members, limits)) is not None:
            return [], [bomb]
        tables, problems = [], []
        for member in members:
            inner = PurePosixPath(member.filename)
            where = f"{source.name} › {member.filename}"
            suffix = inner.suffix.lower()
            if suffix in (".zip", ".xlsx"):
                problems.append(error(where, "Archives inside archives are not accepted: put the "
                                             "CSV files at the top of one .zip."))
                continue
            if suffix not in (".csv", ".parquet"):
                problems.append(warning(where, "File ignored: only .csv and .parquet tables are read "
                                               "from a .zip."))
                continue
            table = _table_name(inner.name)
            if table is None:
                problems.append(_unknown_table(where))
                continue
            if member.flag_bits & 0x1:  # the zip format's "encrypted" flag
                problems.append(error(where, "The file is password-protected (encrypted) inside the archive: "
                                             "make the .zip without a password."))
                continue
            if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                # bzip2 and LZMA decompress a whole block at a time, past any size check; every
                # spreadsheet program and operating system writes deflate
                problems.append(error(where, "Compressed with a method other than deflate: make the "
                                             "archive with your system's 'Compress' or 'Send to zip'."))
                continue
            reader = _read_csv if suffix == ".csv" else _read_parquet
            try:
                found, found_problems = reader(where, archive.read(member), table, limits)
            except Exception as exc:
                found, found_problems = [], [error(where, f"The file could not be read: {_short(exc)}")]
            tables += found
            problems += found_problems
    if not tables and not problems:
        problems.append(error(source.name, "The archive holds no tables."))
    return tables, problems


def _is_hidden(name: str) -> bool:
    # macOS and editors add these next to the real files
    return any(part.startswith((".", "__MACOSX")) for part in PurePosixPath(name).parts)


# A BOM, zero-width spaces and joiners, direction marks: invisible in a header, so a column that
# reads "patient_id" is patient_id. (Cell values keep them: there they may be meant.)
_INVISIBLE_IN_NAMES = re.compile(r"[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns trimmed and lower-cased, every cell as trimmed text (NA when missing), blank rows dropped."""
    names = [_INVISIBLE_IN_NAMES.sub("", str(c)).strip().lower() for c in frame.columns]
    frame = pd.DataFrame({i: as_text(frame.iloc[:, i]) for i in range(frame.shape[1])}, index=frame.index)
    frame.columns = names
    if not len(names):
        return frame
    present = frame.notna().any(axis=1)
    return frame if present.all() else frame[present]  # no copy of a file without blank rows


def as_text(cells: pd.Series) -> pd.Series:
    """Cells as Arrow-backed text, trimmed; NA where empty. (A word such as "NA" or "None" is kept: whether it
    means "no value" depends on the column, which validation knows: `validation._missing_words`.)

    Arrow strings keep the string work vectorised: registries have millions of cells.
    Spreadsheet numbers that are whole (an id typed as 101, stored as 101.0) read as typed.
    """
    if cells.dtype == np.float32:
        # a float32 (Parquet) as its writer shows it: 0.1, not the float64 0.10000000149011612
        cells = pd.Series([None if v != v else np.format_float_positional(v, unique=True, trim="-")
                           for v in cells.to_numpy()], index=cells.index, dtype=object)
    elif pd.api.types.is_float_dtype(cells.dtype):
        values = cells.to_numpy(dtype=float, na_value=np.nan)
        whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**53)
        text = pd.Series(np.where(whole, values, np.nan), index=cells.index).astype("Int64").astype(TEXT)
        cells = text.where(whole, cells.astype(TEXT))
    elif cells.dtype == object:
        cells = cells.map(_cell_text, na_action="ignore")
    # Trimmed, in NFC, and empty as missing, in Arrow: one pass over each column's buffer per step
    # (pandas' str.strip is this same Arrow kernel; its mask and comparison added three more).
    values = _nfc(pa_compute.utf8_trim_whitespace(pa.array(cells.astype(TEXT).array)))
    blank = pa_compute.equal(values, "")
    if pa_compute.any(blank).as_py():
        values = pa_compute.if_else(blank, pa.scalar(None, values.type), values)
    return pd.Series(pd.arrays.ArrowStringArray(values), index=cells.index, name=cells.name)


def _nfc(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Text in Unicode NFC: "é" typed as e + a combining accent (as macOS writes file and sheet text)
    is the same character as a precomposed "é", so one patient or group is not two that look alike."""
    if pa_compute.all(pa_compute.string_is_ascii(values)).as_py() is not False:
        return values  # ASCII (nearly every registry) is NFC already: skip the work
    return pa_compute.utf8_normalize(values, form="NFC")


def _cell_text(value: object) -> object:
    # a workbook or parquet cell of any type, as the user would read it
    if isinstance(value, float):
        return None if value != value else (str(int(value)) if value.is_integer() else repr(value))
    return str(value)


def _duplicate_tables(tables: list[RawTable]) -> list[Problem]:
    seen: dict[str, str] = {}
    problems = []
    for t in tables:
        if t.table in seen:
            problems.append(error(t.source, f"A second '{t.table}' table (the first came from "
                                            f"{seen[t.table]}). Give each table once."))
        else:
            seen[t.table] = t.source
    return problems


def sources_from_paths(paths: list[str | Path]) -> tuple[list[Source], list[Problem]]:
    """Read files (or every .csv / .parquet / .xlsx / .zip in a folder) into sources."""
    sources, problems = [], []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.iterdir()
                           if p.suffix.lower() in (".csv", ".parquet", ".xlsx", ".zip"))
            if not files:
                problems.append(error(str(path), "The folder holds no .csv, .parquet, .xlsx or .zip files."))
        elif path.is_file():
            files = [path]
        else:
            problems.append(error(str(path), "No such file or folder."))
            files = []
        sources += [Source(f.name, f.read_bytes()) for f in files]
    return sources, problems

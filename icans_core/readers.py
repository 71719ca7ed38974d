"""Read every input form of the contract into raw tables, without judging their values.

Forms: one .xlsx workbook (a sheet per table), a .zip of CSV files named after the
tables, separate .csv / .parquet files named after the tables. A raw table keeps
every cell as read (strings from CSV; numbers, booleans or datetimes from xlsx and
parquet) and is indexed by the spreadsheet row the user sees (header = row 1), so
every later message can point at the right row. Problems are collected, never raised.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from icans_core.problems import Problem, error, warning
from icans_core.schema import INFO_SHEETS, MISSING_WORDS, TABLES

# Guards against archives that expand far beyond their size (zip bombs).
MAX_UNCOMPRESSED_BYTES = 1024 * 1024 * 1024
MAX_COMPRESSION_RATIO = 200

XLSX_MAGIC = b"PK\x03\x04"
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


def read_sources(sources: list[Source]) -> tuple[list[RawTable], list[Problem]]:
    """Read every source into raw tables; problems name the file and what is wrong."""
    tables: list[RawTable] = []
    problems: list[Problem] = []
    if not sources:
        problems.append(error("(no input)", "No files were given. Upload a .xlsx workbook, a .zip "
                              "of CSV files, or CSV / Parquet files named after the tables."))
    for source in sources:
        found, found_problems = _read_source(source)
        tables += found
        problems += found_problems
    problems += _duplicate_tables(tables)
    return tables, problems


def _read_source(source: Source) -> tuple[list[RawTable], list[Problem]]:
    suffix = PurePosixPath(source.name).suffix.lower()
    if not source.data:
        return [], [error(source.name, "The file is empty.")]
    try:
        if suffix == ".xlsx":
            return _read_workbook(source)
        if suffix == ".zip":
            return _read_zip(source)
        if suffix in (".csv", ".parquet"):
            table = _table_name(source.name)
            if table is None:
                return [], [_unknown_table(source.name)]
            reader = _read_csv if suffix == ".csv" else _read_parquet
            return reader(source.name, source.data, table)
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


def _read_csv(where: str, data: bytes, table: str) -> tuple[list[RawTable], list[Problem]]:
    try:
        text = data.decode("utf-8-sig")  # a BOM is accepted
    except UnicodeDecodeError as exc:
        return [], [error(where, f"Not UTF-8 text (byte {exc.start}). Save the file as "
                                 "'CSV UTF-8' and upload it again.")]
    if "\x00" in text:
        return [], [error(where, "The file contains NUL bytes: it is not a CSV text file.")]
    if not text.strip():
        return [], [error(where, "The file is empty.")]
    delimiter = _sniff_delimiter(text)
    try:
        # csv.reader rather than pandas: it yields every record, blank ones included, so
        # record numbers are the spreadsheet rows the user sees, and ragged rows can be named.
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        return [], [error(where, f"The CSV is malformed: {_short(exc)}.")]
    header, body = records[0], records[1:]
    if not any(h.strip() for h in header):
        return [], [error(where, "The first row must be the header (column names); it is empty.", row=1)]
    width = len(header)
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


def _sniff_delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    return ";" if header.count(";") > header.count(",") else ","


def _read_parquet(where: str, data: bytes, table: str) -> tuple[list[RawTable], list[Problem]]:
    if not data.startswith(PARQUET_MAGIC):
        return [], [error(where, "Not a Parquet file (the file does not start with PAR1).")]
    frame = pd.read_parquet(io.BytesIO(data))
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    return [RawTable(table, where, _tidy(frame))], []


def _read_workbook(source: Source) -> tuple[list[RawTable], list[Problem]]:
    import openpyxl  # DuckDB's excel extension downloads at run time; openpyxl does not

    if not source.data.startswith(XLSX_MAGIC):
        return [], [error(source.name, "Not an .xlsx workbook. Save it from your spreadsheet "
                                       "program as 'Excel Workbook (.xlsx)'.")]
    book = openpyxl.load_workbook(io.BytesIO(source.data), read_only=True, data_only=True)
    tables, problems = [], []
    try:
        for sheet in book.worksheets:
            where = f"{source.name} › {sheet.title}"
            table = sheet.title.strip().lower()
            if table in INFO_SHEETS:
                continue  # the template's own documentation sheets
            if table not in TABLES:
                problems.append(warning(where, "Sheet ignored: its name is not a table of the data "
                                               f"format ({', '.join(TABLES)})."))
                continue
            rows = list(sheet.iter_rows(values_only=True))
            if not rows or all(v is None for v in rows[0]):
                problems.append(error(where, "The sheet has no header row."))
                continue
            header = [("" if v is None else str(v)) for v in rows[0]]
            width = len(header)
            body = [list(r[:width]) + [None] * (width - len(r)) for r in rows[1:]]
            frame = pd.DataFrame(body, columns=header, dtype=object,
                                 index=pd.RangeIndex(2, len(body) + 2))
            tables.append(RawTable(table, where, _tidy(frame)))
    finally:
        book.close()
    return tables, problems


def _read_zip(source: Source) -> tuple[list[RawTable], list[Problem]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(source.data))
    except zipfile.BadZipFile:
        return [], [error(source.name, "Not a valid .zip archive.")]
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not _is_hidden(m.filename)]
        total = sum(m.file_size for m in members)
        if total > MAX_UNCOMPRESSED_BYTES or total > MAX_COMPRESSION_RATIO * max(len(source.data), 1):
            return [], [error(source.name, f"The archive expands to {total:,} bytes, too large for "
                                           "its size: refused as a possible zip bomb.")]
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
            reader = _read_csv if suffix == ".csv" else _read_parquet
            try:
                found, found_problems = reader(where, archive.read(member), table)
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


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns trimmed and lower-cased, every cell as trimmed text (NA when missing), blank rows dropped."""
    names = [str(c).lstrip("\ufeff").strip().lower() for c in frame.columns]
    frame = pd.DataFrame({i: as_text(frame.iloc[:, i]) for i in range(frame.shape[1])}, index=frame.index)
    frame.columns = names
    if not len(names):
        return frame
    return frame[frame.notna().any(axis=1)]


def as_text(cells: pd.Series) -> pd.Series:
    """Cells as Arrow-backed text, trimmed; NA where empty or a spreadsheet word for missing (NA, null).

    Arrow strings keep the string work vectorised: registries have millions of cells.
    Spreadsheet numbers that are whole (an id typed as 101, stored as 101.0) read as typed.
    """
    if pd.api.types.is_float_dtype(cells.dtype):
        values = cells.to_numpy(dtype=float, na_value=np.nan)
        whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**53)
        text = pd.Series(np.where(whole, values, np.nan), index=cells.index).astype("Int64").astype(TEXT)
        cells = text.where(whole, cells.astype(TEXT))
    elif cells.dtype == object:
        cells = cells.map(_cell_text, na_action="ignore")
    text = cells.astype(TEXT).str.strip()
    return text.mask(text.isna() | text.str.lower().isin(MISSING_WORDS))


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

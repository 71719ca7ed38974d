"""The Cohort page through Streamlit's AppTest: what a user sees on opening it and after uploads."""

from __future__ import annotations

import csv
import html
import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PATIENTS = ROOT / "data" / "sample" / "patients.csv"
REPORT_COLUMNS = ["severity", "source", "row", "column", "value", "problem"]

PATIENTS_CSV = (
    "patient_id,product,group,disease,age_years,sex,ecog,last_followup_day,death_day,death_cause\n"
    "P1,axi-cel,Steroids + IVIG,DLBCL,61,F,1,100,,\n"
    "P2,Kymriah,Steroids alone,FL,70,M,0,200,,\n"
)
TOXICITY_CSV = (
    "patient_id,day,crs_grade,icans_grade,ice_score\n"
    "P1,1,2,0,10\n"
    "P1,5,1,3,2\n"
    "P2,2,1,,\n"
)
# Spreadsheet rows (header = row 1): 3 has ICANS grade 7, 4 a calendar date, 5 an unknown patient.
BAD_TOXICITY_CSV = (
    "patient_id,day,crs_grade,icans_grade,ice_score\n"
    "P1,1,2,0,10\n"
    "P1,5,1,7,2\n"
    "P1,2024-03-01,1,,\n"
    "P9,3,1,,\n"
)
EXPECTED_PROBLEMS = {  # (source, row, column) -> words the problem must contain
    ("toxicity.csv", 3, "icans_grade"): "5 or less",
    ("toxicity.csv", 4, "day"): "calendar date",
    ("toxicity.csv", 5, "patient_id"): "Unknown patient",
}


def csv_file(name: str, text: str) -> tuple[str, bytes, str]:
    return (name, text.encode(), "text/csv")


def sample_patient_count() -> int:
    with open(SAMPLE_PATIENTS, newline="", encoding="utf-8-sig") as f:
        return sum(1 for row in csv.DictReader(f) if any(v.strip() for v in row.values()))



@pytest.fixture
def app(monkeypatch) -> AppTest:
    if not SAMPLE_PATIENTS.exists():
        pytest.fail(f"the bundled sample cohort is missing: {SAMPLE_PATIENTS} (run `make sample`)")
    monkeypatch.chdir(ROOT)  # as `streamlit run dashboard.py` is started
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.run()  # the app opens on the Overview
    at.switch_page("views/cohort.py")
    at.run()
    return at


# --- what the user sees ------------------------------------------------------------------------

def metric(at: AppTest, label: str) -> str:
    found = [m for m in at.metric if m.label == label]
    assert len(found) == 1, f"expected one {label!r} metric, found {[m.label for m in at.metric]}"
    return found[0].value


def loaded_line(at: AppTest) -> str:
    found = [m.value for m in at.markdown if m.value.startswith("**Loaded:**")]
    assert len(found) == 1, [m.value for m in at.markdown]
    return as_shown(found[0])


def as_shown(markdown: str) -> str:
    """Markdown source as the reader sees it: ui.text.plain's backslash escapes and character
    references resolved."""
    return html.unescape(re.sub(r"\\(.)", r"\1", markdown))


def errors(at: AppTest) -> list[str]:
    return [as_shown(e.value) for e in at.error]


def assert_no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def report_frames(at: AppTest) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe if list(d.value.columns) == REPORT_COLUMNS]


def button(at: AppTest, label: str):
    found = [b for b in at.button if b.label == label]
    assert len(found) == 1, f"expected one {label!r} button, found {[b.label for b in at.button]}"
    return found[0]


def upload(at: AppTest, *files: tuple[str, bytes, str]) -> AppTest:
    # the uploader gets a new key (and so is emptied) after each successful load
    generation = at.session_state["upload_generation"] if "upload_generation" in at.session_state else 0
    at.file_uploader(key="upload_files" if generation == 0 else f"upload_files_{generation}").set_value(list(files))
    at.run()
    load = at.button(key="upload_load")
    assert not load.disabled, "'Validate and load' stays disabled after choosing files"
    load.click()
    at.run()
    assert_no_exception(at)
    return at


# --- tests ------------------------------------------------------------------------------------------

def test_opens_on_the_sample_cohort(app):
    assert_no_exception(app)
    assert errors(app) == []
    assert metric(app, "Patients") == f"{sample_patient_count():,}"
    assert "Sample cohort (synthetic)" in loaded_line(app)
    assert "the bundled synthetic sample" in loaded_line(app)
    assert app.button(key="upload_load").disabled  # nothing chosen yet
    assert not [b for b in app.button if b.label == "Go back to the sample cohort"]
    assert report_frames(app) == []


def test_valid_upload_replaces_the_cohort_and_the_sample_can_come_back(app):
    sample_count = f"{sample_patient_count():,}"
    upload(app, csv_file("patients.csv", PATIENTS_CSV), csv_file("toxicity.csv", TOXICITY_CSV))

    assert errors(app) == []
    assert metric(app, "Patients") == "2"
    assert metric(app, "Toxicity assessments") == "3"
    line = loaded_line(app)
    assert "patients.csv" in line and "toxicity.csv" in line, line
    assert "your upload" in line and "Sample cohort" not in line, line
    assert [as_shown(s.value) for s in app.success] == ["Loaded patients.csv, toxicity.csv."]

    button(app, "Go back to the sample cohort").click()
    app.run()
    assert_no_exception(app)
    assert metric(app, "Patients") == sample_count
    assert "Sample cohort (synthetic)" in loaded_line(app)
    assert not [b for b in app.button if b.label == "Go back to the sample cohort"]
    assert list(app.success) == []


def test_invalid_upload_is_refused_with_a_full_report_and_nothing_loaded(app):
    sample_count = f"{sample_patient_count():,}"
    upload(app, csv_file("patients.csv", PATIENTS_CSV), csv_file("toxicity.csv", BAD_TOXICITY_CSV))

    shown = errors(app)
    assert len(shown) == 1, shown
    assert "Not loaded" in shown[0] and "3 error(s)" in shown[0], shown[0]
    assert "patients.csv" in shown[0] and "toxicity.csv" in shown[0], shown[0]
    # the errors are all in toxicity.csv: the message says so, and that neither file was loaded
    assert "3 error(s) in toxicity.csv, so none of patients.csv, toxicity.csv was loaded" in as_shown(shown[0]), shown[0]

    reports = report_frames(app)
    assert len(reports) == 1, "expected one validation report table"
    report = reports[0]
    found = {(r.source, int(r.row), r.column): r for r in report.itertuples(index=False)}
    assert set(found) == set(EXPECTED_PROBLEMS), report.to_string()
    for where, words in EXPECTED_PROBLEMS.items():
        assert found[where].severity == "error"
        assert words in found[where].problem, (where, found[where].problem)
    assert found[("toxicity.csv", 4, "day")].value == "2024-03-01"
    assert found[("toxicity.csv", 3, "icans_grade")].value == "7"
    assert found[("toxicity.csv", 5, "patient_id")].value == "P9"

    # nothing half-loaded: still the sample, all four tables
    assert metric(app, "Patients") == sample_count
    assert "Sample cohort (synthetic)" in loaded_line(app)
    assert not [b for b in app.button if b.label == "Go back to the sample cohort"]
    assert [b.label for b in app.get("download_button")
            if "validation report" in b.label.lower()], "no report download offered"


def test_a_refusal_that_also_lists_warnings_says_so_beside_its_error_count(app):
    # the report's rows are the 3 errors and a warning (an unknown product): the headline counts errors
    patients = PATIENTS_CSV.replace("P1,axi-cel,", "P1,novel-cel,")
    upload(app, csv_file("patients.csv", patients), csv_file("toxicity.csv", BAD_TOXICITY_CSV))
    [shown] = errors(app)
    assert "3 error(s) in toxicity.csv" in shown and "The report below also lists 1 warning(s)." in shown, shown
    [report] = report_frames(app)
    assert list(report["severity"]).count("error") == 3 and list(report["severity"]).count("warning") == 1
    assert list(report["row"]) == ["3", "4", "5", "2"]  # errors first; rows as text (blank where none)


def test_invalid_upload_after_a_valid_one_keeps_the_uploaded_cohort(app):
    upload(app, csv_file("patients.csv", PATIENTS_CSV), csv_file("toxicity.csv", TOXICITY_CSV))
    assert metric(app, "Patients") == "2"
    three = PATIENTS_CSV + "P3,liso-cel,,LBCL,50,F,0,30,,\n"
    upload(app, csv_file("patients.csv", three), csv_file("toxicity.csv", BAD_TOXICITY_CSV))
    assert any("Not loaded" in e for e in errors(app)), errors(app)
    app.run()  # and on the next interaction too
    assert metric(app, "Patients") == "2"
    assert "your upload" in loaded_line(app)


GARBAGE = [
    pytest.param("patients.xlsx", bytes(range(256)) * 8, id="random-bytes-xlsx"),
    pytest.param("patients.xlsx", b"PK\x03\x04" + bytes(range(200, 256)) * 20, id="zip-magic-xlsx"),
    pytest.param("cohort.zip", b"\x00\xff" * 500, id="random-bytes-zip"),
    pytest.param("patients.parquet", b"PAR1" + b"\x13" * 300, id="broken-parquet"),
    pytest.param("patients.csv", b"\xff\xfe\x00a,b\n", id="not-utf8-csv"),
]


@pytest.mark.parametrize("name, data", GARBAGE)
def test_garbage_upload_gives_an_error_never_an_exception(app, name, data):
    sample_count = f"{sample_patient_count():,}"
    upload(app, (name, data, "application/octet-stream"))
    shown = errors(app)
    assert len(shown) == 1 and "Not loaded" in shown[0], shown
    assert "internal error" not in shown[0]
    assert report_frames(app), "no validation report shown"
    assert name in set(report_frames(app)[0]["source"]), report_frames(app)[0].to_string()
    assert metric(app, "Patients") == sample_count


def test_warnings_of_an_upload_are_shown_at_once_not_only_in_a_closed_expander(app):
    # two spellings of one group (case only): loaded as written, two groups, and the user is told
    patients = PATIENTS_CSV.replace("Steroids + IVIG", "steroids alone")
    upload(app, csv_file("patients.csv", patients), csv_file("toxicity.csv", TOXICITY_CSV))
    assert errors(app) == []
    shown = [as_shown(w.value) for w in app.warning]
    assert any(s.startswith("**1 warning(s) from loading this cohort:**") for s in shown), shown
    [expander] = [e for e in app.expander if e.label == "1 warning(s) from loading this cohort"]
    assert expander.proto.expanded
    [report] = report_frames(app)
    assert report["column"].tolist() == ["group"] and "differ only in" in report["problem"][0], report


def test_the_samples_warnings_if_any_stay_in_a_closed_expander(app):
    assert not [w for w in app.warning if "warning(s) from loading this cohort" in w.value]

"""The Cohort page in headless Chromium against `streamlit run dashboard.py` (fixtures: tests/browser.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser import wait_until_idle

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PATIENTS = ROOT / "data" / "sample" / "patients.csv"
FIRST_LOAD_TIMEOUT = 60_000  # ms: the first session validates the bundled sample

PATIENTS_CSV = (
    b"patient_id,product,group,disease,age_years,sex,ecog,last_followup_day,death_day,death_cause\n"
    b"P1,axi-cel,Steroids + IVIG,DLBCL,61,F,1,100,,\n"
    b"P2,Kymriah,Steroids alone,FL,70,M,0,200,,\n"
)
TOXICITY_CSV = (
    b"patient_id,day,crs_grade,icans_grade,ice_score\n"
    b"P1,1,2,0,10\n"
    b"P1,5,1,3,2\n"
    b"P2,2,1,,\n"
)
# Spreadsheet rows (header = row 1): 3 has ICANS grade 7, 4 a calendar date, 5 an unknown patient.
BAD_TOXICITY_CSV = (
    b"patient_id,day,crs_grade,icans_grade,ice_score\n"
    b"P1,1,2,0,10\n"
    b"P1,5,1,7,2\n"
    b"P1,2024-03-01,1,,\n"
    b"P9,3,1,,\n"
)
EXPECTED_REPORT = [  # severity, source, row, column, value (the problem text is checked by words)
    (["error", "toxicity.csv", "3", "icans_grade", "7"], "5 or less"),
    (["error", "toxicity.csv", "4", "day", "2024-03-01"], "calendar date"),
    (["error", "toxicity.csv", "5", "patient_id", "P9"], "Unknown patient"),
]


def sample_patient_count() -> str:
    with open(SAMPLE_PATIENTS, newline="", encoding="utf-8-sig") as f:
        count = sum(1 for row in csv.DictReader(f) if any(v.strip() for v in row.values()))
    return f"{count:,}"


def patients_metric(page):
    label = page.get_by_test_id("stMetricLabel").get_by_text("Patients", exact=True)
    return page.get_by_test_id("stMetric").filter(has=label).get_by_test_id("stMetricValue")


def open_app(page, url: str) -> None:
    page.goto(f"{url}/cohort")
    expect(page.get_by_text("Loaded:")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)


def assert_no_exception(page) -> None:
    wait_until_idle(page)  # an exception would be drawn where the script stopped
    expect(page.get_by_test_id("stException")).to_have_count(0)


def choose_files(page, files: dict[str, bytes]) -> None:
    uploader = page.get_by_test_id("stFileUploader")
    uploader.locator("input[type=file]").set_input_files(
        [{"name": name, "mimeType": "text/csv", "buffer": data} for name, data in files.items()])
    expect(uploader.get_by_test_id("stFileChip")).to_have_count(len(files))
    expect(uploader.get_by_test_id("stFileChipIconSpinner")).to_have_count(0)  # uploads finished
    expect(page.get_by_role("button", name="Validate and load")).to_be_enabled()


def remove_chosen_files(page) -> None:
    """Take every file out of the uploader, as a user does before choosing corrected ones."""
    uploader = page.get_by_test_id("stFileUploader")
    files = uploader.get_by_test_id("stFileChip")
    while files.count():
        before = files.count()
        files.first.get_by_test_id("stFileChipDeleteBtn").click()
        expect(files).to_have_count(before - 1)


def report_rows(page) -> list[list[str]]:
    """The validation report's rows, read from the (visually hidden) table the data grid keeps for
    screen readers: the grid itself is drawn on a canvas."""
    report = page.get_by_test_id("stDataFrame").filter(has=page.locator("th:text-is('severity')"))
    expect(report).to_have_count(1)
    rows = report.locator("tbody tr")
    expect(rows).to_have_count(len(EXPECTED_REPORT))
    return [[cell.strip() for cell in row.locator("td").all_text_contents()] for row in rows.all()]


def test_opens_on_the_sample_cohort(page, app_url):
    open_app(page, app_url)
    expect(page.get_by_test_id("stMain").get_by_text("Sample cohort (synthetic)")).to_be_visible()
    expect(patients_metric(page)).to_have_text(sample_patient_count())
    assert_no_exception(page)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    expect(page.get_by_role("button", name="Validate and load")).to_be_disabled()


def test_invalid_upload_is_refused_then_a_valid_one_loads(page, app_url):
    sample_count = sample_patient_count()
    open_app(page, app_url)
    expect(patients_metric(page)).to_have_text(sample_count)

    # an invalid pair: refused, every problem listed, the sample still in use
    choose_files(page, {"patients.csv": PATIENTS_CSV, "toxicity.csv": BAD_TOXICITY_CSV})
    page.get_by_role("button", name="Validate and load").click()
    error = page.get_by_test_id("stAlertContentError")
    expect(error).to_contain_text("Not loaded", timeout=30_000)
    expect(error).to_contain_text("3 error(s)")
    rows = report_rows(page)
    for (cells, words), row in zip(EXPECTED_REPORT, rows):
        assert row[:5] == cells, rows
        assert words in row[5], row
    expect(page.get_by_role("button", name="Download the validation report (CSV)")).to_be_visible()
    expect(patients_metric(page)).to_have_text(sample_count)
    expect(page.get_by_test_id("stMain").get_by_text("Sample cohort (synthetic)")).to_be_visible()
    assert_no_exception(page)

    # corrected files: the cohort is replaced
    remove_chosen_files(page)
    choose_files(page, {"patients.csv": PATIENTS_CSV, "toxicity.csv": TOXICITY_CSV})
    page.get_by_role("button", name="Validate and load").click()
    expect(patients_metric(page)).to_have_text("2", timeout=30_000)
    expect(page.get_by_text("Loaded: patients.csv, toxicity.csv")).to_be_visible()
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text("Loaded patients.csv, toxicity.csv.")
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    assert_no_exception(page)

    # and back to the sample
    page.get_by_role("button", name="Go back to the sample cohort").click()
    expect(patients_metric(page)).to_have_text(sample_count, timeout=30_000)
    expect(page.get_by_test_id("stMain").get_by_text("Sample cohort (synthetic)")).to_be_visible()
    assert_no_exception(page)

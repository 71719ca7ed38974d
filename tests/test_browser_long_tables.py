"""A long table shows its first 1,000 rows, says so, shows all on request, and downloads every row, in Chromium.

The 10,000-patient registry's derived grades were 173,315 rows (17 MB) sent on every visit of the Cohort
page. A researcher filters a cohort to axi-cel and opens its derived grades: once on an uploaded copy
of the sample, once on a published one opened from a link with the filter in it. The expected count,
1,612, is the sample's observation rows of axi-cel patients, read straight from its CSVs (one derived
grade per observation row).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from icans_core import library
from icans_core.ingest import load_paths
from tests.browser import running_app, upload_cohort, wait_until_idle
from tests.test_browser_researcher import download, pick

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
SLOW = 90_000  # ms: a shared 2-core machine


def axi_cel_observation_rows() -> int:
    with open(SAMPLE / "patients.csv", newline="") as f:
        axi = {r["patient_id"] for r in csv.DictReader(f) if r["product"] == "axi-cel"}
    with open(SAMPLE / "observations.csv", newline="") as f:
        return sum(r["patient_id"] in axi for r in csv.DictReader(f))


EXPECTED = axi_cel_observation_rows()


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    folder = tmp_path_factory.mktemp("library")
    result = load_paths([SAMPLE], label="sample-copy")
    assert result.ok
    return folder, library.publish(result.cohort, folder, publisher="dr. tables")


@pytest.fixture(scope="module")
def app_server(tmp_path_factory, published):
    with running_app(tmp_path_factory.mktemp("streamlit"), env={"ICANS_LIBRARY_DIR": str(published[0])}) as server:
        yield server


def check_derived_grades(page) -> None:
    """Open the derived grades: the first 1,000 with the note, then all on request; the CSV holds every row."""
    assert EXPECTED > 1_000  # else this journey shows nothing
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text(f"ASTCT grades derived from {EXPECTED:,} observation(s)")).to_be_visible(timeout=SLOW)
    main.get_by_test_id("stExpander").filter(has_text="Derived grades").get_by_text("Derived grades", exact=True).click()
    expander = main.get_by_test_id("stExpander").filter(has_text="Derived grades")
    note = expander.get_by_test_id("stCaptionContainer").filter(has_text="The first 1,000")
    expect(note).to_contain_text(f"The first 1,000 of {EXPECTED:,} rows")
    expect(note).to_contain_text(f"The CSV download holds all {EXPECTED:,}")
    rows = list(csv.DictReader(io.StringIO(download(
        page, expander.get_by_role("button", name="Download the derived grades (CSV)")).decode("utf-8"))))
    assert len(rows) == EXPECTED
    expander.get_by_text(f"Show all {EXPECTED:,} rows").click()
    wait_until_idle(page, timeout=SLOW)
    expect(expander.get_by_test_id("stCaptionContainer").filter(has_text="The first 1,000")).to_have_count(0)
    assert page.get_by_test_id("stException").count() == 0


def test_an_uploaded_cohort_filtered_to_axi_cel_shows_its_first_derived_grades_and_downloads_all(page, app_url):
    page.set_default_timeout(SLOW)
    files = {p.name: p.read_bytes() for p in SAMPLE.glob("*.csv")}
    upload_cohort(page, app_url, files, 300, timeout=SLOW)
    page.get_by_test_id("stSidebar").get_by_text("Cohort filters").click()
    pick(page, "Product", "axi-cel")
    expect(page).to_have_url(re.compile(r"product=axi-cel"))
    wait_until_idle(page, timeout=SLOW)
    check_derived_grades(page)


def test_a_published_cohort_opened_from_a_filtered_link_does_the_same(page, app_url, published):
    page.set_default_timeout(SLOW)
    page.goto(f"{app_url}/cohort?cohort={published[1]}&product=axi-cel")
    expect(page.get_by_role("heading", name="Cohort", exact=True)).to_be_visible(timeout=SLOW)
    wait_until_idle(page, timeout=SLOW)
    expect(page.get_by_test_id("stSidebar")).to_contain_text("sample-copy")
    check_derived_grades(page)

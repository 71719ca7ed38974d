"""The REDCap import journey in headless Chromium: a user downloads nothing, uploads the example's export,
data dictionary and mapping on the Cohort page, sees the cohort load with its derived-grade report, then
filters it from the sidebar (fixtures: tests/browser.py)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser import wait_until_idle
from tests.test_browser_cohort import FIRST_LOAD_TIMEOUT, assert_no_exception, patients_metric

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "data" / "redcap-example"


def upload(page, label: str, path: Path, mime: str, data: bytes | None = None) -> None:
    uploader = page.get_by_test_id("stFileUploader").filter(has_text=label)
    uploader.locator("input[type=file]").set_input_files(
        [{"name": path.name, "mimeType": mime, "buffer": path.read_bytes() if data is None else data}])
    expect(uploader.get_by_test_id("stFileChip")).to_have_count(1)
    expect(uploader.get_by_test_id("stFileChipIconSpinner")).to_have_count(0)


def test_import_the_example_redcap_project_then_filter_it(page, app_url):
    page.goto(f"{app_url}/cohort")
    expect(page.get_by_text("Loaded:")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
    wait_until_idle(page, timeout=FIRST_LOAD_TIMEOUT)
    page.get_by_text("Import a REDCap project (export, data dictionary and mapping)").click()
    expect(page.get_by_role("button", name="Import from REDCap")).to_be_disabled()
    upload(page, "REDCap export (CSV)", EXAMPLE / "export-labels.csv", "text/csv")
    upload(page, "Data dictionary (CSV)", EXAMPLE / "dictionary.csv", "text/csv")
    upload(page, "Mapping (TOML)", EXAMPLE / "mapping.toml", "application/toml")
    page.get_by_role("button", name="Import from REDCap").click()

    expect(patients_metric(page)).to_have_text("40", timeout=60_000)
    expect(page.get_by_text("Loaded: export-labels.csv (REDCap)")).to_be_visible()
    expect(page.get_by_test_id("stAlertContentSuccess").filter(has_text="from REDCap")).to_contain_text(
        "Imported export-labels.csv, dictionary.csv, mapping.toml from REDCap")
    expect(page.get_by_test_id("stAlertContentWarning").filter(has_text="disagree")).to_be_visible()
    assert_no_exception(page)

    # the imported cohort is filtered like any other: axi-cel patients only
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Cohort filters").click()
    product = sidebar.get_by_test_id("stMultiSelect").filter(has_text="Product")
    product.locator("input").click()
    page.get_by_role("option", name="axi-cel", exact=True).click()
    page.keyboard.press("Escape")
    wait_until_idle(page)
    expect(page).to_have_url(re.compile(r"product=axi-cel"))
    # the filtered count, not "All 40 patients selected" of the run before the filter (a loaded machine)
    line = sidebar.get_by_text(re.compile(r"\d+ of 40 patients selected"))
    expect(line.first).to_be_visible()
    selected = int(re.search(r"(\d+)", line.first.inner_text())[1])
    assert 0 < selected < 40, line.first.inner_text()
    # the cohort stays the imported one, and the derived-grade report follows the selection
    expect(page.get_by_text("Loaded: export-labels.csv (REDCap)")).to_be_visible()
    expect(page.get_by_text(re.compile(r"ASTCT grades derived from [\d,]+ observation"))).to_be_visible()
    assert_no_exception(page)


def without_column(path: Path, name: str) -> bytes:
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    at = rows[0].index(name)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(r[:at] + r[at + 1:] for r in rows)
    return out.getvalue().encode()


def test_a_refused_redcap_import_names_the_field_and_keeps_the_filtered_cohort(page, app_url):
    # the export lacks a mapped field (the day of death): refused by name, with its report, and the cohort and
    # the filter set before the import stay as they were (nothing half-loaded)
    page.goto(f"{app_url}/cohort?product=axi-cel")
    expect(page.get_by_text("Loaded:")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
    wait_until_idle(page, timeout=FIRST_LOAD_TIMEOUT)
    sidebar = page.get_by_test_id("stSidebar")
    selected = sidebar.get_by_text(re.compile(r"\d+ of [\d,]+ patients selected"))
    expect(selected.first).to_be_visible()
    before, loaded = selected.first.inner_text(), page.get_by_text("Loaded:").first.inner_text()

    page.get_by_text("Import a REDCap project (export, data dictionary and mapping)").click()
    damaged = without_column(EXAMPLE / "export-labels.csv", "Day of death (days since infusion)")
    upload(page, "REDCap export (CSV)", EXAMPLE / "export-labels.csv", "text/csv", damaged)
    upload(page, "Data dictionary (CSV)", EXAMPLE / "dictionary.csv", "text/csv")
    upload(page, "Mapping (TOML)", EXAMPLE / "mapping.toml", "application/toml")
    page.get_by_role("button", name="Import from REDCap").click()

    expect(page.get_by_test_id("stAlertContentError")).to_contain_text(
        "Not imported: export-labels.csv, dictionary.csv, mapping.toml: 1 error(s). Nothing was loaded",
        timeout=60_000)
    # the report's grid draws on a canvas: its cells' text is in the page for screen readers
    expect(page.get_by_test_id("stDataFrame").get_by_text(
        "The export has no column 'death_day' (mapped to patients.death_day).", exact=True)).to_be_attached()
    expect(page.get_by_role("button", name="Download the import report (CSV)")).to_be_visible()
    wait_until_idle(page)
    expect(page.get_by_text("Loaded:").first).to_have_text(loaded)
    expect(page.get_by_text("Loaded: export-labels.csv (REDCap)")).to_have_count(0)
    expect(sidebar.get_by_text(before, exact=True).first).to_be_visible()
    expect(page).to_have_url(re.compile(r"product=axi-cel"))
    assert_no_exception(page)

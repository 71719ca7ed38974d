"""Markup in an uploaded cohort, as a browser shows it: text, never a remote image, link or script."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import running_app, wait_until_idle
from tests.test_browser_access import upload
from tests.test_browser_cohort import FIRST_LOAD_TIMEOUT, PATIENTS_CSV, TOXICITY_CSV
from tests.test_hostile_app import MARKUP_GROUP, MARKUP_ID

pytestmark = pytest.mark.browser


def test_markup_in_ids_and_labels_is_drawn_as_text(page, app_url):
    requests, dialogs = [], []
    page.on("request", lambda request: requests.append(request.url) if "evil.example" in request.url else None)
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(app_url)
    expect(page.get_by_test_id("stSidebar")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
    patients = PATIENTS_CSV.replace(b"P1", MARKUP_ID.encode()).replace(b"Steroids + IVIG", MARKUP_GROUP.encode())
    upload(page, {"patients.csv": patients, "toxicity.csv": TOXICITY_CSV.replace(b"P1", MARKUP_ID.encode())}, 2)
    for name in ("Overview", "Swimlanes", "Patient", "Cohort"):
        page.get_by_test_id("stSidebarNav").get_by_text(name, exact=True).click()
        wait_until_idle(page, timeout=30_000)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        expect(page.locator("img[src*='evil.example'], b:text-is('bold')")).to_have_count(0)
        # a bare address in a value may be autolinked by GFM, but only ever as itself: no link
        # hides its target behind other text ("[click](...)" stays literal)
        for link in page.locator("a[href*='evil.example']").all():
            assert link.inner_text().strip() == link.get_attribute("href"), (name, link.evaluate("e => e.outerHTML"))
    # the patient view names the patient in its heading: the id, character for character
    page.get_by_test_id("stSidebarNav").get_by_text("Patient", exact=True).click()
    wait_until_idle(page, timeout=30_000)
    expect(page.get_by_test_id("stMain").get_by_text(MARKUP_ID).first).to_be_visible()
    assert requests == [] and dialogs == []


def test_an_upload_over_the_configured_limit_is_refused_before_it_is_sent(chromium, tmp_path):
    """ICANS_MAX_UPLOAD_MB=1: a 2 MB file is refused by the uploader itself; nothing is loaded."""
    big = PATIENTS_CSV + b"".join(b"P%07d,axi-cel,Arm,DLBCL,50,F,1,100,,\n" % i for i in range(3, 60_000))
    assert len(big) > 2 * 1024 * 1024
    with running_app(tmp_path, env={"ICANS_MAX_UPLOAD_MB": "1"}) as (url, _log):
        context = chromium.new_context(viewport={"width": 1400, "height": 1800})
        try:
            page = context.new_page()
            page.goto(f"{url}/cohort")
            expect(page.get_by_text("Loaded:")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
            uploader = page.get_by_test_id("stFileUploader")
            uploader.locator("input[type=file]").set_input_files(
                [{"name": "patients.csv", "mimeType": "text/csv", "buffer": big}])
            expect(uploader.get_by_text(re.compile(r"File must be 1(\.0)? ?MB or smaller"))).to_be_visible()
            expect(page.get_by_role("button", name="Validate and load")).to_be_disabled()
            expect(page.get_by_test_id("stSidebar").get_by_text("Sample cohort (synthetic)")).to_be_visible()
        finally:
            context.close()


def test_a_formula_in_a_label_is_neutralised_in_the_csv_a_user_downloads(page, app_url):
    """What a user downloads from a table is safe to open in Excel; the grid's own unneutralised
    CSV export is not offered."""
    formula = '=HYPERLINK("https://evil.example/","open")'
    page.goto(app_url)
    expect(page.get_by_test_id("stSidebar")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
    quoted = ('"' + formula.replace('"', '""') + '"').encode()  # the cell as a CSV file holds it
    upload(page, {"patients.csv": PATIENTS_CSV.replace(b"Steroids + IVIG", quoted), "toxicity.csv": TOXICITY_CSV}, 2)
    page.get_by_test_id("stSidebarNav").get_by_text("Overview", exact=True).click()
    wait_until_idle(page, timeout=30_000)
    table = page.get_by_test_id("stDataFrame").first
    table.hover()
    toolbar = page.get_by_test_id("stElementToolbar").first
    expect(toolbar.get_by_role("button", name="Search")).to_be_visible()  # the toolbar is showing...
    expect(toolbar.get_by_role("button", name="Download as CSV")).to_be_hidden()  # ...without it
    with page.expect_download() as download:
        page.get_by_role("button", name="Table (CSV)").first.click()
    text = download.value.path().read_text()
    assert "'" + formula.replace('"', '""') in text and "\n" + formula not in text and "," + formula not in text

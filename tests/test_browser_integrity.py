"""A group literally named "None", as a browser user uploads it: loaded with a visible warning, and the
patient stays in that group in what the pages show and the CSV the user downloads (issue 10)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import wait_until_idle
from tests.test_browser_access import upload
from tests.test_browser_cohort import FIRST_LOAD_TIMEOUT, PATIENTS_CSV, TOXICITY_CSV

pytestmark = pytest.mark.browser


def test_a_group_named_none_is_kept_and_warned(page, app_url):
    page.goto(app_url)
    expect(page.get_by_test_id("stSidebar")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
    upload(page, {"patients.csv": PATIENTS_CSV.replace(b"Steroids + IVIG", b"None"), "toxicity.csv": TOXICITY_CSV}, 2)
    expect(page.get_by_text("Loaded patients.csv, toxicity.csv. 1 warning(s) listed above.")).to_be_visible()
    page.get_by_test_id("stSidebarNav").get_by_text("Overview", exact=True).click()
    wait_until_idle(page, timeout=30_000)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    with page.expect_download() as download:
        page.get_by_role("button", name="Table (CSV)").first.click()
    text = download.value.path().read_text()
    # P1's group is "None", not missing (which would have put P1 in its product's group, axi-cel)
    header = text.splitlines()[0]
    assert "None (n=1)" in header and "Steroids alone (n=1)" in header and "axi-cel" not in header, header

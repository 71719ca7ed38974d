"""A shared link reproduces the view: filters set in the UI travel in the URL to a fresh browser."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser import EXPECT_TIMEOUT, read_until, settled, wait_until_idle

pytestmark = pytest.mark.browser
FIRST_LOAD_TIMEOUT = 60_000


def selection_line(page) -> str:
    line = page.get_by_test_id("stSidebar").get_by_text(re.compile(r"patients selected"))
    expect(line.first).to_be_visible()
    return line.first.inner_text()


def km_data(page) -> bytes:
    """The Kaplan-Meier figure's data, as its CSV download gives it."""
    with page.expect_download() as download:
        page.get_by_role("button", name="Data (CSV)").first.click()
    return download.value.path().read_bytes()


def test_a_copied_link_opens_the_same_cohort_and_curves(chromium, app_url, page):
    page.goto(f"{app_url}/resolution")
    expect(page.get_by_role("heading", name="Resolution of severe ICANS")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
    wait_until_idle(page, timeout=FIRST_LOAD_TIMEOUT)
    # the user opens the filter panel and picks axi-cel, as anyone would
    page.get_by_test_id("stSidebar").get_by_text("Cohort filters").click()
    product = page.get_by_test_id("stSidebar").get_by_test_id("stMultiSelect").filter(has_text="Product")
    product.locator("input").click()
    page.get_by_role("option", name="axi-cel", exact=True).click()
    page.keyboard.press("Escape")
    wait_until_idle(page)
    # ... and patients who received IVIG, the issue's own example
    received = page.get_by_test_id("stSidebar").get_by_test_id("stMultiSelect").filter(has_text="Interventions")
    received.locator("input").click()
    page.get_by_role("option", name="IVIG", exact=True).first.click()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("stSidebar").get_by_text(re.compile(r"received any of: IVIG"))).to_be_visible()
    wait_until_idle(page)
    expect(page).to_have_url(re.compile(r"product=axi-cel.*rx=IVIG|rx=IVIG.*product=axi-cel"))
    shared_url, sent_selection, sent_data = page.url, selection_line(page), settled(lambda: km_data(page))
    # the sidebar's copy-link control offers this address: the same page and parameters, the cohort named
    offered = page.get_by_test_id("stSidebar").get_by_test_id("stCode").inner_text().strip()
    assert urlsplit(offered).path == urlsplit(shared_url).path
    assert sorted(parse_qsl(urlsplit(offered).query)) == sorted(parse_qsl(urlsplit(shared_url).query))
    assert ("cohort", "sample") in parse_qsl(urlsplit(offered).query), offered
    shared_url = offered

    colleague = chromium.new_context(viewport={"width": 1400, "height": 1800})
    try:
        other = colleague.new_page()
        other.set_default_timeout(EXPECT_TIMEOUT)
        other.goto(shared_url)
        expect(other.get_by_role("heading", name="Resolution of severe ICANS")).to_be_visible(
            timeout=FIRST_LOAD_TIMEOUT)
        wait_until_idle(other, timeout=FIRST_LOAD_TIMEOUT)
        assert selection_line(other) == sent_selection
        assert read_until(lambda: km_data(other), sent_data) == sent_data
    finally:
        colleague.close()

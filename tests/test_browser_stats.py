"""The issue-12 sections in headless Chromium, as a user reaches them with a filter set: the adjusted
comparison (Cox) with a covariate picked, Gray's test under the log-rank table, and the NCA options of the
expansion page, each checked through the CSV the page offers."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
from playwright.sync_api import expect

from pathlib import Path

from tests.browser import upload_cohort, wait_until_idle
from tests.cohorts import ivig_study_files

pytestmark = pytest.mark.browser
FIRST_LOAD_TIMEOUT = 60_000


def open_page(page, app_url, path, heading):
    page.goto(f"{app_url}/{path}")
    expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
    wait_until_idle(page, timeout=FIRST_LOAD_TIMEOUT)


def pick_product(page, product: str) -> None:
    box = page.get_by_test_id("stSidebar").get_by_test_id("stMultiSelect").filter(has_text="Product")
    if not box.is_visible():  # the filter panel starts closed
        page.get_by_test_id("stSidebar").get_by_text("Cohort filters").click()
    box.locator("input").click()
    page.get_by_role("option", name=product, exact=True).click()
    page.keyboard.press("Escape")
    wait_until_idle(page)


def csv_of(page, button) -> pd.DataFrame:
    wait_until_idle(page)
    expect(button).to_be_visible()
    with page.expect_download(timeout=FIRST_LOAD_TIMEOUT) as download:  # the CSV is made on the server when asked
        button.click()
    return pd.read_csv(io.BytesIO(download.value.path().read_bytes()))


def test_adjusted_comparison_and_grays_test_with_a_filter(page, app_url):
    open_page(page, app_url, "resolution", "Resolution of severe ICANS")
    pick_product(page, "axi-cel")
    expect(page.get_by_text("Gray's test", exact=False).first).to_be_visible()
    box = page.get_by_test_id("stMultiSelect").filter(has_text="Adjusted comparison (Cox)")
    box.locator("input").click()
    page.get_by_role("option", name="peak_grade", exact=True).click()  # a link value; its label is in the help
    page.keyboard.press("Escape")
    wait_until_idle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text("Adjusted comparison (Cox; group and peak ICANS grade (per grade))")).to_be_visible()
    expect(page.get_by_text("resolutions; Efron ties").first).to_be_visible()
    # the coefficients' own download (Streamlit marks a keyed element with the class st-key-<key>)
    coefficients = csv_of(page, page.locator(".st-key-resolution_cox_table_csv").get_by_role("button"))
    assert "peak ICANS grade (per grade)" in set(coefficients["term"])
    assert (coefficients["hr_ci_lower"] < coefficients["hr_ci_upper"]).all()
    assert coefficients["variable"].tolist().count("group") >= 1
    caption = page.get_by_text("resolutions; Efron ties").first.inner_text()
    episodes = int(caption.split(" episodes")[0])
    assert 0 < episodes < 54  # the axi-cel filter narrowed the sample's 54 episodes


def test_nca_options_reach_the_table_and_the_link(page, app_url, chromium):
    open_page(page, app_url, "expansion", "CAR-T expansion")
    pick_product(page, "tisa-cel")
    page.get_by_text("lin up/log down", exact=True).click()
    wait_until_idle(page)
    page.get_by_text("interpolated", exact=True).click()
    # the run of this click has drawn the caption (right after a click the old run's idle state still shows)
    expect(page.get_by_text("by the lin up/log down rule, interpolated ends (PKNCA aucint)")).to_be_visible()
    wait_until_idle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    table = csv_of(page, page.get_by_role("button", name="Table (CSV)").last)
    assert set(table["auc_method"]) == {"lin up/log down"} and set(table["auc_window"]) == {"interpolated"}
    assert table["auc_0_90"].notna().any()
    # the address carries the options as machine values: a colleague's new session shows the same table
    expect(page).to_have_url(re.compile(r"expansion_auc_method=lin(\+|%20)up%2Flog(\+|%20)down"))
    expect(page).to_have_url(re.compile(r"expansion_auc_window=interpolated"))
    colleague = chromium.new_context(viewport={"width": 1400, "height": 1800})
    try:
        other = colleague.new_page()
        other.goto(page.url)
        expect(other.get_by_role("heading", name="CAR-T expansion")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
        expect(other.get_by_text("by the lin up/log down rule, interpolated ends (PKNCA aucint)")).to_be_visible(
            timeout=FIRST_LOAD_TIMEOUT)
        wait_until_idle(other, timeout=FIRST_LOAD_TIMEOUT)
        shared = csv_of(other, other.get_by_role("button", name="Table (CSV)").last)
        pd.testing.assert_frame_equal(shared, table)
    finally:
        colleague.close()


def test_grays_test_and_the_adjusted_comparison_on_an_uploaded_cohort(page, app_url):
    """The same sections on a user's own upload (19 patients shaped like the IVIG study, two arms),
    with a covariate picked: the coefficients are the upload's arms."""
    files = ivig_study_files(Path(__file__).resolve().parent.parent / "data" / "sample")
    upload_cohort(page, app_url, files, 19)
    page.get_by_test_id("stSidebarNav").get_by_text("Resolution", exact=True).click()
    expect(page.get_by_role("heading", name="Resolution of severe ICANS")).to_be_visible()
    wait_until_idle(page)
    expect(page.get_by_role("heading", name="Gray's test")).to_be_visible()
    box = page.get_by_test_id("stMultiSelect").filter(has_text="Adjusted comparison (Cox)")
    box.locator("input").click()
    page.get_by_role("option", name="peak_grade", exact=True).click()
    page.keyboard.press("Escape")
    wait_until_idle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text("Adjusted comparison (Cox; group and peak ICANS grade (per grade))")).to_be_visible()
    coefficients = csv_of(page, page.locator(".st-key-resolution_cox_table_csv").get_by_role("button"))
    arms = set(pd.read_csv(io.BytesIO(files["patients.csv"]))["group"])
    levels = set(coefficients.loc[coefficients["variable"] == "group", "level"])
    assert levels < arms and len(levels) == len(arms) - 1, (levels, arms)  # every arm but the reference
    assert "peak_grade" in set(coefficients["variable"])

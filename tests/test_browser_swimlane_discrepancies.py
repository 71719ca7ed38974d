"""Grades that disagree with their observations are marked on the swimlanes, in headless Chromium.

A user uploads a cohort whose recorded grades disagree with the ASTCT grades derived from its bedside
observations, filters it to axi-cel in the sidebar, shows every patient sorted by identifier on the
Swimlanes page, and sees the "≠" marks: the page says how many, and the figure as downloaded (SVG,
rendered from the very spec the page draws) holds the legend entry and a mark per disagreement of the
shown patient, with both grades and the driving domain (fixtures: tests/browser.py).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from icans_core.charts.discrepancy import LEGEND_LABEL
from tests.browser import upload_cohort, wait_until_idle
from tests.cohorts import copy_tables, csv_text
from tests.test_browser_cohort import FIRST_LOAD_TIMEOUT, assert_no_exception
from tests.test_browser_researcher import download, pick

pytestmark = pytest.mark.browser
SLOW = 90_000  # ms

OBSERVATION_HEADER = ["patient_id", "day", "temperature_c", "hypotension", "oxygen", "ice_score", "consciousness",
                      "seizure"]


def cohort() -> dict[str, bytes]:
    tables = copy_tables()
    # P1 (axi-cel) day 5 is recorded CRS 1 / ICANS 3. Its observations: no fever, no hypotension, room air
    # (CRS 0: dexamethasone started on day 5, so fever is not required, and nothing else is abnormal);
    # a prolonged seizure (ICANS 4, set by the seizure). P2 (tisa-cel) day 2 is recorded CRS 1 without
    # fever (derived 0): filtered out below, so never marked.
    tables["observations"] = [OBSERVATION_HEADER,
                              ["P1", "5", "37.0", "no hypotension", "room air", "2", "alert", "prolonged"],
                              ["P1", "9", "37.0", "no hypotension", "room air", "8", "alert", "no seizure"],
                              ["P2", "2", "37.0", "no hypotension", "room air", "10", "alert", "no seizure"]]
    return {f"{name}.csv": csv_text(rows).encode() for name, rows in tables.items()}


def test_disagreements_are_marked_on_the_lanes_of_the_filtered_cohort(page, app_url):
    page.set_default_timeout(SLOW)  # a shared 2-core machine: page runs can take long
    expect.set_options(timeout=SLOW)
    page.goto(f"{app_url}/cohort")  # the server's first session validates the bundled sample: let it finish
    wait_until_idle(page, timeout=FIRST_LOAD_TIMEOUT * 2)
    upload_cohort(page, app_url, cohort(), patients=2, timeout=SLOW)
    expect(page.get_by_test_id("stAlertContentWarning").filter(has_text="3 recorded grade(s) disagree")).to_be_visible()

    page.get_by_test_id("stSidebarNav").get_by_text("Swimlanes", exact=True).click()
    expect(page.get_by_role("heading", name="Toxicity swimlanes")).to_be_visible()
    wait_until_idle(page, timeout=SLOW)
    page.get_by_test_id("stSidebar").get_by_text("Cohort filters").click()
    pick(page, "Product", "axi-cel")
    expect(page).to_have_url(re.compile(r"product=axi-cel"))
    main = page.get_by_test_id("stMain")
    main.get_by_test_id("stRadio").filter(has_text="Patients").get_by_text("all", exact=True).click()
    wait_until_idle(page, timeout=SLOW)
    sort = main.get_by_test_id("stSelectbox").filter(has_text="Sort lanes by")
    sort.click()
    page.get_by_role("option", name="patient", exact=True).click()
    wait_until_idle(page, timeout=SLOW)
    expect(page).to_have_url(re.compile(r"swimlanes_patients=all"))
    expect(page).to_have_url(re.compile(r"swimlanes_sort=patient"))

    # P1's two disagreements (CRS and ICANS on day 5); P2's is filtered out with P2
    expect(main.get_by_text(re.compile(r"≠ marks 2 recorded grade\(s\) on these lanes"))).to_be_visible()
    chart = main.get_by_test_id("stVegaLiteChart").first
    expect(chart.locator("canvas, svg").first).to_be_visible()
    svg = download(page, main.get_by_test_id("stDownloadButton").filter(has_text="SVG").first.get_by_role("button"))
    svg = svg.decode()
    assert LEGEND_LABEL.replace("≠", "") in svg.replace("&#8800;", "≠").replace("≠", "")  # the legend names it
    assert "Grade check" in svg
    # one mark per disagreement, described by its tooltip fields (Vega writes them as the mark's aria-label)
    labels = re.findall(r'aria-label="([^"]*Recorded grade[^"]*)"', svg)
    assert len(labels) == 2, labels
    assert any("Syndrome: ICANS" in l and "Recorded grade: 3" in l and "Derived grade (ASTCT): 4" in l
               and "seizure" in l for l in labels), labels
    assert any("Syndrome: CRS" in l and "Recorded grade: 1" in l and "Derived grade (ASTCT): 0" in l for l in labels)
    assert "P2" not in " ".join(labels)
    assert_no_exception(page)

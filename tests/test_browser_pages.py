"""Every page in headless Chromium on the sample cohort: its charts drawn, no error, nothing broken."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import wait_until_idle

pytestmark = pytest.mark.browser

FIRST_LOAD_TIMEOUT = 60_000  # ms: the first session validates the bundled sample
# url path -> (heading the page shows, least number of charts it draws on the sample)
PAGES = {
    "overview": ("Overview", 1),
    "swimlanes": ("Toxicity swimlanes", 2),
    "cytokines": ("Cytokine kinetics", 1),
    "resolution": ("Resolution of severe ICANS", 2),
    "treatments": ("Treatments", 1),
    "expansion": ("CAR-T expansion", 1),
    "patient": ("Patient", 1),
    "report": ("Report", 0),
    "cohort": ("Cohort", 0),
}


@pytest.mark.parametrize("path", list(PAGES))
def test_page_renders_its_charts_without_errors(page, app_url, path):
    heading, least_charts = PAGES[path]
    page.goto(f"{app_url}/{path}")
    expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
    wait_until_idle(page, timeout=FIRST_LOAD_TIMEOUT)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    charts = page.get_by_test_id("stVegaLiteChart")
    if least_charts:
        expect(charts.first).to_be_visible()
        # vega-embed draws into a canvas or an svg once the spec has been rendered
        expect(charts.first.locator("canvas, svg").first).to_be_visible()
        assert charts.count() >= least_charts
    # the sidebar always says which cohort is loaded and how many patients
    expect(page.get_by_test_id("stSidebar").get_by_text("Sample cohort (synthetic)")).to_be_visible()


def test_navigation_lists_every_page(page, app_url):
    page.goto(app_url)
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
    for heading, _ in PAGES.values():
        label = {"Toxicity swimlanes": "Swimlanes", "Cytokine kinetics": "Cytokines",
                 "Resolution of severe ICANS": "Resolution", "CAR-T expansion": "Expansion"}.get(heading, heading)
        expect(nav.get_by_text(label, exact=True)).to_be_visible()


def test_streamlits_fonts_load_so_icons_show_as_icons(page, app_url):
    # serve.py's download gate once answered 404 to Streamlit's own static/media/ fonts: every icon showed as
    # its name beside the label ("dashboardOverview") and the text fell back to another font
    fonts = []
    page.on("response", lambda r: fonts.append((r.url.rsplit("/", 1)[-1], r.status)) if ".woff2" in r.url else None)
    page.goto(app_url)
    expect(page.get_by_test_id("stSidebarNav")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
    wait_until_idle(page, timeout=FIRST_LOAD_TIMEOUT)
    page.wait_for_function("document.fonts.status === 'loaded'")
    status = page.evaluate("Object.fromEntries(Array.from(document.fonts).filter(f => f.status !== 'unloaded')"
                           ".map(f => [f.family, f.status]))")
    assert status.get("Material Symbols Rounded") == "loaded", (status, fonts)
    assert status.get("Source Sans") == "loaded", (status, fonts)
    assert fonts and all(code == 200 for _, code in fonts), fonts


def test_the_patient_course_never_covers_the_key_numbers_in_a_narrow_window(page, app_url):
    # at 1280-1400 px the 900-px course drew its legends over the key numbers beside it (adversarial finding)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{app_url}/patient?patient_id=P0002")
    expect(page.get_by_role("heading", name="Patient", exact=True).first).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
    wait_until_idle(page, timeout=FIRST_LOAD_TIMEOUT)
    course = page.locator(".st-key-patient_course")
    expect(course.get_by_test_id("stVegaLiteChart").locator("canvas, svg").first).to_be_visible()
    column = course.bounding_box()
    numbers = page.get_by_test_id("stMetric").first.bounding_box()
    assert column["x"] + column["width"] <= numbers["x"], (column, numbers)
    # what does not fit scrolls within the column
    assert page.evaluate("el => el.scrollWidth > el.clientWidth", course.element_handle())

"""Links that mean one thing, in headless Chromium on `streamlit run` (issue 9, the collaborator's and
the tumour board's journeys), with filters and options set:

- a link copied on a published cohort's Resolution page opens, in a fresh browser, that cohort with
  the same filters, options and numbers;
- a link copied on a private upload opens with a notice and no other cohort's numbers;
- a link whose fingerprint does not match the cohort is named as a mismatch;
- the tumour board opens patients from the swimlanes (click and selector) with a product filter,
  steps with Next, and the copied link reopens that patient; the patient view fits 1920x1080;
- every page, opened with a filter in the URL, shows no error box.
"""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from icans_core import library, sample
from icans_core.ingest import load_sources
from icans_core.readers import Source
from tests.browser import upload_cohort, EXPECT_TIMEOUT, read_until, running_app, settled, wait_until_idle

pytestmark = pytest.mark.browser
FIRST_LOAD_TIMEOUT = 60_000
PUBLISHED_LABEL = "centre-b.csv"


def cohort_files(n_patients: int, seed: int) -> dict[str, bytes]:
    """A synthetic cohort (the generator of the bundled sample, other size and seed) as CSV files."""
    files = {}
    for name, frame in sample.generate_cohort(n_patients, seed).items():
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False)
        files[f"{name}.csv"] = buffer.getvalue().encode()
    return files


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A library folder holding one published cohort: (folder, cohort id, fingerprint)."""
    folder = tmp_path_factory.mktemp("library")
    result = load_sources([Source(name, data) for name, data in cohort_files(120, 11).items()],
                          label=PUBLISHED_LABEL)
    assert result.ok, result.report.to_string()
    cohort_id = library.publish(result.cohort, folder, publisher="dr. links")
    opened = library.open_published(cohort_id, folder)
    return folder, cohort_id, library.fingerprint(opened.tables)


@pytest.fixture(scope="module")
def app_server(tmp_path_factory, published):
    """This module's dashboard, with the library folder of `published` (overrides tests/browser.py's)."""
    with running_app(tmp_path_factory.mktemp("streamlit"), env={"ICANS_LIBRARY_DIR": str(published[0])}) as server:
        yield server


# --- what the user sees ------------------------------------------------------------------------------

def sidebar(page):
    return page.get_by_test_id("stSidebar")


def open_page(page, url: str, heading: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
    wait_until_idle(page, timeout=FIRST_LOAD_TIMEOUT)


def copied_link(page) -> str:
    """The sidebar's copy-link (what the copy icon copies)."""
    code = sidebar(page).get_by_test_id("stCode")
    expect(code).to_have_count(1)
    return code.inner_text().strip().replace("\n", "")


def selection_line(page) -> str:
    line = sidebar(page).get_by_text(re.compile(r"patients selected"))
    expect(line.first).to_be_visible()
    return line.first.inner_text()


def choose_in_multiselect(page, label: str, option: str) -> None:
    box = sidebar(page).get_by_test_id("stMultiSelect").filter(has_text=label)
    box.locator("input").click()
    page.get_by_role("option", name=option, exact=True).first.click()
    page.keyboard.press("Escape")
    wait_until_idle(page)


def open_filters(page) -> None:
    sidebar(page).get_by_text("Cohort filters").click()


def km_data(page) -> bytes:
    """The Kaplan-Meier figure's data, as its CSV download gives it."""
    with page.expect_download() as download:
        page.get_by_role("button", name="Data (CSV)").first.click()
    return download.value.path().read_bytes()


def medians_table(page):
    """The medians table: the (visually hidden) table the data grid keeps for screen readers."""
    return page.get_by_test_id("stDataFrame").filter(has=page.locator("th:text-is('median_days')")).first


def medians_text(page) -> str:
    table = medians_table(page)
    expect(table).to_be_visible()
    return table.locator("tbody").inner_text()


def no_error_box(page) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    expect(page.get_by_text("Something went wrong")).to_have_count(0)


def fresh(chromium, viewport=None):
    context = chromium.new_context(viewport=viewport or {"width": 1400, "height": 1800})
    context.set_default_timeout(EXPECT_TIMEOUT)
    return context


def query(link: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(link).query)


# --- the collaborator ------------------------------------------------------------------------------

def test_a_link_from_a_published_cohort_opens_that_cohort_with_the_same_numbers(chromium, app_url, page,
                                                                                  published):
    _, cohort_id, fingerprint = published
    open_page(page, f"{app_url}/resolution?cohort={cohort_id}", "Resolution of severe ICANS")
    expect(sidebar(page).get_by_text(PUBLISHED_LABEL)).to_be_visible()
    open_filters(page)
    choose_in_multiselect(page, "Product", "axi-cel")
    log_medians = settled(lambda: medians_text(page))  # R's default band, before the link's option is set
    page.get_by_test_id("stRadio").filter(has_text="95% confidence band").get_by_text("log-log", exact=True).click()
    expect(page.get_by_text("95% CI from the log-log (lifelines' default")).to_be_visible()  # the new run drew
    wait_until_idle(page)
    # the grid can show the last run's numbers for a few frames: wait until it shows this run's
    expect(medians_table(page).locator("tbody")).not_to_have_text(log_medians, use_inner_text=True)
    expect(page).to_have_url(re.compile(r"resolution_ci=log-log"))
    link = copied_link(page)
    sent = query(link)
    # the link names the cohort and its content, with stable values (never a label)
    assert sent["cohort"] == [cohort_id] and sent["fp"] == [fingerprint], link
    assert sent["product"] == ["axi-cel"] and sent["resolution_ci"] == ["log-log"], link
    sent_selection, sent_medians = selection_line(page), settled(lambda: medians_text(page))
    sent_km = km_data(page)
    assert "of 120 patients selected" in sent_selection
    # this cohort's log-log median CIs differ from the log ones, so a link that dropped the option would fail
    assert sent_medians != log_medians

    colleague = fresh(chromium)
    try:
        other = colleague.new_page()
        open_page(other, link, "Resolution of severe ICANS")
        expect(sidebar(other).get_by_text(PUBLISHED_LABEL)).to_be_visible()
        no_error_box(other)
        assert selection_line(other) == sent_selection
        expect(other.get_by_test_id("stRadio").filter(has_text="95% confidence band")
               .get_by_role("radio", name="log-log")).to_be_checked()
        # the same numbers, once the run the link started has drawn them (a loaded CI runner can show the
        # page between the first run and the rerun that applies the URL's options); fails if they never come
        expect(medians_table(other).locator("tbody")).to_have_text(sent_medians, use_inner_text=True)
        wait_until_idle(other)
        assert read_until(lambda: km_data(other), sent_km) == sent_km
        # nothing the link carried is called ignored: the page applied its own options
        expect(sidebar(other).get_by_text("Ignored link parameter")).to_have_count(0)
    finally:
        colleague.close()


def test_a_link_from_a_private_upload_says_so_and_shows_no_other_numbers(chromium, app_url, page):
    upload_cohort(page, app_url, cohort_files(40, 5))
    # the uploader is emptied, so the next upload sends only its own files; the page says how long it lasts
    expect(page.get_by_test_id("stFileUploader").get_by_test_id("stFileChip")).to_have_count(0)
    expect(page.get_by_text("An upload is private and lasts for this browser tab only")).to_be_visible()
    sidebar(page).get_by_test_id("stSidebarNav").get_by_text("Resolution", exact=True).click()
    expect(page.get_by_role("heading", name="Resolution of severe ICANS")).to_be_visible()
    wait_until_idle(page)
    open_filters(page)
    choose_in_multiselect(page, "Product", "axi-cel")
    expect(sidebar(page).get_by_text("This link cannot show this cohort to anyone else")).to_be_visible()
    expect(sidebar(page).get_by_role("link", name=re.compile("Publish this cohort"))).to_be_visible()
    # the rerun that applies the filter may start after the page looked idle (a loaded machine): wait for its link
    expect(sidebar(page).get_by_test_id("stCode")).to_contain_text("product=axi-cel")
    link = copied_link(page)
    assert query(link)["cohort"] == ["upload"] and query(link)["product"] == ["axi-cel"], link

    colleague = fresh(chromium)
    try:
        other = colleague.new_page()
        other.goto(link)
        notice = other.get_by_test_id("stAlertContentError")
        expect(notice).to_contain_text("The cohort of this link cannot be shown", timeout=FIRST_LOAD_TIMEOUT)
        expect(notice).to_contain_text("private upload")
        wait_until_idle(other)
        # no numbers of any cohort pass for the shared ones: no badge, selection, figure or table
        expect(other.get_by_role("heading", name="Resolution of severe ICANS")).to_have_count(0)
        expect(sidebar(other).get_by_text(re.compile(r"patients selected|Sample cohort"))).to_have_count(0)
        expect(other.get_by_test_id("stVegaLiteChart")).to_have_count(0)
        expect(other.get_by_test_id("stDataFrame")).to_have_count(0)
        # going on with the sample is a deliberate choice, and then the sample is named as such
        other.get_by_role("button", name=re.compile("instead")).click()
        expect(other.get_by_role("heading", name="Resolution of severe ICANS")).to_be_visible()
        expect(sidebar(other).get_by_text("Sample cohort (synthetic)")).to_be_visible()
    finally:
        colleague.close()


def test_a_link_whose_fingerprint_differs_names_the_mismatch(app_url, page, published):
    _, cohort_id, fingerprint = published
    wrong = "0123456789"
    assert wrong != fingerprint
    open_page(page, f"{app_url}/resolution?cohort={cohort_id}&fp={wrong}&product=axi-cel",
              "Resolution of severe ICANS")
    mismatch = page.get_by_test_id("stAlertContentError")
    expect(mismatch).to_contain_text("This cohort is not the one the link was made on")
    expect(mismatch).to_contain_text(wrong)
    expect(mismatch).to_contain_text(fingerprint)
    # the same link with the right fingerprint opens quietly
    open_page(page, f"{app_url}/resolution?cohort={cohort_id}&fp={fingerprint}&product=axi-cel",
              "Resolution of severe ICANS")
    expect(page.get_by_text("This cohort is not the one the link was made on")).to_have_count(0)


# --- the tumour board ------------------------------------------------------------------------------

def lane_ids(page) -> list[str]:
    """The patient ids of the swimlane chart's left strip, top first (from the svg's accessible labels)."""
    chart = page.get_by_test_id("stVegaLiteChart").first
    strip = chart.locator('path[aria-roledescription="rect mark"][aria-label^="patient_id: "]')
    expect(strip.first).to_be_visible()
    wait_until_idle(page)
    # read in one go (a redraw between reads of single marks would leave a locator without its element)
    labels = strip.evaluate_all("marks => marks.map(m => m.getAttribute('aria-label'))")
    return [re.match(r"patient_id: ([^;]+);", label).group(1) for label in labels]


def shown_patient(page) -> str:
    heading = page.get_by_role("heading", name=re.compile(r" · "))
    expect(heading.first).to_be_visible()
    return heading.first.inner_text().split(" · ")[0].strip()


def axi_cel_patients(page) -> None:
    open_filters(page)
    choose_in_multiselect(page, "Product", "axi-cel")
    expect(sidebar(page).get_by_text("Filter: product: axi-cel")).to_be_visible()


def test_the_tumour_board_opens_patients_from_the_swimlanes_and_shares_them(chromium, app_url, page):
    open_page(page, f"{app_url}/swimlanes", "Toxicity swimlanes")
    axi_cel_patients(page)
    selected = selection_line(page)
    lanes = lane_ids(page)
    assert len(lanes) > 3

    # a click on a patient's lane (its ICANS/CRS bars) opens that patient
    target = lanes[2]
    bar = page.get_by_test_id("stVegaLiteChart").first.locator(
        f'path[aria-roledescription="bar"][aria-label*="Patient: {target};"]').first
    bar.click()
    expect(page.get_by_role("heading", name="Patient", exact=True)).to_be_visible()
    wait_until_idle(page)
    assert shown_patient(page) == target
    no_error_box(page)
    assert selection_line(page) == selected  # the filter held
    expect(page).to_have_url(re.compile(rf"patient_id={target}(&|$)"))

    # ... and so does the selector under the chart, with the filter still set
    sidebar(page).get_by_test_id("stSidebarNav").get_by_text("Swimlanes", exact=True).click()
    expect(page.get_by_role("heading", name="Toxicity swimlanes")).to_be_visible()
    wait_until_idle(page)
    other = lanes[4]
    page.get_by_test_id("stSelectbox").filter(has_text="Open a patient in the patient view").click()
    page.keyboard.type(other)  # the list of ~100 ids is virtualised: typing narrows it, as a user would
    page.get_by_role("option", name=re.compile(rf"^{other} · ")).click()
    wait_until_idle(page)
    page.get_by_role("button", name="Open patient view").click()
    expect(page.get_by_role("heading", name="Patient", exact=True)).to_be_visible()
    wait_until_idle(page)
    assert shown_patient(page) == other
    no_error_box(page)

    # Next steps to the following patient of the filtered cohort; address and link keep the bare id
    page.mouse.move(5, 5)  # off the chart: a hovered chart's toolbar sits over the row of buttons above it
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name=re.compile(rf"^{other} · "))).to_have_count(0)
    wait_until_idle(page)
    following = shown_patient(page)
    assert following != other
    expect(page).to_have_url(re.compile(rf"patient_id={following}(&|$)"))
    link = copied_link(page)
    assert query(link)["patient_id"] == [following] and query(link)["product"] == ["axi-cel"], link

    colleague = fresh(chromium)
    try:
        board = colleague.new_page()
        open_page(board, link, "Patient")
        assert shown_patient(board) == following
        assert selection_line(board) == selected
        no_error_box(board)
        expect(board.get_by_text("not in the selected cohort")).to_have_count(0)
    finally:
        colleague.close()


def test_a_patient_link_keeps_its_id_and_the_acute_phase_fits_a_1920x1080_screen(chromium, app_url):
    context = fresh(chromium, {"width": 1920, "height": 1080})
    try:
        board = context.new_page()
        open_page(board, f"{app_url}/patient?patient_id=P0002", "Patient")
        assert shown_patient(board) == "P0002"
        assert query(copied_link(board))["patient_id"] == ["P0002"]  # right after opening, the id stays
        chart = board.get_by_test_id("stVegaLiteChart").first
        expect(chart.locator("svg")).to_be_visible()
        box = chart.locator("svg").first.bounding_box()
        # grades, drugs, cytokines and CAR-T counts: every panel of the acute phase on screen at once
        svg_text = chart.inner_html()
        for panel in ("ICANS", "Cytokines", "CAR-T cells"):
            assert panel in svg_text, panel
        assert box["y"] >= 0 and box["y"] + box["height"] <= 1080, box
        for label in ("Severe ICANS onset (grade 3+)", "Time to resolution", "Steroid dose (mg dexamethasone)"):
            metric = board.get_by_test_id("stMetric").filter(has_text=label).first
            expect(metric).to_be_in_viewport()
        # an old link with the display label opens the patient by id
        open_page(board, f"{app_url}/patient?patient_id=P0002%20%C2%B7%20Steroids%20%2B%20intrathecal", "Patient")
        assert shown_patient(board) == "P0002"
        assert query(copied_link(board))["patient_id"] == ["P0002"]
    finally:
        context.close()


# --- every page with a filter in the URL ----------------------------------------------------------

PAGES = {"overview": "Overview", "swimlanes": "Toxicity swimlanes", "cytokines": "Cytokine kinetics",
         "resolution": "Resolution of severe ICANS", "treatments": "Treatments", "expansion": "CAR-T expansion",
         "patient": "Patient", "report": "Report", "cohort": "Cohort"}


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_with_a_filter_in_the_url_shows_no_error_box(page, app_url, path):
    open_page(page, f"{app_url}/{path}?product=axi-cel&rx=IVIG&rx_window=3&resolution_ci=log-log", PAGES[path])
    no_error_box(page)
    expect(sidebar(page).get_by_text("received any of: IVIG", exact=False).first).to_be_visible()
    link = copied_link(page)
    assert query(link)["cohort"] == ["sample"] and query(link)["product"] == ["axi-cel"], link


def test_a_published_link_with_infinite_numbers_keeps_its_filter_and_names_what_it_ignored(page, app_url, published):
    # Streamlit's number boxes raised OverflowError on int(inf): an error box, and the whole cohort shown while the
    # link named a product (found by an adversarial pass; ui/number_links.py)
    _, cohort_id, _ = published
    open_page(page, f"{app_url}/swimlanes?cohort={cohort_id}&product=axi-cel&rx=IVIG&rx_window=inf"
                    "&swimlanes_page=1e400", PAGES["swimlanes"])
    no_error_box(page)
    expect(sidebar(page).get_by_text(PUBLISHED_LABEL)).to_be_visible()
    expect(sidebar(page).get_by_text(re.compile(r"Ignored link value\(s\) rx_window=inf: the days after onset"))
           ).to_be_visible()
    expect(sidebar(page).get_by_text(re.compile(r"this page does not offer: swimlanes_page=1e400"))).to_be_visible()
    assert "of 120 patients selected" in selection_line(page)
    expect(sidebar(page).get_by_text("received any of: IVIG", exact=False).first).to_be_visible()
    expect(page.get_by_text("Clinical course per patient")).to_be_visible()  # the page drew below its options
    sent = query(copied_link(page))
    assert sent["product"] == ["axi-cel"] and "rx_window" not in sent and "swimlanes_page" not in sent, sent


def test_going_back_to_a_page_after_changing_the_filter_elsewhere_shows_the_new_selection(page, app_url, published):
    """Pages keep their view per session (ui/view_cache.py): a filter changed on another page must still
    reach a page the user goes back to, and the old filter's view, chosen again, must be its own numbers."""
    _, cohort_id, _ = published
    open_page(page, f"{app_url}/?cohort={cohort_id}", "Overview")

    def patients_shown() -> str:
        metric = page.get_by_test_id("stMetric").filter(has_text="Patients").first
        expect(metric).to_be_visible()
        return metric.get_by_test_id("stMetricValue").inner_text()

    assert patients_shown() == "120"
    open_filters(page)
    choose_in_multiselect(page, "Product", "axi-cel")
    expect(sidebar(page).get_by_text(re.compile(r"of 120 patients selected"))).to_be_visible()
    axi = settled(patients_shown)
    assert 0 < int(axi) < 120
    sidebar(page).get_by_test_id("stSidebarNav").get_by_text("Resolution", exact=True).click()
    expect(page.get_by_role("heading", name="Resolution of severe ICANS")).to_be_visible()
    wait_until_idle(page)
    # on Resolution, the filter is taken off again (the chip's remove button)
    box = sidebar(page).get_by_test_id("stMultiSelect").filter(has_text="Product")
    box.get_by_role("button", name=re.compile("Remove|Delete|axi-cel")).first.click()
    expect(sidebar(page).get_by_text("All 120 patients selected (no filter).")).to_be_visible()
    wait_until_idle(page)
    sidebar(page).get_by_test_id("stSidebarNav").get_by_text("Overview", exact=True).click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    wait_until_idle(page)
    assert read_until(patients_shown, "120") == "120"  # the whole cohort, not the kept axi-cel view
    choose_in_multiselect(page, "Product", "axi-cel")
    assert read_until(patients_shown, axi) == axi
    no_error_box(page)


def without_icans(files: dict[str, bytes]) -> dict[str, bytes]:
    """The files with every ICANS grade 0: the same patients and products, other numbers."""
    import pandas as pd

    toxicity = pd.read_csv(io.BytesIO(files["toxicity.csv"]))
    toxicity["icans_grade"] = toxicity["icans_grade"].where(toxicity["icans_grade"].isna(), 0)
    return {**files, "toxicity.csv": toxicity.to_csv(index=False).encode()}


def test_colleagues_opening_one_published_link_see_its_numbers_and_an_upload_with_that_filter_its_own(
        chromium, app_url, page, published):
    """A view of a published cohort is kept server-wide for the next session with the same selection and
    options (ui/view_cache.py). The collaborator's journey with a filter and an option in the link: a
    second browser sees the first one's numbers; a third, which uploads the published cohort's very files
    but for its ICANS grades (so the same filter selects the same patients) and sets the same filter and
    option, sees its own cohort's numbers, never the published one's."""
    _, cohort_id, _ = published
    link = f"{app_url}/?cohort={cohort_id}&product=axi-cel&severe_grade=2"

    def numbers(on) -> list[str]:
        metrics = on.get_by_test_id("stMetric")
        expect(metrics.first).to_be_visible()
        return [m.inner_text() for m in metrics.all()]

    open_page(page, link, "Overview")
    expect(sidebar(page).get_by_text(PUBLISHED_LABEL)).to_be_visible()
    expect(sidebar(page).get_by_text(re.compile(r"of 120 patients selected"))).to_be_visible()
    shown = settled(lambda: numbers(page))
    context = fresh(chromium)
    try:
        second = context.new_page()
        open_page(second, link, "Overview")
        expect(sidebar(second).get_by_text(PUBLISHED_LABEL)).to_be_visible()
        assert read_until(lambda: numbers(second), shown) == shown
        no_error_box(second)
    finally:
        context.close()

    uploader = fresh(chromium)
    try:
        third = uploader.new_page()
        upload_cohort(third, app_url, without_icans(cohort_files(120, 11)), patients=120)
        sidebar(third).get_by_test_id("stSidebarNav").get_by_text("Overview", exact=True).click()
        expect(third.get_by_role("heading", name="Overview")).to_be_visible()
        wait_until_idle(third)
        open_filters(third)
        choose_in_multiselect(third, "Product", "axi-cel")
        sidebar(third).get_by_test_id("stSelectbox").filter(has_text="Severe ICANS").locator("input").click()
        third.get_by_role("option", name="2", exact=True).first.click()
        wait_until_idle(third)
        expect(third).to_have_url(re.compile(r"severe_grade=2"))
        expect(sidebar(third).get_by_text(re.compile(r"of 120 patients selected"))).to_be_visible()
        own = settled(lambda: numbers(third))
        assert own != shown, own  # its own cohort's numbers
        no_error_box(third)
    finally:
        uploader.close()
    page.reload()  # and the published cohort's session still shows its own
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
    assert read_until(lambda: numbers(page), shown) == shown

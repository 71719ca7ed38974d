"""The researcher's journey in headless Chromium: upload a cohort shaped like the IVIG study, filter it
(axi-cel, IVIG within 3 days of severe-ICANS onset), download every figure of a page as PNG, SVG and CSV
and the HTML and PDF reports, and check what is in them; no request leaves the app's own origin."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import expect

from tests.browser import upload_cohort, wait_until_idle
from tests.cohorts import ivig_study_files

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
FIRST_LOAD_TIMEOUT = 60_000
REPORT_TIMEOUT = 240_000  # ms: the PDF renders every figure


def expected_selection(files: dict[str, bytes]) -> set[str]:
    """axi-cel patients with a first IVIG dose within 3 days after severe-ICANS onset, from the files themselves."""
    patients = pd.read_csv(io.BytesIO(files["patients.csv"]))
    toxicity = pd.read_csv(io.BytesIO(files["toxicity.csv"]))
    interventions = pd.read_csv(io.BytesIO(files["interventions.csv"]))
    onset = toxicity[toxicity["icans_grade"] >= 3].groupby("patient_id")["day"].min()
    ivig = interventions[interventions["agent"] == "IVIG"].join(onset.rename("onset"), on="patient_id")
    near = ivig[(ivig["start_day"] >= ivig["onset"]) & (ivig["start_day"] <= ivig["onset"] + 3)]
    axicel = set(patients.loc[patients["product"] == "axi-cel", "patient_id"])
    return set(near["patient_id"]) & axicel


def pick(page, label: str, option: str) -> None:
    box = page.get_by_test_id("stSidebar").get_by_test_id("stMultiSelect").filter(has_text=label)
    box.locator("input").click()
    page.get_by_role("option", name=option, exact=True).first.click()
    page.keyboard.press("Escape")
    wait_until_idle(page)


def download(page, button) -> bytes:
    with page.expect_download(timeout=REPORT_TIMEOUT) as done:
        button.click()
    return done.value.path().read_bytes()


def test_upload_filter_and_download_every_figure_and_both_reports(page, app_url):
    off_origin: list[str] = []
    page.on("request", lambda r: off_origin.append(r.url)
            if not (r.url.startswith(app_url) or r.url.startswith(("data:", "blob:"))) else None)
    files = ivig_study_files(ROOT / "data" / "sample")
    selected = expected_selection(files)
    assert 3 <= len(selected) < 9  # the filter keeps some, not all, of the IVIG arm

    # upload
    upload_cohort(page, app_url, files, 19)

    # filter: axi-cel, IVIG within 3 days of onset (in the sidebar, as a user does)
    page.get_by_test_id("stSidebarNav").get_by_text("Resolution", exact=True).click()
    expect(page.get_by_role("heading", name="Resolution of severe ICANS")).to_be_visible()
    wait_until_idle(page)
    page.get_by_test_id("stSidebar").get_by_text("Cohort filters").click()
    pick(page, "Product", "axi-cel")
    pick(page, "Interventions", "IVIG")
    window = page.get_by_test_id("stSidebar").get_by_test_id("stNumberInput").filter(has_text="within N days")
    window.locator("input").fill("3")
    window.locator("input").press("Enter")
    wait_until_idle(page)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text(re.compile(rf"\b{len(selected)} (of 19 )?patients selected"))).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)

    # every figure of the page: PNG, SVG and its data
    main = page.get_by_test_id("stMain")
    charts = main.get_by_test_id("stVegaLiteChart")
    n_figures = 2  # one group is left: Kaplan-Meier and cumulative incidence (no comparison to draw)
    expect(charts).to_have_count(n_figures)
    wait_until_idle(page)
    names = [main.get_by_test_id("stDownloadButton").nth(i).inner_text()
             for i in range(main.get_by_test_id("stDownloadButton").count())]
    assert sum(name.strip().endswith("PNG") for name in names) == n_figures, names
    for i in range(n_figures):
        png = download(page, main.get_by_test_id("stDownloadButton").filter(has_text="PNG").nth(i).get_by_role("button"))
        assert png.startswith(b"\x89PNG")
        svg = download(page, main.get_by_test_id("stDownloadButton").filter(has_text="SVG").nth(i).get_by_role("button")).decode()
        assert svg.lstrip().startswith("<svg") and "<script" not in svg.lower()
        rows = list(csv.DictReader(io.StringIO(download(page, main.get_by_test_id("stDownloadButton").filter(has_text="Data (CSV)").nth(i).get_by_role("button"))
                                               .decode())))
        assert rows and set(r["group"] for r in rows) == {"Steroids + IVIG"}
        # no binary-fraction noise in any number
        assert not [v for r in rows for v in r.values() if re.search(r"\d\.\d*0000000|\d\.\d*9999999", v)]
    km_csv = download(page, main.get_by_test_id("stDownloadButton").filter(has_text="Data (CSV)").first.get_by_role("button")).decode()
    km = list(csv.DictReader(io.StringIO(km_csv)))
    assert int(km[0]["n_at_risk"]) == len(selected)  # every selected patient is at risk at time 0

    # the reports, from the Report page
    page.get_by_test_id("stSidebarNav").get_by_text("Report", exact=True).click()
    expect(page.get_by_role("heading", name="Report", exact=True)).to_be_visible()
    wait_until_idle(page)
    document = download(page, page.get_by_role("button", name="Download the report (HTML)")).decode()
    assert "product: axi-cel" in document
    assert "received any of: IVIG, started within 3 days after severe-ICANS onset" in document
    assert f"{len(selected)} patients selected." in document
    for name in files:
        assert name in document
    assert document.count("<svg") >= 10  # every view's figures (the Kaplan-Meier and the swimlanes among them)

    pdf = download(page, page.get_by_role("button", name="Download the report (PDF)"))
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert len(reader.pages) >= 4
    assert "product: axi-cel" in text and "started within 3 days after severe-ICANS onset" in text
    assert f"{len(selected)} patients selected." in text
    assert sum(len(p.images) for p in reader.pages) == document.count("<svg")  # the same figures

    assert not off_origin, off_origin[:5]

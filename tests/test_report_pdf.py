"""The PDF report: pages, every figure of the views as an image, the filter text, options and provenance,
wide tables kept within the page, no nearly empty pages, and any label."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
from pypdf import PdfReader

from icans_core import content, store
from icans_core.ingest import load_paths, load_sources
from icans_core.options import AnalysisOptions
from icans_core.report import compose_report
from icans_core.report_pdf import render_pdf, report_pdf_file_name
from tests.cohorts import sources, with_cell

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
FILTERS = ["Product: axi-cel", "Received IVIG within 3 days of severe-ICANS onset"]


@pytest.fixture(scope="module")
def sample_pdf():
    result = load_paths([SAMPLE], label="Sample cohort (synthetic)")
    assert result.ok
    con = store.connect()
    store.load_cohort(con, result.cohort)
    report = compose_report(con, AnalysisOptions(), FILTERS, "9.8.7", generated_at=WHEN)
    return report, PdfReader(io.BytesIO(render_pdf(report)))


def page_texts(reader: PdfReader) -> list[str]:
    return [page.extract_text() or "" for page in reader.pages]


def test_every_figure_of_every_view_is_an_image(sample_pdf):
    report, reader = sample_pdf
    figures = sum(len(view.figures()) for view in report.views)
    assert figures == 12
    assert sum(len(page.images) for page in reader.pages) == figures


def test_filters_options_and_provenance_are_stated(sample_pdf):
    _, reader = sample_pdf
    text = "\n".join(page_texts(reader))
    for line in FILTERS:
        assert line in text
    assert "300 patients selected." in text
    for words in ("Compare by", "Group (study arm, else product)", "ASTCT ICANS grade 3 or higher starts an episode",
                  "Data provenance", "patients.csv", "toxicity.csv", "labs.csv", "interventions.csv",
                  "Generated 04 Mar 2026, 05:06:07 UTC", "version 9.8.7"):
        assert words in text, words


def test_each_view_heading_and_table_is_there(sample_pdf):
    report, reader = sample_pdf
    text = "\n".join(page_texts(reader))
    for view in report.views:
        assert view.title in text
    for heading in ("Patient characteristics per group (Table 1)", "Kaplan-Meier: time to resolution",
                    "Median time to resolution", "Interventions received per class and group",
                    "Cmax, Tmax and AUC0-28 per group, with tests"):
        assert heading in text
    assert "Log-rank p" in text or "log-rank" in text


def test_pages_are_a4_and_none_is_nearly_empty(sample_pdf):
    _, reader = sample_pdf
    assert len(reader.pages) > 8
    for number, page in enumerate(reader.pages[:-1], start=1):
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert (round(width), round(height)) == (595, 842)  # A4 in points
        # text or a figure fills it: a page with only a heading or a line or two would fail this
        assert len(page.images) or len(page.extract_text()) > 600, number


def test_wide_tables_stay_within_the_page(sample_pdf):
    _, reader = sample_pdf
    # every text run starts inside the page's width (pypdf visits each with its position)
    for page in reader.pages:
        xs: list[float] = []
        page.extract_text(visitor_text=lambda text, cm, tm, font, size: xs.append(tm[4] * cm[0] + cm[4])
                          if text.strip() else None)
        assert xs and min(xs) >= 0 and max(xs) < float(page.mediabox.width)


@pytest.mark.parametrize("label", ["see javascript: notes", '<b>"quoted"</b> & \'single\'',
                                   "Ünïcødé Ωmega Кириллица", "漢字 🧪"])
def test_any_label_makes_a_valid_pdf(label):
    tables = with_cell("patients", 2, "group", label)
    result = load_sources(sources(tables), label=label)
    assert result.ok
    con = store.connect()
    store.load_cohort(con, result.cohort)
    report = compose_report(con, AnalysisOptions(), [f"Group: {label}"], "1.0", generated_at=WHEN)
    data = render_pdf(report)
    assert data.startswith(b"%PDF-")
    text = "\n".join(page_texts(PdfReader(io.BytesIO(data))))
    printable = "".join(ch if ord(ch) < 0x2E80 else "?" for ch in label)  # CJK and emoji: not in the font
    assert f"Group: {printable}" in text
    assert sum(len(v.figures()) for v in report.views) == sum(len(p.images) for p in PdfReader(io.BytesIO(data)).pages)


def test_file_name_follows_the_html_one():
    assert report_pdf_file_name("icans-report-x-2026-03-04.html") == "icans-report-x-2026-03-04.pdf"


def test_views_are_the_pages_own(sample_pdf):
    report, _ = sample_pdf
    assert [v.name for v in report.views] == list(content.VIEWS)


def test_a_table_of_many_groups_is_set_in_parts_that_read_whole():
    # Table 1 of 36 groups (an adversarial cohort): 38 columns of 4 mm broke every header into two-letter lines
    from icans_core.report_pdf import MAX_TABLE_COLUMNS, _Document

    groups = [f"Group{i:02d} (n=5)" for i in range(36)]
    frame = pd.DataFrame([["age, median [IQR]", *["61 [55-70]"] * 36, "0.42"],
                          ["female", *["2 (40%)"] * 36, "0.9"]], columns=["characteristic", *groups, "p"])
    pdf = _Document("footer")
    pdf.add_page()
    pdf.table(frame)
    text = "\n".join(page_texts(PdfReader(io.BytesIO(bytes(pdf.output())))))
    parts = -(-37 // (MAX_TABLE_COLUMNS - 1))  # ceiling: the 37 columns after the first
    assert text.count("characteristic") == parts, text[:2000]
    assert text.count("age, median [IQR]") == parts
    assert all(name.split()[0] in text for name in groups)  # every group's name set whole
    assert "Columns 2-10 of 38 (with the first column again)." in text

"""The Report page through Streamlit's AppTest: what it says will go in, and the download it offers."""

from __future__ import annotations

import hashlib
from pathlib import Path

from streamlit.testing.v1 import AppTest

from ui.text import plain

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "views" / "report.py"
FILTERS = ["Product: axi-cel", "ECOG 0-1"]


def open_page(monkeypatch, **state) -> AppTest:
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_renders_and_offers_the_download(monkeypatch, deferred):
    at = open_page(monkeypatch)
    assert [b.label for b in at.get("download_button")] == ["Download the report (HTML)",
                                                            "Download the report (PDF)"]
    text = "\n".join(m.value for m in at.markdown)
    assert plain("No filter: all patients of the cohort") in text  # filter lines are markdown-escaped
    assert "Severe ICANS: ASTCT ICANS grade 3 or higher starts an episode" in text
    assert "Compare by: Group (study arm, else product)" in text
    assert len(deferred) == 2  # built only when clicked
    assert [d["mimetype"] for d in deferred] == ["text/html", "application/pdf"]
    assert deferred[1]["file_name"].endswith(".pdf")
    assert deferred[0]["file_name"].startswith("icans-report-sample-cohort-synthetic-")
    assert deferred[0]["file_name"].endswith(".html")


def test_the_download_carries_the_filters_options_and_sample_files(monkeypatch, deferred):
    at = open_page(monkeypatch, cohort_filter_lines=FILTERS, severe_grade=2, resolved_grade=0, group_by="product")
    text = "\n".join(m.value for m in at.markdown)
    assert all(f"- {plain(line)}" in text for line in FILTERS)
    assert "Severe ICANS: ASTCT ICANS grade 2 or higher starts an episode" in text
    assert "Compare by: Product" in text

    html_download = next(d for d in deferred if d["mimetype"] == "text/html")
    document = html_download["callable"]()  # what the browser receives on a click
    assert document.startswith("<!DOCTYPE html>")
    assert all(f"<li>{line}</li>" in document for line in FILTERS)
    assert "<dd>ASTCT ICANS grade 2 or higher starts an episode</dd>" in document
    assert "<dd>Product</dd>" in document
    for path in sorted((ROOT / "data" / "sample").glob("*.csv")):
        assert hashlib.sha256(path.read_bytes()).hexdigest() in document
    assert document.count("<svg") == 12  # every figure of the pages, the timing and Cmax charts included

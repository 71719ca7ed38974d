"""Hostile input that reaches the app itself rather than the reader (the reader's corpus is
tests/test_hostile_corpus.py): SQL-like link parameters, markup in ids and labels, and an
unexpected error in a page. Through AppTest; what the browser draws is in test_browser_hostile.py.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from icans_core import summary
from tests.test_page_cohort import PATIENTS_CSV, TOXICITY_CSV, as_shown, csv_file
from tests.test_page_cohort import upload as upload_files

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["views/overview.py", "views/swimlanes.py", "views/cytokines.py", "views/resolution.py",
         "views/treatments.py", "views/expansion.py", "views/patient.py", "views/report.py", "views/cohort.py"]
# Values a hostile or careless file may hold: markdown that would fetch a remote image or make a
# link, raw HTML and script, Streamlit's own colour/icon directives, LaTeX.
IMAGE = "![seen](https://evil.example/p.png)"
MARKUP_ID = "<script>alert(1)</script>"
MARKUP_GROUP = f"{IMAGE} [click](https://evil.example/) :red[alarm] $x^2$ <b>bold</b>"


@pytest.fixture(autouse=True)
def server(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("ICANS_LIBRARY_DIR", str(tmp_path / "library"))
    monkeypatch.delenv("ICANS_COHORT", raising=False)


def open_app(**query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def markdown_sources(at: AppTest) -> list[str]:
    """Every piece of markdown the run asked the browser to render, main area and sidebar."""
    kinds = ("markdown", "caption", "info", "warning", "error", "success", "subheader", "header", "title")
    return [element.value for kind in kinds for element in at.get(kind)] + \
           [element.value for kind in kinds for element in at.sidebar.get(kind)]


SQL_LIKE = {
    "product": "axi-cel' OR '1'='1",
    "group": "x'); DROP TABLE patients; --",
    "sex": "F\" OR 1=1 --",
    "age": "0;DELETE FROM patients",
    "max_icans": "1 UNION SELECT * FROM patients",
    "rx": "IVIG'--",
    "patient_id": "' OR ''='",
    "cohort": "../../.library-data/x' OR 1=1",
}


def test_sql_like_link_parameters_are_ignored_with_a_note_and_change_nothing():
    at = open_app(**SQL_LIKE)
    assert not at.exception, [e.value for e in at.exception]
    # the link's cohort cannot open: nothing is shown in its place until the user goes on without it
    assert any("cohort id is not valid" in e.value for e in at.error), [e.value for e in at.error]
    at.button(key="link_problem_dismiss").click().run()
    assert not at.exception, [e.value for e in at.exception]
    sidebar = as_shown("\n".join(m.value for m in at.sidebar.markdown) + "\n".join(c.value for c in at.sidebar.caption))
    assert "300 patients" in sidebar  # the whole sample is still there: nothing was dropped or filtered
    assert "All 300 patients selected (no filter)." in sidebar
    assert "Ignored link value(s) not found in this cohort" in sidebar
    assert "axi-cel' OR '1'='1" in sidebar and "DROP TABLE patients" in sidebar  # named, as text
    for page in PAGES:  # and every page still runs on the intact cohort
        at.switch_page(page)
        at.run()
        assert not at.exception, (page, [e.value for e in at.exception])


def test_markup_in_ids_and_labels_is_shown_as_text_on_every_page():
    at = open_app()
    at.switch_page("views/cohort.py")
    at.run()
    patients = PATIENTS_CSV.replace("P1", MARKUP_ID).replace("Steroids + IVIG", MARKUP_GROUP)
    toxicity = TOXICITY_CSV.replace("P1", MARKUP_ID)
    upload_files(at, csv_file("patients.csv", patients), csv_file("toxicity.csv", toxicity))
    seen_id = seen_group = False
    for page in PAGES:
        at.switch_page(page)
        at.run()
        assert not at.exception, (page, [e.value for e in at.exception])
        for source in markdown_sources(at):
            # anything markdown could act on arrives escaped: no image, link, directive or maths
            assert "![" not in source and "](" not in source and ":red[" not in source, (page, source)
            assert not re.search(r"(?<!\\)\$x", source), (page, source)
            assert "<script>" not in source and "<b>" not in source, (page, source)
            seen_id |= MARKUP_ID in as_shown(source)
            seen_group |= "[click](https://evil.example/)" in as_shown(source)
    assert seen_id and seen_group  # the values are shown, as the text they are


def test_an_unexpected_error_in_a_page_is_a_message_with_a_reference_and_a_logged_traceback(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug deep in an analysis")

    monkeypatch.setattr(summary, "key_numbers", broken)
    with caplog.at_level(logging.ERROR, logger="icans.errors"):
        at = open_app()
    assert not at.exception  # no traceback element reaches the browser
    [message] = [e.value for e in at.error]
    reference = re.search(r"reference: ([0-9a-f]{8})\.", message).group(1)
    assert "Something went wrong on the server while showing this page" in message
    assert "ZeroDivisionError" not in message and "Traceback" not in message
    assert f"reference {reference}" in caplog.text and "ZeroDivisionError: a bug deep in an analysis" in caplog.text
    assert at.sidebar.markdown  # the rest of the app is still there

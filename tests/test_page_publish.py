"""Server-side cohorts through AppTest: publishing an upload and opening it by link; the deployment cohort."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from icans_core import library
from tests import cohorts
from ui.text import plain
from tests.test_page_cohort import PATIENTS_CSV, as_shown, TOXICITY_CSV, csv_file, loaded_line, metric, sample_patient_count
from tests.test_page_cohort import upload as upload_files

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def server(tmp_path, monkeypatch):
    """A library folder of the test's own; no deployment cohort unless a test sets one."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("ICANS_LIBRARY_DIR", str(tmp_path / "library"))
    monkeypatch.delenv("ICANS_COHORT", raising=False)
    return tmp_path / "library"


def open_app(**query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def cohort_page(at: AppTest) -> AppTest:
    at.switch_page("views/cohort.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def badge(at: AppTest) -> str:
    return as_shown("\n".join(m.value for m in at.sidebar.markdown))  # the source escapes labels


def publish(at: AppTest) -> str:
    assert at.button(key="publish").disabled  # not before the statement is acknowledged
    at.checkbox(key="publish_confirm").check().run()
    at.button(key="publish").click().run()
    assert not at.exception, [e.value for e in at.exception]
    codes = [c.value for c in at.code if c.value.startswith("?cohort=")]
    assert len(codes) == 1, [c.value for c in at.code]
    return codes[0].removeprefix("?cohort=")


def test_an_upload_published_by_one_session_opens_by_link_in_another(server):
    a = cohort_page(open_app())
    upload_files(a, csv_file("patients.csv", PATIENTS_CSV), csv_file("toxicity.csv", TOXICITY_CSV))
    assert metric(a, "Patients") == "2"
    statement = "\n".join(m.value for m in a.markdown)
    assert "Publishing stores a copy of this cohort on this server" in statement
    assert "Publish only de-identified data you are allowed to share." in statement

    cohort_id = publish(a)
    assert library.is_valid_id(cohort_id)
    assert cohort_id in "\n".join(c.value for c in a.caption)
    assert [p.name for p in server.iterdir()] == [f"{cohort_id}.duckdb"]
    a.run()  # the link stays on screen
    assert [c.value for c in a.code if c.value.startswith("?cohort=")] == [f"?cohort={cohort_id}"]

    b = open_app(cohort=cohort_id)
    assert "**patients.csv, toxicity.csv**" in badge(b) and "2 patients" in badge(b), badge(b)
    assert not [w.value for w in b.warning if "instead" in w.value], [w.value for w in b.warning]
    cohort_page(b)
    assert metric(b, "Patients") == "2" and metric(b, "Toxicity assessments") == "3"
    assert "a published cohort" in loaded_line(b)
    assert any(i.value.startswith(f"Opened published cohort {plain('patients.csv, toxicity.csv')}, published ")
               for i in b.info), [i.value for i in b.info]

    c = open_app()  # without the link: the sample, never A's upload
    assert "Sample cohort (synthetic)" in badge(c) and f"{sample_patient_count():,} patients" in badge(c)
    assert "patients.csv" not in badge(c)


def test_an_unpublished_upload_stays_private(server):
    a = cohort_page(open_app())
    upload_files(a, csv_file("patients.csv", PATIENTS_CSV), csv_file("toxicity.csv", TOXICITY_CSV))
    assert not server.exists() or not list(server.iterdir())
    other = open_app()
    assert "Sample cohort (synthetic)" in badge(other)


def test_the_sample_is_not_publishable(server):
    at = cohort_page(open_app())
    assert not [b for b in at.button if b.label == "Publish"]
    assert any("is not published" in m.value for m in at.markdown)


@pytest.mark.parametrize("bad_id", ["A" * library.ID_LENGTH, "../etc/passwd", "x"])
def test_an_unknown_or_malformed_link_says_so_and_shows_no_other_cohort(server, bad_id):
    at = open_app(cohort=bad_id)
    shown = [e.value for e in at.error]
    assert shown and "The cohort of this link cannot be shown" in shown[0], shown
    assert not at.sidebar.markdown and not at.metric  # no badge, no numbers in its place
    at.button(key="link_problem_dismiss").click().run()  # going on with the default is the user's choice
    assert not at.exception, [e.value for e in at.exception]
    assert "Sample cohort (synthetic)" in badge(at)
    assert "Ignored link parameter" not in "\n".join(c.value for c in at.sidebar.caption)
    cohort_page(at)
    assert "Sample cohort (synthetic)" in loaded_line(at)


def write_cohort(folder: Path, tables: dict) -> Path:
    folder.mkdir()
    for name, rows in tables.items():
        (folder / f"{name}.csv").write_text(cohorts.csv_text(rows))
    return folder


def test_the_deployment_cohort_opens_new_sessions(tmp_path, monkeypatch):
    folder = write_cohort(tmp_path / "centre-a", cohorts.VALID)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    monkeypatch.setenv("ICANS_COHORT", str(folder))
    at = open_app()
    assert "**centre-a**" in badge(at) and "2 patients" in badge(at), badge(at)
    cohort_page(at)
    assert metric(at, "Patients") == "2" and metric(at, "Lab measurements") == "4"
    assert "this deployment's cohort" in loaded_line(at)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # read, never written


def test_a_deployment_cohort_that_fails_validation_falls_back_to_the_sample(tmp_path, monkeypatch):
    broken = cohorts.with_cell("toxicity", 3, "icans_grade", "7")
    monkeypatch.setenv("ICANS_COHORT", str(write_cohort(tmp_path / "centre-b", broken)))
    at = cohort_page(open_app())
    assert "Sample cohort (synthetic)" in loaded_line(at)
    shown = [as_shown(e.value) for e in at.error]
    assert any("centre-b" in e and "1 error(s)" in e for e in shown), shown
    reports = [d.value for d in at.dataframe if "problem" in d.value.columns]
    assert reports and "icans_grade" in set(reports[0]["column"]), reports

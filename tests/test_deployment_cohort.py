"""The deployment's own cohort ($ICANS_COHORT) when it cannot be served: the sample instead, and why.

Two ways it fails: the files are refused by validation (the administrator has to fix them: the errors
are listed), or the preparation itself fails (a server fault: a reference to the log, and a later
visit tries again). Either way every page runs on the sample, with no traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from icans_core import shared_cache
from tests import cohorts

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def server(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("ICANS_LIBRARY_DIR", str(tmp_path / "library"))
    monkeypatch.setenv("ICANS_CACHE_DIR", str(tmp_path / "cache"))


def deployment(tmp_path, tables, monkeypatch) -> Path:
    folder = tmp_path / "centre"
    folder.mkdir()
    for name, rows in tables.items():
        (folder / f"{name}.csv").write_text(cohorts.csv_text(rows))
    monkeypatch.setenv("ICANS_COHORT", str(folder))
    return folder


def cohort_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.switch_page("views/cohort.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_refused_deployment_cohort_lists_its_errors_and_the_sample_is_shown(tmp_path, monkeypatch):
    deployment(tmp_path, cohorts.with_cell("toxicity", 3, "icans_grade", "7"), monkeypatch)
    at = cohort_page()
    shown = "\n".join(e.value for e in at.error)
    assert "could not be loaded: it has 1 error(s)" in shown and "The sample cohort is shown instead" in shown, shown
    assert at.query_params["cohort"] == "sample"


def test_a_preparation_that_fails_shows_the_sample_with_a_reference_and_is_tried_again(tmp_path, monkeypatch):
    deployment(tmp_path, cohorts.VALID, monkeypatch)

    real = shared_cache.prepare

    def failing(*args, **kwargs):
        raise MemoryError("out of memory while validating")

    monkeypatch.setattr(shared_cache, "prepare", failing)
    at = cohort_page()
    shown = "\n".join(e.value for e in at.error)
    assert "could not be prepared, so the sample cohort is shown instead" in shown, shown
    assert "reference" in shown and "Traceback" not in shown and "MemoryError" not in shown
    assert at.query_params["cohort"] == "sample"
    # not the "while showing the link" of an unexpected page error, and only once
    assert "Something went wrong" not in shown and shown.count("could not be prepared") == 1

    monkeypatch.setattr(shared_cache, "prepare", real)  # the fault is gone: a visit after the retry interval
    for job in shared_cache._PREPARATIONS.values():
        if job.failed_at is not None:
            job.failed_at -= shared_cache.RETRY_SECONDS + 1
    again = cohort_page()
    assert again.query_params["cohort"] == "deployment", [e.value for e in again.error]

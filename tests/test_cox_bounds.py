"""The adjusted comparison never fails and never runs unbounded (adversarial findings): a diverged
fit on a tiny cohort gives its estimates with a warning instead of a traceback, and a model with
more coefficients than the bound is not fitted, with the reason, through the CLI export and the page."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from icans_core import cox, store
from icans_core.ingest import load_paths
from ui.text import unplain

ROOT = Path(__file__).resolve().parent.parent


def write_cohort(folder: Path, patients: list[tuple], toxicity: list[tuple]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(patients, columns=["patient_id", "product", "group", "last_followup_day"]).to_csv(
        folder / "patients.csv", index=False)
    pd.DataFrame(toxicity, columns=["patient_id", "day", "crs_grade", "icans_grade"]).to_csv(
        folder / "toxicity.csv", index=False)
    return [folder / "patients.csv", folder / "toxicity.csv"]


def separated(folder: Path) -> list[Path]:
    """Three patients: both of group A resolve on day 3, the one of B on day 6 (the fit diverges)."""
    return write_cohort(folder, [("P1", "axi-cel", "A", 100), ("P2", "axi-cel", "B", 100), ("P3", "axi-cel", "A", 100)],
                        [("P1", 1, 1, 3), ("P1", 4, 0, 1), ("P2", 0, 1, 4), ("P2", 6, 0, 0), ("P3", 0, 1, 3),
                         ("P3", 3, 1, 1)])


def one_group_each(folder: Path, n: int) -> list[Path]:
    """n patients, each its own group, each with a severe episode that resolves on a different day."""
    patients = [(f"P{i}", "axi-cel", f"arm {i:03d}", 200) for i in range(n)]
    toxicity = [row for i in range(n) for row in ((f"P{i}", 1, 1, 3), (f"P{i}", 2 + i % 50, 0, 0))]
    return write_cohort(folder, patients, toxicity)


def export(files: list[Path], out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "icans_core", "export", *map(str, files), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_a_diverged_fit_exports_every_file_with_the_reason(tmp_path):
    done = export(separated(tmp_path / "in"), tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    notes = pd.read_csv(tmp_path / "out" / "analysis_notes.csv")
    cox_notes = " ".join(notes.loc[notes["analysis"] == "cox", "note"])
    assert "did not converge" in cox_notes and "could not be computed" in cox_notes
    assert (tmp_path / "out" / "cox.csv").exists() and (tmp_path / "out" / "episodes.csv").exists()


def test_more_coefficients_than_the_bound_are_not_fitted(tmp_path):
    n = cox.MAX_COEFFICIENTS + 12  # one coefficient per group but the first, and fewer than the resolutions
    done = export(one_group_each(tmp_path / "in", n), tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert pd.read_csv(tmp_path / "out" / "cox.csv").empty
    notes = pd.read_csv(tmp_path / "out" / "analysis_notes.csv")
    assert any(f"at most {cox.MAX_COEFFICIENTS}" in note for note in notes["note"])


def test_the_resolution_page_shows_the_diverged_fit_with_its_warning(tmp_path, monkeypatch):
    result = load_paths(separated(tmp_path / "in"))
    assert result.ok
    con = store.connect()
    store.load_cohort(con, result.cohort)
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "views" / "resolution.py"), default_timeout=60)
    at.session_state["duckdb_connection"] = con
    at.session_state["cohort_kind"] = "upload"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    warnings = " ".join(unplain(w.value) for w in at.warning)
    assert "did not converge" in warnings and "could not be computed" in warnings

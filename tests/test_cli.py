"""`python -m icans_core`: validate accepts good cohorts (exit 0) and refuses broken ones (exit 2)."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cohorts import csv_text, with_cell

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "icans_core", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def write_cohort(folder: Path, tables: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        (folder / f"{name}.csv").write_text(csv_text(rows))
    return folder


@pytest.mark.parametrize("target", ["data/sample", "data/template.xlsx"])
def test_validate_accepts_the_sample_and_the_template(target):
    done = run("validate", target)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: the cohort would load" in done.stdout


def test_validate_refuses_a_broken_cohort_naming_every_problem(tmp_path):
    tables = with_cell("toxicity", 3, "icans_grade", "9")
    tables = with_cell("patients", 2, "last_followup_day", "2023-11-02", tables)
    folder = write_cohort(tmp_path / "cohort", tables)
    done = run("validate", str(folder / "patients.csv"), str(folder / "toxicity.csv"))
    assert done.returncode == 2
    assert "ERROR: toxicity.csv, row 3, column icans_grade: Must be 5 or less. (value: '9')" in done.stdout
    assert "ERROR: patients.csv, row 2, column last_followup_day: Looks like a calendar date" in done.stdout
    assert "REFUSED: 2 error(s)" in done.stdout


def test_validate_refuses_a_missing_file(tmp_path):
    done = run("validate", str(tmp_path / "missing.xlsx"))
    assert done.returncode == 2
    assert "No such file or folder" in done.stdout


def test_validate_prints_warnings_and_still_accepts(tmp_path):
    folder = write_cohort(tmp_path / "cohort", with_cell("patients", 2, "product", "foo-cel"))
    done = run("validate", str(folder))
    assert done.returncode == 0
    assert "WARNING: patients.csv, row 2, column product: Unknown product" in done.stdout


def test_sample_writes_a_cohort_that_validates(tmp_path):
    done = run("sample", "--patients", "25", "--seed", "3", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "interventions.csv", "labs.csv", "observations.csv", "patients.csv", "toxicity.csv"]
    assert len((tmp_path / "patients.csv").read_text().strip().splitlines()) == 26
    assert run("validate", str(tmp_path)).returncode == 0


def test_template_is_written(tmp_path):
    out = tmp_path / "t.xlsx"
    done = run("template", "--out", str(out))
    assert done.returncode == 0
    assert out.read_bytes().startswith(b"PK")

"""`python -m icans_core export`: the contract's files, R's numbers for a published data set, refusals."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from lifelines.datasets import load_leukemia

from icans_core.results import RESULT_COLUMNS

ROOT = Path(__file__).resolve().parent.parent


def export(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "icans_core", "export", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def freireich_cohort(folder: Path) -> Path:
    """The Freireich 6-MP leukaemia trial as a cohort: remission duration read as time to resolution.

    Each patient is severe at day 0; a resolved patient has a grade-1 assessment at day t,
    a censored one a last grade-3 assessment at day t.
    """
    data = load_leukemia()
    folder.mkdir()
    patients = pd.DataFrame({
        "patient_id": [f"L{i:02d}" for i in range(len(data))],
        "product": "axi-cel",
        "group": data["Rx"].map({0: "6-MP", 1: "placebo"}),
        "last_followup_day": 400,
    })
    rows = []
    for pid, t, status in zip(patients["patient_id"], data["t"], data["status"]):
        rows += [(pid, 0, 3), (pid, t, 1 if status else 3)]
    patients.to_csv(folder / "patients.csv", index=False)
    pd.DataFrame(rows, columns=["patient_id", "day", "icans_grade"]).to_csv(folder / "toxicity.csv", index=False)
    return folder


def test_every_contract_file_with_exactly_its_columns(tmp_path):
    done = export("data/sample", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stdout + done.stderr
    for name, columns in RESULT_COLUMNS.items():
        frame = pd.read_csv(tmp_path / "out" / f"{name}.csv")
        assert list(frame.columns) == columns, name
        assert len(frame) > 0, name
    episodes = pd.read_csv(tmp_path / "out" / "episodes.csv")
    assert set(episodes["outcome"]) <= {"resolved", "died", "censored"}


def test_r_survival_numbers_through_the_export(tmp_path):
    # R: survfit(Surv(t, status) ~ Rx) on the Freireich data: medians 23 (6-MP; 95% CI 16 to NA)
    # and 8 (placebo; 4 to 12); survdiff: chi-square 16.8 on 1 df, p = 4.17e-05.
    done = export(str(freireich_cohort(tmp_path / "cohort")), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stdout + done.stderr
    summary = pd.read_csv(tmp_path / "out" / "resolution_summary.csv", keep_default_na=False).set_index("group")
    assert summary.loc["6-MP", ["n", "resolved", "median_days", "median_ci_lower"]].tolist() == [21, 9, 23, 16]
    assert summary.loc["6-MP", "median_ci_upper"] == ""  # not reached: an empty field
    assert summary.loc["placebo", ["n", "resolved", "median_days", "median_ci_lower", "median_ci_upper"]
                       ].astype(float).tolist() == [21, 21, 8, 4, 12]
    test = pd.read_csv(tmp_path / "out" / "resolution_test.csv").iloc[0]
    assert (test["test"], test["df"]) == ("log-rank", 1)
    assert test["statistic"] == pytest.approx(16.79, abs=0.01)
    assert test["p_value"] == pytest.approx(4.17e-05, rel=0.01)


def test_options_change_the_results(tmp_path):
    default = export("data/sample", "--out", str(tmp_path / "a"))
    lower = export("data/sample", "--out", str(tmp_path / "b"), "--severe-grade", "2", "--group-by", "product")
    assert default.returncode == lower.returncode == 0
    a = pd.read_csv(tmp_path / "a" / "episodes.csv")
    b = pd.read_csv(tmp_path / "b" / "episodes.csv")
    assert len(b) > len(a)  # grade-2 episodes count too
    assert set(b["group"]) <= {"axi-cel", "tisa-cel", "liso-cel", "brexu-cel", "obe-cel", "ide-cel", "cilta-cel"}


def test_a_broken_cohort_writes_nothing(tmp_path):
    cohort = freireich_cohort(tmp_path / "cohort")
    text = (cohort / "toxicity.csv").read_text().replace("L00,0,3", "L00,0,8", 1)
    (cohort / "toxicity.csv").write_text(text)
    done = export(str(cohort), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "toxicity.csv, row 2, column icans_grade: Must be 5 or less" in done.stdout
    assert not (tmp_path / "out").exists()


def test_impossible_options_are_refused(tmp_path):
    done = export("data/sample", "--out", str(tmp_path / "out"), "--origin", "aspirin")
    assert done.returncode == 2
    assert "origin must be" in done.stdout
    assert not (tmp_path / "out").exists()


def test_the_export_takes_the_dashboards_filters(tmp_path):
    done = export("data/sample", "--out", str(tmp_path / "out"), "--product", "axi-cel",
                  "--intervention", "IVIG", "--intervention-within-days", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    patients = pd.read_csv(ROOT / "data" / "sample" / "patients.csv").set_index("patient_id")
    exposure = pd.read_csv(tmp_path / "out" / "steroid_exposure.csv")
    assert set(patients.loc[exposure["patient_id"], "product"]) == {"axi-cel"}
    assert 0 < len(exposure) < (patients["product"] == "axi-cel").sum()  # the IVIG window narrowed it
    assert f"{len(exposure)} of {len(patients)} patients selected." in done.stdout

"""The Treatments page through Streamlit's AppTest, on the sample cohort and on tiny cohorts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from ui.text import unplain

from icans_core import store
from icans_core.ingest import load_sources
from tests.cohorts import copy_tables, sources

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "views" / "treatments.py"
SAMPLE = ROOT / "data" / "sample"
CONNECTION_KEY = "duckdb_connection"  # where ui/session.py keeps this session's database
STEROIDS = {"dexamethasone", "methylprednisolone", "prednisone", "prednisolone", "hydrocortisone"}



def sample_steroid_patients() -> pd.DataFrame:
    """Patients per group and those given a systemic steroid, read straight from the sample CSVs."""
    patients = pd.read_csv(SAMPLE / "patients.csv")
    interventions = pd.read_csv(SAMPLE / "interventions.csv")
    systemic = interventions[interventions["agent"].isin(STEROIDS) & (interventions["route"] != "IT")]
    patients["treated"] = patients["patient_id"].isin(systemic["patient_id"])
    return patients.groupby("group").agg(n=("patient_id", "size"), treated=("treated", "sum"))


@pytest.fixture
def app(monkeypatch) -> AppTest:
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def app_on(monkeypatch, tables: dict) -> AppTest:
    """The page opened on a tiny cohort loaded into this session's database."""
    result = load_sources(sources(tables))
    assert result.ok, result.report.to_string()
    con = store.connect()
    store.load_cohort(con, result.cohort)
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state[CONNECTION_KEY] = con
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def frame_with(at: AppTest, column: str) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def steroid_summary_table(at: AppTest) -> pd.DataFrame:
    return frame_with(at, "among")


def chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def test_opens_on_the_sample(app):
    assert [unplain(s.value) for s in app.subheader] == [
        "Systemic steroid exposure per group", "Dexamethasone equivalents used",
        "Interventions received per class and group"]
    expected = sample_steroid_patients()
    summary = steroid_summary_table(app)
    treated = summary[(summary["measure"] == "steroid_days") & (summary["among"] == "treated patients")]
    treated = treated.set_index("group")
    assert sorted(treated.index) == sorted(expected.index)
    for group, row in expected.iterrows():
        assert treated.loc[group, "n_patients"] == row["n"], group
        assert treated.loc[group, "n_treated"] == row["treated"], group
    titles = [spec["title"]["text"] for spec in chart_specs(app)]
    assert titles == ["Cumulative dexamethasone-equivalent dose (mg) per patient",
                      "When each intervention class was first given"]


def test_the_equivalence_table_is_shown_with_its_source(app):
    table = frame_with(app, "dexamethasone_mg_per_mg").set_index("agent")
    assert table.loc["methylprednisolone", "dexamethasone_mg_per_mg"] == 0.1875
    assert table.loc["hydrocortisone", "dexamethasone_mg_per_mg"] == 0.0375
    assert any("Meikle & Tyler" in unplain(c.value) for c in app.caption)


def test_group_by_changes_the_table(app):
    before = set(steroid_summary_table(app)["group"])
    app.session_state["group_by"] = "product"
    app.run()
    assert not app.exception
    after = set(steroid_summary_table(app)["group"])
    assert after != before
    assert after == set(pd.read_csv(SAMPLE / "patients.csv")["product"])
    by_class = frame_with(app, "agent_class")
    assert set(by_class["group"]) == after


def test_measure_log_and_severe_only_options(app):
    app.radio(key="treatments_measure").set_value("steroid_days")
    app.checkbox(key="treatments_log").check()
    app.run()
    spec = chart_specs(app)[0]
    assert spec["title"]["text"] == "Systemic corticosteroid days (days) per patient"
    assert spec["layer"][2]["encoding"]["y"]["scale"] == {"type": "log"}
    all_patients = steroid_summary_table(app)["n_patients"].sum()
    app.checkbox(key="treatments_severe_only").check().run()
    assert not app.exception
    severe = steroid_summary_table(app)
    assert "No severe ICANS" not in set(severe["group"])
    assert severe.drop_duplicates("group")["n_patients"].sum() < all_patients / 5


def test_rows_not_in_mg_are_listed_in_a_warning(monkeypatch):
    tables = copy_tables()
    tables["interventions"].append(["P2", "dex", "3", "", "1", "g", "IV"])
    at = app_on(monkeypatch, tables)
    warning = [unplain(w.value) for w in at.warning if "left out" in w.value]
    assert len(warning) == 1 and warning[0].startswith("1 systemic corticosteroid row(s)"), warning
    left_out = frame_with(at, "reason")
    assert list(left_out["patient_id"]) == ["P2"] and list(left_out["reason"]) == ["dose in g, not mg"]
    per_patient = frame_with(at, "rows_left_out").set_index("patient_id")
    # P1: dexamethasone 40 mg days 5-7 = 120 mg over 3 days; P2: 1 day, 0 mg counted
    assert per_patient.loc["P1", "cumulative_dex_mg"] == 120
    assert (per_patient.loc["P2", "steroid_days"], per_patient.loc["P2", "cumulative_dex_mg"]) == (1, 0)
    assert any("Small groups" in unplain(w.value) for w in at.warning)


def test_a_cohort_without_interventions_says_so(monkeypatch):
    tables = copy_tables()
    del tables["interventions"]
    at = app_on(monkeypatch, tables)
    assert any("no recorded interventions" in unplain(i.value) for i in at.info)
    assert frame_with(at, "dexamethasone_mg_per_mg") is not None  # the equivalents are still shown


def test_episode_form_treatments_say_which_have_days_and_what_the_others_leave_out(monkeypatch):
    tables = copy_tables()
    tables["toxicity_episodes"] = [
        ["patient_id", "syndrome", "onset_day", "peak_grade", "resolution_day", "treatments", "treatment_start_days"],
        ["P2", "ICANS", "3", "3", "8", "methylprednisolone; IVIG", "3; "],  # IVIG's day not known
        ["P2", "CRS", "1", "2", "2", "tocilizumab", ""]]
    at = app_on(monkeypatch, tables)
    warnings = [w.value for w in at.warning]
    assert any("2 of 3 treatment(s) listed on episode forms have no day" in w and "steroid exposure" in w
               and "not assumed to start at onset" in w for w in warnings), warnings
    assert any("1 treatment(s) from episode forms have days" in i.value for i in at.info)
    # the dated one is counted: P2 has 1 steroid day (day 3) from the episode form
    exposure = frame_with(at, "steroid_days")
    assert exposure.set_index("patient_id").loc["P2", "steroid_days"] == 1

"""The Cytokine kinetics page through Streamlit's AppTest, on the bundled sample cohort."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from icans_core import store
from icans_core.ingest import load_sources
from icans_core.readers import Source
from ui.text import plain, unplain

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
PAGE = str(ROOT / "views" / "cytokines.py")
EXPORT_COLUMNS = ["group", "analyte", "day", "n", "median", "q1", "q3", "p_value", "q_value"]


def sample_rows(table: str) -> list[dict]:
    with open(SAMPLE / f"{table}.csv", newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))



@pytest.fixture
def app(monkeypatch) -> AppTest:
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert_no_exception(at)
    return at


def assert_no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]


def leaf_layers(spec: dict) -> list[dict]:
    found = []
    for layer in spec.get("layer", []):
        found += leaf_layers(layer) if "layer" in layer else [layer]
    return found


def point_encoding(spec: dict) -> dict:
    points = [layer for layer in leaf_layers(spec) if layer["mark"]["type"] == "point"]
    assert len(points) == 1
    return points[0]["encoding"]


def medians_table(at: AppTest):
    tables = [d.value for d in at.dataframe if list(d.value.columns[:9]) == EXPORT_COLUMNS]
    assert len(tables) == 1, [list(d.value.columns) for d in at.dataframe]
    return tables[0]


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert_no_exception(at)
    return at


def test_opens_on_the_sample_with_a_chart_per_default_analyte(app):
    assert [t.value for t in app.title] == ["Cytokine kinetics"]
    assert [c["title"]["text"] for c in charts(app)] == [
        "IL-6: median per group over time", "IFN-gamma: median per group over time",
        "IL-10: median per group over time"]
    assert point_encoding(charts(app)[0])["y"]["title"] == "IL-6 (pg/mL)"
    assert point_encoding(charts(app)[0])["x"]["title"] == "Days since CAR-T infusion"
    assert "Medians per group and day" in [unplain(s.value) for s in app.subheader]
    table = medians_table(app)
    assert set(table["analyte"]) == {"IL-6", "IFN-gamma", "IL-10"}
    assert table["day"].min() >= -5 and table["day"].max() <= 28
    groups = {r["group"] for r in sample_rows("patients")}
    assert set(table["group"]) == groups
    note = " ".join(unplain(m.value) for m in [*app.markdown, *app.caption])
    assert "Mann-Whitney U" in note and "Kruskal-Wallis" in note and "Benjamini-Hochberg" in note
    # the LLOQ count, read straight from the sample's CSV (one IL-6 sample per patient-day there)
    below = sum(1 for r in sample_rows("labs")
                if r["analyte"] == "IL-6" and r["below_lloq"] == "True" and -5 <= float(r["day"]) < 29)
    assert f"IL-6 {below} of" in note  # data-derived text is markdown-escaped
    # the small arm of the sample (8 patients on anakinra) is named in a warning
    assert any(f"Steroids + anakinra (n=8)" in unplain(w.value) for w in app.warning)


def test_aligning_at_onset_leaves_out_patients_without_an_episode(app):
    app.radio(key="cytokines_alignment").set_value("onset")
    rerun(app)
    severe = {r["patient_id"] for r in sample_rows("toxicity") if r["icans_grade"] and int(r["icans_grade"]) >= 3}
    total = len(sample_rows("patients"))
    info = " ".join(unplain(i.value) for i in app.info)
    assert f"{len(severe)} patients with an episode; {total - len(severe)} patients without one are left out" in info
    assert point_encoding(charts(app)[0])["x"]["title"] == "Days since severe-ICANS onset"
    assert "No severe ICANS" not in set(medians_table(app)["group"])


def test_log_scale_toggle_changes_the_y_scale(app):
    assert point_encoding(charts(app)[0])["y"]["scale"]["type"] == "log"
    app.toggle(key="cytokines_log").set_value(False)
    rerun(app)
    assert point_encoding(charts(app)[0])["y"]["scale"].get("type") != "log"


def test_choosing_analytes_changes_the_charts_and_table(app):
    app.multiselect(key="cytokines_analytes").set_value(["CRP"])
    rerun(app)
    assert [c["title"]["text"] for c in charts(app)] == ["CRP: median per group over time"]
    assert point_encoding(charts(app)[0])["y"]["title"] == "CRP (mg/L)"
    assert set(medians_table(app)["analyte"]) == {"CRP"}


def test_halving_values_below_lloq_lowers_the_quartiles_at_the_lloq(app):
    il2_lloq = {float(r["value"]) for r in sample_rows("labs") if r["analyte"] == "IL-2" and r["below_lloq"] == "True"}
    assert len(il2_lloq) == 1
    lloq = il2_lloq.pop()
    app.multiselect(key="cytokines_analytes").set_value(["IL-2"])
    rerun(app)
    recorded = medians_table(app)
    assert recorded["q1"].min() == pytest.approx(lloq)
    app.radio(key="cytokines_lloq").set_value("half")
    rerun(app)
    halved = medians_table(app)
    assert halved["q1"].min() == pytest.approx(lloq / 2)
    assert list(halved["p_value"].fillna(-1)) == list(recorded["p_value"].fillna(-1))  # ranks unchanged
    assert any("as LLOQ/2" in unplain(m.value) for m in [*app.markdown, *app.caption])


def test_grouping_by_costimulatory_domain_compares_two_groups(app):
    app.session_state["group_by"] = "costimulatory_domain"
    rerun(app)
    table = medians_table(app)
    assert set(table["group"]) == {"CD28", "4-1BB"}
    assert set(table["test"].dropna()) == {"Mann-Whitney U"}


def test_day_range_limits_the_table(app):
    app.slider(key="cytokines_days").set_value((0, 7))
    rerun(app)
    days = medians_table(app)["day"]
    assert (days.min(), days.max()) == (0, 7)


def test_a_cohort_without_labs_says_so(monkeypatch):
    monkeypatch.chdir(ROOT)
    patients = ("patient_id,product,last_followup_day\nP1,axi-cel,100\nP2,tisa-cel,50\n")
    toxicity = "patient_id,day,crs_grade,icans_grade\nP1,1,2,0\nP2,2,1,3\n"
    result = load_sources([Source("patients.csv", patients.encode()), Source("toxicity.csv", toxicity.encode())])
    assert result.ok, result.report
    con = store.connect()
    store.load_cohort(con, result.cohort)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["duckdb_connection"] = con
    at.session_state["cohort_warnings"] = []
    at.session_state["cohort_is_sample"] = False
    rerun(at)
    assert any("no cytokine" in unplain(i.value) for i in at.info)
    assert charts(at) == []

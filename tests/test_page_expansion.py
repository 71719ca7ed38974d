"""The CAR-T expansion page through Streamlit's AppTest, on the bundled sample cohort."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.text import unplain

from icans_core import store
from icans_core.ingest import load_sources
from icans_core.readers import Source

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
PAGE = str(ROOT / "views" / "expansion.py")
METRIC_COLUMNS = ["group", "patient_id", "analyte", "cmax", "tmax_day", "auc_0_28", "unit", "n_points"]


def sample_rows(table: str) -> list[dict]:
    with open(SAMPLE / f"{table}.csv", newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))



@pytest.fixture
def app(monkeypatch) -> AppTest:
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(PAGE, default_timeout=60)
    return rerun(at)


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]


def leaf_layers(spec: dict) -> list[dict]:
    found = []
    for layer in spec.get("layer", []):
        found += leaf_layers(layer) if "layer" in layer else [layer]
    return found


def encoding(spec: dict, mark: str) -> dict:
    found = [layer["encoding"] for layer in leaf_layers(spec) if layer["mark"]["type"] == mark]
    assert len(found) == 1
    return found[0]


def table(at: AppTest, first_columns: list[str]):
    found = [d.value for d in at.dataframe if list(d.value.columns[:len(first_columns)]) == first_columns]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def test_opens_with_curves_strip_and_tables(app):
    assert [t.value for t in app.title] == ["CAR-T expansion"]
    assert [unplain(s.value) for s in app.subheader] == ["Expansion curves", "Cmax, Tmax and AUC0-28 per patient",
                                                "Cmax, Tmax and AUC0-28 per group, with tests"]
    curve, strip = charts(app)
    assert curve["title"]["text"] == "CAR-T cells in blood: median per group"
    assert encoding(curve, "point")["y"]["title"] == "CAR-T cells (cells/uL)"
    assert encoding(curve, "point")["y"]["scale"]["type"] == "log"  # log scale by default
    assert strip["title"]["text"] == "Cmax of CAR-T cells per patient"
    assert encoding(strip, "circle")["y"]["title"] == "Cmax (cells/uL)"
    summary = table(app, ["group", "analyte", "metric", "unit", "n", "median", "q1", "q3", "p_value"])
    assert set(summary["metric"]) == {"cmax", "tmax_day", "auc_0_28"}
    assert set(summary.loc[summary["metric"] == "auc_0_28", "unit"]) == {"cells/uL x days"}


def test_per_patient_cmax_and_tmax_match_the_raw_counts(app):
    # straight from the sample's CSV: highest CAR-T count per patient and the first day it is reached
    counts = defaultdict(list)
    for r in sample_rows("labs"):
        if r["analyte"] == "CAR-T cells":
            counts[r["patient_id"]].append((float(r["day"]), float(r["value"])))
    metrics = table(app, METRIC_COLUMNS)
    shown = metrics[metrics["analyte"] == "CAR-T cells"].set_index("patient_id")
    assert set(shown.index) == set(counts)
    for patient, points in list(counts.items())[:25]:
        cmax = max(v for _, v in points)
        assert shown.loc[patient, "cmax"] == cmax
        assert shown.loc[patient, "tmax_day"] == min(d for d, v in points if v == cmax)
        assert shown.loc[patient, "n_points"] == sum(1 for d, _ in points if 0 <= d <= 28)


def test_metric_choice_changes_the_strip_chart(app):
    app.radio(key="expansion_metric").set_value("auc_0_28")
    rerun(app)
    strip = charts(app)[1]
    assert strip["title"]["text"] == "AUC0-28 of CAR-T cells per patient"
    assert encoding(strip, "circle")["y"]["title"] == "AUC0-28 (cells/uL x days)"
    assert encoding(strip, "circle")["y"]["scale"]["type"] == "log"
    app.radio(key="expansion_metric").set_value("tmax_day")
    rerun(app)
    strip = charts(app)[1]
    assert encoding(strip, "circle")["y"]["title"] == "Tmax (day)"
    assert encoding(strip, "circle")["y"]["scale"].get("type") != "log"  # a day is never on a log scale


def test_log_toggle_and_analyte_choice(app):
    app.toggle(key="expansion_log").set_value(False)
    app.selectbox(key="expansion_analyte").set_value("CD8+ CAR-T cells")
    rerun(app)
    curve = charts(app)[0]
    assert curve["title"]["text"] == "CD8+ CAR-T cells in blood: median per group"
    assert encoding(curve, "point")["y"]["scale"].get("type") != "log"


def test_grouping_by_costimulatory_domain(app):
    app.session_state["group_by"] = "costimulatory_domain"
    rerun(app)
    summary = table(app, ["group", "analyte", "metric"])
    assert set(summary["group"]) == {"CD28", "4-1BB"}
    assert set(summary["test"].dropna()) == {"Mann-Whitney U"}


def test_a_cohort_without_cell_counts_says_so(monkeypatch):
    monkeypatch.chdir(ROOT)
    patients = "patient_id,product,last_followup_day\nP1,axi-cel,100\n"
    toxicity = "patient_id,day,crs_grade,icans_grade\nP1,1,2,0\n"
    labs = "patient_id,day,analyte,value,unit\nP1,1,IL-6,40,pg/mL\n"
    result = load_sources([Source("patients.csv", patients.encode()), Source("toxicity.csv", toxicity.encode()),
                           Source("labs.csv", labs.encode())])
    assert result.ok, result.report
    con = store.connect()
    store.load_cohort(con, result.cohort)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["duckdb_connection"] = con
    at.session_state["cohort_warnings"] = []
    at.session_state["cohort_is_sample"] = False
    rerun(at)
    assert any("no CAR-T cell counts" in unplain(i.value) for i in at.info)
    assert charts(at) == []

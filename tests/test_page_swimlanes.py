"""The Toxicity swimlanes page through Streamlit's AppTest, on the bundled sample cohort."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from ui.text import plain, unplain

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
SUMMARY_COLUMNS = ["group", "relative_day", "n", "median_grade", "q1", "q3", "share_severe"]


def sample_rows(table: str) -> list[dict]:
    with open(SAMPLE / f"{table}.csv", newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def severe_patients() -> set[str]:
    """Patients with an ICANS grade of 3 or more, read straight from the CSV."""
    return {r["patient_id"] for r in sample_rows("toxicity") if r["icans_grade"] and int(r["icans_grade"]) >= 3}



@pytest.fixture
def app(monkeypatch) -> AppTest:
    if not (SAMPLE / "patients.csv").exists():
        pytest.fail(f"the bundled sample cohort is missing: {SAMPLE}")
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "views" / "swimlanes.py"), default_timeout=60)
    at.run()
    assert_no_exception(at)
    return at


def assert_no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


LANES_TITLE = "Clinical course per patient"
CHANGE_TITLE = "Change in ICANS grade after an intervention"


def chart_element(at: AppTest, title: str):
    """The chart with this title (charts without selections carry no key to find them by)."""
    found = [c for c in at.get("vega_lite_chart") if json.loads(c.proto.spec)["title"]["text"] == title]
    assert len(found) == 1, [json.loads(c.proto.spec).get("title") for c in at.get("vega_lite_chart")]
    return found[0]


def chart_spec(at: AppTest, title: str) -> dict:
    return json.loads(chart_element(at, title).proto.spec)


def lane_order(at: AppTest) -> list[str]:
    strip = chart_spec(at, LANES_TITLE)["hconcat"][0]
    return strip["encoding"]["y"]["scale"]["domain"]


def summary_table(at: AppTest):
    found = [d.value for d in at.dataframe if list(d.value.columns) == SUMMARY_COLUMNS]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def infos(at: AppTest) -> list[str]:
    return [unplain(i.value) for i in at.info]


def test_opens_with_both_sections_and_severe_patients_only(app):
    assert [unplain(h.value) for h in app.subheader] == ["Clinical course per patient", "Grade change after an intervention"]
    severe = severe_patients()
    order = lane_order(app)
    assert len(order) == len(severe) and set(order) == severe  # 54 < 60 lanes: nobody left out
    assert not [i for i in infos(app) if "left out" in i]
    spec = chart_spec(app, LANES_TITLE)
    assert spec["title"]["subtitle"][0].startswith("n = 54 patients")
    # the grade-change section defaults to IVIG: its table lists only the IVIG arm here
    summary = summary_table(app)
    assert set(summary["group"]) == {"Steroids + IVIG"}
    assert set(summary["relative_day"]) <= set(range(-3, 15))
    assert chart_spec(app, CHANGE_TITLE)["layer"]


def test_sort_option_reorders_the_lanes(app):
    by_group = lane_order(app)
    app.selectbox(key="swimlanes_sort").set_value("patient").run()
    assert_no_exception(app)
    by_patient = lane_order(app)
    assert by_patient == sorted(severe_patients())  # P0001-style identifiers sort as text too
    assert by_patient != by_group and set(by_patient) == set(by_group)


def test_all_patients_page_through_the_lanes_and_say_which_page(app):
    total = len(sample_rows("patients"))
    app.radio(key="swimlanes_patients").set_value("all").run()
    assert_no_exception(app)
    first = lane_order(app)
    assert len(first) == 60
    pages = -(-total // 60)
    assert [i for i in infos(app) if f"{total} lanes in {pages} pages of 60" in i and "page 1" in i], infos(app)
    app.number_input(key="swimlanes_page").set_value(pages).run()
    assert_no_exception(app)
    last = lane_order(app)
    assert len(last) == total - 60 * (pages - 1) and not set(last) & set(first)
    assert f"page {pages} of {pages}" in " ".join(chart_spec(app, LANES_TITLE)["title"]["subtitle"])
    app.number_input(key="swimlanes_max_lanes").set_value(200).run()
    app.number_input(key="swimlanes_page").set_value(1).run()
    assert_no_exception(app)
    assert len(lane_order(app)) == 200
    # every patient id stays on the axis: the labels are drawn at 200 lanes
    strip = chart_spec(app, LANES_TITLE)["hconcat"][0]
    assert strip["encoding"]["y"]["axis"]["labels"] is True


def test_one_symbol_per_drug_on_request(app):
    app.radio(key="swimlanes_symbols").set_value("agent").run()
    assert_no_exception(app)
    spec = chart_spec(app, LANES_TITLE)
    markers = [l for l in spec["hconcat"][1]["layer"] if l["encoding"].get("shape", {}).get("field") == "agent"]
    assert len(markers) == 1
    shapes = markers[0]["encoding"]["shape"]["scale"]
    agents = dict(zip(shapes["domain"], shapes["range"]))
    given = {r["agent"] for r in sample_rows("interventions")}
    assert set(agents) <= given and {"dexamethasone", "methylprednisolone"} <= set(agents)
    assert agents["dexamethasone"] != agents["methylprednisolone"]  # one symbol per agent (IVIG study Fig 2)
    assert len(set(agents.values())) == len(agents)


def marker_rows(at: AppTest):
    """The intervention marks sent with the swimlane chart (Arrow data of the marker layer)."""
    chart = chart_element(at, LANES_TITLE)
    spec = json.loads(chart.proto.spec)
    markers = [l for l in spec["hconcat"][1]["layer"] if l["encoding"].get("shape", {}).get("field") == "agent_class"]
    name = markers[0]["data"]["name"]
    data = {d.name: d.data.data for d in chart.proto.datasets}
    return pa.ipc.open_stream(data[name]).read_pandas()


def test_day_range_and_marked_classes_change_the_chart_data(app):
    assert set(marker_rows(app)["agent_class"]) >= {"corticosteroid", "IVIG", "IL-6 blockade"}
    app.slider(key="swimlanes_days").set_value((0, 20)).run()
    assert_no_exception(app)
    main = chart_spec(app, LANES_TITLE)["hconcat"][1]["layer"][0]
    assert main["encoding"]["x"]["scale"]["domain"] == [0, 20]
    marks = marker_rows(app)
    assert marks["start_day"].max() <= 20 and marks["end_day"].min() >= 0
    app.multiselect(key="swimlanes_classes").set_value(["IVIG"]).run()
    assert_no_exception(app)
    ivig = marker_rows(app)
    assert set(ivig["agent_class"]) == {"IVIG"}
    ivig_patients = {r["patient_id"] for r in sample_rows("interventions") if r["agent"] == "IVIG"}
    assert set(ivig["patient_id"]) == ivig_patients & severe_patients()


def test_group_by_product_relabels_the_groups(app):
    app.session_state["group_by"] = "product"
    app.run()
    assert_no_exception(app)
    strip = chart_spec(app, LANES_TITLE)["hconcat"][0]
    products = {r["product"] for r in sample_rows("patients")}
    assert set(strip["encoding"]["color"]["scale"]["domain"]) == products


def test_grade_change_class_and_window_change_the_table(app):
    ivig = summary_table(app)
    app.selectbox(key="swimlanes_change_class").set_value("corticosteroid").run()
    assert_no_exception(app)
    steroids = summary_table(app)
    assert {"Steroids alone", "Steroids + IVIG"} <= set(steroids["group"])
    assert len(steroids) > len(ivig)
    app.number_input(key="swimlanes_change_after").set_value(5).run()
    assert_no_exception(app)
    assert summary_table(app)["relative_day"].max() == 5
    # the sample's anakinra arm has 8 patients: the clinical reference asks for a warning below 10
    anakinra = sum(1 for r in sample_rows("patients") if r["group"] == "Steroids + anakinra")
    assert anakinra < 10
    assert [unplain(w.value) for w in app.warning if f"Steroids + anakinra ({anakinra})" in unplain(w.value)], \
        [unplain(w.value) for w in app.warning]


def test_a_class_nobody_received_in_the_chosen_groups_says_so(app):
    app.multiselect(key="swimlanes_change_groups").set_value(["No severe ICANS"]).run()
    assert_no_exception(app)
    assert [i for i in infos(app) if "No patient in the chosen groups" in i], infos(app)
    assert not [d for d in app.dataframe if list(d.value.columns) == SUMMARY_COLUMNS]

"""Chart specs of the steroid, intervention-timing and grade-distribution charts, through to_dict()."""

from __future__ import annotations

import pandas as pd
import pytest

from icans_core import schema as S
from icans_core.charts import style
from icans_core.charts.overview import grade_distribution_chart
from icans_core.charts.steroids import intervention_timing_chart, steroid_chart
from icans_core.steroids import steroid_summary
from icans_core.summary import grade_distribution, interventions_by_class

EXPOSURE = pd.DataFrame({
    "patient_id": ["a1", "a2", "a3", "b1", "b2"],
    "group": ["Steroids alone", "Steroids alone", "Steroids alone", "Steroids + IVIG", "Steroids + IVIG"],
    "steroid_days": [2, 0, 5, 7, 3],
    "cumulative_dex_mg": [40.0, 0.0, 250.0, 562.5, 60.0],
    "rows_left_out": [0, 0, 0, 0, 0],
    "first_steroid_day": [4.0, None, 5.5, 6.0, 7.0],
})
GROUPS = ["Steroids + IVIG", "Steroids alone"]  # alphabetical: the stable order of every chart


def layers(chart) -> tuple[dict, dict, dict, dict]:
    spec = chart.to_dict()
    boxes, medians, points = spec["layer"]
    return spec, boxes, medians, points


def data_of(spec: dict, layer: dict) -> list[dict]:
    return spec["datasets"][layer["data"]["name"]]


def test_steroid_chart_encodings():
    spec, boxes, medians, points = layers(steroid_chart(EXPOSURE, steroid_summary(EXPOSURE)))
    assert (boxes["mark"]["type"], medians["mark"]["type"], points["mark"]["type"]) == ("rule", "tick", "circle")
    # every layer on one x offset scale: the summary at the centre, the points jittered around it
    assert boxes["encoding"]["xOffset"]["field"] == medians["encoding"]["xOffset"]["field"] == "centre"
    assert boxes["encoding"]["xOffset"]["scale"] == points["encoding"]["xOffset"]["scale"]
    for layer in (boxes, medians, points):
        x = layer["encoding"]["x"]
        assert (x["field"], x["type"], x["sort"]) == ("group", "nominal", GROUPS)
        colour = layer["encoding"]["color"]
        assert colour["field"] == "group"
        assert colour["scale"] == {"domain": GROUPS, "range": style.GROUP_PALETTE[:2]}
    assert (boxes["encoding"]["y"]["field"], boxes["encoding"]["y2"]["field"]) == ("q1", "q3")
    assert medians["encoding"]["y"]["field"] == "median"
    y = points["encoding"]["y"]
    assert (y["field"], y["type"]) == ("cumulative_dex_mg", "quantitative")
    assert y["title"] == "Cumulative dexamethasone-equivalent dose (mg)"
    assert y["scale"] == {"zero": True}
    assert points["encoding"]["xOffset"]["field"] == "jitter"
    tooltip = {t["field"]: t["title"] for t in points["encoding"]["tooltip"]}
    assert tooltip["patient_id"] == "Patient" and tooltip["group"] == "Group"
    assert {"steroid_days", "cumulative_dex_mg", "first_steroid_day"} <= set(tooltip)
    assert {t["field"] for t in boxes["encoding"]["tooltip"]} >= {"group", "n_treated", "n_patients", "median"}


def test_steroid_chart_title_states_n_and_units():
    spec = steroid_chart(EXPOSURE, steroid_summary(EXPOSURE)).to_dict()
    assert spec["title"]["text"] == "Cumulative dexamethasone-equivalent dose (mg) per patient"
    subtitle = " ".join(spec["title"]["subtitle"])
    assert "Steroids + IVIG 2/2" in subtitle and "Steroids alone 2/3" in subtitle
    assert "Meikle & Tyler" in subtitle


def test_steroid_chart_sends_only_treated_patients_and_the_box_of_the_treated():
    spec, boxes, _, points = layers(steroid_chart(EXPOSURE, steroid_summary(EXPOSURE)))
    shown = data_of(spec, points)
    assert [r["patient_id"] for r in shown] == ["a1", "a3", "b1", "b2"]  # a2 had no steroid
    assert set(shown[0]) == {"patient_id", "group", "steroid_days", "cumulative_dex_mg", "first_steroid_day"}
    box = {r["group"]: r for r in data_of(spec, boxes)}
    # Steroids alone, treated: 40 and 250 mg -> median 145, Q1 92.5, Q3 197.5
    assert (box["Steroids alone"]["median"], box["Steroids alone"]["q1"], box["Steroids alone"]["q3"]) == (
        145, 92.5, 197.5)
    assert (box["Steroids alone"]["n_treated"], box["Steroids alone"]["n_patients"]) == (2, 3)


def test_steroid_days_on_a_log_axis():
    spec, boxes, medians, points = layers(
        steroid_chart(EXPOSURE, steroid_summary(EXPOSURE), measure="steroid_days", log=True))
    assert points["encoding"]["y"]["field"] == "steroid_days"
    assert points["encoding"]["y"]["title"] == "Systemic corticosteroid days (days)"
    for layer in (boxes, medians, points):
        assert layer["encoding"]["y"]["scale"] == {"type": "log"}
    assert "log scale" in " ".join(spec["title"]["subtitle"])
    box = {r["group"]: r for r in data_of(spec, boxes)}
    assert box["Steroids + IVIG"]["median"] == 5


def test_steroid_chart_refuses_an_unknown_measure():
    with pytest.raises(ValueError):
        steroid_chart(EXPOSURE, steroid_summary(EXPOSURE), measure="prednisone_mg")


def test_intervention_timing_chart_puts_every_group_on_the_axis_with_class_shapes():
    interventions = pd.DataFrame({
        "patient_id": ["a1", "a3", "b1", "b1", "b2"],
        "agent_class": ["corticosteroid", "corticosteroid", "corticosteroid", "IVIG", "IVIG"],
        "start_day": [4.0, 6.0, 6.0, 8.0, 9.0],
    })
    by_class = interventions_by_class(interventions, EXPOSURE[["patient_id", "group"]])
    spec = intervention_timing_chart(by_class).to_dict()
    encoding = spec["encoding"]
    assert (encoding["x"]["field"], encoding["x"]["type"]) == ("median_first_day", "quantitative")
    assert "days since CAR-T infusion" in encoding["x"]["title"]
    # every group's name on the axis (issue 9), the classes by colour and shape, listing only those given
    assert encoding["y"]["field"] == "group" and encoding["y"]["scale"]["domain"] == GROUPS
    assert encoding["y"]["axis"]["labelOverlap"] is False
    assert encoding["shape"]["scale"] == {"domain": ["corticosteroid", "IVIG"],
                                          "range": [style.CLASS_STYLE[c][1] for c in ("corticosteroid", "IVIG")]}
    assert encoding["color"]["scale"]["domain"] == ["corticosteroid", "IVIG"]
    rows = {(r["group"], r["agent_class"]): r for r in spec["datasets"][spec["data"]["name"]]}
    assert ("Steroids alone", S.IVIG_CLASS) not in rows  # nobody in the group received it: not drawn
    assert rows[("Steroids alone", S.CORTICOSTEROID)]["median_first_day"] == 5.0
    assert "Steroids alone 3" in " ".join(spec["title"]["subtitle"])


def test_grade_distribution_chart_uses_the_astct_grade_colours():
    patients = pd.DataFrame({"patient_id": ["p1", "p2", "p3"], "group": ["B", "A", "A"]})
    toxicity = pd.DataFrame({"patient_id": ["p1", "p2", "p3", "p3"], "day": [1, 1, 1, 2],
                             "crs_grade": [1, 2, 0, None], "icans_grade": [None, 3, 0, 4]})
    spec = grade_distribution_chart(grade_distribution(patients, toxicity)).to_dict()
    assert spec["facet"]["column"]["field"] == "syndrome"
    encoding = spec["spec"]["encoding"]
    assert (encoding["x"]["field"], encoding["x"]["type"]) == ("percent", "quantitative")
    assert encoding["x"]["scale"] == {"domain": [0, 100]}
    assert encoding["x"]["title"] == "Patients (%)"
    assert (encoding["y"]["field"], encoding["y"]["sort"]) == ("group", ["A", "B"])
    assert (encoding["color"]["field"], encoding["color"]["type"]) == ("grade", "ordinal")
    assert encoding["color"]["scale"] == {"domain": [0, 1, 2, 3, 4, 5],
                                          "range": [style.GRADE_COLOURS[g] for g in range(6)]}
    assert encoding["order"]["field"] == "grade"
    assert {t["field"] for t in encoding["tooltip"]} >= {"group", "grade", "n", "n_assessed", "percent"}
    # p1 has no ICANS assessment: A 2/2, B 1/0 assessed (CRS/ICANS)
    assert "A 2/2; B 1/0" in spec["title"]["subtitle"][0]
    rows = spec["datasets"][spec["data"]["name"]]
    icans_a = {r["grade"]: r["percent"] for r in rows if r["syndrome"] == "ICANS" and r["group"] == "A"}
    assert icans_a == {3: 50.0, 4: 50.0}

"""Swimlane and grade-change chart specs, read through chart.to_dict()."""

from __future__ import annotations

import pandas as pd
import pytest

from icans_core.charts.grade_change import grade_change_chart
from icans_core.charts.swimlanes import swimlane_chart

# The shared ASTCT palette (charts/style.py), written out so a silent change of it is noticed here.
GRADE_RANGE = ["#d9d9d9", "#fdd49e", "#fc8d59", "#d7301f", "#7f0000", "#000000"]
CLASSES = ["corticosteroid", "IL-6 blockade", "IL-1 blockade", "IVIG", "intrathecal therapy", "other"]
CLASS_SHAPES = ["triangle-down", "circle", "diamond", "square", "cross", "triangle-up"]

INTERVALS = pd.DataFrame({
    "patient_id": ["A", "A", "A", "B", "B"], "group": ["Steroids + IVIG"] * 3 + ["Steroids alone"] * 2,
    "lane": ["ICANS", "ICANS", "CRS", "ICANS", "CRS"],
    "start_day": [0.0, 5.0, 0.0, 2.0, 1.0], "end_day": [5.0, 9.0, 9.0, 2.0, 6.0], "grade": [1, 3, 2, 0, 1],
})
MARKS = pd.DataFrame({
    "patient_id": ["A", "B"], "group": ["Steroids + IVIG", "Steroids alone"],
    "agent": ["IVIG", "dexamethasone"], "agent_class": ["IVIG", "corticosteroid"],
    "start_day": [6.0, 3.0], "end_day": [8.0, 3.0], "daily_dose": [0.4, 10.0], "dose_unit": ["g/kg", "mg"],
    "route": ["IV", "IV"], "label": ["IVIG 0.4 g/kg IV, days 6-8", "dexamethasone 10 mg IV, day 3"],
    "multi_day": [True, False],
})
EVENTS = pd.DataFrame({"patient_id": ["B"], "group": ["Steroids alone"], "kind": ["death"], "day": [7.0]})
GROUPS = ["No severe ICANS", "Steroids + IVIG", "Steroids alone"]


def lanes_spec(order, **kwargs):
    spec = swimlane_chart(INTERVALS, MARKS, EVENTS, order, patient_groups={"A": "Steroids + IVIG",
                                                                           "B": "Steroids alone"},
                          groups=GROUPS, group_sizes={"Steroids + IVIG": 1, "Steroids alone": 1},
                          days=(-2, 10), **kwargs).to_dict()
    strip, main = spec["hconcat"]
    return spec, strip, main["layer"]


def layer(layers, mark):
    found = [l for l in layers if l["mark"]["type"] == mark]
    assert len(found) == 1, [l["mark"]["type"] for l in layers]
    return found[0]


def tooltip_fields(encoding):
    return {t["field"] for t in encoding["tooltip"]}


def test_grade_bars_use_the_astct_palette_with_icans_above_crs():
    _, _, layers = lanes_spec(["B", "A"])
    bars = layer(layers, "bar")["encoding"]
    assert bars["color"]["field"] == "grade" and bars["color"]["type"] == "ordinal"
    assert bars["color"]["scale"] == {"domain": [0, 1, 2, 3, 4, 5], "range": GRADE_RANGE}
    assert bars["color"]["title"] == "ASTCT grade"
    assert (bars["x"]["field"], bars["x2"]["field"]) == ("start_day", "end_day")
    assert bars["x"]["axis"]["title"] == "Days since CAR-T infusion"
    assert bars["x"]["scale"]["domain"] == [-2, 10]
    # sub-rows top to bottom: interventions, ICANS, CRS (the IVIG study's Fig 2 layout)
    assert bars["yOffset"]["field"] == "lane"
    assert bars["yOffset"]["scale"]["domain"] == ["treatment", "ICANS", "CRS"]
    assert {"patient_id", "group", "lane", "grade", "start_day", "end_day"} <= tooltip_fields(bars)


def test_zero_length_intervals_are_drawn_as_ticks_in_the_same_colours():
    _, _, layers = lanes_spec(["A", "B"])
    tick = layer(layers, "tick")
    assert tick["transform"] == [{"filter": "datum.start_day == datum.end_day"}]
    assert tick["encoding"]["color"]["scale"]["range"] == GRADE_RANGE


@pytest.mark.parametrize("order", [["A", "B"], ["B", "A"]])
def test_rows_follow_the_given_order(order):
    spec, strip, layers = lanes_spec(order)
    for encoding in [strip["encoding"]] + [l["encoding"] for l in layers]:
        assert encoding["y"]["field"] == "patient_id"
        assert encoding["y"]["sort"] == order
        assert encoding["y"]["scale"]["domain"] == order
    strip_rows = spec["datasets"][strip["data"]["name"]]
    assert [r["patient_id"] for r in strip_rows] == order
    assert [r["group"] for r in strip_rows] == [{"A": "Steroids + IVIG", "B": "Steroids alone"}[p] for p in order]


def test_groups_are_coloured_in_the_stable_order_and_only_shown_ones_listed():
    _, strip, _ = lanes_spec(["A", "B"])
    colour = strip["encoding"]["color"]
    assert colour["field"] == "group"
    assert colour["scale"]["domain"] == GROUPS
    assert colour["scale"]["range"] == ["#1b9e77", "#d95f02", "#7570b3"]
    assert colour["legend"]["values"] == ["Steroids + IVIG", "Steroids alone"]


def test_intervention_markers_by_class_colour_and_shape_with_dose_tooltips():
    _, _, layers = lanes_spec(["A", "B"])
    points = [l for l in layers if l["mark"]["type"] == "point" and "shape" in l["encoding"]
              and l["encoding"]["shape"]["field"] == "agent_class"]
    assert len(points) == 1
    encoding = points[0]["encoding"]
    # the shared class shapes, the legend listing only the classes drawn (in the contract's order)
    drawn = [c for c in CLASSES if c in set(MARKS["agent_class"])]
    assert encoding["shape"]["scale"] == {"domain": drawn, "range": [CLASS_SHAPES[CLASSES.index(c)] for c in drawn]}
    assert encoding["color"]["field"] == "agent_class"
    assert encoding["color"]["scale"]["domain"] == drawn
    assert encoding["x"]["field"] == "start_day"
    assert {"agent", "daily_dose", "dose_unit", "route", "start_day", "end_day"} <= tooltip_fields(encoding)
    # multi-day courses: a rule from the first to the last day
    rule = layer(layers, "rule")
    assert (rule["encoding"]["x"]["field"], rule["encoding"]["x2"]["field"]) == ("start_day", "end_day")
    assert rule["transform"][-1] == {"filter": "datum.end_day > datum.start_day"}


def test_death_is_a_black_x_distinct_from_every_class_shape():
    _, _, layers = lanes_spec(["A", "B"])
    events = [l for l in layers if l["encoding"].get("shape", {}).get("field") == "kind"]
    assert len(events) == 1
    scale = events[0]["encoding"]["shape"]["scale"]
    death_shape = scale["range"][scale["domain"].index("death")]
    assert death_shape not in CLASS_SHAPES
    colours = events[0]["encoding"]["color"]["scale"]
    assert colours["range"][colours["domain"].index("death")] == "#000000"


# Lanes stay at least 12 px, so every patient id is readable; the view pages through at most 200 lanes.
@pytest.mark.parametrize("patients, height, labels", [(2, 48, True), (10, 240, True), (200, 2400, True),
                                                      (500, 6000, True)])
def test_height_grows_with_patients_and_is_capped(patients, height, labels):
    order = [f"P{i}" for i in range(patients)]
    spec = swimlane_chart(INTERVALS.iloc[0:0], MARKS.iloc[0:0], EVENTS.iloc[0:0], order).to_dict()
    strip, main = spec["hconcat"]
    assert strip["height"] == height and main["height"] == height
    assert strip["encoding"]["y"]["axis"]["labels"] is labels


def test_title_and_subtitle_state_n_and_units():
    spec, _, _ = lanes_spec(["A", "B"])
    assert spec["title"]["text"] == "Clinical course per patient"
    subtitle = " ".join(spec["title"]["subtitle"])
    assert "n = 2 patients (Steroids + IVIG 1, Steroids alone 1)" in subtitle
    assert "days since CAR-T infusion" in subtitle and "ASTCT grade" in subtitle


# --- grade change ------------------------------------------------------------------------------------

SUMMARY = pd.DataFrame({"group": ["Steroids + IVIG"] * 3, "relative_day": [-1, 0, 1], "n": [2, 2, 2],
                        "median_grade": [3.0, 3.0, 2.0], "q1": [3.0, 3.0, 1.5], "q3": [3.0, 3.0, 2.5],
                        "share_severe": [1.0, 1.0, 0.5]})
DAILY = pd.DataFrame({"patient_id": ["A", "A", "A", "B", "B", "B"], "group": ["Steroids + IVIG"] * 6,
                      "first_dose_day": [8.0] * 3 + [7.0] * 3, "relative_day": [-1, 0, 1] * 2,
                      "icans_grade": [3, 3, 1, 3, 3, 3], "assessed": [True] * 6})


def grade_change_layers(daily):
    spec = grade_change_chart(SUMMARY, daily, "IVIG", groups=GROUPS, group_sizes={"Steroids + IVIG": 2},
                              day0="first IVIG dose at or after severe-ICANS onset").to_dict()
    return spec, spec["layer"]


def test_grade_change_lines_median_and_day_zero_rule():
    spec, layers = grade_change_layers(DAILY)
    lines = [l for l in layers if l["mark"]["type"] == "line"]
    patient = [l for l in lines if l["encoding"].get("detail", {}).get("field") == "patient_id"]
    median = [l for l in lines if l["encoding"]["y"]["field"] == "median_grade"]
    assert len(patient) == 1 and len(median) == 1
    assert median[0]["mark"]["strokeWidth"] > patient[0]["mark"]["strokeWidth"]
    for line in (patient[0], median[0]):
        assert line["mark"]["interpolate"] == "step-after"  # a grade holds until the next value
        assert line["encoding"]["y"]["scale"]["domain"] == [0, 5]
        assert line["encoding"]["x"]["field"] == "relative_day"
        assert line["encoding"]["color"]["scale"]["domain"] == GROUPS
    assert median[0]["encoding"]["y"]["title"] == "ICANS grade (ASTCT, 0-5)"
    assert median[0]["encoding"]["x"]["title"] == "Days since first IVIG dose (day 0)"
    assert {"patient_id", "relative_day", "icans_grade"} <= tooltip_fields(patient[0]["encoding"])
    rule = layer(layers, "rule")
    assert [r["relative_day"] for r in spec["datasets"][rule["data"]["name"]]] == [0]
    points = layer(layers, "point")
    assert {"n", "median_grade", "share_severe"} <= tooltip_fields(points["encoding"])
    assert "n = 2 patients (Steroids + IVIG 2)" in spec["title"]["subtitle"][0]


def test_grade_change_without_patient_lines():
    _, layers = grade_change_layers(None)
    assert not [l for l in layers if "detail" in l["encoding"]]
    assert layer(layers, "area")["encoding"]["y2"]["field"] == "q3"

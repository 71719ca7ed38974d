"""The kinetics and expansion charts' Vega-Lite specs: fields, titles with units, scales and layers."""

from __future__ import annotations

import pandas as pd
import pytest

from icans_core.charts import style
from icans_core.charts.expansion import expansion_chart, metric_strip_chart
from icans_core.charts.kinetics import cytokine_chart

MEDIANS = pd.DataFrame({
    "group": ["B", "C", "B", "C"], "analyte": "IL-6", "day": [1, 1, 2, 2], "n": [3, 4, 3, 4],
    "median": [2.0, 5.0, 3.0, 9.0], "q1": [1.0, 4.0, 2.0, 8.0], "q3": [3.0, 6.0, 4.0, 12.0],
    "p_value": [0.04, 0.04, 0.08, 0.08], "q_value": [0.08, 0.08, 0.08, 0.08], "unit": "pg/mL",
    "n_below_lloq": [1, 0, 0, 0], "n_patients": [3, 4, 3, 4], "test": "Mann-Whitney U",
})
OTHER_ANALYTE = MEDIANS.assign(analyte="ferritin", unit="ng/mL")
MARKS = pd.DataFrame({"analyte": ["IL-6", "IL-6", "ferritin"], "day": [1, 2, 1], "p_value": [0.04, 0.08, 0.01],
                      "q_value": [0.08, 0.08, 0.02], "mark": ["significant", "trend", "significant"],
                      "y": [6.0, 12.0, 1.0]})
LINES = pd.DataFrame({"group": ["B", "C", "B"], "agent_class": ["IL-6 blockade", "IL-6 blockade", "IVIG"],
                      "median_day": [4.0, 3.5, 8.0], "n_patients": [2, 4, 3], "n_group": [3, 4, 3]})
GROUPS = ["A", "B", "C"]  # A has no values here: B and C must keep their colours


def layers(spec: dict) -> list[dict]:
    """Every leaf layer of a spec, with the data it reads (its own or the parent's)."""
    found = []
    for layer in spec.get("layer", []):
        inherited = {**layer, "data": layer.get("data", spec.get("data"))}
        found += layers(inherited) if "layer" in layer else [inherited]
    return found


def mark_type(layer: dict) -> str:
    return layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]


def rows(spec: dict, layer: dict) -> list[dict]:
    return spec["datasets"][layer["data"]["name"]]


def only(spec: dict, kind: str) -> dict:
    found = [layer for layer in layers(spec) if mark_type(layer) == kind]
    assert len(found) == 1, [mark_type(layer) for layer in layers(spec)]
    return found[0]


def build(log_scale=True, **kwargs) -> dict:
    medians = pd.concat([MEDIANS, OTHER_ANALYTE])
    return cytokine_chart(medians, MARKS, LINES, "IL-6", log_scale, groups=GROUPS, **kwargs).to_dict()


def test_medians_points_line_and_band_with_units():
    spec = build()
    points, line, band = only(spec, "point"), only(spec, "line"), only(spec, "area")
    for layer in (points, line, band):
        assert layer["encoding"]["x"]["field"] == "day"
        assert layer["encoding"]["x"]["type"] == "quantitative"
        assert layer["encoding"]["x"]["title"] == "Days since CAR-T infusion"
        assert layer["encoding"]["y"]["title"] == "IL-6 (pg/mL)"
    assert points["encoding"]["y"]["field"] == line["encoding"]["y"]["field"] == "median"
    assert (band["encoding"]["y"]["field"], band["encoding"]["y2"]["field"]) == ("q1", "q3")
    assert {r["analyte"] for r in rows(spec, points)} == {"IL-6"}  # only the analyte drawn is shipped
    tooltips = {t["field"] for t in points["encoding"]["tooltip"]}
    assert {"group", "day", "n", "median", "q1", "q3", "n_below_lloq", "p_value", "q_value"} <= tooltips


def test_group_colours_are_stable_when_a_group_has_no_values():
    colour = only(build(), "point")["encoding"]["color"]
    assert colour["field"] == "group" and colour["type"] == "nominal"
    assert colour["scale"]["domain"] == ["B", "C"]
    # B and C are the 2nd and 3rd of the stable group list, so they keep those colours
    assert colour["scale"]["range"] == style.GROUP_PALETTE[1:3]


@pytest.mark.parametrize("log_scale", [True, False])
def test_log_scale_only_when_asked(log_scale):
    spec = build(log_scale)
    for kind in ("point", "line", "area", "text"):
        scale = only(spec, kind)["encoding"]["y"].get("scale", {})
        assert (scale.get("type") == "log") is log_scale, kind
    subtitle = " ".join(spec["title"]["subtitle"])
    assert ("log scale" in subtitle) is log_scale


def test_dashed_rules_at_the_median_intervention_days_coloured_by_class():
    spec = build()
    rule = only(spec, "rule")
    # one dash pattern per group, so each group's median day is told apart (issue 9)
    dash = rule["encoding"]["strokeDash"]
    assert dash["field"] == "group" and len(dash["scale"]["range"]) == len(dash["scale"]["domain"]) >= 2
    assert len({str(d) for d in dash["scale"]["range"]}) == len(dash["scale"]["range"])
    assert rule["encoding"]["x"]["field"] == "median_day"
    colour = rule["encoding"]["color"]
    assert colour["field"] == "agent_class"
    assert colour["scale"]["domain"] == ["IL-6 blockade", "IVIG"]
    assert colour["scale"]["range"] == [style.CLASS_STYLE["IL-6 blockade"][0], style.CLASS_STYLE["IVIG"][0]]
    drawn = rows(spec, rule)
    assert sorted(r["median_day"] for r in drawn) == [3.5, 4.0, 8.0]
    labels = {r["label"] for r in drawn}
    assert "IL-6 blockade (B): median day 4 (n=2 of 3)" in labels
    assert "label" in {t["field"] for t in rule["encoding"]["tooltip"]}
    assert spec["resolve"]["scale"]["color"] == "independent"  # groups and classes: two legends


def test_significance_marks_as_symbols_over_the_days():
    spec = build()
    text = only(spec, "text")
    assert text["encoding"]["text"]["field"] == "symbol"
    assert (text["encoding"]["x"]["field"], text["encoding"]["y"]["field"]) == ("day", "y")
    assert text["mark"]["dy"] < 0  # drawn above the highest q3
    drawn = sorted((r["day"], r["symbol"]) for r in rows(spec, text))
    assert drawn == [(1, "*"), (2, "†")]  # ferritin's mark is not on the IL-6 chart
    subtitle = " ".join(spec["title"]["subtitle"])
    assert "* p < 0.05" in subtitle and "† p < 0.1" in subtitle


def test_title_and_subtitle_state_n_per_group_and_units():
    spec = build()
    assert spec["title"]["text"] == "IL-6: median per group over time"
    subtitle = " ".join(spec["title"]["subtitle"])
    assert "B n=3" in subtitle and "C n=4" in subtitle and "pg/mL" in subtitle


def test_day_axis_follows_the_alignment():
    spec = build(day_title="Days since severe-ICANS onset", marked_on="q")
    assert only(spec, "point")["encoding"]["x"]["title"] == "Days since severe-ICANS onset"
    assert "* q < 0.05" in " ".join(spec["title"]["subtitle"])


def test_no_marks_and_no_lines_still_draw():
    spec = cytokine_chart(MEDIANS, MARKS.iloc[:0], LINES.iloc[:0], "IL-6", False).to_dict()
    assert rows(spec, only(spec, "text")) == [] and rows(spec, only(spec, "rule")) == []
    assert only(spec, "point")["encoding"]["color"]["scale"]["domain"] == ["B", "C"]


# --- expansion ------------------------------------------------------------------------------------

CURVES = MEDIANS.drop(columns=["p_value", "q_value", "test"]).assign(analyte="CAR-T cells", unit="cells/uL")


def test_expansion_curves_log_scale_and_units():
    spec = expansion_chart(CURVES, "CAR-T cells", True, GROUPS).to_dict()
    points = only(spec, "point")
    assert points["encoding"]["y"]["title"] == "CAR-T cells (cells/uL)"
    assert points["encoding"]["y"]["scale"]["type"] == "log"
    assert points["encoding"]["x"]["title"] == "Days since CAR-T infusion"
    linear = expansion_chart(CURVES, "CAR-T cells", False, GROUPS).to_dict()
    assert only(linear, "point")["encoding"]["y"]["scale"].get("type") != "log"
    assert "B n=3" in " ".join(spec["title"]["subtitle"])


POINTS = pd.DataFrame({"patient_id": ["b1", "b2", "c1"], "group": ["B", "B", "C"], "analyte": "CAR-T cells",
                       "metric": "auc_0_28", "value": [10.0, 30.0, 50.0], "unit": "cells/uL x days"})
SUMMARY = pd.DataFrame({"group": ["B", "C"], "analyte": "CAR-T cells", "metric": "auc_0_28",
                        "unit": "cells/uL x days", "n": [2, 1], "median": [20.0, 50.0], "q1": [15.0, 50.0],
                        "q3": [25.0, 50.0], "p_value": [float("nan")] * 2, "q_value": [float("nan")] * 2,
                        "test": [None, None]})


def test_per_patient_strip_with_median_and_iqr():
    spec = metric_strip_chart(POINTS, SUMMARY, "CAR-T cells", "auc_0_28", True, GROUPS).to_dict()
    strip = only(spec, "circle")
    assert strip["encoding"]["x"]["field"] == "group" and strip["encoding"]["y"]["field"] == "value"
    assert strip["encoding"]["y"]["title"] == "AUC0-28 (cells/uL x days)"
    assert strip["encoding"]["y"]["scale"]["type"] == "log"
    assert {"patient_id", "group", "value"} <= {t["field"] for t in strip["encoding"]["tooltip"]}
    assert strip["encoding"]["color"]["scale"]["range"] == style.GROUP_PALETTE[1:3]
    assert only(spec, "tick")["encoding"]["y"]["field"] == "median"
    iqr = only(spec, "rule")
    assert (iqr["encoding"]["y"]["field"], iqr["encoding"]["y2"]["field"]) == ("q1", "q3")
    subtitle = " ".join(spec["title"]["subtitle"])
    assert "B n=2" in subtitle and "Not tested" in subtitle


def test_log_scale_leaves_out_zeros_and_says_so():
    with_zero = MEDIANS.assign(q1=[0.0, 4.0, 2.0, 8.0])
    spec = cytokine_chart(with_zero, MARKS, LINES, "IL-6", True, groups=GROUPS).to_dict()
    band = only(spec, "area")
    assert {"filter": "datum.q1 > 0"} in band["transform"]
    assert {"filter": "datum.median > 0"} in only(spec, "point")["transform"]
    assert "values of 0 or less not drawn" in " ".join(spec["title"]["subtitle"])
    linear = cytokine_chart(with_zero, MARKS, LINES, "IL-6", False, groups=GROUPS).to_dict()
    assert "transform" not in only(linear, "area")
    assert "not drawn" not in " ".join(linear["title"]["subtitle"])

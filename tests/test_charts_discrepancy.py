"""The swimlane discrepancy layer: an outlined "≠" per disagreement of the patients shown, on its lane,
layered into the swimlane figure with a legend entry only when there is a disagreement."""

import pandas as pd

from icans_core.charts.discrepancy import LEGEND_LABEL, NOT_EQUAL, discrepancy_layer
from icans_core.charts.swimlanes import swimlane_chart
from icans_core.swimlanes import discrepancy_marks

FOUND = pd.DataFrame({"patient_id": ["P1", "P2", "P9"], "day": [2.0, 5.0, 1.0], "syndrome": ["CRS", "ICANS", "CRS"],
                      "recorded_grade": [1, 4, 2], "derived_grade": [0, 3, 1],
                      "driver": ["no fever", "ICE score + seizure", "fever"], "difference": [1, 1, 1]})
INTERVALS = pd.DataFrame({"patient_id": ["P1", "P2"], "group": ["A", "B"], "lane": ["CRS", "ICANS"],
                          "start_day": [0.0, 1.0], "end_day": [6.0, 8.0], "grade": [1, 4]})
MARKS = pd.DataFrame(columns=["patient_id", "group", "agent", "agent_class", "start_day", "end_day", "daily_dose",
                              "dose_unit", "route", "label", "multi_day"])
EVENTS = pd.DataFrame(columns=["patient_id", "group", "kind", "day"])


def rows_of(spec, layer):
    return spec["datasets"][layer["data"]["name"]]


def test_one_mark_per_disagreement_of_the_patients_shown_on_its_lane():
    marks = discrepancy_marks(FOUND, ["P2", "P1"], (-5, 30), {"P1": "A", "P2": "B"})
    spec = discrepancy_layer(marks, order=["P2", "P1"], days=(-5, 30)).to_dict()
    rows = spec["datasets"][next(iter(spec["datasets"]))]
    assert [(r["patient_id"], r["lane"], r["day"], r["recorded_grade"], r["derived_grade"]) for r in rows] == [
        ("P1", "CRS", 2.0, "1", "0"), ("P2", "ICANS", 5.0, "4", "3")]
    assert spec["mark"]["type"] == "point" and spec["mark"]["filled"] is False  # outlined
    assert spec["encoding"]["shape"]["scale"] == {"domain": [LEGEND_LABEL], "range": [NOT_EQUAL]}
    assert spec["encoding"]["y"]["scale"]["domain"] == ["P2", "P1"]
    assert spec["encoding"]["yOffset"]["field"] == "lane"
    assert {t["title"] for t in spec["encoding"]["tooltip"]} >= {
        "Recorded grade", "Derived grade (ASTCT)", "Set by (driving domain)"}


def lanes(discrepancies):
    spec = swimlane_chart(INTERVALS, MARKS, EVENTS, ["P1", "P2"], patient_groups={"P1": "A", "P2": "B"},
                          groups=["A", "B"], days=(-5, 30), discrepancies=discrepancies).to_dict()
    return spec, spec["hconcat"][1]["layer"]


def test_the_swimlane_figure_layers_the_marks_and_names_them_in_its_legend():
    spec, layers = lanes(discrepancy_marks(FOUND, ["P1", "P2"], (-5, 30), {"P1": "A", "P2": "B"}))
    checks = [l for l in layers if l["encoding"].get("shape", {}).get("field") == "check"]
    assert len(checks) == 1
    assert checks[0]["encoding"]["shape"]["title"] == "Grade check"
    assert checks[0]["encoding"]["color"]["scale"]["domain"] == [LEGEND_LABEL]
    assert [(r["patient_id"], r["lane"], r["day"]) for r in rows_of(spec, checks[0])] == [
        ("P1", "CRS", 2.0), ("P2", "ICANS", 5.0)]
    assert any("≠" in line for line in spec["title"]["subtitle"])


def test_no_mark_and_no_legend_entry_without_disagreements():
    for none in (None, discrepancy_marks(FOUND, ["P1", "P2"], (10, 30))):  # the window leaves none
        spec, layers = lanes(none)
        assert not [l for l in layers if l["encoding"].get("shape", {}).get("field") == "check"]
        assert "≠" not in str(spec)

"""The swimlane discrepancy layer: one cross per disagreement of the patients shown, on its lane."""

import pandas as pd

from icans_core.charts.discrepancy import discrepancy_layer


def test_one_mark_per_disagreement_of_the_patients_shown_on_its_lane():
    found = pd.DataFrame({"patient_id": ["P1", "P2", "P9"], "day": [2.0, 5.0, 1.0], "syndrome": ["CRS", "ICANS", "CRS"],
                          "recorded_grade": [1, 4, 2], "derived_grade": [0, 3, 1],
                          "driver": ["no fever", "ICE score + seizure", "fever"], "difference": [1, 1, 1]})
    spec = discrepancy_layer(found, order=["P2", "P1"], days=(-5, 30)).to_dict()
    rows = spec["datasets"][next(iter(spec["datasets"]))]
    assert [(r["patient_id"], r["lane"], r["day"]) for r in rows] == [("P1", "CRS", 2.0), ("P2", "ICANS", 5.0)]
    assert spec["mark"]["shape"] == "cross"
    assert spec["encoding"]["y"]["scale"]["domain"] == ["P2", "P1"]
    assert spec["encoding"]["yOffset"]["field"] == "lane"
    assert {t["title"] for t in spec["encoding"]["tooltip"]} >= {"Recorded grade", "Derived grade (ASTCT)", "Set by"}

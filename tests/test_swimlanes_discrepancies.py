"""Discrepancy marks on the swimlanes: one per disagreement while they fit, never more than the bound."""

import numpy as np
import pandas as pd

from icans_core.swimlanes import MAX_DISCREPANCY_MARKS, discrepancy_marks


def found(patients: int, days: int) -> pd.DataFrame:
    """Every patient disagrees on both lanes on every day 0..days-1 (recorded 2, derived 1)."""
    ids = [f"P{i}" for i in range(patients)]
    grid = pd.MultiIndex.from_product([ids, np.arange(days, dtype=float), ["CRS", "ICANS"]],
                                      names=["patient_id", "day", "syndrome"]).to_frame(index=False)
    return grid.assign(recorded_grade=2, derived_grade=1, driver="fever", difference=1)


def test_each_disagreement_is_its_own_mark_within_the_window_and_the_shown_patients():
    frame = found(3, 10)
    marks = discrepancy_marks(frame, ["P0", "P2"], (2.0, 5.0), {"P0": "A", "P2": "B"})
    assert len(marks) == 2 * 2 * 4  # 2 patients, 2 lanes, days 2, 3, 4, 5
    assert set(marks["patient_id"]) == {"P0", "P2"} and marks["disagreements"].eq(1).all()
    assert marks["bin_days"].eq(0).all() and marks["group"].tolist()[:1] == ["A"]


def test_a_large_page_is_gathered_into_spans_of_days_under_the_bound():
    # 200 lanes (the most a page shows) x 2 syndromes x 61 days = 24,400 disagreements
    frame = found(200, 61)
    marks = discrepancy_marks(frame, [f"P{i}" for i in range(200)], (-5.0, 60.0))
    assert len(marks) <= MAX_DISCREPANCY_MARKS < 5000
    assert marks["disagreements"].sum() == len(frame)  # none lost: each is counted in its mark
    width = int(marks["bin_days"].iloc[0])
    assert width == 14  # 200 x 2 x ceil(66 / 7) = 4,000 > 2,000; with 14: 200 x 2 x 5 = 2,000
    first = marks[(marks["patient_id"] == "P0") & (marks["lane"] == "CRS")].iloc[0]
    assert (first["day"], first["last_day"], first["disagreements"]) == (0.0, 8.0, 9)  # days -5..8, data 0..8
    assert (first["recorded_grade"], first["derived_grade"]) == ("2", "1")

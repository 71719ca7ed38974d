"""ICANS grade around the first dose of an intervention class, on a hand-worked cohort."""

from __future__ import annotations

import pandas as pd
import pytest

from icans_core.episodes import EpisodeOptions
from icans_core.grade_change import (
    first_doses, grade_after_intervention, patients_per_group, summarise_grade_change,
)

PATIENTS = pd.DataFrame({
    "patient_id": ["A", "B", "C", "D"],
    "group": ["IVIG arm", "IVIG arm", "Steroid arm", "IVIG arm"],
    "death_day": [None, None, None, None],
})
TOXICITY = pd.DataFrame([
    # A: onset day 5; IVIG first given at 7.25 -> day k covers [7.25 + k, 8.25 + k)
    ("A", 3.0, 1), ("A", 5.0, 3), ("A", 6.0, 4), ("A", 7.5, 4), ("A", 8.0, 3), ("A", 10.0, 2),
    ("A", 12.0, 1), ("A", 13.0, 0),
    # B: IVIG on day 4, the onset day; a CRS-only row on day 5 is no ICANS assessment
    ("B", 2.0, 0), ("B", 4.0, 3), ("B", 5.0, None), ("B", 9.0, 1),
    # C: steroids from day 1 (for CRS), onset day 5, steroids again on day 6; never IVIG
    ("C", 0.0, 0), ("C", 3.0, 0), ("C", 5.0, 3), ("C", 7.0, 2), ("C", 9.0, 1), ("C", 11.0, 0),
    # D: IVIG on day 2, before its onset on day 5
    ("D", 1.0, 1), ("D", 5.0, 3), ("D", 8.0, 1),
], columns=["patient_id", "day", "icans_grade"]).astype({"icans_grade": "Int32"})
INTERVENTIONS = pd.DataFrame({
    "patient_id": ["A", "A", "A", "B", "C", "C", "D"],
    "agent_class": ["corticosteroid", "corticosteroid", "IVIG", "IVIG", "corticosteroid", "corticosteroid", "IVIG"],
    "start_day": [4.0, 6.0, 7.25, 4.0, 1.0, 6.0, 2.0],
})


def grades(daily, patient):
    rows = daily[daily["patient_id"] == patient]
    return {r.relative_day: (r.icans_grade, r.assessed) for r in rows.itertuples()}


def run(agent_class, options=EpisodeOptions(), **kwargs):
    return grade_after_intervention(TOXICITY, INTERVENTIONS, PATIENTS, agent_class, days_before=3, days_after=6,
                                    options=options, **kwargs)


def test_first_dose_at_or_after_onset_or_at_any_time():
    after_onset = first_doses(TOXICITY, INTERVENTIONS, PATIENTS, "IVIG", EpisodeOptions())
    assert dict(zip(after_onset["patient_id"], after_onset["first_dose_day"])) == {"A": 7.25, "B": 4.0}
    any_time = first_doses(TOXICITY, INTERVENTIONS, PATIENTS, "IVIG", None)
    assert dict(zip(any_time["patient_id"], any_time["first_dose_day"])) == {"A": 7.25, "B": 4.0, "D": 2.0}
    steroids = first_doses(TOXICITY, INTERVENTIONS, PATIENTS, "corticosteroid", EpisodeOptions())
    assert dict(zip(steroids["patient_id"], steroids["first_dose_day"])) == {"A": 6.0, "C": 6.0}


def test_grades_carried_forward_per_whole_day_around_a_fractional_first_dose():
    daily = run("IVIG")
    assert set(daily["patient_id"]) == {"A", "B"}  # D's only IVIG came before its onset
    # A (first dose 7.25): relative days of the assessments: 3 -> -5, 5 -> -3, 6 -> -2, 7.5 and 8 -> 0,
    # 10 -> 2, 12 -> 4, 13 -> 5. Day 0's grade is the later of its two assessments (day 8: 3).
    assert grades(daily, "A") == {
        -3: (3, True), -2: (4, True), -1: (4, False), 0: (3, True), 1: (3, False), 2: (2, True),
        3: (2, False), 4: (1, True), 5: (0, True)}  # no day 6: nothing is carried past the last assessment
    # B (first dose 4): from its first assessment (day -2) to its last (day 5); the CRS-only row is skipped
    assert grades(daily, "B") == {
        -2: (0, True), -1: (0, False), 0: (3, True), 1: (3, False), 2: (3, False), 3: (3, False),
        4: (3, False), 5: (1, True)}
    assert set(daily["group"]) == {"IVIG arm"}
    assert list(daily.columns) == ["patient_id", "group", "first_dose_day", "relative_day", "icans_grade",
                                   "assessed"]


def test_the_other_arm_after_glucocorticoids():
    daily = run("corticosteroid", groups=["Steroid arm"])
    # C: steroids given on day 1 (before onset) and day 6: day 0 is day 6
    assert grades(daily, "C") == {
        -3: (0, True), -2: (0, False), -1: (3, True), 0: (3, False), 1: (2, True), 2: (2, False),
        3: (1, True), 4: (1, False), 5: (0, True)}
    assert set(daily["patient_id"]) == {"C"}
    any_time = run("corticosteroid", options=None, groups=["Steroid arm"])
    # day 0 = day 1: assessments at relative days -1, 2, 4, 6 (and 8, 10 beyond the window)
    assert grades(any_time, "C") == {
        -1: (0, True), 0: (0, False), 1: (0, False), 2: (0, True), 3: (0, False), 4: (3, True),
        5: (3, False), 6: (2, True)}


def test_summary_per_group_and_day():
    summary = summarise_grade_change(run("IVIG")).set_index("relative_day")
    # day: (n, median, q1, q3, share >= 3); quartiles of two values x < y: x + (y - x)/4 and x + 3(y - x)/4
    expected = {
        -3: (1, 3.0, 3.0, 3.0, 1.0),
        -2: (2, 2.0, 1.0, 3.0, 0.5),  # A 4, B 0
        -1: (2, 2.0, 1.0, 3.0, 0.5),
        0: (2, 3.0, 3.0, 3.0, 1.0),
        1: (2, 3.0, 3.0, 3.0, 1.0),
        2: (2, 2.5, 2.25, 2.75, 0.5),  # A 2, B 3
        3: (2, 2.5, 2.25, 2.75, 0.5),
        4: (2, 2.0, 1.5, 2.5, 0.5),  # A 1, B 3
        5: (2, 0.5, 0.25, 0.75, 0.0),  # A 0, B 1
    }
    assert list(summary.index) == list(expected)
    for day, (n, median, q1, q3, share) in expected.items():
        row = summary.loc[day]
        assert row["group"] == "IVIG arm"
        assert (row["n"], row["median_grade"], row["q1"], row["q3"]) == (n, median, q1, q3), day
        assert row["share_severe"] == pytest.approx(share), day
    assert patients_per_group(run("IVIG")) == {"IVIG arm": 2}


def test_severe_threshold_of_the_share_is_an_option():
    summary = summarise_grade_change(run("IVIG"), severe_grade=2).set_index("relative_day")
    assert summary.loc[4, "share_severe"] == pytest.approx(0.5)  # A 1, B 3
    assert summary.loc[2, "share_severe"] == pytest.approx(1.0)  # A 2, B 3


def test_a_class_nobody_received_gives_empty_frames():
    daily = run("IL-1 blockade")
    assert daily.empty and "icans_grade" in daily.columns
    summary = summarise_grade_change(daily)
    assert summary.empty and "median_grade" in summary.columns


def test_negative_windows_are_refused():
    with pytest.raises(ValueError):
        grade_after_intervention(TOXICITY, INTERVENTIONS, PATIENTS, "IVIG", days_before=-1)


def test_window_bounds_are_inclusive():
    daily = grade_after_intervention(TOXICITY, INTERVENTIONS, PATIENTS, "IVIG", days_before=0, days_after=2,
                                     options=EpisodeOptions())
    assert grades(daily, "A") == {0: (3, True), 1: (3, False), 2: (2, True)}
    assert grades(daily, "B") == {0: (3, True), 1: (3, False), 2: (3, False)}

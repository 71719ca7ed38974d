"""Swimlane intervals, marks, lane order and the view, on hand-computed cohorts."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icans_core.patient import sort_patients
from icans_core.swimlanes import (
    SwimlaneOptions, build_swimlanes, day_extent, grade_intervals, intervention_classes, intervention_marks,
    order_patients, patient_marks, select_patients,
)


def toxicity(rows):
    """rows: (patient_id, day, crs_grade, icans_grade), None = not assessed."""
    return pd.DataFrame(rows, columns=["patient_id", "day", "crs_grade", "icans_grade"]).astype(
        {"day": float, "crs_grade": "Int32", "icans_grade": "Int32"})


def lane(intervals, patient, name):
    rows = intervals[(intervals["patient_id"] == patient) & (intervals["lane"] == name)]
    return [(r.start_day, r.end_day, r.grade) for r in rows.itertuples()]


# --- grade_intervals ------------------------------------------------------------------------------

def test_the_contract_example_by_hand():
    days_grades = [(0, 0), (2, 0), (4, 2), (5, 3), (6, 3), (8, 1), (10, 1), (12, 0)]
    intervals = grade_intervals(toxicity([("A", d, None, g) for d, g in days_grades]))
    assert lane(intervals, "A", "ICANS") == [(0, 4, 0), (4, 5, 2), (5, 8, 3), (8, 12, 1), (12, 12, 0)]
    assert lane(intervals, "A", "CRS") == []  # never assessed: no lane at all
    assert list(intervals.columns) == ["patient_id", "lane", "start_day", "end_day", "grade"]


def test_a_blank_grade_is_not_an_assessment_and_lanes_are_independent():
    intervals = grade_intervals(toxicity([
        ("A", 0, 1, 1),
        ("A", 1, 2, None),  # CRS-only row: ICANS not assessed, so the ICANS interval runs on
        ("A", 2, 2, 1),
        ("A", 3.5, None, 2),  # ICANS-only row: CRS grade 2 still holds
        ("A", 6, 0, 0),
    ]))
    assert lane(intervals, "A", "ICANS") == [(0, 3.5, 1), (3.5, 6, 2), (6, 6, 0)]
    assert lane(intervals, "A", "CRS") == [(0, 1, 1), (1, 6, 2), (6, 6, 0)]


def test_patients_do_not_run_into_each_other_and_row_order_does_not_matter():
    rows = [("B", 3, 0, 4), ("A", 5, 2, 2), ("B", 1, 1, 4), ("A", 1, 2, 2), ("B", 7, 0, 0)]
    intervals = grade_intervals(toxicity(rows))
    # A's last interval ends at A's own last assessment (day 5), not at B's first
    assert lane(intervals, "A", "ICANS") == [(1, 5, 2)]
    assert lane(intervals, "B", "ICANS") == [(1, 7, 4), (7, 7, 0)]
    assert lane(intervals, "B", "CRS") == [(1, 3, 1), (3, 7, 0)]
    assert list(intervals["patient_id"]) == ["A", "A", "B", "B", "B", "B"]
    assert list(intervals["lane"]) == ["ICANS", "CRS", "ICANS", "ICANS", "CRS", "CRS"]


def test_one_assessment_gives_a_zero_length_interval_and_nothing_gives_nothing():
    assert lane(grade_intervals(toxicity([("A", 4.25, None, 3)])), "A", "ICANS") == [(4.25, 4.25, 3)]
    assert grade_intervals(toxicity([])).empty


assessments = st.lists(
    st.tuples(st.sampled_from(["P1", "P2", "P3"]),
              st.integers(min_value=-30, max_value=120).map(lambda d: d / 4),  # quarter days, ties allowed
              st.one_of(st.none(), st.integers(0, 5)),
              st.one_of(st.none(), st.integers(0, 5))),
    min_size=0, max_size=60)


@settings(max_examples=200, deadline=None)
@given(assessments)
def test_intervals_tile_each_lane_from_first_to_last_assessment(rows):
    frame = toxicity(rows)
    intervals = grade_intervals(frame)
    for column, name in (("icans_grade", "ICANS"), ("crs_grade", "CRS")):
        assessed = frame[frame[column].notna()]
        for patient in frame["patient_id"].unique():
            days = assessed.loc[assessed["patient_id"] == patient, "day"]
            spans = lane(intervals, patient, name)
            if days.empty:
                assert spans == []
                continue
            assert spans[0][0] == days.min() and spans[-1][1] == days.max()  # exactly the assessed span
            for start, end, _ in spans:
                assert start <= end
            for (s0, e0, g0), (s1, e1, g1) in zip(spans, spans[1:]):
                assert e0 == s1  # no gap, no overlap, in order
                assert g0 != g1  # a grade change is what ends an interval
            # every interval starts at an assessment with its grade
            for start, _, grade in spans:
                at_start = assessed[(assessed["patient_id"] == patient) & (assessed["day"] == start)]
                assert grade in set(at_start[column])


# --- intervention and patient marks ------------------------------------------------------------------

def test_intervention_labels():
    interventions = pd.DataFrame({
        "patient_id": ["A", "A", "A", "B"],
        "agent": ["dexamethasone", "tocilizumab", "IVIG", "anakinra"],
        "agent_class": ["corticosteroid", "IL-6 blockade", "IVIG", "IL-1 blockade"],
        "start_day": [5.0, 3.0, 7.25, 8.0],
        "end_day": [7.0, None, 9.0, 8.0],
        "daily_dose": [40.0, 8.0, 0.4, None],
        "dose_unit": ["mg", "mg/kg", "g/kg", None],
        "route": ["IV", "IV", "IV", None],
    })
    marks = intervention_marks(interventions)
    assert list(marks["label"]) == ["dexamethasone 40 mg IV, days 5-7", "tocilizumab 8 mg/kg IV, day 3",
                                    "IVIG 0.4 g/kg IV, days 7.25-9", "anakinra, day 8"]
    assert list(marks["multi_day"]) == [True, False, True, False]
    assert list(marks["end_day"]) == [7.0, 3.0, 9.0, 8.0]  # blank end = start day (contract)
    assert intervention_classes(interventions) == ["corticosteroid", "IL-6 blockade", "IL-1 blockade", "IVIG"]


def test_a_cohort_without_interventions_has_no_marks_and_no_classes():
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in [
        ("patient_id", object), ("agent", object), ("agent_class", object), ("start_day", float),
        ("end_day", float), ("daily_dose", float), ("dose_unit", object), ("route", object)]})
    marks = intervention_marks(empty)
    assert marks.empty and "label" in marks.columns
    assert intervention_classes(empty) == []


def test_death_replaces_last_follow_up():
    patients = pd.DataFrame({"patient_id": ["A", "B"], "group": ["x", "x"],
                             "last_followup_day": [30.0, 12.0], "death_day": [None, 12.0]})
    marks = patient_marks(patients)
    assert [tuple(r) for r in marks.itertuples(index=False)] == [("A", "last follow-up", 30.0), ("B", "death", 12.0)]


# --- order and selection -------------------------------------------------------------------------------

PATIENTS = pd.DataFrame({
    "patient_id": ["P10", "P2", "P3", "P4", "P5", "P6"],
    "group": ["IVIG", "IVIG", "Steroids", "Steroids", "No severe ICANS", "IVIG"],
    "last_followup_day": [100.0] * 6, "death_day": [None, None, None, 20.0, None, None],
})
# onset, peak, time to resolution, outcome: hand-made episodes
EPISODES = pd.DataFrame({
    "patient_id": ["P10", "P2", "P3", "P4"],
    "group": ["IVIG", "IVIG", "Steroids", "Steroids"],
    "onset_day": [6.0, 4.0, 4.0, 9.0],
    "peak_grade": [3, 4, 4, 3],
    "time_to_resolution": [5.0, 9.0, 2.0, 3.0],
    "outcome": ["resolved", "resolved", "resolved", "died"],
})
INTERVALS = pd.DataFrame({  # highest ICANS grades: P5 2, P6 1 (no severe episode)
    "patient_id": ["P5", "P5", "P6"], "lane": ["ICANS", "ICANS", "ICANS"],
    "start_day": [0.0, 3.0, 0.0], "end_day": [3.0, 5.0, 5.0], "grade": [1, 2, 1],
})


@pytest.mark.parametrize("by, expected", [
    ("patient", ["P2", "P3", "P4", "P5", "P6", "P10"]),  # numbers compared as numbers
    ("onset", ["P2", "P3", "P10", "P4", "P5", "P6"]),  # ties (day 4) by identifier
    # groups alphabetical, a group without severe episodes last; within a group onset, none last
    ("group", ["P2", "P10", "P6", "P3", "P4", "P5"]),
    ("peak grade", ["P2", "P3", "P10", "P4", "P5", "P6"]),  # 4, 4 (onset tie), 3 (day 6), 3 (day 9); then 2, 1
    ("time to resolution", ["P3", "P10", "P2", "P4", "P5", "P6"]),  # resolved 2, 5, 9; then died
])
def test_lane_order(by, expected):
    assert order_patients(PATIENTS, EPISODES, INTERVALS, by) == expected


def test_lane_order_takes_any_id():
    # "A1²": a digit to isdigit(), not a number to int(); lanes by patient are in the Patient page's order
    patients = pd.DataFrame({"patient_id": ["A2", "A1²", "A1"], "group": "g"})
    episodes = EPISODES.iloc[0:0]
    assert order_patients(patients, episodes, INTERVALS.iloc[0:0], "patient") == ["A1", "A1²", "A2"]
    assert order_patients(patients, episodes, INTERVALS.iloc[0:0], "patient") == sort_patients(patients)


def test_unknown_order_is_refused():
    with pytest.raises(ValueError):
        order_patients(PATIENTS, EPISODES, INTERVALS, "age")


def test_select_keeps_order_filters_and_limits():
    order = ["P2", "P10", "P6", "P3"]
    assert select_patients(order, None, None) == order
    assert select_patients(order, 2, None) == ["P2", "P10"]
    assert select_patients(order, 2, {"P6", "P3", "P99"}) == ["P6", "P3"]
    assert select_patients(order, 10, set()) == []


# --- the view ---------------------------------------------------------------------------------------------

TOXICITY = toxicity([
    ("P2", -2, 0, 0), ("P2", 4, 3, 4), ("P2", 13, 0, 1), ("P2", 70, 0, 0),
    ("P10", 0, 1, 0), ("P10", 6, 2, 3), ("P10", 11, 0, 1),
    ("P3", 1, 2, 0), ("P3", 4, 1, 4), ("P3", 6, 0, 1),
    ("P4", 2, 1, 0), ("P4", 9, 1, 3), ("P4", 20, None, 3),
    ("P5", 0, 1, 1), ("P5", 3, 0, 2), ("P5", 5, 0, 0),
    ("P6", 0, 1, 1), ("P6", 5, 0, 1),
])
INTERVENTIONS = pd.DataFrame({
    "patient_id": ["P2", "P2", "P10", "P5"],
    "agent": ["dexamethasone", "IVIG", "dexamethasone", "tocilizumab"],
    "agent_class": ["corticosteroid", "IVIG", "corticosteroid", "IL-6 blockade"],
    "start_day": [4.0, 80.0, 6.0, 2.0], "end_day": [6.0, 80.0, 8.0, 2.0],
    "daily_dose": [10.0, 0.4, 20.0, 8.0], "dose_unit": ["mg", "g/kg", "mg", "mg/kg"], "route": ["IV"] * 4,
})


def test_view_of_severe_patients_limited_and_clipped():
    view = build_swimlanes(TOXICITY, INTERVENTIONS, PATIENTS, EPISODES,
                           SwimlaneOptions(by="onset", only_severe=True, limit=3, days=(-5, 60)))
    assert view.order == ["P2", "P3", "P10"]
    assert (view.eligible, view.left_out) == (4, 1)
    assert view.patient_groups == {"P2": "IVIG", "P3": "Steroids", "P10": "IVIG"}
    assert view.group_sizes == {"IVIG": 2, "Steroids": 1}
    assert view.groups == ["IVIG", "No severe ICANS", "Steroids"]
    # requested -5..60, data of the shown patients spans -2..80: the window is -2..60
    assert view.days == (-2.0, 60.0)
    # P2's day-70 interval starts outside the window: not sent; its 13-70 interval is
    assert lane(view.intervals, "P2", "ICANS") == [(-2, 4, 0), (4, 13, 4), (13, 70, 1)]
    assert set(view.marks["agent"]) == {"dexamethasone"}  # IVIG on day 80 is outside the window
    assert set(view.patient_marks["kind"]) == set()  # last follow-up day 100 is outside too
    assert list(view.intervals.columns) == ["patient_id", "group", "lane", "start_day", "end_day", "grade"]


def test_view_of_everyone_with_chosen_classes():
    view = build_swimlanes(TOXICITY, INTERVENTIONS, PATIENTS, EPISODES,
                           SwimlaneOptions(by="patient", only_severe=False, limit=60, days=(0, 30),
                                           classes=("IL-6 blockade",)))
    assert view.order == ["P2", "P3", "P4", "P5", "P6", "P10"]
    assert (view.eligible, view.left_out) == (6, 0)
    assert view.days == (0.0, 30.0)
    assert list(view.marks["label"]) == ["tocilizumab 8 mg/kg IV, day 2"]
    assert [tuple(r) for r in view.patient_marks[["patient_id", "kind", "day"]].itertuples(index=False)] == [
        ("P4", "death", 20.0)]


def test_no_severe_patient_gives_an_empty_view():
    view = build_swimlanes(TOXICITY, INTERVENTIONS, PATIENTS, EPISODES.iloc[0:0], SwimlaneOptions())
    assert view.order == [] and view.intervals.empty and view.eligible == 0


@pytest.mark.parametrize("bad", [dict(by="age"), dict(limit=0), dict(days=(10, 5))])
def test_impossible_view_options_are_refused(bad):
    with pytest.raises(ValueError):
        SwimlaneOptions(**bad)


def test_day_extent_covers_assessments_and_courses():
    assert day_extent(TOXICITY, INTERVENTIONS) == (-2, 80)

"""The sample's observations give back the recorded grades (but for the designed centre mistakes)."""

from __future__ import annotations

import pandas as pd

from icans_core import grading
from icans_core.ingest import load_paths
from icans_core.sample import generate_cohort
from tests.test_sample import SAMPLE_DIR


def test_derived_grades_match_the_recorded_ones_but_for_the_designed_mistakes():
    tables = load_paths([SAMPLE_DIR]).cohort.tables
    graded = grading.grade_observations(tables["observations"], tables["patients"], tables["interventions"])
    found = grading.discrepancies(graded, tables["toxicity"])
    kinds = set(zip(found["syndrome"], found["recorded_grade"], found["derived_grade"], found["driver"]))
    assert kinds == {("CRS", 1, 0, grading.NO_FEVER), ("ICANS", 4, 3, "ICE score + seizure")}
    assert 10 <= len(found) <= 80
    # and where grades agree, every grade 0-4 and every driving domain occurs
    merged = tables["toxicity"].merge(graded, on=["patient_id", "day"], suffixes=("", "_derived"))
    agree = merged[merged["icans_grade"] == merged["icans_grade_derived"]]
    assert set(agree["icans_grade"].dropna()) == {0, 1, 2, 3, 4}
    drivers = set("+".join(graded["icans_driver"]).replace(" + ", "+").split("+"))
    assert {grading.ICE, grading.CONSCIOUSNESS, grading.SEIZURE, grading.MOTOR, grading.ICP} <= drivers
    assert {grading.FEVER, grading.HYPOTENSION, grading.HYPOXIA} <= set(
        "+".join(graded["crs_driver"]).replace(" + ", "+").split("+"))
    assert (~graded["fever_required"]).any()  # after tocilizumab or steroids


def test_the_observations_change_nothing_the_pages_read():
    # loading the sample with its observations gives the toxicity table as recorded: nothing is filled
    tables = load_paths([SAMPLE_DIR]).cohort.tables
    assert set(tables["toxicity"]["crs_grade_source"].dropna()) == {"recorded"}
    assert set(tables["toxicity"]["icans_grade_source"].dropna()) == {"recorded"}
    without = load_paths([SAMPLE_DIR / f"{n}.csv" for n in ("patients", "toxicity", "interventions", "labs")])
    pd.testing.assert_frame_equal(tables["toxicity"], without.cohort.tables["toxicity"])


def test_observations_come_from_their_own_random_stream():
    small = generate_cohort(25, 3)
    again = generate_cohort(25, 3)
    pd.testing.assert_frame_equal(small["observations"], again["observations"])
    assert set(small["observations"]["patient_id"]) <= set(small["patients"]["patient_id"])

"""The vectorised grader equals the readable rules applied row by row, on random observations.

The specification is icans_core/grading.py's crs_grade / icans_grade (each cell of which
tests/test_grading.py checks against the consensus tables); grade_observations_one_by_one applies
them to each row. Hypothesis draws whole observation tables from the format's vocabularies, with
blanks anywhere, children and adults, nasal cannula flows and seizure durations either side of
their thresholds, and doses of tocilizumab or steroids before, at or after the observations.
"""

from __future__ import annotations

import pandas as pd
import pandas.testing as pdt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icans_core import grading
from icans_core import schema as S

PATIENT_IDS = ["P1", "P2", "P3", "P4"]


def maybe(strategy):
    return st.one_of(st.none(), strategy)


def vocabulary(values):
    return maybe(st.sampled_from(list(values)))


vasopressor_lists = maybe(st.lists(st.sampled_from(list(S.VASOPRESSORS)), min_size=1, max_size=3, unique=True)
                          .map("; ".join))
observation = st.fixed_dictionaries({
    "patient_id": st.sampled_from(PATIENT_IDS),
    "day": st.sampled_from([-1.0, 0.0, 1.0, 2.5, 3.0, 7.0]),
    "temperature_c": maybe(st.sampled_from([36.5, 37.9, 38.0, 38.1, 40.2])),
    "hypotension": vocabulary(S.HYPOTENSION_SUPPORT),
    "vasopressors": vasopressor_lists,
    "oxygen": vocabulary(S.OXYGEN_SUPPORT),
    "oxygen_l_min": maybe(st.sampled_from([1.0, 6.0, 6.5, 15.0])),
    "ice_score": maybe(st.integers(0, 10)),
    "capd_score": maybe(st.integers(0, 32)),
    "consciousness": vocabulary(S.CONSCIOUSNESS),
    "sedated": st.booleans(),
    "seizure": vocabulary(S.SEIZURE),
    "seizure_minutes": maybe(st.sampled_from([1.0, 5.0, 5.5, 30.0])),
    "motor_findings": vocabulary(S.MOTOR_FINDINGS),
    "raised_icp": vocabulary(S.RAISED_ICP),
    "organ_toxicity_grade": maybe(st.integers(0, 5)),
})
ages = st.lists(maybe(st.sampled_from([3.0, 11.9, 12.0, 45.0, 80.0])), min_size=len(PATIENT_IDS),
                max_size=len(PATIENT_IDS))
doses = st.lists(st.fixed_dictionaries({
    "patient_id": st.sampled_from(PATIENT_IDS),
    "agent_class": st.sampled_from([S.IL6_BLOCKADE, S.IL1_BLOCKADE, S.CORTICOSTEROID, S.IVIG_CLASS, S.OTHER]),
    "start_day": st.sampled_from([-2.0, 0.0, 2.5, 5.0])}), max_size=4)


def table(rows: list[dict]) -> pd.DataFrame:
    """Observations typed as validation leaves them (Int64 scores, float days, bool sedated, text or None)."""
    frame = pd.DataFrame.from_records(rows).reindex(columns=S.TABLES["observations"].column_names)
    for column in ("ice_score", "capd_score", "organ_toxicity_grade"):
        frame[column] = pd.array(frame[column].tolist(), dtype="Int64")
    for column in ("day", "temperature_c", "oxygen_l_min", "seizure_minutes"):
        frame[column] = frame[column].astype(float)
    for column in ("hypotension", "vasopressors", "oxygen", "consciousness", "seizure", "motor_findings",
                   "raised_icp"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    frame["sedated"] = frame["sedated"].astype(object).where(frame["sedated"].notna(), False).astype(bool)
    return frame.assign(source_row=range(2, len(frame) + 2))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(observation, min_size=1, max_size=25), patient_ages=ages, given_doses=doses)
def test_vectorised_grades_equal_the_rules_applied_row_by_row(rows, patient_ages, given_doses):
    observations = table(rows)
    patients = pd.DataFrame({"patient_id": PATIENT_IDS, "age_years": patient_ages}).astype({"age_years": float})
    interventions = pd.DataFrame(given_doses, columns=["patient_id", "agent_class", "start_day"])
    vectorised = grading.grade_observations(observations, patients, interventions)
    reference = grading.grade_observations_one_by_one(observations, patients, interventions)
    pdt.assert_frame_equal(vectorised, reference)


def test_every_rule_of_the_cells_is_reached_by_the_vectorised_grader():
    # A hand-written table whose grades are read off the consensus tables (not from either grader):
    # fever only 1; fluids 2; low-flow by flow 2; one vasopressor (+ vasopressin) 3; cannula > 6 L/min 3;
    # two vasopressors 4; no fever before tocilizumab 0; ICE 0 awake 3; unarousable 4; seizure > 5 min 4;
    # tremor 0; CAPD 9 in a child 3.
    base = {"patient_id": "P1", "day": 1.0, "temperature_c": 38.5, "hypotension": "no hypotension",
            "oxygen": "room air", "ice_score": 10, "consciousness": "alert"}
    rows = [base, {**base, "hypotension": "fluids"}, {**base, "oxygen": "nasal cannula", "oxygen_l_min": 4.0},
            {**base, "vasopressors": "norepinephrine; vasopressin"},
            {**base, "oxygen": "nasal cannula", "oxygen_l_min": 8.0},
            {**base, "vasopressors": "norepinephrine; epinephrine"},
            {**base, "temperature_c": 37.0, "hypotension": "one vasopressor"},
            {**base, "ice_score": 0}, {**base, "ice_score": None, "consciousness": "unarousable"},
            {**base, "seizure": "seizure", "seizure_minutes": 7.0}, {**base, "motor_findings": "tremor"},
            {**base, "patient_id": "P2", "ice_score": None, "capd_score": 9}]
    patients = pd.DataFrame({"patient_id": PATIENT_IDS, "age_years": [50.0, 8.0, None, None]})
    graded = grading.grade_observations(table(rows), patients)
    assert graded["crs_grade"].tolist() == [1, 2, 2, 3, 3, 4, 0, 1, 1, 1, 1, 1]
    assert graded["icans_grade"].tolist() == [0, 0, 0, 0, 0, 0, 0, 3, 4, 4, 0, 3]
    assert graded["crs_driver"].tolist()[:7] == ["fever", "hypotension", "hypoxia", "hypotension", "hypoxia",
                                                 "hypotension", grading.NO_FEVER]
    assert graded["icans_driver"].tolist()[7:] == [grading.ICE, grading.CONSCIOUSNESS, grading.SEIZURE,
                                                   grading.NO_SIGNS, grading.CAPD]

"""ASTCT grading from components: one test per cell of the consensus tables (Lee et al. 2019, as
written in ../shared/spec/clinical-reference.md) and the hard cases the issue names.

The expected grades are read off the consensus tables by hand, never from the code."""

from __future__ import annotations

import pandas as pd
import pytest

from icans_core import grading
from icans_core.grading import crs_grade, icans_grade, oxygen_support, vasopressor_support

FEVER, NORMAL = 38.6, 37.1


# --- CRS: each cell of the table --------------------------------------------------------------------

@pytest.mark.parametrize("hypotension, oxygen, expected, driver", [
    ("no hypotension", "room air", 1, "fever"),                                   # grade 1: fever, no hypotension, no hypoxia
    ("fluids", "room air", 2, "hypotension"),                           # grade 2: not requiring vasopressors
    ("no hypotension", "low-flow", 2, "hypoxia"),                             # grade 2: low-flow nasal cannula / blow-by
    ("one vasopressor", "room air", 3, "hypotension"),                  # grade 3: one vasopressor
    ("no hypotension", "high-flow", 3, "hypoxia"),                            # grade 3: high-flow, facemask, NRB, Venturi
    ("multiple vasopressors", "room air", 4, "hypotension"),            # grade 4: multiple vasopressors
    ("no hypotension", "positive pressure", 4, "hypoxia"),                    # grade 4: CPAP, BiPAP, intubation
], ids=["g1-fever", "g2-fluids", "g2-low-flow", "g3-one-pressor", "g3-high-flow", "g4-pressors", "g4-ppv"])
def test_crs_table_cells(hypotension, oxygen, expected, driver):
    assert crs_grade(FEVER, hypotension, oxygen) == grading.Grade(expected, driver)


@pytest.mark.parametrize("hypotension, oxygen, expected, driver", [
    ("fluids", "high-flow", 3, "hypoxia"),
    ("multiple vasopressors", "low-flow", 4, "hypotension"),
    ("one vasopressor", "high-flow", 3, "hypotension + hypoxia"),
])
def test_crs_is_the_more_severe_of_hypotension_and_hypoxia(hypotension, oxygen, expected, driver):
    assert crs_grade(FEVER, hypotension, oxygen) == grading.Grade(expected, driver)


def test_fever_is_38_0_or_more():
    assert crs_grade(38.0, "no hypotension", "room air").grade == 1
    assert crs_grade(37.9, "no hypotension", "room air").grade == 0


def test_grade_1_crs_requires_fever():
    # hypotension and hypoxia without fever (and before tocilizumab / steroids) are not CRS
    assert crs_grade(NORMAL, "one vasopressor", "high-flow") == grading.Grade(0, grading.NO_FEVER)
    assert crs_grade(NORMAL, "no hypotension", "room air").grade == 0


def test_fever_is_not_required_after_tocilizumab_or_steroids():
    assert crs_grade(NORMAL, "one vasopressor", "room air", fever_required=False) == grading.Grade(3, "hypotension")
    assert crs_grade(NORMAL, "no hypotension", "low-flow", fever_required=False).grade == 2
    assert crs_grade(None, "multiple vasopressors", "room air", fever_required=False).grade == 4
    # nothing left to grade: no CRS
    assert crs_grade(NORMAL, "no hypotension", "room air", fever_required=False).grade == 0


def test_vasopressin_is_not_counted():
    assert vasopressor_support("norepinephrine") == "one vasopressor"
    assert vasopressor_support("norepinephrine; vasopressin") == "one vasopressor"      # still grade 3
    assert vasopressor_support("Noradrenaline; epinephrine") == "multiple vasopressors"  # grade 4
    assert vasopressor_support("norepinephrine; epinephrine; vasopressin") == "multiple vasopressors"
    assert vasopressor_support("vasopressin") == "one vasopressor"
    assert vasopressor_support(None) is None
    with pytest.raises(ValueError):
        vasopressor_support("norepinephrine; dobutaminex")


def test_nasal_cannula_is_low_flow_up_to_6_l_min():
    assert oxygen_support("nasal cannula", 6.0) == "low-flow"
    assert oxygen_support("nasal cannula", 6.5) == "high-flow"
    assert oxygen_support("nasal cannula", None) is None
    assert oxygen_support("positive pressure", None) == "positive pressure"


def test_organ_toxicity_does_not_change_crs():
    # organ toxicity is not an input of the CRS grade at all: a grade-4 transaminitis beside fever
    # alone is still CRS grade 1 (graded from the whole table below, where the column is present)
    obs = observations(temperature_c=FEVER, hypotension="no hypotension", oxygen="room air", organ_toxicity_grade=4)
    assert grading.grade_observations(obs, PATIENTS).at[0, "crs_grade"] == 1


def test_crs_is_not_derived_without_its_components():
    assert crs_grade(None, "no hypotension", "room air").grade is None  # fever unknown
    assert crs_grade(FEVER, None, "room air").grade is None   # hypotension unknown
    assert crs_grade(FEVER, "no hypotension", None).grade is None
    assert crs_grade(FEVER, None, "positive pressure").grade == 4  # nothing can be worse than 4
    assert crs_grade(None, None, "positive pressure").grade is None  # but is it CRS? fever unknown


# --- ICANS: each cell of the table ------------------------------------------------------------------

AWAKE = dict(consciousness="alert")


@pytest.mark.parametrize("ice, expected", [(10, 0), (9, 1), (7, 1), (6, 2), (3, 2), (2, 3), (0, 3)])
def test_ice_score_cells(ice, expected):
    assert icans_grade(ice, **AWAKE).grade == expected


def test_ice_0_awake_with_global_aphasia_is_grade_3_and_unarousable_is_4():
    assert icans_grade(0, consciousness="alert") == grading.Grade(3, grading.ICE)
    assert icans_grade(0, consciousness="unarousable") == grading.Grade(4, grading.CONSCIOUSNESS)
    # unable to perform ICE because unarousable: grade 4 without a score
    assert icans_grade(None, consciousness="unarousable").grade == 4


@pytest.mark.parametrize("level, expected", [
    ("alert", 0), ("awakens spontaneously", 1), ("awakens to voice", 2), ("awakens to tactile stimulus", 3),
    ("unarousable", 4)])
def test_depressed_level_of_consciousness_cells(level, expected):
    assert icans_grade(10, consciousness=level).grade == expected


def test_consciousness_depressed_by_sedation_is_not_graded():
    assert icans_grade(10, consciousness="unarousable", sedated=True).grade == 0


@pytest.mark.parametrize("seizure, minutes, expected", [
    ("rapidly resolving", None, 3),   # any clinical seizure resolving rapidly / EEG, resolving with intervention
    ("prolonged", None, 4),           # life-threatening prolonged (> 5 min) or repetitive without baseline
    ("seizure", 2, 3), ("seizure", 5, 3), ("seizure", 6, 4),  # graded 3 vs 4 by duration
    ("no seizure", None, 0)])
def test_seizure_cells(seizure, minutes, expected):
    found = icans_grade(10, seizure=seizure, seizure_minutes=minutes, **AWAKE)
    assert found.grade == expected
    if expected:
        assert found.driver == grading.SEIZURE


def test_seizure_without_its_duration_or_course_is_not_graded():
    assert icans_grade(10, seizure="seizure", **AWAKE).grade is None


@pytest.mark.parametrize("finding, expected", [("deep focal weakness", 4), ("tremor", 0), ("myoclonus", 0),
                                               ("no findings", 0)])
def test_motor_findings_cells_and_tremor_is_not_graded(finding, expected):
    assert icans_grade(10, motor_findings=finding, **AWAKE).grade == expected


@pytest.mark.parametrize("edema, expected", [("focal edema", 3), ("diffuse edema", 4), ("no edema", 0)])
def test_raised_icp_cells(edema, expected):
    found = icans_grade(10, raised_icp=edema, **AWAKE)
    assert found.grade == expected
    if expected:
        assert found.driver == grading.ICP


def test_icans_is_the_worst_domain_and_names_every_domain_that_set_it():
    assert icans_grade(5, consciousness="awakens spontaneously") == grading.Grade(2, grading.ICE)
    assert icans_grade(8, consciousness="awakens to tactile stimulus") == grading.Grade(3, grading.CONSCIOUSNESS)
    assert icans_grade(1, consciousness="awakens to tactile stimulus", seizure="rapidly resolving") == grading.Grade(
        3, "ICE score + consciousness + seizure")
    assert icans_grade(9, motor_findings="tremor", **AWAKE) == grading.Grade(1, grading.ICE)


@pytest.mark.parametrize("capd, level, expected", [
    (4, "awakens spontaneously", 1),   # CAPD < 9 awakening spontaneously
    (4, "awakens to voice", 2),        # CAPD < 9 awakening to voice
    (9, "alert", 3), (14, "alert", 3),  # CAPD >= 9
    (0, "alert", 0)])
def test_capd_cells_under_12_years(capd, level, expected):
    assert icans_grade(ice_score=None, consciousness=level, capd_score=capd, age_years=8).grade == expected


def test_ice_is_used_from_age_12():
    assert icans_grade(ice_score=5, capd_score=12, consciousness="alert", age_years=12).grade == 2
    assert icans_grade(ice_score=5, capd_score=12, consciousness="alert", age_years=11).grade == 3
    assert icans_grade(ice_score=5, consciousness="alert", age_years=11).grade is None  # CAPD missing


def test_icans_is_not_derived_without_ice_or_consciousness():
    assert icans_grade(10).grade is None
    assert icans_grade(None, consciousness="alert").grade is None
    assert icans_grade(None, seizure="prolonged").grade == 4  # nothing can be worse


# --- whole tables --------------------------------------------------------------------------------------

PATIENTS = pd.DataFrame({"patient_id": ["P1", "P2"], "age_years": [60.0, 7.0]})
OBSERVATION_COLUMNS = ["patient_id", "day", "temperature_c", "hypotension", "vasopressors", "oxygen",
                       "oxygen_l_min", "ice_score", "capd_score", "consciousness", "sedated", "seizure",
                       "seizure_minutes", "motor_findings", "raised_icp", "organ_toxicity_grade"]


def observations(rows: list[dict] | None = None, **one) -> pd.DataFrame:
    rows = rows or [{"patient_id": "P1", "day": 1.0, **one}]
    frame = pd.DataFrame(rows).reindex(columns=OBSERVATION_COLUMNS)
    frame["sedated"] = frame["sedated"].astype(object).where(frame["sedated"].notna(), False)
    return frame.astype(object).where(frame.notna(), None).assign(day=frame["day"].astype(float))


def test_fever_not_required_after_the_first_steroid_or_tocilizumab_dose():
    obs = observations([
        {"patient_id": "P1", "day": 3.0, "temperature_c": 37.0, "hypotension": "fluids", "oxygen": "room air",
         "ice_score": 10, "consciousness": "alert"},
        {"patient_id": "P1", "day": 4.0, "temperature_c": 37.0, "hypotension": "fluids", "oxygen": "room air",
         "ice_score": 10, "consciousness": "alert"},
    ])
    given = pd.DataFrame({"patient_id": ["P1", "P1"], "agent_class": ["IL-6 blockade", "IVIG"],
                          "start_day": [3.5, 1.0]})
    graded = grading.grade_observations(obs, PATIENTS, given)
    assert list(graded["crs_grade"]) == [0, 2]
    assert list(graded["fever_required"]) == [True, False]
    assert list(graded["icans_grade"]) == [0, 0]


def test_children_are_graded_with_capd():
    obs = observations([{"patient_id": "P2", "day": 1.0, "ice_score": 10, "capd_score": 10, "consciousness": "alert"}])
    graded = grading.grade_observations(obs, PATIENTS)
    assert graded.at[0, "icans_grade"] == 3 and graded.at[0, "icans_driver"] == grading.CAPD


def test_discrepancies_list_every_disagreement_with_a_recorded_grade():
    graded = pd.DataFrame({"patient_id": ["P1", "P1", "P2"], "day": [1.0, 2.0, 1.0], "source_row": [2, 3, 4],
                           "crs_grade": pd.array([1, 2, None], dtype="Int64"), "crs_driver": ["fever", "hypoxia", "x"],
                           "icans_grade": pd.array([0, 3, 3], dtype="Int64"),
                           "icans_driver": ["-", "seizure", "ICE score"], "fever_required": True})
    toxicity = pd.DataFrame({"patient_id": ["P1", "P1", "P2"], "day": [1.0, 2.0, 1.0],
                             "crs_grade": pd.array([1, 3, 2], dtype="Int64"),
                             "icans_grade": pd.array([0, 4, 3], dtype="Int64"),
                             "crs_grade_source": ["recorded"] * 3,
                             "icans_grade_source": ["recorded", "recorded", "observations (ASTCT)"]})
    found = grading.discrepancies(graded, toxicity)
    assert found.to_dict("records") == [
        {"patient_id": "P1", "day": 2.0, "syndrome": "CRS", "recorded_grade": 3, "derived_grade": 2,
         "driver": "hypoxia", "difference": 1},
        {"patient_id": "P1", "day": 2.0, "syndrome": "ICANS", "recorded_grade": 4, "derived_grade": 3,
         "driver": "seizure", "difference": 1},
    ]

"""Assessments derived from episode-level forms and observations, loaded through the normal path."""

from __future__ import annotations

import pandas as pd

from icans_core.ingest import load_sources
from tests.cohorts import VALID, copy_tables, sources

PATIENTS = VALID["patients"]  # P1 (axi-cel, follow-up 100), P2 (tisa-cel, follow-up 200)
EPISODE_HEADER = ["patient_id", "syndrome", "onset_day", "peak_grade", "resolution_day", "treatments"]
OBSERVATION_HEADER = ["patient_id", "day", "temperature_c", "hypotension", "vasopressors", "oxygen", "oxygen_l_min",
                      "ice_score", "consciousness", "seizure", "seizure_minutes", "motor_findings", "raised_icp"]


def load(tables: dict):
    return load_sources(sources(tables))


def toxicity_rows(result, *columns):
    tox = result.cohort.tables["toxicity"].sort_values(["patient_id", "day"], kind="stable")
    return [tuple(None if pd.isna(v) else v for v in row) for row in tox[list(columns)].itertuples(index=False)]


def test_an_episode_form_alone_loads_as_assessments_marked_as_derived():
    tables = {"patients": PATIENTS, "toxicity_episodes": [
        EPISODE_HEADER,
        ["P1", "crs", "2", "2", "6", "tocilizumab"],
        ["P1", "ICANS", "5", "4", "12", "Dex; IVIG"],
        ["P2", "CRS", "1", "1", "3", ""],
        ["P2", "ICANS", "4", "3", "", ""],  # not resolved: held to the last follow-up (day 200)
    ]}
    result = load(tables)
    assert result.ok, result.report.to_string()
    assert toxicity_rows(result, "patient_id", "day", "crs_grade", "icans_grade", "crs_grade_source",
                         "icans_grade_source") == [
        ("P1", 2.0, 2, None, "episode form", None), ("P1", 5.0, None, 4, None, "episode form"),
        ("P1", 6.0, 0, None, "episode form", None), ("P1", 12.0, None, 0, None, "episode form"),
        ("P2", 1.0, 1, None, "episode form", None), ("P2", 3.0, 0, None, "episode form", None),
        ("P2", 4.0, None, 3, None, "episode form"), ("P2", 200.0, None, 3, None, "episode form")]
    assert list(result.cohort.tables["toxicity_episodes"]["treatments"]) == ["tocilizumab", "dexamethasone; IVIG",
                                                                            None, None]


def test_overlapping_or_backwards_episodes_are_refused_with_their_rows():
    tables = {"patients": PATIENTS, "toxicity_episodes": [
        EPISODE_HEADER, ["P1", "ICANS", "5", "3", "12", ""], ["P1", "ICANS", "8", "2", "10", ""],
        ["P2", "CRS", "5", "2", "3", ""]]}
    result = load(tables)
    assert not result.ok
    assert {(p.row, p.column) for p in result.errors} == {(3, "onset_day"), (4, "resolution_day")}


def test_observations_fill_blank_grades_and_never_replace_recorded_ones():
    tables = copy_tables()
    # toxicity: P1 day 1 CRS 2 / ICANS 0; P1 day 5 CRS 1 / ICANS 3; P1 day 9 CRS 0 / ICANS 1; P2 day 2 CRS 1 / blank
    tables["observations"] = [
        OBSERVATION_HEADER,
        ["P1", "5", "38.2", "one vasopressor", "norepinephrine", "room air", "", "2", "alert", "no seizure", "", "no findings",
         "no edema"],
        ["P2", "2", "38.5", "no hypotension", "", "room air", "", "10", "awakens to voice", "", "", "", ""],
        ["P2", "7", "37.0", "fluids", "", "nasal cannula", "4", "0", "alert", "", "", "tremor", ""],
    ]
    result = load(tables)
    assert result.ok, result.report.to_string()
    rows = toxicity_rows(result, "patient_id", "day", "crs_grade", "icans_grade", "crs_grade_source",
                         "icans_grade_source")
    # P1 day 5 is recorded (CRS 1 stays 1 although the components make 3); P2 day 2 gets ICANS 2 derived;
    # P2 day 7 is a new row: no fever and no tocilizumab/steroids, so CRS 0; ICE 0 awake: ICANS 3
    assert ("P1", 5.0, 1, 3, "recorded", "recorded") in rows
    assert ("P2", 2.0, 1, 2, "recorded", "observations (ASTCT)") in rows
    assert ("P2", 7.0, 0, 3, "observations (ASTCT)", "observations (ASTCT)") in rows
    assert len(rows) == 5


def test_contradictory_components_are_refused():
    tables = copy_tables()
    tables["observations"] = [
        OBSERVATION_HEADER,
        ["P1", "5", "38.2", "fluids", "norepinephrine", "low-flow", "8", "2", "alert", "rapidly resolving", "7", "", ""],
        ["P1", "6", "38.2", "one vasopressor", "norepinephrine; epinephrine", "", "", "", "", "", "", "", ""],
        ["P1", "7", "38.2", "", "dopamine; fooamine", "", "", "", "", "", "", "", ""],
    ]
    result = load(tables)
    assert not result.ok
    assert {(p.row, p.column) for p in result.errors} == {
        (2, "hypotension"), (2, "oxygen_l_min"), (2, "seizure_minutes"), (3, "hypotension"), (4, "vasopressors")}
    assert any("fooamine" in p.problem for p in result.errors)
    assert any("vasopressin is not counted" in p.problem for p in result.errors if p.row == 3)


def test_unknown_vocabulary_values_are_refused_and_synonyms_normalised():
    tables = copy_tables()
    tables["observations"] = [
        OBSERVATION_HEADER,
        ["P1", "5", "38.2", "Fluid bolus", "", "CPAP", "", "2", "sleepy", "", "", "Hemiparesis", "papilledema"],
    ]
    result = load(tables)
    assert [(p.row, p.column, p.value) for p in result.errors] == [(2, "consciousness", "sleepy")]
    tables["observations"][1][8] = "Awakens to voice"
    result = load(tables)
    assert result.ok, result.report.to_string()
    obs = result.cohort.tables["observations"].iloc[0]
    assert (obs.hypotension, obs.oxygen, obs.consciousness, obs.motor_findings, obs.raised_icp) == (
        "fluids", "positive pressure", "awakens to voice", "deep focal weakness", "diffuse edema")


def test_sedation_is_honoured_in_a_loaded_cohort():
    tables = copy_tables()
    header = OBSERVATION_HEADER + ["sedated"]
    tables["observations"] = [header,
                              ["P2", "3", "", "", "", "", "", "10", "unarousable", "", "", "", "", "yes"],
                              ["P2", "4", "", "", "", "", "", "10", "unarousable", "", "", "", "", "no"]]
    result = load(tables)
    assert result.ok, result.report.to_string()
    rows = toxicity_rows(result, "patient_id", "day", "icans_grade")
    assert ("P2", 3.0, 0) in rows and ("P2", 4.0, 4) in rows

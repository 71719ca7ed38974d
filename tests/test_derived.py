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


# --- treatment days on episode forms --------------------------------------------------------------------
DATED_HEADER = [*EPISODE_HEADER, "treatment_start_days", "treatment_end_days"]


def test_episode_treatments_with_days_become_interventions_and_those_without_stay_listed():
    tables = {"patients": PATIENTS, "toxicity_episodes": [
        DATED_HEADER,
        ["P1", "CRS", "2", "2", "6", "tocilizumab", "2.5", ""],           # one day: end = start
        ["P1", "ICANS", "5", "4", "12", "Dex; IVIG; anakinra", "5; ; 6", "7; ; 8"],  # IVIG's day unknown
        ["P2", "ICANS", "4", "3", "", "dexamethasone", "", ""],           # no day at all
    ]}
    result = load(tables)
    assert result.ok, result.report.to_string()
    given = result.cohort.tables["interventions"]
    assert [(r.patient_id, r.agent, r.agent_class, r.start_day, r.end_day, r.source_row)
            for r in given.itertuples(index=False)] == [
        ("P1", "tocilizumab", "IL-6 blockade", 2.5, 2.5, 2), ("P1", "dexamethasone", "corticosteroid", 5.0, 7.0, 3),
        ("P1", "anakinra", "IL-1 blockade", 6.0, 8.0, 3)]
    assert given["daily_dose"].isna().all()
    from icans_core.derived import treatment_day_counts
    assert treatment_day_counts(result.cohort.tables["toxicity_episodes"]) == (3, 2)  # IVIG and P2's dex undated


def test_episode_treatment_days_join_the_interventions_table_and_feed_steroid_days():
    from icans_core.steroids import steroid_exposure

    tables = copy_tables()  # P1: dexamethasone 40 mg days 5-7 and IVIG 7-9 in interventions
    tables["toxicity_episodes"] = [DATED_HEADER, ["P2", "ICANS", "3", "3", "8", "methylprednisolone", "3", "4"]]
    result = load(tables)
    assert result.ok, result.report.to_string()
    given = result.cohort.tables["interventions"]
    assert len(given) == 3 and given.iloc[2]["agent"] == "methylprednisolone"
    exposure = steroid_exposure(given, result.cohort.tables["patients"]).set_index("patient_id")
    assert exposure.loc["P2", "steroid_days"] == 2  # days 3 and 4


def test_treatment_day_lists_that_do_not_match_are_refused_naming_row_and_column():
    tables = {"patients": PATIENTS, "toxicity_episodes": [
        DATED_HEADER,
        ["P1", "CRS", "2", "2", "6", "tocilizumab; dexamethasone", "2", ""],       # 1 day for 2 treatments
        ["P1", "ICANS", "7", "3", "12", "dexamethasone", "day 7", ""],             # not a number
        ["P2", "ICANS", "4", "3", "9", "dexamethasone", "6", "5"],                 # ends before it starts
        ["P2", "CRS", "1", "1", "3", "tocilizumab", "", "2"],                      # an end without a start
        ["P2", "CRS", "4", "1", "5", "tocilizumab", "9000", ""],                   # beyond 20 years
    ]}
    result = load(tables)
    assert not result.ok
    assert {(p.row, p.column) for p in result.errors} == {
        (2, "treatment_start_days"), (3, "treatment_start_days"), (4, "treatment_end_days"),
        (5, "treatment_start_days"), (6, "treatment_start_days")}
    assert any("1 day(s) for 2 treatment(s)" in p.problem for p in result.errors)


def test_episode_treatments_with_days_are_warned_as_interventions_rows_are():
    # they become interventions after validation; each warning names the form's file, row, column and cell
    tables = copy_tables()
    tables["patients"][1][7:9] = ["8", "8"]  # P1 dies on day 8 (last follow-up 8); P2 is alive to day 200
    tables["toxicity"] = [r for r in tables["toxicity"] if r[0] != "P1" or r[1] in ("day", "1", "5")]
    # row 2: dexamethasone days 5-7 with no dose, unit or route, as a form gives it; row 3: with a dose (no copy)
    tables["interventions"] = [tables["interventions"][0], ["P1", "dexamethasone", "5", "7", "", "", ""],
                               ["P2", "anakinra", "250", "", "100", "mg", "SC"]]
    tables["toxicity_episodes"] = [
        DATED_HEADER,
        ["P1", "ICANS", "5", "3", "7", "Dexa; dexamethasone", "5; 5", "; 7"],  # misspelt; the same as row 2
        ["P1", "CRS", "1", "2", "3", "tocilizumab", "6", "12"],               # ends after death
        ["P2", "CRS", "1", "2", "3", "anakinra; anakinra", "250; 250", ""],   # after follow-up; listed twice
        ["P2", "ICANS", "4", "3", "9", "Dexa", "", ""],                       # no day: listed only, not warned
    ]
    result = load(tables)
    assert result.ok, result.report.to_string()
    messages = {(p.row, p.column, p.value): p.problem for p in result.problems
                if p.source == "toxicity_episodes.csv" and "Duplicate" not in p.problem}
    duplicates = {(p.row, p.column, p.value): p.problem for p in result.problems
                  if p.source == "toxicity_episodes.csv" and "Duplicate" in p.problem}
    assert all(p.severity == "warning" for p in result.problems)
    assert set(messages) == {(2, "treatments", "Dexa; dexamethasone"), (3, "treatment_end_days", "12"),
                             (4, "treatment_start_days", "250; 250")}, result.report.to_string()
    assert messages[2, "treatments", "Dexa; dexamethasone"].startswith(
        "'Dexa' is not a known agent: kept as given, counted as class 'other'")
    assert "Did you mean 'dexamethasone' (corticosteroid)?" in messages[2, "treatments", "Dexa; dexamethasone"]
    assert messages[3, "treatment_end_days", "12"].startswith(
        "After death: 'tocilizumab' (a treatment of this episode form) on day 12 is after this patient's death_day (8)")
    assert messages[4, "treatment_start_days", "250; 250"].startswith(
        "After the last follow-up: 'anakinra' (a treatment of this episode form) on day 250 is after this patient's "
        "last_followup_day")
    assert {k: v.split(" (the same")[0] for k, v in duplicates.items()} == {
        (2, "treatments", "Dexa; dexamethasone"):
            "Duplicate treatment: 'dexamethasone' from day 5 to 7 is also in interventions.csv, row 2",
        (4, "treatments", "anakinra; anakinra"):
            "Duplicate treatment: 'anakinra' on day 250 is listed twice in this row's treatments"}
    # the cohort loads as before: the treatments with days are interventions, the misspelt one of class 'other'
    given = result.cohort.tables["interventions"]
    assert [(r.agent, r.agent_class) for r in given.itertuples(index=False)][2:4] == [
        ("Dexa", "other"), ("dexamethasone", "corticosteroid")]


def test_a_treatment_day_list_that_does_not_match_gives_no_warning_guessed_from_it():
    # refused by the day-list rule; the warnings of its treatments are not computed from a list that may be shifted
    tables = {"patients": PATIENTS, "toxicity_episodes": [
        DATED_HEADER, ["P1", "CRS", "2", "2", "6", "Dexa; tocilizumab", "500", ""]]}
    result = load(tables)
    assert not result.ok
    assert [(p.severity, p.row, p.column) for p in result.problems] == [("error", 2, "treatment_start_days")]

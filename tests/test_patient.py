"""The patient view's course and timeline on a small hand-made cohort (numbers worked by hand)."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import vl_convert as vlc

from icans_core import schema as S
from icans_core import store
from icans_core.charts.patient import patient_timeline_chart
from icans_core.episodes import EpisodeOptions, compute_episodes
from icans_core.ingest import load_sources
from icans_core.patient import neighbours, patient_course, sort_patients, tabulate_timeline
from tests.cohorts import sources

# The shared ASTCT palette (charts/style.py), written out so a silent change of it is noticed here.
GRADE_RANGE = ["#d9d9d9", "#fdd49e", "#fc8d59", "#d7301f", "#7f0000", "#000000"]

COHORT = {
    "patients": [
        ["patient_id", "product", "group", "disease", "age_years", "sex", "ecog", "last_followup_day",
         "death_day", "death_cause"],
        ["A1", "axi-cel", "IVIG", "DLBCL", "61", "F", "1", "100", "", ""],
        ["A2", "axi-cel", "IVIG", "DLBCL", "55", "M", "2", "9.5", "9.5", "ICANS"],
        ["B10", "tisa-cel", "Steroids", "FL", "70", "M", "0", "200", "", ""],
        ["B2", "tisa-cel", "Steroids", "FL", "48", "F", "0", "150", "", ""],
        ["B1", "tisa-cel", "Steroids", "FL", "66", "M", "1", "120", "", ""],
        ["C1", "liso-cel", "", "LBCL", "59", "F", "0", "90", "", ""],  # no group: the product stands in
    ],
    "toxicity": [
        ["patient_id", "day", "crs_grade", "icans_grade", "ice_score"],
        # A1: onset 4.5 (grade 3), peak 4 on day 6, resolved (grade 1) on day 10: TTR 5.5; max CRS 2
        ["A1", "0", "1", "0", "10"],
        ["A1", "3", "2", "1", "8"],
        ["A1", "4.5", "", "3", "2"],
        ["A1", "6", "1", "4", ""],
        ["A1", "8", "0", "2", "5"],
        ["A1", "10", "", "1", "8"],
        ["A1", "14", "", "0", "10"],
        # A2: onset 2, peak 4, never resolved, died day 9.5: TTR 7.5 (time to death)
        ["A2", "2", "3", "3", "1"],
        ["A2", "5", "2", "4", ""],
        ["A2", "9", "2", "3", ""],
        # B1: CRS only, never ICANS
        ["B1", "1", "1", "", ""],
        ["B1", "3", "0", "", ""],
        ["B2", "1", "0", "0", "10"],
        ["B10", "1", "0", "0", "10"],
        ["C1", "1", "0", "2", "7"],
    ],
    "interventions": [
        ["patient_id", "agent", "start_day", "end_day", "daily_dose", "dose_unit", "route"],
        ["A1", "tocilizumab", "3", "", "8", "mg/kg", "IV"],
        ["A1", "dexamethasone", "4.5", "6.5", "10", "mg", "IV"],  # days 4, 5, 6: 3 x 10 = 30 mg dex
        ["A1", "methylprednisolone", "6", "8", "1000", "mg", "IV"],  # days 6-8: 3 x 1000 x 0.1875 = 562.5
        ["A1", "hydrocortisone", "7", "", "50", "mg", "IT"],  # intrathecal: not systemic exposure
        ["A1", "prednisone", "9", "10", "1", "mg/kg", "PO"],  # not in mg: days count, dose left out
        ["A2", "dexamethasone", "2", "3", "20", "mg", "IV"],
    ],
    "labs": [
        ["patient_id", "day", "analyte", "value", "unit", "below_lloq"],
        ["A1", "1", "IL-6", "100", "pg/mL", "false"],
        ["A1", "1.5", "IL-6", "300", "pg/mL", "false"],  # same whole day: the day's median is 200
        ["A1", "4", "IL-6", "50", "pg/mL", "false"],
        ["A1", "2", "IFN-gamma", "2", "pg/mL", "true"],
        ["A1", "2", "CRP", "5", "mg/dL", "false"],  # neither a cytokine nor a cell count: not drawn
        ["A1", "7", "CAR-T cells", "25", "cells/uL", "false"],
        ["A2", "3", "IL-6", "900", "pg/mL", "false"],
    ],
}


@pytest.fixture(scope="module")
def frames():
    result = load_sources(sources(COHORT), label="patient view")
    assert result.ok, result.report
    con = store.connect()
    store.load_cohort(con, result.cohort)
    return {
        "patients": store.patients_frame(con),
        "toxicity": store.toxicity_frame(con),
        "interventions": store.interventions_frame(con),
        "labs": store.lab_patient_days(con, [*S.CYTOKINES, *S.CELL_COUNT_ANALYTES]),
    }


def course_of(frames, patient_id, options=EpisodeOptions()):
    episodes = compute_episodes(frames["toxicity"], frames["patients"], frames["interventions"], options)
    return patient_course(patient_id, frames["patients"], frames["toxicity"], frames["interventions"],
                          frames["labs"], episodes)


# --- key numbers ---------------------------------------------------------------------------------

def test_key_numbers_by_hand(frames):
    key = course_of(frames, "A1").key
    assert (key.product, key.group, key.disease, key.age_years, key.sex, key.ecog) == (
        "axi-cel", "IVIG", "DLBCL", 61, "F", 1)
    assert (key.onset_day, key.peak_grade, key.resolution_day, key.time_to_resolution, key.outcome) == (
        4.5, 4, 10, 5.5, "resolved")
    assert key.cumulative_dex_mg == pytest.approx(30 + 562.5)
    assert key.steroid_days == 7  # days 4-10; the intrathecal hydrocortisone on day 7 adds nothing
    assert key.steroid_rows_left_out == 1  # prednisone in mg/kg
    assert (key.max_crs_grade, key.max_icans_grade) == (2, 4)
    assert (key.death_day, key.last_followup_day) == (None, 100)


def test_the_sidebar_thresholds_move_the_episode(frames):
    key = course_of(frames, "A1", EpisodeOptions(severe_grade=4, resolved_grade=1)).key
    assert (key.onset_day, key.peak_grade, key.resolution_day, key.time_to_resolution) == (6, 4, 10, 4)
    strict = course_of(frames, "A1", EpisodeOptions(severe_grade=3, resolved_grade=0)).key
    assert (strict.resolution_day, strict.time_to_resolution) == (14, 9.5)


def test_death_before_resolution_and_no_severe_episode(frames):
    died = course_of(frames, "A2").key
    assert (died.onset_day, died.peak_grade, died.outcome, died.time_to_resolution) == (2, 4, "died", 7.5)
    assert died.resolution_day is None and died.death_day == 9.5 and died.death_cause == "ICANS"
    assert (died.cumulative_dex_mg, died.steroid_days) == (40, 2)
    quiet = course_of(frames, "B1").key
    assert not quiet.severe
    assert (quiet.onset_day, quiet.peak_grade, quiet.outcome, quiet.time_to_resolution) == (None,) * 4
    assert (quiet.max_crs_grade, quiet.max_icans_grade) == (1, None)
    assert (quiet.cumulative_dex_mg, quiet.steroid_days) == (0, 0)
    assert course_of(frames, "C1").key.group == "liso-cel"


def test_an_unknown_patient_is_refused(frames):
    with pytest.raises(KeyError):
        course_of(frames, "Z9")


# --- frames of the course --------------------------------------------------------------------------

def test_grade_intervals_treatments_and_labs_of_one_patient(frames):
    course = course_of(frames, "A1")
    icans = course.intervals[course.intervals["lane"] == "ICANS"]
    assert list(icans[["start_day", "end_day", "grade"]].itertuples(index=False, name=None)) == [
        (0, 3, 0), (3, 4.5, 1), (4.5, 6, 3), (6, 8, 4), (8, 10, 2), (10, 14, 1), (14, 14, 0)]
    crs = course.intervals[course.intervals["lane"] == "CRS"]
    assert list(crs[["start_day", "end_day", "grade"]].itertuples(index=False, name=None)) == [
        (0, 3, 1), (3, 6, 2), (6, 8, 1), (8, 8, 0)]
    assert set(course.intervals["patient_id"]) == {"A1"}

    table = course.intervention_table
    assert list(table.columns) == ["agent", "agent_class", "days", "daily_dose", "dose_unit", "route"]
    assert list(table.itertuples(index=False, name=None)) == [
        ("tocilizumab", "IL-6 blockade", "3", 8, "mg/kg", "IV"),
        ("dexamethasone", "corticosteroid", "4.5-6.5", 10, "mg", "IV"),
        ("methylprednisolone", "corticosteroid", "6-8", 1000, "mg", "IV"),
        ("hydrocortisone", "intrathecal therapy", "7", 50, "mg", "IT"),
        ("prednisone", "corticosteroid", "9-10", 1, "mg/kg", "PO"),
    ]
    # the unit goes into the row's name, the dose onto the mark
    assert list(course.treatments["row"]) == ["tocilizumab IV (mg/kg)", "dexamethasone IV (mg)",
                                              "methylprednisolone IV (mg)", "hydrocortisone IT (mg)",
                                              "prednisone PO (mg/kg)"]
    assert list(course.treatments["label_dose"]) == ["8", "10", "1000", "50", "1"]

    cytokines = course.cytokines
    assert list(cytokines[["analyte", "day", "value", "below_lloq"]].itertuples(index=False, name=None)) == [
        ("IL-6", 1, 200, False), ("IL-6", 4, 50, False), ("IFN-gamma", 2, 2, True)]
    assert set(cytokines["unit"]) == {"pg/mL"}
    assert list(course.cell_counts[["analyte", "day", "value"]].itertuples(index=False, name=None)) == [
        ("CAR-T cells", 7, 25)]
    assert course.days == (0, 14) and course.acute_days == (0, 14)
    assert course.events.empty  # alive


def test_a_repeated_dose_is_labelled_once_and_a_taper_step_again():
    interventions = pd.DataFrame({
        "patient_id": ["X"] * 5,
        "agent": ["tocilizumab", "tocilizumab", "dexamethasone", "dexamethasone", "dexamethasone"],
        "agent_class": ["IL-6 blockade"] * 2 + ["corticosteroid"] * 3,
        "start_day": [3.0, 3.5, 4.0, 6.0, 8.0], "end_day": [None, None, 5.0, 7.0, None],
        "daily_dose": [8.0, 8.0, 20.0, 10.0, 0.5], "dose_unit": ["mg/kg", "mg/kg", "mg", "mg", "g"],
        "route": ["IV"] * 5,
    })
    patients = pd.DataFrame({"patient_id": ["X"], "group": ["G"], "product": ["axi-cel"],
                             "last_followup_day": [30.0], "death_day": [None]})
    toxicity = pd.DataFrame({"patient_id": ["X"], "day": [1.0], "crs_grade": [1], "icans_grade": [0]})
    course = patient_course("X", patients, toxicity, interventions, None, compute_episodes(toxicity, patients))
    treatments = course.treatments
    # mixed units in the dexamethasone row stay on the marks
    assert list(treatments["row"]) == ["tocilizumab IV (mg/kg)"] * 2 + ["dexamethasone IV"] * 3
    assert list(treatments["label_dose"]) == ["8", "", "20 mg", "10 mg", "0.5 g"]
    assert course.cytokines.empty and course.cell_counts.empty


def test_a_death_that_ends_the_episode_is_on_the_timeline(frames):
    course = course_of(frames, "A2")
    assert list(course.events.itertuples(index=False, name=None)) == [("death", 9.5)]
    assert course.days == (2, 10)  # the last assessment is day 9; the death at 9.5 widens it


def test_the_timeline_table_holds_every_drawn_row(frames):
    course = course_of(frames, "A1")
    table = tabulate_timeline(course)
    assert table["panel"].value_counts().to_dict() == {"grades": 11, "interventions": 5, "cytokines": 3,
                                                       "CAR-T cells": 1}
    assert set(table["patient_id"]) == {"A1"}


# --- stepping through the cohort -----------------------------------------------------------------

def test_patients_are_stepped_through_by_group_then_identifier(frames):
    order = sort_patients(frames["patients"])
    # groups alphabetically (capitals first, as everywhere else), then B2 before B10
    assert order == ["A1", "A2", "B1", "B2", "B10", "C1"]
    assert neighbours(order, "A1") == (None, "A2")
    assert neighbours(order, "B2") == ("B1", "B10")
    assert neighbours(order, "C1") == ("B10", None)
    assert neighbours(order, "Z9") == (None, None)
    assert neighbours(["only"], "only") == (None, None)


# --- the timeline chart ----------------------------------------------------------------------------

def panel_marks(panel):
    return [layer["mark"]["type"] for layer in panel["layer"]]


def test_timeline_spec_stacks_panels_on_one_shared_day_axis(frames):
    course = course_of(frames, "A1")
    spec = patient_timeline_chart(course).to_dict()
    assert spec["resolve"]["scale"]["x"] == "shared"
    panels = spec["vconcat"]
    assert len(panels) == 4  # grades, interventions, cytokines, CAR-T cells
    domains = {tuple(layer["encoding"]["x"]["scale"]["domain"]) for p in panels for layer in p["layer"]}
    assert domains == {(0, 14)}
    titles = [layer["encoding"]["x"]["axis"]["title"] for layer in panels[-1]["layer"]]
    assert set(titles) == {"Days since CAR-T infusion"}
    assert all(layer["encoding"]["x"]["axis"]["title"] is None for p in panels[:-1] for layer in p["layer"])

    grades = panels[0]
    bars = grades["layer"][0]
    assert bars["mark"]["type"] == "bar"
    assert bars["encoding"]["color"]["field"] == "grade"
    assert bars["encoding"]["color"]["scale"] == {"domain": [0, 1, 2, 3, 4, 5], "range": GRADE_RANGE}
    assert bars["encoding"]["y"]["scale"]["domain"] == ["ICANS", "CRS"]

    treatments = panels[1]
    assert panel_marks(treatments) == ["point", "rule", "text"]
    marker = treatments["layer"][0]["encoding"]
    assert marker["shape"]["scale"]["range"][:4] == ["triangle-down", "circle", "diamond", "square"]
    assert marker["y"]["scale"]["domain"] == list(course.treatments["row"])
    assert {t["field"] for t in marker["tooltip"]} >= {"agent", "daily_dose", "dose_unit", "route", "start_day"}
    assert treatments["layer"][2]["encoding"]["text"]["field"] == "label_dose"

    cytokines, cells = panels[2], panels[3]
    for panel, title in ((cytokines, "Cytokines (pg/mL)"), (cells, "CAR-T cells (cells/uL)")):
        y = panel["layer"][0]["encoding"]["y"]
        assert y["scale"]["type"] == "log" and y["title"] == title
        tooltip = {t["field"] for t in panel["layer"][1]["encoding"]["tooltip"]}
        assert tooltip >= {"analyte", "day", "value", "unit"}

    assert spec["config"]["axis"]["labelFontSize"] >= 14 and spec["config"]["axis"]["titleFontSize"] >= 14
    assert spec["title"]["text"] == "Patient A1: clinical course"
    assert spec["title"]["subtitle"][0].startswith("n = 1 patient (axi-cel, IVIG)")
    assert not [line for line in spec["title"]["subtitle"] if "Not recorded" in line]


def test_panels_without_data_are_left_out_and_named(frames):
    course = course_of(frames, "B1")
    spec = patient_timeline_chart(course, days=(0, 5)).to_dict()
    assert len(spec["vconcat"]) == 1
    assert spec["vconcat"][0]["layer"][0]["encoding"]["x"]["scale"]["domain"] == [0, 5]
    missing = [line for line in spec["title"]["subtitle"] if line.startswith("Not recorded")]
    assert missing == ["Not recorded for this patient, so not drawn: interventions, cytokines, CAR-T cells"]


def test_a_death_is_a_rule_on_the_grade_panel(frames):
    spec = patient_timeline_chart(course_of(frames, "A2")).to_dict()
    rules = [layer for layer in spec["vconcat"][0]["layer"] if layer["mark"]["type"] == "rule"]
    assert len(rules) == 1
    data = spec["datasets"][rules[0]["data"]["name"]]
    assert data == [{"kind": "death", "day": 9.5}]


def test_the_figure_fits_a_wide_page(frames):
    svg = vlc.vegalite_to_svg(patient_timeline_chart(course_of(frames, "A1")).to_json())
    width = float(re.search(r'<svg[^>]*width="([\d.]+)"', svg).group(1))
    assert 600 < width <= 920, width


def test_the_course_from_one_patients_rows_equals_the_course_from_the_whole_selection():
    """The Patient page reads only the shown patient's rows (store's patient_id) and the cohort's derived
    episodes: the same course as from every selected patient's rows, for every patient of the sample."""
    from pathlib import Path

    from icans_core import derived_tables
    from icans_core.filters import CohortFilter
    from icans_core.ingest import load_paths

    con = store.connect()
    store.load_cohort(con, load_paths([Path(__file__).resolve().parent.parent / "data" / "sample"]).cohort)
    store.select_patients(con, CohortFilter(products=("axi-cel", "liso-cel")))
    patients = store.patients_frame(con)
    analytes = [*S.CYTOKINES, *S.CELL_COUNT_ANALYTES]
    toxicity, interventions = store.toxicity_frame(con), store.interventions_frame(con)
    labs = store.lab_patient_days(con, analytes)
    episodes = compute_episodes(toxicity, patients, interventions, EpisodeOptions())
    derived = derived_tables.episodes(con)
    for patient_id in patients["patient_id"]:
        whole = patient_course(patient_id, patients, toxicity, interventions, labs, episodes)
        own = patient_course(patient_id, patients, store.toxicity_frame(con, patient_id=patient_id),
                             store.interventions_frame(con, patient_id=patient_id),
                             store.lab_patient_days(con, analytes, patient_id=patient_id), derived)
        assert own.key == whole.key and own.days == whole.days and own.acute_days == whole.acute_days, patient_id
        for name in ("intervals", "treatments", "cytokines", "cell_counts", "events"):
            pd.testing.assert_frame_equal(getattr(own, name).reset_index(drop=True),
                                          getattr(whole, name).reset_index(drop=True), check_exact=True)
    # a patient outside the selection has no rows, even by id
    outside = store.patients_frame(con, everyone=True).query("product == 'tisa-cel'")["patient_id"].iloc[0]
    assert store.toxicity_frame(con, patient_id=outside).empty


def test_stepping_order_is_group_then_natural_id_order():
    # ties (P1 and P01 keep the cohort's order), ids without a prefix (first), other prefixes, no group (last)
    patients = pd.DataFrame({
        "patient_id": ["P10", "P01", "7", "P2", "Q1", "P1", "10", "p3", "P-4", "R5", "P9"],
        "group": ["b", "b", "b", "b", "b", "b", None, "a", "a", None, "a"]})
    assert sort_patients(patients) == ["P9", "P-4", "p3", "7", "P01", "P1", "P2", "P10", "Q1", "10", "R5"]
    assert sort_patients(pd.DataFrame({"patient_id": ["A1²", "A2", "A1"], "group": "g"})) == ["A1", "A1²", "A2"]



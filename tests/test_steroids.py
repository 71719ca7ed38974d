"""Systemic steroid exposure on a hand-computed cohort loaded through the real ingest and store."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icans_core import store
from icans_core.ingest import load_sources
from icans_core.steroids import (
    EXPORT_COLUMNS,
    equivalence_table,
    left_out_rows,
    severe_icans_exposure,
    steroid_exposure,
    steroid_summary,
)
from tests.cohorts import sources

HEADER = ["patient_id", "agent", "start_day", "end_day", "daily_dose", "dose_unit", "route"]
TABLES = {
    "patients": [
        ["patient_id", "product", "group", "disease", "age_years", "sex", "ecog", "last_followup_day",
         "death_day", "death_cause"],
        ["P1", "axi-cel", "A", "DLBCL", "61", "F", "1", "100", "", ""],
        ["P2", "tisa-cel", "B", "FL", "70", "M", "0", "200", "", ""],
        ["P3", "axi-cel", "B", "DLBCL", "55", "M", "0", "90", "", ""],
        ["P4", "liso-cel", "A", "LBCL", "48", "F", "2", "60", "", ""],
    ],
    "toxicity": [
        ["patient_id", "day", "crs_grade", "icans_grade", "ice_score"],
        ["P1", "1", "1", "0", "10"], ["P2", "1", "1", "0", "10"],
        ["P3", "1", "1", "0", "10"], ["P4", "1", "1", "0", "10"],
    ],
    "interventions": [
        HEADER,
        # P1: dexamethasone 10 mg days 3-5 = 3 x 10 = 30 mg, days {3, 4, 5}
        ["P1", "dex", "3", "5", "10", "mg", "PO"],
        # P1: methylprednisolone 1000 mg days 5.5-7.25 = floor 5..7 = 3 days x 187.5 = 562.5 mg, days {5, 6, 7}
        ["P1", "Solu-Medrol", "5.5", "7.25", "1000", "mg", "IV"],
        # P1: intrathecal hydrocortisone is intrathecal therapy, never systemic exposure
        ["P1", "hydrocortisone", "6", "", "50", "mg", "IT"],
        # P2: prednisone 100 mg days 0.9-2.1 = floor 0..2 = 3 days x 15 = 45 mg, days {0, 1, 2}
        ["P2", "prednisone", "0.9", "2.1", "100", "mg", "PO"],
        # P2: 1 g of dexamethasone is not in mg: left out of the total, its day 4 still counts
        ["P2", "decadron", "4", "", "1", "g", "IV"],
        # P2: hydrocortisone 100 mg days 2.5-2.75 = 1 day x 3.75 = 3.75 mg, day 2 already counted
        ["P2", "HC", "2.5", "2.75", "100", "mg", "IV"],
        # P3: no corticosteroid at all
        ["P3", "tocilizumab", "1", "", "8", "mg/kg", "IV"],
        # P4: methylprednisolone without a dose: left out, days {1, 2}
        ["P4", "MP", "1", "2", "", "", "IV"],
        # P4: dexamethasone 4 mg days -0.5 to 0.25 = floor -1..0 = 2 days x 4 = 8 mg, days {-1, 0}
        ["P4", "dexamethasone", "-0.5", "0.25", "4", "mg", "IV"],
    ],
}
# patient: (steroid_days, cumulative_dex_mg, rows_left_out, first_steroid_day)
EXPECTED = {
    "P1": (5, 30 + 562.5, 0, 3.0),
    "P2": (4, 45 + 3.75, 1, 0.9),
    "P3": (0, 0.0, 0, math.nan),
    "P4": (4, 8.0, 1, -0.5),
}


@pytest.fixture(scope="module")
def frames():
    result = load_sources(sources(TABLES))
    assert result.ok, result.report.to_string()
    con = store.connect()
    store.load_cohort(con, result.cohort)
    return store.patients_frame(con), store.interventions_frame(con)


def test_synonyms_were_normalised_by_the_ingest(frames):
    _, interventions = frames
    assert set(interventions["agent"]) == {"dexamethasone", "methylprednisolone", "hydrocortisone", "prednisone",
                                           "tocilizumab"}
    it = interventions[interventions["route"] == "IT"]
    assert list(it["agent_class"]) == ["intrathecal therapy"]


def test_exposure_by_hand(frames):
    patients, interventions = frames
    exposure = steroid_exposure(interventions, patients).set_index("patient_id")
    assert list(exposure.index) == ["P1", "P2", "P3", "P4"]  # every selected patient, in order
    for patient, (days, dex_mg, left_out, first_day) in EXPECTED.items():
        row = exposure.loc[patient]
        assert row["steroid_days"] == days, patient
        assert row["cumulative_dex_mg"] == pytest.approx(dex_mg, abs=1e-9), patient
        assert row["rows_left_out"] == left_out, patient
        if math.isnan(first_day):
            assert math.isnan(row["first_steroid_day"])
        else:
            assert row["first_steroid_day"] == first_day, patient
    assert exposure.loc["P1", "group"] == "A" and exposure.loc["P2", "group"] == "B"


def test_export_columns_come_first(frames):
    exposure = steroid_exposure(frames[1], frames[0])
    assert list(exposure.columns[:3]) == ["patient_id", "steroid_days", "cumulative_dex_mg"] == EXPORT_COLUMNS


def test_intrathecal_hydrocortisone_does_not_count(frames):
    patients, interventions = frames
    without_it = interventions[interventions["route"] != "IT"]
    assert steroid_exposure(without_it, patients).equals(steroid_exposure(interventions, patients))
    # the same hydrocortisone given IV would add 50 x 0.0375 = 1.875 mg and day 6 is already counted
    as_iv = interventions.copy()
    as_iv.loc[as_iv["route"] == "IT", ["route", "agent_class"]] = ["IV", "corticosteroid"]
    p1 = steroid_exposure(as_iv, patients).set_index("patient_id").loc["P1"]
    assert p1["cumulative_dex_mg"] == pytest.approx(592.5 + 1.875)
    assert p1["steroid_days"] == 5


def test_rows_left_out_are_listed_with_a_reason(frames):
    rows = left_out_rows(frames[1])
    assert list(rows["patient_id"]) == ["P2", "P4"]
    assert list(rows["agent"]) == ["dexamethasone", "methylprednisolone"]
    assert rows.loc[0, "reason"] == "dose in g, not mg"
    assert rows.loc[1, "reason"] == "no daily dose"


def test_no_interventions_gives_zero_for_everyone(frames):
    patients, interventions = frames
    exposure = steroid_exposure(interventions.iloc[0:0], patients)
    assert list(exposure["steroid_days"]) == [0, 0, 0, 0]
    assert list(exposure["cumulative_dex_mg"]) == [0.0, 0.0, 0.0, 0.0]
    assert steroid_exposure(None, patients)["steroid_days"].sum() == 0


def exposure_frame(groups: dict[str, list[tuple[int, float]]]) -> pd.DataFrame:
    rows = [{"patient_id": f"{g}{i}", "group": g, "steroid_days": d, "cumulative_dex_mg": mg, "rows_left_out": 0,
             "first_steroid_day": np.nan} for g, values in groups.items() for i, (d, mg) in enumerate(values)]
    return pd.DataFrame(rows)


def test_summary_by_hand():
    # A treated: 10, 20, 30 mg; B treated: 40, 50, 60, 70 mg and one untreated patient (0)
    exposure = exposure_frame({"A": [(1, 10), (2, 20), (3, 30)],
                               "B": [(4, 40), (5, 50), (6, 60), (7, 70), (0, 0)]})
    summary = steroid_summary(exposure).set_index(["measure", "among", "group"])
    a = summary.loc[("cumulative_dex_mg", "treated patients", "A")]
    b = summary.loc[("cumulative_dex_mg", "treated patients", "B")]
    assert (a["n_patients"], a["n_treated"], a["n"]) == (3, 3, 3)
    assert (b["n_patients"], b["n_treated"], b["n"]) == (5, 4, 4)
    assert (a["median"], a["q1"], a["q3"], a["mean"]) == (20, 15, 25, 20)
    assert (b["median"], b["q1"], b["q3"], b["mean"]) == (55, 47.5, 62.5, 55)
    # complete separation of 3 vs 4: exact two-sided p = 2 / C(7, 3) = 2/35 (R: wilcox.test p = 0.05714)
    assert a["test"] == "Mann-Whitney U"
    assert a["p_value"] == pytest.approx(2 / 35)
    b_all = summary.loc[("cumulative_dex_mg", "all patients", "B")]
    assert (b_all["n"], b_all["median"], b_all["mean"]) == (5, 50, 44)
    # A = ranks {2, 3, 4} of 8: W = 9, U = 3; 7 of the C(8, 3) = 56 subsets have W <= 9: p = 2 x 7/56
    assert b_all["p_value"] == pytest.approx(0.25)


def test_summary_of_severe_icans_patients_only():
    exposure = exposure_frame({"A": [(1, 10), (2, 20)], "B": [(4, 40), (0, 0)]})
    episodes = pd.DataFrame({"patient_id": ["A1", "B0"]})
    assert list(severe_icans_exposure(exposure, episodes)["patient_id"]) == ["A1", "B0"]
    summary = steroid_summary(exposure, episodes)
    assert set(summary["n_patients"]) == {1}
    treated = summary[(summary["measure"] == "steroid_days") & (summary["among"] == "treated patients")]
    assert list(treated["median"]) == [2, 4]
    # one patient per group: both orderings equally likely, exact p = 1 (R: wilcox.test(2, 4) p-value = 1)
    assert list(treated["p_value"]) == [1.0, 1.0]
    assert steroid_summary(exposure, episodes.iloc[0:0]).empty


def test_three_groups_use_kruskal_wallis():
    # ranks 1-3, 4-6, 7-9: H = 12/(9 x 10) x (6^2 + 15^2 + 24^2)/3 - 3 x 10 = 7.2, p = exp(-7.2/2)
    exposure = exposure_frame({"A": [(1, 1), (2, 2), (3, 3)], "B": [(4, 4), (5, 5), (6, 6)],
                               "C": [(7, 7), (8, 8), (9, 9)]})
    summary = steroid_summary(exposure)
    assert set(summary["test"]) == {"Kruskal-Wallis"}
    assert summary["p_value"].iloc[0] == pytest.approx(math.exp(-3.6))


def test_equivalence_table_is_the_reference():
    table = equivalence_table().set_index("agent")
    assert table["dexamethasone_mg_per_mg"].to_dict() == {
        "dexamethasone": 1.0, "methylprednisolone": 0.1875, "prednisone": 0.15, "prednisolone": 0.15,
        "hydrocortisone": 0.0375}
    # 0.75 mg dexamethasone = methylprednisolone 4 mg = prednisone 5 mg = hydrocortisone 20 mg
    assert table.loc["methylprednisolone", "equipotent_mg"] == 4
    assert table.loc["hydrocortisone", "equipotent_mg"] == 20
    assert table["source"].str.contains("Meikle & Tyler").all()


# --- property: days counted are exactly the distinct whole days covered --------------------------

day = st.floats(min_value=-30, max_value=60, allow_nan=False).map(lambda d: round(d * 4) / 4)
row = st.tuples(st.sampled_from(["X", "Y"]), day, st.floats(min_value=0, max_value=5).map(lambda d: round(d, 2)))


@settings(max_examples=60, deadline=None)
@given(st.lists(row, min_size=1, max_size=12))
def test_steroid_days_never_exceed_the_span_covered(rows):
    interventions = pd.DataFrame({
        "patient_id": [p for p, _, _ in rows], "agent": "dexamethasone", "agent_class": "corticosteroid",
        "start_day": [s for _, s, _ in rows], "end_day": [s + length for _, s, length in rows],
        "daily_dose": 1.0, "dose_unit": "mg", "route": "IV"})
    patients = pd.DataFrame({"patient_id": ["X", "Y", "Z"], "group": ["g", "g", "h"]})
    exposure = steroid_exposure(interventions, patients).set_index("patient_id")
    for patient in ("X", "Y"):
        mine = interventions[interventions["patient_id"] == patient]
        if mine.empty:
            assert exposure.loc[patient, "steroid_days"] == 0
            continue
        starts, ends = np.floor(mine["start_day"]).astype(int), np.floor(mine["end_day"]).astype(int)
        span = ends.max() - starts.min() + 1
        covered = {d for s, e in zip(starts, ends) for d in range(s, e + 1)}
        assert exposure.loc[patient, "steroid_days"] <= span
        assert exposure.loc[patient, "steroid_days"] == len(covered)
        # 1 mg of dexamethasone per day of each row, overlaps counted per row
        assert exposure.loc[patient, "cumulative_dex_mg"] == pytest.approx(float((ends - starts + 1).sum()))
    assert exposure.loc["Z", "steroid_days"] == 0


def test_totals_are_the_hand_calculation_not_binary_noise():
    """3 mg of prednisone is 0.45 mg dexamethasone, 0.1 + 0.2 mg is 0.3 mg (adversarial finding: the export
    wrote 0.44999999999999996 and 0.30000000000000004)."""
    tables = {**TABLES, "interventions": [HEADER, ["P1", "prednisone", "1", "", "3", "mg", "PO"],
                                          ["P2", "dexamethasone", "1", "", "0.1", "mg", "IV"],
                                          ["P2", "dexamethasone", "2", "", "0.2", "mg", "IV"]]}
    result = load_sources(sources(tables))
    assert result.ok, result.report.to_string()
    con = store.connect()
    store.load_cohort(con, result.cohort)
    exposure = steroid_exposure(store.interventions_frame(con), store.patients_frame(con)).set_index("patient_id")
    assert repr(float(exposure.loc["P1", "cumulative_dex_mg"])) == "0.45"
    assert repr(float(exposure.loc["P2", "cumulative_dex_mg"])) == "0.3"

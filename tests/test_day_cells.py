"""Per-day medians and rank sums read off the cohort's rank order (icans_core/day_cells.py) equal the
patient-day route computed by pandas and scipy's formulas (kinetics.cytokine_medians on
store.lab_patient_days), to the last bit, on hand-built cohorts made to be awkward: ties within and
across groups, groups of one patient, below-LLOQ values that halving puts out of order, several
samples a day, selections, day ranges and groupings, and more (group, analyte, day) cells than a
16-bit sort key holds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from icans_core import day_cells, expansion, kinetics, results, store
from icans_core.filters import CohortFilter
from icans_core.ingest import load_sources
from tests.cohorts import VALID, csv_text, sources

PRODUCTS = ("axi-cel", "tisa-cel", "liso-cel")


def lab_cohort(seed: int, patients: int, groups: int, days: int = 12, levels: int | None = None) -> dict:
    """A cohort's CSV rows: `patients` in `groups` groups, two serum analytes and a cell count measured on random days (some
    twice a day), values from `levels` distinct numbers (ties) or continuous, some flagged below the
    LLOQ at a level above other values (halving reorders them)."""
    rng = np.random.default_rng(seed)
    tables = {name: [list(rows[0])] for name, rows in VALID.items()}
    for i in range(patients):
        tables["patients"].append([f"P{i}", PRODUCTS[i % 3], f"Arm {i % groups:05d}", "DLBCL", "60", "F", "1",
                                   "100", "", ""])
        for analyte, unit in (("IL-6", "pg/mL"), ("CRP", "mg/dL"), ("CAR-T cells", "cells/uL")):
            for day in rng.choice(np.arange(-2, days), size=rng.integers(1, days), replace=False):
                for _ in range(rng.choice([1, 1, 2])):  # a second sample that day: the day's median
                    value = float(rng.integers(1, levels + 1)) if levels else round(float(rng.gamma(2, 30)), 3)
                    below = rng.random() < 0.15
                    if below:
                        value = 7.0  # the LLOQ: above some quantified values, below them once halved
                    tables["labs"].append([f"P{i}", f"{day + rng.choice([0, 0.25, 0.5])}", analyte,
                                           f"{value}", unit, rng.choice(["true", "TRUE"]) if below else
                                           rng.choice(["false", ""])])
    tables["toxicity"] = [tables["toxicity"][0]]
    tables["interventions"] = [tables["interventions"][0]]
    return tables


def connection(tables: dict, shared_path=None):
    result = load_sources(sources(tables))
    assert result.ok, result.report.head()
    if shared_path is None:
        con = store.connect()
        store.load_cohort(con, result.cohort)
        return con
    store.save_cohort_file(shared_path, result.cohort, {"label": "test"})
    return store.open_shared(shared_path)


def patient_day_route(con, group_by, lloq, day_range):
    analytes = results.serum_analytes(con)
    return kinetics.cytokine_medians(store.lab_patient_days(con, analytes, group_by), lloq, day_range)


def ordered_route(con, group_by, lloq, day_range, monkeypatch):
    # the DuckDB aggregation must not be what answers: the ordered route alone
    monkeypatch.setattr(store, "patient_day_cells", lambda *a, **k: pytest.fail("fell back to DuckDB"))
    monkeypatch.setattr(store, "patient_day_values", lambda *a, **k: pytest.fail("fell back to DuckDB"))
    return kinetics.cohort_cytokine_medians(con, results.serum_analytes(con), group_by, None, lloq, day_range)


@pytest.mark.parametrize("seed,patients,groups,levels", [
    (1, 30, 2, None),   # Mann-Whitney, exact and normal
    (2, 40, 4, 3),      # Kruskal-Wallis with many ties
    (3, 9, 5, 2),       # groups of one patient left out of the tests
    (4, 60, 3, 6),
])
def test_equal_to_the_patient_day_route(seed, patients, groups, levels, monkeypatch, tmp_path):
    for con in (connection(lab_cohort(seed, patients, groups, levels=levels)),
                connection(lab_cohort(seed, patients, groups, levels=levels), tmp_path / "cohort.duckdb")):
        compared = 0
        for cohort_filter in (CohortFilter(), CohortFilter(products=("axi-cel", "liso-cel"))):
            store.select_patients(con, cohort_filter)
            for group_by in ("group", "product"):
                for lloq in kinetics.LLOQ_OPTIONS:
                    for day_range in (None, (0, 6)):
                        expected = patient_day_route(con, group_by, lloq, day_range)
                        found = ordered_route(con, group_by, lloq, day_range, monkeypatch)
                        pd.testing.assert_frame_equal(found, expected, check_exact=True)
                        compared += len(found)
        monkeypatch.undo()
        assert compared > 500


def test_expansion_curves_equal_the_patient_day_route(monkeypatch, tmp_path):
    con = connection(lab_cohort(8, 40, 3, levels=5), tmp_path / "cohort.duckdb")
    monkeypatch.setattr(store, "patient_day_cells", lambda *a, **k: pytest.fail("fell back to DuckDB"))
    for cohort_filter in (CohortFilter(), CohortFilter(products=("tisa-cel",))):
        store.select_patients(con, cohort_filter)
        for group_by in ("group", "product"):
            expected = expansion.expansion_curves(store.lab_patient_days(con, ["CAR-T cells"], group_by))
            found = expansion.cohort_expansion_curves(con, ["CAR-T cells", "IL-6"], group_by)
            assert len(found) > 10
            pd.testing.assert_frame_equal(found, expected, check_exact=True)


def test_halving_below_lloq_values_that_sit_above_quantified_ones_reorders_them(monkeypatch):
    con = connection(lab_cohort(5, 30, 2))
    as_recorded = ordered_route(con, "group", kinetics.LLOQ_AS_RECORDED, None, monkeypatch)
    halved = ordered_route(con, "group", kinetics.LLOQ_HALF, None, monkeypatch)
    # the cohort is built so halving changes some quartile (the LLOQ, 7, sits inside the values)
    assert (halved["q1"] < as_recorded["q1"]).any()
    pd.testing.assert_frame_equal(halved, patient_day_route(con, "group", kinetics.LLOQ_HALF, None), check_exact=True)


def test_more_cells_than_a_16_bit_key_holds(monkeypatch):
    # 1,800 groups x 2 analytes x up to 22 days: more than 65,536 (group, analyte, day) codes
    con = connection(lab_cohort(6, 3600, 1800, days=20, levels=4))
    found = ordered_route(con, "group", kinetics.LLOQ_AS_RECORDED, None, monkeypatch)
    assert found["group"].nunique() == 1800
    pd.testing.assert_frame_equal(found, patient_day_route(con, "group", kinetics.LLOQ_AS_RECORDED, None),
                                  check_exact=True)


def test_an_empty_selection_gives_the_empty_table(monkeypatch):
    con = connection(lab_cohort(7, 6, 2))
    store.select_patients(con, CohortFilter(products=("cilta-cel",)))
    found = ordered_route(con, "group", kinetics.LLOQ_AS_RECORDED, None, monkeypatch)
    assert found.empty and list(found.columns) == kinetics.MEDIAN_COLUMNS


def test_rank_order_is_by_cell_then_place_without_sorting_values():
    cell = np.array([1, 0, 1, 0, 1])
    place = np.array([2, 5, 1, 3, 3])  # places within a cell need not be contiguous (a selection)
    order = day_cells._rank_order(cell, place, 2)
    assert order.tolist() == [3, 1, 2, 0, 4]


def test_rank_sums_average_tied_ranks_and_leave_small_groups_out():
    # one cell: groups 0 (values 1, 2, 2), 1 (values 2, 3), 2 (a single value: left out)
    cell = np.zeros(6, dtype=np.int64)
    value = np.array([1.0, 2.0, 2.0, 2.0, 3.0, 9.0])
    group = np.array([0, 0, 1, 0, 1, 2])
    groups, ties = day_cells.rank_sums_in_order(cell, group, value, 2, lambda c: pd.DataFrame({"g": c}),
                                                lambda c: pd.DataFrame({"cell": c}))
    # ranks among the five kept values: 1, then 3, 3, 3 for the tied 2s, then 5
    assert groups.to_dict("list") == {"g": [0, 1], "n": [3, 2], "rank_sum": [7.0, 8.0]}
    assert ties.to_dict("list") == {"cell": [0], "tie_term": [24.0], "n_distinct": [3]}


def signed_zero_cohort() -> dict:
    """Zeros written as 0, -0, 0.0 and -0.0 tied where medians and quartiles fall (-0 is not negative)."""
    tables = {name: [list(rows[0])] for name, rows in VALID.items()}
    rng = np.random.default_rng(9)
    for i in range(42):  # 21 a group: every quartile falls on a value (an interpolated zero is +0)
        tables["patients"].append([f"P{i:02d}", PRODUCTS[i % 3], f"Arm {i % 2}", "DLBCL", "60", "F", "1",
                                   "100", "", ""])
        for day in range(4):
            tables["labs"].append([f"P{i:02d}", str(day), "CRP", str(rng.choice(["0", "-0", "0.0", "-0.0", "1"])),
                                   "mg/L", ""])
    tables["toxicity"], tables["interventions"] = [tables["toxicity"][0]], [tables["interventions"][0]]
    return tables


def test_tied_zeros_come_out_with_the_same_sign_on_every_load(monkeypatch):
    # -0 and 0 are equal, so which one a median falls on is a choice (pandas' groupby quantile takes
    # whichever its quicksort puts there); the export prints them differently ("-0.0", "0.0"), so the
    # choice must not change from one load of the same file to the next: ties are taken in patient order
    signs = []
    for _ in range(4):  # a fresh connection each time: the derived order is made anew
        con = connection(signed_zero_cohort())
        assert con.execute("SELECT count(*) FROM labs WHERE signbit(value)").fetchone()[0] > 20
        found = ordered_route(con, "group", kinetics.LLOQ_AS_RECORDED, None, monkeypatch)
        expected = patient_day_route(con, "group", kinetics.LLOQ_AS_RECORDED, None)
        pd.testing.assert_frame_equal(found, expected, check_exact=True)  # equal as numbers
        quartiles = found[["median", "q1", "q3"]].to_numpy(float)
        assert (quartiles == 0).sum() > 5
        signs.append(np.signbit(quartiles).tolist())
    assert any(any(row) for row in signs[0])  # some -0 among them
    assert all(s == signs[0] for s in signs)


def test_thousands_of_groups_over_years_of_days(monkeypatch):
    # 400 groups x 2 serum analytes x 7,336 days: millions of possible (group, analyte, day) codes for a few
    # thousand values; the rank sums number the codes found instead of counting over all of them
    tables = lab_cohort(10, 800, 400, days=6, levels=3)
    tables["labs"] += [["P0", "-30", "IL-6", "5", "pg/mL", ""], ["P1", "7305", "IL-6", "6", "pg/mL", ""]]
    con = connection(tables)
    found = ordered_route(con, "group", kinetics.LLOQ_AS_RECORDED, None, monkeypatch)
    assert {-30, 7305} <= set(found["day"]) and found["p_value"].notna().any()
    pd.testing.assert_frame_equal(found, patient_day_route(con, "group", kinetics.LLOQ_AS_RECORDED, None),
                                  check_exact=True)


def test_without_the_rank_order_duckdb_aggregates_the_same_table(monkeypatch):
    # the route a cohort takes when the rank order cannot be used (kinetics falls back to DuckDB)
    con = connection(lab_cohort(11, 30, 3, levels=4))
    monkeypatch.setattr(store, "patient_day_ordered", lambda *a, **k: None)
    for lloq in kinetics.LLOQ_OPTIONS:
        found = kinetics.cohort_cytokine_medians(con, results.serum_analytes(con), "group", None, lloq, (0, 8))
        expected = patient_day_route(con, "group", lloq, (0, 8))
        keys = [c for c in found.columns if c not in ("median", "q1", "q3")]
        pd.testing.assert_frame_equal(found[keys], expected[keys], check_exact=True)
        np.testing.assert_allclose(found[["median", "q1", "q3"]].to_numpy(float),
                                   expected[["median", "q1", "q3"]].to_numpy(float), rtol=1e-13)


def test_a_day_range_given_as_numpy_numbers_is_the_same_range(monkeypatch):
    con = connection(lab_cohort(12, 20, 2, levels=4))
    expected = patient_day_route(con, "group", kinetics.LLOQ_AS_RECORDED, (0, 6))
    found = ordered_route(con, "group", kinetics.LLOQ_AS_RECORDED, (np.int64(0), np.float64(6)), monkeypatch)
    pd.testing.assert_frame_equal(found, expected, check_exact=True)

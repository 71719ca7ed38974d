"""Cytokine kinetics on hand-computed cohorts; tests and q-values against R's published output."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icans_core import kinetics
from icans_core.episodes import compute_episodes


def patient_days(rows, unit="pg/mL"):
    """rows: (patient_id, group, analyte, day, value[, below_lloq]) as lab_patient_days returns them."""
    rows = [r if len(r) == 6 else (*r, False) for r in rows]
    frame = pd.DataFrame(rows, columns=["patient_id", "group", "analyte", "day", "value", "below_lloq"])
    frame.insert(3, "unit", unit)
    return frame.astype({"day": "int32", "value": float})


def cell(frame, group, analyte, day):
    found = frame[(frame["group"] == group) & (frame["analyte"] == analyte) & (frame["day"] == day)]
    assert len(found) == 1, found
    return found.iloc[0]


def day_p(frame, analyte, day):
    """The day's p-value, checked to be the same on every group's row."""
    values = frame.loc[(frame["analyte"] == analyte) & (frame["day"] == day), "p_value"].to_numpy()
    assert len(values) >= 1
    if np.isnan(values[0]):
        assert np.isnan(values).all()
    else:
        assert np.allclose(values, values[0])
    return values[0]


# --- medians and quartiles ----------------------------------------------------------------------

QUARTILE_COHORT = patient_days([
    # day 1, group A: 1, 2, 3, 4 -> R quantile(type 7): q1 1.75, median 2.5, q3 3.25
    ("a1", "A", "IL-6", 1, 1.0), ("a2", "A", "IL-6", 1, 2.0), ("a3", "A", "IL-6", 1, 3.0), ("a4", "A", "IL-6", 1, 4.0),
    # day 1, group B: 10, 20, 30 -> q1 15, median 20, q3 25
    ("b1", "B", "IL-6", 1, 30.0), ("b2", "B", "IL-6", 1, 10.0), ("b3", "B", "IL-6", 1, 20.0),
    # day 2, group A: one patient -> all three are 7
    ("a1", "A", "IL-6", 2, 7.0),
])


def test_medians_and_type7_quartiles_per_group_and_day():
    medians = kinetics.cytokine_medians(QUARTILE_COHORT)
    assert list(medians.columns[:9]) == ["group", "analyte", "day", "n", "median", "q1", "q3", "p_value", "q_value"]
    assert {"unit", "n_below_lloq"} <= set(medians.columns[9:])
    a1 = cell(medians, "A", "IL-6", 1)
    assert (a1.n, a1["median"], a1.q1, a1.q3) == (4, 2.5, 1.75, 3.25)
    b1 = cell(medians, "B", "IL-6", 1)
    assert (b1.n, b1["median"], b1.q1, b1.q3) == (3, 20.0, 15.0, 25.0)
    a2 = cell(medians, "A", "IL-6", 2)
    assert (a2.n, a2["median"], a2.q1, a2.q3) == (1, 7.0, 7.0, 7.0)
    assert a1.unit == "pg/mL"
    assert cell(medians, "A", "IL-6", 2).n_patients == 4  # patients of A with IL-6 at all
    assert len(medians) == 3  # no row for B on day 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.01, 1e5, allow_nan=False), min_size=1, max_size=30))
def test_quartiles_are_numpy_linear_percentiles(values):
    rows = [(f"p{i}", "A", "IL-6", 0, v) for i, v in enumerate(values)]
    row = kinetics.cytokine_medians(patient_days(rows)).iloc[0]
    q1, median, q3 = np.percentile(values, [25, 50, 75])  # numpy's default "linear" = R type 7
    assert row.q1 == pytest.approx(q1) and row["median"] == pytest.approx(median) and row.q3 == pytest.approx(q3)


def test_day_range_is_inclusive():
    rows = [(f"p{d}", "A", "IL-6", d, 1.0) for d in (-6, -5, 28, 29)]
    medians = kinetics.cytokine_medians(patient_days(rows), day_range=(-5, 28))
    assert sorted(medians["day"]) == [-5, 28]


# --- the day's group test ------------------------------------------------------------------------

def two_groups(x, y, analyte="IL-6", day=3):
    return [(f"x{i}", "A", analyte, day, v) for i, v in enumerate(x)] + \
           [(f"y{i}", "B", analyte, day, v) for i, v in enumerate(y)]


def test_mann_whitney_exact_by_enumeration():
    # x = 1, 2, 3 and y = 4, 5, 6, 7: of the C(7,3) = 35 equally likely sets of ranks for x,
    # only {1,2,3} is as extreme on the low side and only {5,6,7} on the high side, so the
    # exact two-sided p = 2/35 = 0.0571 (R: wilcox.test(1:3, 4:7, exact = TRUE)$p.value).
    medians = kinetics.cytokine_medians(patient_days(two_groups([1, 2, 3], [4, 5, 6, 7])))
    assert day_p(medians, "IL-6", 3) == pytest.approx(2 / 35, rel=1e-9)
    assert set(medians["test"]) == {"Mann-Whitney U"}


def test_mann_whitney_is_exact_below_50_per_group_like_r():
    # 1..9 against 10..18 with no ties: R's wilcox.test is exact (n < 50); the only rank sets as
    # extreme are {1..9} and {10..18} of C(18,9) = 48620, so p = 2/48620 = 4.1135e-05. (A normal
    # approximation, which scipy's "auto" would pick for groups over 8, gives about 4e-04.)
    medians = kinetics.cytokine_medians(patient_days(two_groups(range(1, 10), range(10, 19))))
    assert day_p(medians, "IL-6", 3) == pytest.approx(2 / 48620, rel=1e-9)


def test_kruskal_wallis_against_r():
    # R: kruskal.test(list(c(2.9,3.0,2.5,2.6,3.2), c(3.8,2.7,4.0,2.4), c(2.8,3.4,3.7,2.2,2.0)))
    # Kruskal-Wallis chi-squared = 0.77143, df = 2, p-value = 0.68; with 2 df the chi-square
    # upper tail is exp(-x/2) = exp(-0.771429/2) = 0.679965.
    groups = {"A": [2.9, 3.0, 2.5, 2.6, 3.2], "B": [3.8, 2.7, 4.0, 2.4], "C": [2.8, 3.4, 3.7, 2.2, 2.0]}
    rows = [(f"{g}{i}", g, "IL-6", 5, v) for g, values in groups.items() for i, v in enumerate(values)]
    medians = kinetics.cytokine_medians(patient_days(rows))
    assert day_p(medians, "IL-6", 5) == pytest.approx(0.679965, abs=5e-6)
    assert set(medians["test"]) == {"Kruskal-Wallis"}
    assert len(medians) == 3  # the same p on each group's row


def test_groups_with_one_patient_are_left_out_of_the_test():
    # C has one patient that day: A and B are compared alone, exactly as above (2/35).
    rows = two_groups([1, 2, 3], [4, 5, 6, 7]) + [("c0", "C", "IL-6", 3, 100.0)]
    medians = kinetics.cytokine_medians(patient_days(rows))
    assert day_p(medians, "IL-6", 3) == pytest.approx(2 / 35, rel=1e-9)
    assert set(medians["test"]) == {"Mann-Whitney U"}
    assert cell(medians, "C", "IL-6", 3).p_value == pytest.approx(2 / 35)  # shown on every row


@pytest.mark.parametrize("rows", [
    pytest.param(two_groups([1, 2, 3], [4]), id="only one group with 2 patients"),
    pytest.param(two_groups([1, 2, 3], []), id="one group"),
    pytest.param(two_groups([5, 5, 5], [5, 5]), id="all values equal"),
    pytest.param([(f"{g}{i}", g, "IL-6", 3, 2.0) for g in "ABC" for i in range(3)], id="all equal, 3 groups"),
])
def test_no_p_value_when_there_is_nothing_to_compare(rows):
    medians = kinetics.cytokine_medians(patient_days(rows))
    assert medians["p_value"].isna().all() and medians["q_value"].isna().all()
    assert medians["test"].isna().all()


# --- Benjamini-Hochberg -----------------------------------------------------------------------------

@pytest.mark.parametrize("p, expected", [
    # R: p.adjust(c(0.01,0.02,0.03,0.04,0.05), "BH")
    ([0.01, 0.02, 0.03, 0.04, 0.05], [0.05, 0.05, 0.05, 0.05, 0.05]),
    # R: p.adjust(c(0.001,0.008,0.039,0.041,0.042,0.06,0.074,0.205), "BH")
    ([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205],
     [0.0080, 0.0320, 0.0672, 0.0672, 0.0672, 0.0800, 0.0846, 0.2050]),
])
def test_bh_against_r(p, expected):
    assert kinetics.adjust_bh(pd.Series(p)).to_numpy() == pytest.approx(expected, abs=5e-5)


def test_bh_leaves_missing_p_out_of_the_count():
    # R: p.adjust(c(0.01, NA, 0.04), "BH") = 0.02 NA 0.04 (n = 2 tests, not 3)
    q = kinetics.adjust_bh(pd.Series([0.01, np.nan, 0.04]))
    assert q[0] == pytest.approx(0.02) and math.isnan(q[1]) and q[2] == pytest.approx(0.04)


def test_q_values_adjust_over_every_day_and_analyte_of_the_call():
    # IL-6 day 3: 1,2,3 vs 4,5,6,7 -> p = 2/35 (above).
    # IFN-gamma day 3: x ranks {1,4,6} of 7: rank sum 11; subsets of 3 ranks from 1..7 with sum
    # <= 11: sums 6,7,8,9,10,11 have 1,1,2,3,4,4 subsets = 15 of 35, so p = 2 x 15/35 = 30/35.
    # IFN-gamma day 4 has one group: not a test, so not counted.
    # BH over the 2 tests: q(2/35) = min(2/35 x 2/1, 30/35) = 4/35; q(30/35) = 30/35.
    rows = (two_groups([1, 2, 3], [4, 5, 6, 7], "IL-6") + two_groups([1, 4, 6], [2, 3, 5, 7], "IFN-gamma")
            + [("x0", "A", "IFN-gamma", 4, 1.0), ("x1", "A", "IFN-gamma", 4, 2.0)])
    medians = kinetics.cytokine_medians(patient_days(rows))
    assert day_p(medians, "IFN-gamma", 3) == pytest.approx(30 / 35, rel=1e-9)
    il6 = medians[medians["analyte"] == "IL-6"]
    ifn = medians[(medians["analyte"] == "IFN-gamma") & (medians["day"] == 3)]
    assert il6["q_value"].to_numpy() == pytest.approx([4 / 35] * 2)
    assert ifn["q_value"].to_numpy() == pytest.approx([30 / 35] * 2)
    assert math.isnan(cell(medians, "A", "IFN-gamma", 4).q_value)


# --- values below the LLOQ --------------------------------------------------------------------------

LLOQ_ROWS = patient_days([
    # A: two patients below the LLOQ of 1.5 (stored at 1.5), then 10 and 20
    ("a1", "A", "IL-6", 0, 1.5, True), ("a2", "A", "IL-6", 0, 1.5, True),
    ("a3", "A", "IL-6", 0, 10.0, False), ("a4", "A", "IL-6", 0, 20.0, None),  # blank flag = quantified
    ("b1", "B", "IL-6", 0, 30.0, False), ("b2", "B", "IL-6", 0, 40.0, False),
])


def test_lloq_as_recorded_and_halved():
    recorded = kinetics.cytokine_medians(LLOQ_ROWS, lloq="as recorded")
    halved = kinetics.cytokine_medians(LLOQ_ROWS, lloq="half")
    a_recorded, a_half = cell(recorded, "A", "IL-6", 0), cell(halved, "A", "IL-6", 0)
    # sorted 1.5, 1.5, 10, 20: median (1.5 + 10)/2 = 5.75, q1 = 1.5 + 0.75 x 0 = 1.5
    assert (a_recorded["median"], a_recorded.q1) == (5.75, 1.5)
    # sorted 0.75, 0.75, 10, 20: median 5.375, q1 0.75
    assert (a_half["median"], a_half.q1) == (5.375, 0.75)
    assert a_recorded.n_below_lloq == a_half.n_below_lloq == 2
    assert cell(recorded, "B", "IL-6", 0).n_below_lloq == 0
    # Ranks are unchanged by halving, so p is too. With the tie, R's wilcox.test uses the normal
    # approximation: ranks of A 1.5, 1.5, 3, 4 -> W = 10 - 10 = 0, mean mn/2 = 4; variance
    # mn/12 x ((N+1) - sum(t^3-t)/(N(N-1))) = 8/12 x (7 - 6/30) = 4.5333; with the continuity
    # correction z = (0 - 4 + 0.5)/sqrt(4.5333) = -1.64384, p = 2 x pnorm(-1.64384) = 0.100210.
    assert day_p(recorded, "IL-6", 0) == day_p(halved, "IL-6", 0) == pytest.approx(0.100210, abs=1e-6)


def test_lloq_count_for_the_note():
    counts = kinetics.count_below_lloq(kinetics.cytokine_medians(LLOQ_ROWS)).set_index("analyte")
    assert (counts.loc["IL-6", "n_below_lloq"], counts.loc["IL-6", "n_values"]) == (2, 6)
    assert counts.loc["IL-6", "unit"] == "pg/mL"


def test_unknown_lloq_option_is_refused():
    with pytest.raises(ValueError):
        kinetics.cytokine_medians(LLOQ_ROWS, lloq="zero")


# --- intervention days ------------------------------------------------------------------------------

PATIENTS = pd.DataFrame({"patient_id": ["A1", "A2", "A3", "B1"], "group": ["X", "X", "X", "Y"]})
INTERVENTIONS = pd.DataFrame({
    "patient_id": ["A1", "A1", "A2", "A1", "B1", "A3"],
    "agent_class": ["IL-6 blockade", "IL-6 blockade", "IL-6 blockade", "corticosteroid", "corticosteroid",
                    "IVIG"],
    "start_day": [5.0, 3.0, 4.5, 7.0, 9.0, 8.0],  # A1's first tocilizumab is day 3, not 5
})


def test_intervention_median_first_day_per_group():
    days = kinetics.intervention_days(INTERVENTIONS, PATIENTS).set_index(["group", "agent_class"])
    # X, IL-6 blockade: first doses 3 (A1) and 4.5 (A2) -> median 3.75, 2 of 3 patients
    assert tuple(days.loc[("X", "IL-6 blockade"), ["median_day", "n_patients", "n_group"]]) == (3.75, 2, 3)
    assert tuple(days.loc[("X", "corticosteroid"), ["median_day", "n_patients"]]) == (7.0, 1)
    assert tuple(days.loc[("Y", "corticosteroid"), ["median_day", "n_patients", "n_group"]]) == (9.0, 1, 1)
    assert len(days) == 4


def test_intervention_days_relative_to_origins_and_chosen_classes():
    origins = pd.DataFrame({"patient_id": ["A1", "A2"], "origin_day": [2.0, 1.0]})  # A3, B1 have none
    days = kinetics.intervention_days(INTERVENTIONS, PATIENTS, origins, classes=["IL-6 blockade", "corticosteroid"])
    days = days.set_index(["group", "agent_class"])
    # A1: 3 - 2 = 1; A2: 4.5 - 1 = 3.5 -> median 2.25; only A1, A2 considered in X
    assert tuple(days.loc[("X", "IL-6 blockade"), ["median_day", "n_patients", "n_group"]]) == (2.25, 2, 2)
    assert days.loc[("X", "corticosteroid"), "median_day"] == 5.0
    assert list(days.index) == [("X", "IL-6 blockade"), ("X", "corticosteroid")]  # no Y, no IVIG


def test_alignment_at_onset_uses_the_episode_onset():
    toxicity = pd.DataFrame({"patient_id": ["A1", "A1", "A2", "B1"], "day": [2.0, 6.5, 3.0, 4.0],
                             "icans_grade": [1, 3, 2, 4]}).astype({"icans_grade": "Int64"})
    patients = PATIENTS.assign(death_day=np.nan)
    origins = kinetics.align_at_onset(compute_episodes(toxicity, patients))
    assert dict(zip(origins["patient_id"], origins["origin_day"])) == {"A1": 6.5, "B1": 4.0}


# --- significance marks -----------------------------------------------------------------------------

def test_marks_at_the_published_thresholds():
    medians = pd.DataFrame({
        "group": ["A", "B"] * 5, "analyte": "IL-6", "day": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5],
        "p_value": [0.04, 0.04, 0.05, 0.05, 0.0999, 0.0999, 0.1, 0.1, np.nan, np.nan],
        "q_value": [0.2, 0.2, 0.04, 0.04, 0.3, 0.3, 0.3, 0.3, np.nan, np.nan],
        "q3": [10.0, 30.0, 5.0, 4.0, 7.0, 8.0, 1.0, 1.0, 1.0, 1.0],
    })
    marks = kinetics.significance_marks(medians)
    assert list(marks.columns) == ["analyte", "day", "p_value", "q_value", "mark", "y"]
    # 0.04 < 0.05 significant; 0.05 is not < 0.05 but < 0.1: trend; 0.0999 trend; 0.1 and NaN none
    assert list(zip(marks["day"], marks["mark"])) == [(1, "significant"), (2, "trend"), (3, "trend")]
    assert list(marks["y"]) == [30.0, 5.0, 8.0]  # the highest q3 of the day
    by_q = kinetics.significance_marks(medians, on="q_value")
    assert list(zip(by_q["day"], by_q["mark"])) == [(2, "significant")]


def test_empty_cohort_gives_empty_frames_with_columns():
    empty = patient_days([])
    medians = kinetics.cytokine_medians(empty)
    assert medians.empty and "q_value" in medians.columns
    assert kinetics.significance_marks(medians).empty
    assert kinetics.intervention_days(INTERVENTIONS.iloc[:0], PATIENTS).empty


def test_serum_analytes_offered_in_panel_order_without_cell_counts():
    available = ["CAR-T cells", "ferritin", "IL-6", "my marker", "CRP", "IFN-gamma", "CD4+ CAR-T cells"]
    assert kinetics.list_serum_analytes(available) == ["IL-6", "IFN-gamma", "CRP", "ferritin", "my marker"]


# --- every cell at once, the same numbers as scipy cell by cell (issue 11) ----------------------

def scipy_cell_by_cell(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """The reference: one scipy call per cell, R's method choice (exact below 50 without ties)."""
    from scipy import stats as scipy_stats

    rows = []
    for cell, values in frame.dropna(subset=["value"]).groupby(by, sort=True):
        samples = [v.to_numpy(float) for _, v in values.groupby("group")["value"] if len(v) >= 2]
        pooled = np.concatenate(samples) if samples else np.array([])
        if len(samples) < 2 or np.all(pooled == pooled[0]):
            rows.append((*cell, np.nan, None))
        elif len(samples) > 2:
            rows.append((*cell, scipy_stats.kruskal(*samples).pvalue, "Kruskal-Wallis"))
        else:
            x, y = samples
            exact = len(x) < 50 and len(y) < 50 and np.unique(pooled).size == pooled.size
            p = scipy_stats.mannwhitneyu(x, y, alternative="two-sided",
                                         method="exact" if exact else "asymptotic").pvalue
            rows.append((*cell, p, "Mann-Whitney U"))
    return pd.DataFrame(rows, columns=[*by, "p_value", "test"])


def random_cells(seed: int, n_cells: int, max_groups: int, max_n: int, levels: int | None) -> pd.DataFrame:
    """Random patient rows over many cells: group sizes 0..max_n, values rounded to `levels` (ties) or not."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_cells):
        for g in range(rng.integers(1, max_groups + 1)):
            shift = rng.normal(0, 1)
            for i in range(rng.integers(0, max_n + 1)):
                v = rng.normal(shift, 1.0)
                v = float(np.round(v * levels) / levels) if levels else v
                rows.append((f"p{c}-{g}-{i}", f"G{g}", "IL-6", c, v))
    return patient_days(rows)


@pytest.mark.parametrize("seed,n_cells,max_groups,max_n,levels", [
    (1, 300, 2, 6, None),     # small n, no ties: exact Mann-Whitney
    (2, 300, 2, 8, 2),        # small n with ties: normal approximation with tie correction
    (3, 120, 2, 70, None),    # 50 or more per group: normal approximation
    (4, 200, 6, 8, 3),        # many groups, ties: Kruskal-Wallis
    (5, 100, 4, 60, 1),       # heavy ties, big groups, 1-group and all-equal cells
])
def test_every_cell_at_once_equals_scipy_cell_by_cell(seed, n_cells, max_groups, max_n, levels):
    frame = random_cells(seed, n_cells, max_groups, max_n, levels)
    ours = kinetics.compare_groups(frame, ["analyte", "day"])
    reference = scipy_cell_by_cell(frame, ["analyte", "day"])
    assert list(ours[["analyte", "day"]].itertuples(index=False)) == \
        list(reference[["analyte", "day"]].itertuples(index=False))
    assert list(ours["test"]) == list(reference["test"])
    assert set(ours["test"].dropna()) <= {"Mann-Whitney U", "Kruskal-Wallis"}
    # bit for bit: scipy's formulas, operation for operation
    np.testing.assert_array_equal(ours["p_value"].to_numpy(float), reference["p_value"].to_numpy(float))


def test_every_method_is_exercised_by_the_random_cells():
    tests = pd.concat([scipy_cell_by_cell(random_cells(s, 60, g, n, lv), ["analyte", "day"])
                       for s, g, n, lv in ((1, 2, 6, None), (2, 2, 8, 2), (4, 6, 8, 3))])
    assert {"Mann-Whitney U", "Kruskal-Wallis", None} <= set(tests["test"])


# --- aggregated in DuckDB: the same table as from the patient-day rows (issue 11) ---------------

@pytest.fixture(scope="module")
def sample_connection():
    from pathlib import Path

    from icans_core import store
    from icans_core.ingest import load_paths

    result = load_paths([Path(__file__).resolve().parent.parent / "data" / "sample"])
    assert result.ok
    con = store.connect()
    store.load_cohort(con, result.cohort)
    return con


@pytest.mark.parametrize("group_by,aligned,lloq,day_range,products", [
    ("group", False, kinetics.LLOQ_AS_RECORDED, None, ()),
    ("product", False, kinetics.LLOQ_HALF, (-5, 28), ()),             # several groups: Kruskal-Wallis
    ("group", True, kinetics.LLOQ_AS_RECORDED, (-3, 14), ()),         # days since severe-ICANS onset
    ("disease", False, kinetics.LLOQ_AS_RECORDED, None, ("axi-cel",)),  # a filtered selection
])
def test_cohort_medians_in_duckdb_equal_the_patient_day_route(sample_connection, group_by, aligned, lloq, day_range,
                                                              products):
    from icans_core import results, store
    from icans_core.filters import CohortFilter

    con = sample_connection
    store.select_patients(con, CohortFilter(products=products))
    analytes = results.serum_analytes(con)
    origins = None
    if aligned:
        episodes = compute_episodes(store.toxicity_frame(con), store.patients_frame(con, group_by))
        origins = kinetics.align_at_onset(episodes)
    expected = kinetics.cytokine_medians(store.lab_patient_days(con, analytes, group_by, origins), lloq, day_range)
    found = kinetics.cohort_cytokine_medians(con, analytes, group_by, origins, lloq, day_range)
    store.select_patients(con, CohortFilter())
    assert len(found) > 50 and found["p_value"].notna().any()
    assert list(found.columns) == list(expected.columns)
    keys = ["group", "analyte", "day", "n", "unit", "n_below_lloq", "n_patients", "test"]
    assert found[keys].astype(object).where(found[keys].notna(), None).values.tolist() == \
        expected[keys].astype(object).where(expected[keys].notna(), None).values.tolist()
    np.testing.assert_array_equal(found["p_value"].to_numpy(float), expected["p_value"].to_numpy(float))
    np.testing.assert_array_equal(found["q_value"].to_numpy(float), expected["q_value"].to_numpy(float))
    quartiles = found[["median", "q1", "q3"]].to_numpy(float), expected[["median", "q1", "q3"]].to_numpy(float)
    if aligned:  # DuckDB's quantile_cont and pandas interpolate alike, to the last bit or two
        np.testing.assert_allclose(*quartiles, rtol=1e-13)
    else:  # read off the rank order (day_cells) as pandas' groupby quantile computes them
        np.testing.assert_array_equal(*quartiles)


def test_a_cell_without_its_key_is_listed_untested():
    frame = pd.DataFrame({"analyte": ["IL-6"] * 8, "day": [1.0, 1.0, 1.0, 1.0, np.nan, np.nan, np.nan, np.nan],
                          "group": ["A", "A", "B", "B"] * 2, "value": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]})
    found = kinetics.compare_groups(frame, ["analyte", "day"])
    assert found["day"].tolist()[0] == 1.0 and np.isnan(found["day"].tolist()[1])
    assert found["test"].tolist() == ["Mann-Whitney U", None]
    assert found["p_value"].iloc[0] == pytest.approx(1 / 3) and np.isnan(found["p_value"].iloc[1])

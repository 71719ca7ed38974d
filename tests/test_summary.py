"""Table 1, its tests and its formatting, against R's output and small cohorts worked by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from icans_core.summary import (
    ALL_PATIENTS,
    FISHER,
    FISHER_MONTE_CARLO,
    KRUSKAL_WALLIS,
    MANN_WHITNEY,
    NOT_TESTED_GROUPS,
    NOT_TESTED_LEVELS,
    cohort_summary,
    compare_categorical,
    compare_continuous,
    fisher_test,
    format_count,
    format_median_iqr,
    format_p,
    grade_distribution,
    interventions_by_class,
    key_numbers,
    small_groups,
    summary_table,
    used_tests,
)


# --- Fisher's exact test -----------------------------------------------------------------------

def test_fisher_2x2_matches_r():
    # R: fisher.test(matrix(c(3, 1, 1, 3), 2))$p.value = 0.4857
    assert fisher_test(np.array([[3, 1], [1, 3]])) == (FISHER, pytest.approx(0.4857, abs=5e-5))
    # R: fisher.test(matrix(c(8, 2, 1, 5), 2))$p.value = 0.03497 (matrix() fills by column)
    assert fisher_test(np.array([[8, 1], [2, 5]])) == (FISHER, pytest.approx(0.03497, abs=5e-6))


def test_fisher_3x2_by_hand():
    # Margins: rows 2, 2, 2; columns 3, 3. Tables: the 6 orderings of (2, 1, 0) in column 1, each
    # C(2,2) C(2,1) C(2,0) / C(6,3) = 2/20, and (1, 1, 1) with 8/20. The observed (2, 0, 1) has 0.1:
    # p = 6 x 0.1 = 0.6 (R: fisher.test(matrix(c(2, 0, 1, 0, 2, 1), 3))$p.value = 0.6).
    table = np.array([[2, 0], [0, 2], [1, 1]])
    assert fisher_test(table) == (FISHER, pytest.approx(0.6))
    assert fisher_test(table.T) == (FISHER, pytest.approx(0.6))  # 2 x 3: groups as rows


def brute_force_fisher(table: np.ndarray) -> float:
    """Every table with the margins, enumerated cell by cell (an implementation independent of the code)."""
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    total = table.sum()

    def probability(t):
        numerator = math.prod(math.factorial(int(r)) for r in rows) * math.prod(math.factorial(int(c)) for c in cols)
        return numerator / (math.factorial(int(total)) * math.prod(math.factorial(int(x)) for x in t.ravel()))

    observed = probability(table)
    p = 0.0
    free = [range(int(min(rows[i], cols[j])) + 1) for i in range(len(rows) - 1) for j in range(len(cols) - 1)]
    for cells in itertools.product(*free):
        t = np.zeros_like(table)
        t[:-1, :-1] = np.array(cells).reshape(len(rows) - 1, len(cols) - 1)
        t[:-1, -1] = rows[:-1] - t[:-1, :-1].sum(axis=1)
        t[-1, :] = cols - t[:-1, :].sum(axis=0)
        if (t < 0).any():
            continue
        if probability(t) <= observed * (1 + 1e-7):
            p += probability(t)
    return p


def test_fisher_2xk_exact_equals_full_enumeration():
    table = np.array([[3, 1], [2, 4], [0, 3], [4, 2], [1, 1]])
    name, p = fisher_test(table)
    assert name == FISHER
    assert p == pytest.approx(brute_force_fisher(table), rel=1e-9)


def test_fisher_rxc_is_monte_carlo_and_says_so():
    table = np.array([[3, 0, 1], [0, 3, 1], [1, 1, 2]])
    name, p = fisher_test(table)
    assert name == FISHER_MONTE_CARLO == "Fisher's exact (Monte Carlo, 9,999 tables)"
    assert p == pytest.approx(brute_force_fisher(table), abs=0.02)  # Monte Carlo standard error ~ 0.004
    assert fisher_test(table) == (name, p)  # fixed seed: the same answer every time


def test_fisher_monte_carlo_on_a_sparse_table():
    # more cells than patients (a case scipy answers with an array): still one p-value
    table = np.array([[2, 0, 0], [0, 2, 0], [0, 0, 2]])
    name, p = fisher_test(table)
    assert name == FISHER_MONTE_CARLO
    # the 6 permutation matrices x 2 are the least probable tables, each 2!^6 / (6! 2!^3) = 1/90
    assert brute_force_fisher(table) == pytest.approx(6 / 90)
    assert p == pytest.approx(6 / 90, abs=0.01)


def test_categorical_test_leaves_missing_out_and_needs_two_levels():
    levels = pd.Series(["F", "F", "F", "M", None, "F", "M", "M", "M"])
    groups = pd.Series(["a", "a", "a", "a", "a", "b", "b", "b", "b"])
    assert compare_categorical(levels, groups) == (FISHER, pytest.approx(0.4857, abs=5e-5))
    name, p = compare_categorical(pd.Series(["F"] * 4), pd.Series(["a", "a", "b", "b"]))
    assert name.startswith("not tested") and math.isnan(p)
    name, p = compare_categorical(pd.Series(["F", "M"]), pd.Series(["a", "a"]))
    assert name.startswith("not tested") and math.isnan(p)


# --- rank tests --------------------------------------------------------------------------------

def test_mann_whitney_exact():
    # complete separation of 3 vs 4: p = 2 / C(7, 3) = 2/35 (R: wilcox.test(1:3, 4:7)$p.value = 0.05714)
    assert compare_continuous(pd.Series([1, 2, 3, 4, 5, 6, 7]), pd.Series(list("aaabbbb"))) == (
        MANN_WHITNEY, pytest.approx(2 / 35))


def test_mann_whitney_with_ties_uses_the_normal_approximation_with_continuity_correction():
    # x = 1 2 2 3 5, y = 2 4 5 6 7 8. Ranks: 1 -> 1, the three 2s -> 3, 3 -> 5, 4 -> 6, the two 5s ->
    # 7.5, 6 -> 9, 7 -> 10, 8 -> 11. W_x = 1+3+3+5+7.5 = 19.5, U = 19.5 - 15 = 4.5, E[U] = 15.
    # Var = mn/12 x (N+1 - sum(t^3 - t)/(N(N-1))) = 30/12 x (12 - 30/110); z = (|4.5 - 15| - 0.5)/sd.
    # R: wilcox.test(c(1,2,2,3,5), c(2,4,5,6,7,8)): W = 4.5, p-value = 0.06477
    variance = 30 / 12 * (12 - 30 / 110)
    expected = math.erfc(10 / math.sqrt(variance) / math.sqrt(2))
    values = pd.Series([1, 2, 2, 3, 5, 2, 4, 5, 6, 7, 8])
    groups = pd.Series(list("xxxxxyyyyyy"))
    name, p = compare_continuous(values, groups)
    assert name == MANN_WHITNEY
    assert p == pytest.approx(expected, rel=1e-9)
    assert p == pytest.approx(0.06477, abs=5e-5)


def test_kruskal_wallis_three_groups():
    # H = 12/(9 x 10) x (6^2 + 15^2 + 24^2)/3 - 30 = 7.2 on 2 df: p = exp(-3.6) = 0.02732
    name, p = compare_continuous(pd.Series(range(1, 10)), pd.Series(list("aaabbbccc")))
    assert (name, p) == (KRUSKAL_WALLIS, pytest.approx(math.exp(-3.6)))


def test_continuous_test_needs_two_groups_with_values():
    name, p = compare_continuous(pd.Series([1.0, 2.0, np.nan]), pd.Series(["a", "a", "b"]))
    assert name.startswith("not tested") and math.isnan(p)


# --- formatting -----------------------------------------------------------------------------------

@pytest.mark.parametrize("count, total, text", [
    (1, 8, "1 (13%)"),  # 12.5% rounds half up
    (3, 8, "3 (38%)"),  # 37.5%
    (1, 3, "1 (33%)"),
    (0, 5, "0 (0%)"),
    (1, 300, "1 (<1%)"),
    (4, 4, "4 (100%)"),
])
def test_count_format(count, total, text):
    assert format_count(count, total) == text


def test_median_iqr_format():
    # 1 2 3 4: median 2.5, quartiles (type 7) 1.75 and 3.25, printed half up to one decimal
    assert format_median_iqr(pd.Series([1, 2, 3, 4])) == "2.5 [1.8–3.3]"
    assert format_median_iqr(pd.Series([10, 20, 30])) == "20 [15–25]"
    assert format_median_iqr(pd.Series([np.nan])) == "n/a"


def test_p_format():
    assert [format_p(p) for p in (0.48571, 0.034965, 0.0004, np.nan)] == ["0.486", "0.035", "<0.001", ""]


# --- Table 1 on a cohort worked by hand -----------------------------------------------------------

PATIENTS = pd.DataFrame({
    "patient_id": ["I1", "I2", "I3", "I4", "S1", "S2", "S3", "S4"],
    "group": ["IVIG"] * 4 + ["Steroids"] * 4,
    "product": ["axi-cel", "axi-cel", "axi-cel", "tisa-cel", "axi-cel", "tisa-cel", "tisa-cel", "tisa-cel"],
    "disease": ["DLBCL"] * 8,
    "age_years": [50, 60, 70, 80, 30, 40, 45, 55],
    "sex": ["F", "F", "F", "M", "F", "M", "M", "M"],
    "ecog": [0, 1, 1, None, 0, 0, 1, 0],
    "death_day": [None, None, 20.0, None, None, None, None, None],
})
TOXICITY = pd.DataFrame({
    "patient_id": ["I1", "I1", "I2", "I2", "I3", "I4", "I4", "S1", "S2", "S3", "S4"],
    "day": [1, 5, 2, 6, 3, 1, 9, 2, 2, 2, 2],
    "crs_grade": [2, 1, 1, 0, 3, 1, 0, 1, 1, 2, None],
    "icans_grade": [3, 1, 4, 0, 3, 0, 0, 1, 2, 0, None],  # S4 never assessed
})
EPISODES = pd.DataFrame({
    "patient_id": ["I1", "I2", "I3"], "group": ["IVIG"] * 3, "outcome": ["resolved", "resolved", "died"],
    "time_to_resolution": [4.0, 4.0, 17.0],
})
INTERVENTIONS = pd.DataFrame({
    "patient_id": ["I1", "I2", "I3", "I4", "I1", "S1"],
    "agent_class": ["IVIG"] * 4 + ["corticosteroid"] * 2,
    "start_day": [3.0, 5.0, 4.0, 8.0, 1.0, 2.0],
})
EXPOSURE = pd.DataFrame({
    "patient_id": PATIENTS["patient_id"], "group": PATIENTS["group"],
    "steroid_days": [3, 0, 0, 0, 2, 0, 0, 0], "cumulative_dex_mg": [120.0, 0, 0, 0, 40.0, 0, 0, 0],
})


@pytest.fixture(scope="module")
def tidy():
    return cohort_summary(PATIENTS, TOXICITY, INTERVENTIONS, EXPOSURE, EPISODES)


def cell(tidy, characteristic, level, group):
    found = tidy[(tidy["characteristic"] == characteristic) & (tidy["level"] == level) & (tidy["group"] == group)]
    assert len(found) == 1, (characteristic, level, group, tidy["characteristic"].unique())
    return found.iloc[0]


def test_table1_columns_and_groups(tidy):
    assert list(tidy.columns) == ["characteristic", "level", "group", "value", "n", "p_value", "test"]
    assert list(dict.fromkeys(tidy["group"])) == ["IVIG", "Steroids", ALL_PATIENTS]
    assert cell(tidy, "Patients", "n", ALL_PATIENTS)["n"] == 8


def test_table1_sex_is_fisher_on_the_2x2(tidy):
    f = cell(tidy, "Sex", "F", "IVIG")
    assert (f["value"], f["n"]) == ("3 (75%)", 3)
    assert cell(tidy, "Sex", "F", "Steroids")["value"] == "1 (25%)"
    assert cell(tidy, "Sex", "M", ALL_PATIENTS)["value"] == "4 (50%)"
    assert f["test"] == FISHER and f["p_value"] == pytest.approx(0.4857, abs=5e-5)


def test_table1_age_is_mann_whitney(tidy):
    age = cell(tidy, "Age, years", "median [IQR]", "IVIG")
    assert age["value"] == "65 [57.5–72.5]"
    assert cell(tidy, "Age, years", "median [IQR]", "Steroids")["value"] == "42.5 [37.5–47.5]"
    # 30 40 45 50 55 60 70 80: median 52.5, quartiles 43.75 and 62.5
    assert cell(tidy, "Age, years", "median [IQR]", ALL_PATIENTS)["value"] == "52.5 [43.8–62.5]"
    # IVIG ranks 4, 6, 7, 8: U = 15 of 16; 2 of the C(8, 4) = 70 splits are as extreme each way: p = 4/70
    assert age["test"] == MANN_WHITNEY and age["p_value"] == pytest.approx(4 / 70)


def test_table1_unknown_is_a_level_but_not_tested(tidy):
    assert cell(tidy, "ECOG performance status", "unknown", "IVIG")["value"] == "1 (25%)"
    assert cell(tidy, "ECOG performance status", "1", "IVIG")["value"] == "2 (50%)"
    # tested on the known values only: IVIG 0,1,1 vs Steroids 0,0,1,0 = [[1, 3], [2, 1]]
    ecog = cell(tidy, "ECOG performance status", "0", "IVIG")
    assert ecog["p_value"] == pytest.approx(fisher_test(np.array([[1, 3], [2, 1]]))[1])
    assert ecog["p_value"] == pytest.approx(0.4857, abs=5e-5)  # R: fisher.test(matrix(c(1,2,3,1),2))


def test_table1_grades_episodes_and_interventions(tidy):
    assert cell(tidy, "Maximum ICANS grade (ASTCT)", "grade 3", "IVIG")["value"] == "2 (50%)"
    assert cell(tidy, "Maximum ICANS grade (ASTCT)", "grade 4", "IVIG")["value"] == "1 (25%)"
    # S4 was never assessed: not grade 0
    assert cell(tidy, "Maximum ICANS grade (ASTCT)", "not assessed", "Steroids")["value"] == "1 (25%)"
    # ... and left out of the test: grades 0-4 x (IVIG, Steroids) of the 7 assessed patients
    icans = cell(tidy, "Maximum ICANS grade (ASTCT)", "grade 3", "IVIG")
    assert icans["test"] == FISHER
    assert icans["p_value"] == pytest.approx(brute_force_fisher(np.array([[1, 1], [0, 1], [0, 1], [2, 0], [1, 0]])))
    assert cell(tidy, "Maximum CRS grade (ASTCT)", "grade 3", ALL_PATIENTS)["value"] == "1 (13%)"
    severe = cell(tidy, "Severe ICANS episode", "yes", "IVIG")
    assert severe["value"] == "3 (75%)"
    # [[3, 1], [0, 4]]: R fisher.test(matrix(c(3, 0, 1, 4), 2))$p.value = 0.1429
    assert severe["p_value"] == pytest.approx(0.1429, abs=5e-5)
    assert not (tidy["level"] == "no").any()  # yes/no characteristics show the yes row
    ivig = cell(tidy, "Received IVIG", "yes", "IVIG")
    # [[4, 0], [0, 4]]: p = 2 / C(8, 4) = 0.02857 (R: fisher.test(matrix(c(4, 0, 0, 4), 2)))
    assert ivig["value"] == "4 (100%)" and ivig["p_value"] == pytest.approx(2 / 70)
    assert cell(tidy, "Received corticosteroid", "yes", "Steroids")["value"] == "1 (25%)"
    assert "Received IL-1 blockade" not in set(tidy["characteristic"])  # nobody received it


def test_not_assessed_is_shown_but_not_tested():
    # a: three grade-3 patients and three never assessed for ICANS; b: three grade-1 patients.
    # Tested on the assessed only: [[3, 0], [0, 3]], p = 2 / C(6, 3) = 0.1 (R: fisher.test).
    ids = [f"a{i}" for i in range(6)] + ["b0", "b1", "b2"]
    patients = pd.DataFrame({"patient_id": ids, "group": ["a"] * 6 + ["b"] * 3, "product": "axi-cel",
                             "disease": "LBCL", "age_years": 60, "sex": "F", "ecog": 0, "death_day": None})
    toxicity = pd.DataFrame({"patient_id": ids, "day": 1.0, "crs_grade": 1,
                             "icans_grade": [3, 3, 3, None, None, None, 1, 1, 1]})
    exposure = patients[["patient_id", "group"]].assign(steroid_days=0, cumulative_dex_mg=0.0)
    episodes = pd.DataFrame({"patient_id": ["a0", "a1", "a2"], "group": "a", "outcome": "resolved",
                             "time_to_resolution": 3.0})
    tidy = cohort_summary(patients, toxicity, None, exposure, episodes)
    assert cell(tidy, "Maximum ICANS grade (ASTCT)", "not assessed", "a")["value"] == "3 (50%)"
    icans = cell(tidy, "Maximum ICANS grade (ASTCT)", "grade 3", "a")
    assert icans["value"] == "3 (50%)"
    assert (icans["test"], icans["p_value"]) == (FISHER, pytest.approx(0.1))


def test_table1_steroids_and_time_to_resolution(tidy):
    days = cell(tidy, "Systemic steroid days (all patients)", "median [IQR]", "IVIG")
    assert days["value"] == "0 [0–0.8]"  # 0 0 0 3: Q3 = 0.75
    dose = cell(tidy, "Cumulative dexamethasone-equivalent dose, mg (all patients)", "median [IQR]", ALL_PATIENTS)
    assert dose["n"] == 8
    ttr = cell(tidy, "Time to resolution of severe ICANS, days (resolved episodes)", "median [IQR]", "IVIG")
    assert (ttr["value"], ttr["n"]) == ("4 [4–4]", 2)  # the death is not a resolution
    assert cell(tidy, "Time to resolution of severe ICANS, days (resolved episodes)", "median [IQR]",
                "Steroids")["value"] == "n/a"


def test_summary_table_is_wide_with_tests_on_first_rows(tidy):
    wide = summary_table(tidy)
    assert list(wide.columns) == ["characteristic", "level", "IVIG (n=4)", "Steroids (n=4)", "All patients (n=8)",
                                  "test", "p"]
    sex = wide[wide["characteristic"] == "Sex"]
    assert list(sex["level"]) == ["F", "M"]
    assert list(sex["IVIG (n=4)"]) == ["3 (75%)", "1 (25%)"]
    assert list(sex["test"]) == [FISHER, ""]
    assert list(sex["p"]) == ["0.486", ""]
    assert wide.iloc[0]["characteristic"] == "Patients" and wide.iloc[0]["p"] == ""
    assert list(used_tests(tidy)["test"]) == [MANN_WHITNEY, FISHER, NOT_TESTED_LEVELS, NOT_TESTED_GROUPS]
    assert summary_table(tidy).set_index("characteristic").loc["Disease", "test"] == NOT_TESTED_LEVELS


def test_more_than_two_groups_switch_tests():
    patients = PATIENTS.assign(group=["a", "a", "b", "b", "b", "c", "c", "c"])
    tidy = cohort_summary(patients, TOXICITY, INTERVENTIONS, EXPOSURE.assign(group=patients["group"]), EPISODES)
    assert cell(tidy, "Age, years", "median [IQR]", "a")["test"] == KRUSKAL_WALLIS
    assert cell(tidy, "Sex", "F", "a")["test"] == FISHER  # 2 levels x 3 groups is still enumerated exactly
    assert cell(tidy, "Product", "axi-cel", "a")["test"] == FISHER


# --- key numbers, grades, interventions ---------------------------------------------------------

def test_key_numbers():
    numbers = key_numbers(PATIENTS, EPISODES).set_index("measure")["value"]
    assert numbers.to_dict() == {"Patients": "8", "With severe ICANS": "3 (38%)",
                                 "Median time to resolution": "4 days", "Deaths": "1 (13%)"}


def test_grade_distribution():
    grades = grade_distribution(PATIENTS, TOXICITY).set_index(["syndrome", "group", "grade"])
    assert grades.loc[("ICANS", "IVIG", 3), "n"] == 2
    assert grades.loc[("ICANS", "IVIG", 3), "percent"] == 50
    # S4 has no assessment at all: 3 Steroids patients assessed
    assert grades.loc[("ICANS", "Steroids", 0), "n_assessed"] == 3
    assert grades.loc[("ICANS", "Steroids", 0), "percent"] == pytest.approx(100 / 3)
    assert grades.loc[("CRS", "Steroids", 1), "label"] == "Steroids (n=3)"
    assert grades.groupby(level=["syndrome", "group"])["percent"].sum().tolist() == pytest.approx([100] * 4)


def test_interventions_by_class():
    by_class = interventions_by_class(INTERVENTIONS, PATIENTS).set_index(["group", "agent_class"])
    ivig = by_class.loc[("IVIG", "IVIG")]
    assert (ivig["n_patients"], ivig["n_treated"], ivig["percent"], ivig["median_first_day"]) == (4, 4, 100, 4.5)
    none = by_class.loc[("Steroids", "IVIG")]
    assert (none["n_treated"], none["percent"]) == (0, 0) and math.isnan(none["median_first_day"])
    assert by_class.loc[("Steroids", "corticosteroid"), "median_first_day"] == 2.0
    assert interventions_by_class(None, PATIENTS).empty


def test_small_groups():
    assert small_groups(PATIENTS).to_dict("list") == {"group": ["IVIG", "Steroids"], "n": [4, 4]}
    assert small_groups(PATIENTS, minimum=4).empty


# --- Fisher at registry size (issue 11: the Overview crashed at ~60,000 patients) ----------------

def test_fisher_monte_carlo_at_60000_patients_on_the_sex_row():
    # Two groups x F / M / other with 60,000 patients: more patients than the 9,999 resampled
    # tables have cells (59,994), where scipy 1.17's fisher_exact raised "cannot reshape array".
    table = np.array([[14_990, 15_010, 12], [15_020, 14_950, 18]])
    assert table.sum() == 60_000
    name, p = fisher_test(table)
    assert name == FISHER_MONTE_CARLO
    # An independent reference: Pearson's chi-square, accurate at this size (expected counts >= 15).
    from scipy.stats import chi2_contingency
    assert p == pytest.approx(chi2_contingency(table, correction=False).pvalue, abs=0.02)
    assert fisher_test(table.T) == (name, p)  # groups as columns: the same p


def test_fisher_monte_carlo_at_60000_patients_from_patient_rows():
    groups = np.repeat(["A", "B"], 30_000)
    levels = np.tile(np.array(["F", "M"] * 14_995 + ["other"] * 10, dtype=object), 2)
    name, p = compare_categorical(pd.Series(levels), pd.Series(groups))
    assert name == FISHER_MONTE_CARLO and p == 1.0  # identical distribution in both groups


def test_fisher_monte_carlo_is_scipys_own_where_scipy_works():
    from scipy import stats

    from icans_core.summary import MONTE_CARLO_SEED
    for table in (np.array([[3, 0, 1], [0, 3, 1], [1, 1, 2]]), np.array([[2, 0, 0], [0, 2, 0], [0, 0, 2]]),
                  np.array([[40, 30, 5], [35, 45, 2], [10, 12, 9]])):
        method = stats.MonteCarloMethod(n_resamples=9_999, rng=np.random.default_rng(MONTE_CARLO_SEED))
        expected = np.asarray(stats.fisher_exact(table, method=method).pvalue).ravel()[0]
        assert fisher_test(table) == (FISHER_MONTE_CARLO, expected)

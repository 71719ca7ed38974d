"""The cohort at a glance: "Table 1" per group with its tests, key numbers, grade distributions
and the interventions received per class.

Tests follow what users check against in R:
- categorical: Fisher's exact test. A 2x2 table uses scipy's exact test (R's fisher.test);
  any other table with two rows or two columns (2 x K) is computed exactly by enumerating
  every table with the same margins, as fisher.test does, when there are few enough of them
  (MAX_EXACT_TABLES); otherwise, and for larger R x C tables, the p-value is a Monte Carlo
  estimate over FISHER_MONTE_CARLO_TABLES random tables with the same margins (scipy's
  random_table, a fixed seed so the page is reproducible), and the test is named so.
- continuous: Mann-Whitney U for two groups (exact when both groups have fewer than 50 values
  and no ties, otherwise the normal approximation with continuity correction: R's wilcox.test
  defaults), Kruskal-Wallis for more (chi-square approximation with tie correction, as R's
  kruskal.test).
Missing values ("unknown"; "not assessed" for a syndrome never graded) are shown as their own
level but left out of every test.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import gammaln

from icans_core import schema as S

ALL_PATIENTS = "All patients"
FISHER = "Fisher's exact"
FISHER_MONTE_CARLO_TABLES = 9_999
FISHER_MONTE_CARLO = f"Fisher's exact (Monte Carlo, {FISHER_MONTE_CARLO_TABLES:,} tables)"
MONTE_CARLO_SEED = 20250415  # fixed: the same cohort always shows the same p-value
MAX_EXACT_TABLES = 2_000_000  # partial tables held at once by the exact 2 x K enumeration
MANN_WHITNEY = "Mann-Whitney U"
KRUSKAL_WALLIS = "Kruskal-Wallis"
NOT_TESTED_GROUPS = "not tested (fewer than 2 groups with data)"
NOT_TESTED_LEVELS = "not tested (one value only)"
# R's wilcox.test uses the exact distribution below 50 observations per group without ties.
EXACT_MANN_WHITNEY_BELOW = 50
# R's fisher.test counts tables as extreme as the observed one within this relative tolerance.
FISHER_RELATIVE_TOLERANCE = 1e-7
UNKNOWN = "unknown"
NOT_ASSESSED = "not assessed"
MEDIAN_IQR = "median [IQR]"

# How each of store.GROUPINGS reads in a widget or a caption.
# Groups smaller than this get a warning: the seed IVIG study compared 9 with 10 patients.
SMALL_GROUP = 10
TEST_EXPLANATIONS = {
    FISHER: "exact conditional test of the table with its margins fixed (R's fisher.test)",
    FISHER_MONTE_CARLO: "Fisher's exact p-value estimated from random tables with the same margins, used "
                        "when exact enumeration is not feasible (fixed seed)",
    MANN_WHITNEY: "two groups; exact below 50 per group without ties, else normal approximation with "
                  "continuity correction (R's wilcox.test)",
    KRUSKAL_WALLIS: "more than two groups; chi-square approximation with tie correction (R's kruskal.test)",
    NOT_TESTED_GROUPS: "only one group has data for this characteristic",
    NOT_TESTED_LEVELS: "every patient with data has the same value",
}

SUMMARY_COLUMNS = ["characteristic", "level", "group", "value", "n", "p_value", "test"]


# --- tests -------------------------------------------------------------------------------------

def compare_continuous(values: pd.Series, groups: pd.Series) -> tuple[str, float]:
    """Rank test of a measure across groups: (test name, p-value); missing values are left out."""
    frame = pd.DataFrame({"value": pd.to_numeric(values, errors="coerce").to_numpy(dtype=float),
                          "group": np.asarray(groups, dtype=object)}).dropna()
    samples = [g["value"].to_numpy() for _, g in frame.groupby("group", sort=True)]
    if len(samples) < 2:
        return NOT_TESTED_GROUPS, np.nan
    if frame["value"].nunique() < 2:
        return NOT_TESTED_LEVELS, np.nan
    if len(samples) == 2:
        x, y = samples
        ties = frame["value"].duplicated().any()
        exact = len(x) < EXACT_MANN_WHITNEY_BELOW and len(y) < EXACT_MANN_WHITNEY_BELOW and not ties
        result = stats.mannwhitneyu(x, y, alternative="two-sided", use_continuity=True,
                                    method="exact" if exact else "asymptotic")
        return MANN_WHITNEY, float(result.pvalue)
    return KRUSKAL_WALLIS, float(stats.kruskal(*samples).pvalue)


def compare_categorical(levels: pd.Series, groups: pd.Series) -> tuple[str, float]:
    """Fisher's exact test of levels x groups: (test name, p-value); missing levels are left out."""
    # rows and columns in sorted order of level and group (the order the random tables are drawn in)
    level, level_names = pd.factorize(np.asarray(levels, dtype=object), sort=True)
    group, group_names = pd.factorize(np.asarray(groups, dtype=object), sort=True)
    both = (level >= 0) & (group >= 0)
    level, group = level[both], group[both]
    if len(np.unique(group)) < 2:
        return NOT_TESTED_GROUPS, np.nan
    if len(np.unique(level)) < 2:
        return NOT_TESTED_LEVELS, np.nan
    table = np.bincount(level * len(group_names) + group, minlength=len(level_names) * len(group_names))
    return fisher_test(table.reshape(len(level_names), len(group_names)))  # empty rows and columns dropped there


def fisher_test(table: np.ndarray) -> tuple[str, float]:
    """Fisher's exact test of a contingency table: (test name, p-value), exact where feasible."""
    table = np.asarray(table, dtype=np.int64)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return NOT_TESTED_LEVELS, np.nan
    if table.shape == (2, 2):
        return FISHER, float(stats.fisher_exact(table).pvalue)
    if 2 in table.shape:
        p = _fisher_exact_2xk(table if table.shape[1] == 2 else table.T)
        if p is not None:
            return FISHER, p
    return FISHER_MONTE_CARLO, _fisher_monte_carlo(table)


def _fisher_monte_carlo(table: np.ndarray) -> float:
    """Monte Carlo Fisher p: scipy's own algorithm and random stream (fisher_exact with a
    MonteCarloMethod), with the resampled tables always read as a batch.

    scipy (1.17) decides whether its statistic got one table or a batch by comparing the
    array's size with the table's total, so with more patients than resampled cells
    (9,999 tables x 6 cells < 60,000 patients: the sex row of a 60,000-patient registry) it
    reshapes the batch as one table and raises "cannot reshape array"; and with fewer
    patients than cells it returns an array. Here the batch shape is never guessed.
    """
    shape = table.shape
    rng = np.random.default_rng(MONTE_CARLO_SEED)
    tables = stats.random_table(table.sum(axis=1), table.sum(axis=0), seed=rng)

    def resample(size):
        return tables.rvs(size=size[0]).reshape(size)

    def statistic(flat, axis):  # flat: one table's cells, or a batch (n, cells) of them
        return tables.pmf(np.asarray(flat).reshape((-1, *shape)) if np.ndim(flat) > 1 else
                          np.asarray(flat).reshape(shape))

    # tables with *smaller* probability mass are the more extreme ones (as scipy and R)
    result = stats.monte_carlo_test(table.ravel(), resample, statistic, alternative="less",
                                    n_resamples=FISHER_MONTE_CARLO_TABLES)
    return float(np.asarray(result.pvalue).ravel()[0])


def _log_choose(n: int, k: np.ndarray) -> np.ndarray:
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def _fisher_exact_2xk(table: np.ndarray) -> float | None:
    """Exact p of a K x 2 table by enumerating every table with its margins; None if too many.

    With margins fixed, a table's probability is prod_i C(n_i, x_i) / C(N, c) where x_i is the
    first-column count of row i; the p-value sums the tables no more probable than the observed.
    """
    rows = table.sum(axis=1)
    first_column = int(table[:, 0].sum())
    total = int(rows.sum())
    observed = float(sum(_log_choose(int(n), np.array(x)) for n, x in zip(rows, table[:, 0])))
    sums = np.zeros(1, dtype=np.int64)
    log_p = np.zeros(1)
    remaining = int(rows.sum())
    for n in rows:
        n = int(n)
        remaining -= n
        if len(sums) * (n + 1) > MAX_EXACT_TABLES:
            return None
        x = np.arange(n + 1)
        sums = (sums[:, None] + x[None, :]).ravel()
        log_p = (log_p[:, None] + _log_choose(n, x)[None, :]).ravel()
        feasible = (sums <= first_column) & (sums + remaining >= first_column)
        sums, log_p = sums[feasible], log_p[feasible]
    denominator = float(_log_choose(total, np.array(first_column)))
    extreme = log_p <= observed + np.log1p(FISHER_RELATIVE_TOLERANCE)
    return float(min(1.0, np.exp(log_p[extreme] - denominator).sum()))


# --- formatting --------------------------------------------------------------------------------

def _half_up(value: float, places: int) -> Decimal:
    quantum = Decimal(1).scaleb(-places)
    return Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP)


def format_number(value: float) -> str:
    """A number to one decimal, rounded half up (as printed tables are), without a trailing .0."""
    if value is None or pd.isna(value):
        return "n/a"
    text = f"{_half_up(value, 1):f}"
    return text[:-2] if text.endswith(".0") else text


def format_count(count: int, total: int) -> str:
    """'n (%)' with a whole percentage rounded half up: 1 of 8 is '1 (13%)', 1 of 300 '1 (<1%)'."""
    if total == 0:
        return f"{count} (n/a)"
    percent = (Decimal(int(count)) * 100 / Decimal(int(total))).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    if count > 0 and percent == 0:
        return f"{int(count)} (<1%)"
    return f"{int(count)} ({percent}%)"


def format_median_iqr(values: pd.Series) -> str:
    """'median [Q1–Q3]' with quartiles by linear interpolation (R's default quantile type 7)."""
    values = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    if values.empty:
        return "n/a"
    q1, median, q3 = np.percentile(values.to_numpy(dtype=float), [25, 50, 75])
    return f"{format_number(median)} [{format_number(q1)}–{format_number(q3)}]"


def format_p(p: float) -> str:
    """A p-value for a table: three significant digits, '<0.001' below that, blank if untested."""
    if p is None or pd.isna(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3g}"


# --- per-patient characteristics ---------------------------------------------------------------

def group_order(groups: pd.Series) -> list[str]:
    """The stable order of groups used by every table and chart: alphabetical."""
    return sorted(pd.Series(groups).dropna().astype(str).unique())


def _max_grade(toxicity: pd.DataFrame, column: str) -> pd.Series:
    graded = toxicity.loc[toxicity[column].notna(), ["patient_id", column]]
    return graded.groupby("patient_id")[column].max().astype(int)


def _grade_level(max_grade: pd.Series, patient_ids: pd.Series) -> pd.Series:
    # A patient never assessed for the syndrome has no grade (a blank is not grade 0, contract):
    # missing here, shown as "not assessed" and left out of the test.
    return patient_ids.map(max_grade).map(lambda g: f"grade {int(g)}", na_action="ignore")


def per_patient(patients: pd.DataFrame, toxicity: pd.DataFrame, interventions: pd.DataFrame | None,
                exposure: pd.DataFrame, episodes: pd.DataFrame) -> pd.DataFrame:
    """Table 1's inputs, one row per patient (each from that patient's own rows only, in the
    patients' order): what cohort_summary tests and counts. Columns: patient_id, group, age_years,
    sex, product, disease, ecog, max_crs, max_icans ('grade N', missing if never assessed),
    severe_icans (yes/no), 'received <class>' (yes/no) per intervention class, steroid_days,
    cumulative_dex_mg, time_to_resolution (of a resolved severe-ICANS episode)."""
    data = patients[["patient_id", "group", "age_years", "sex", "product", "disease", "ecog"]].copy()
    data["group"] = data["group"].astype(str)
    data["max_crs"] = _grade_level(_max_grade(toxicity, "crs_grade"), data["patient_id"])
    data["max_icans"] = _grade_level(_max_grade(toxicity, "icans_grade"), data["patient_id"])
    data["severe_icans"] = np.where(data["patient_id"].isin(episodes["patient_id"]), "yes", "no")
    received = (interventions[["patient_id", "agent_class"]].drop_duplicates()
                if interventions is not None and len(interventions) else
                pd.DataFrame(columns=["patient_id", "agent_class"]))
    for agent_class in S.AGENT_CLASSES:
        treated = received.loc[received["agent_class"] == agent_class, "patient_id"]
        data[f"received {agent_class}"] = np.where(data["patient_id"].isin(treated), "yes", "no")
    exposure = exposure.set_index("patient_id")
    data["steroid_days"] = data["patient_id"].map(exposure["steroid_days"])
    data["cumulative_dex_mg"] = data["patient_id"].map(exposure["cumulative_dex_mg"])
    resolved = episodes[episodes["outcome"] == "resolved"].set_index("patient_id")["time_to_resolution"]
    data["time_to_resolution"] = data["patient_id"].map(resolved).astype(float)
    return data


# --- Table 1 -----------------------------------------------------------------------------------

def _with_overall(data: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([data, data.assign(group=ALL_PATIENTS)], ignore_index=True)


def _categorical_rows(data: pd.DataFrame, column: str, characteristic: str, groups: list[str],
                      levels: list[str] | None = None, only: list[str] | None = None,
                      missing: str = UNKNOWN) -> list[dict]:
    values = data[column].astype(object).where(data[column].notna(), None)
    codes, present = pd.factorize(values)  # distinct values in order of appearance; missing: -1
    present = list(present)
    frequency = dict(zip(present, np.bincount(codes[codes >= 0], minlength=len(present)).tolist()))
    order = [lv for lv in (levels or []) if lv in present] + sorted(
        (v for v in present if v not in (levels or [])), key=lambda v: (-frequency[v], str(v)))
    if (codes < 0).any():
        order.append(missing)
    shown = [lv for lv in order if only is None or lv in only]
    test, p = compare_categorical(values, data["group"])
    # patients per group and level, and per group; "All patients" counts everyone (and a group of that
    # very name is counted with them, as one group of the table's)
    labels, label_names = pd.factorize(values.fillna(missing))
    group, group_names = pd.factorize(data["group"])
    kept = group >= 0
    per_group = np.bincount(group[kept] * len(label_names) + labels[kept],
                            minlength=len(group_names) * len(label_names)).reshape(len(group_names), len(label_names))
    overall = np.bincount(labels, minlength=len(label_names))
    group_at, label_at = {g: i for i, g in enumerate(group_names)}, {lv: i for i, lv in enumerate(label_names)}

    def count(group_name, level) -> int:
        i, j = group_at.get(group_name), label_at.get(level)
        if j is None:
            return 0
        return int((per_group[i, j] if i is not None else 0) + (overall[j] if group_name == ALL_PATIENTS else 0))

    def total(group_name) -> int:
        i = group_at.get(group_name)
        return int((per_group[i].sum() if i is not None else 0) + (len(values) if group_name == ALL_PATIENTS else 0))

    rows = []
    for level in shown:
        for group_name in [*groups, ALL_PATIENTS]:
            n = count(group_name, level)
            rows.append({"characteristic": characteristic, "level": str(level), "group": group_name,
                         "value": format_count(n, total(group_name)), "n": n, "p_value": p, "test": test})
    return rows


def _continuous_rows(data: pd.DataFrame, column: str, characteristic: str, groups: list[str]) -> list[dict]:
    test, p = compare_continuous(data[column], data["group"])
    both = _with_overall(data[["group", column]])
    rows = []
    for group in [*groups, ALL_PATIENTS]:
        values = both.loc[both["group"] == group, column].dropna()
        rows.append({"characteristic": characteristic, "level": MEDIAN_IQR, "group": group,
                     "value": format_median_iqr(values), "n": int(len(values)), "p_value": p, "test": test})
    return rows


def cohort_summary(patients: pd.DataFrame, toxicity: pd.DataFrame, interventions: pd.DataFrame | None,
                   exposure: pd.DataFrame, episodes: pd.DataFrame) -> pd.DataFrame:
    """Table 1 per group, tidy. Columns: characteristic, level, group (each group, then
    'All patients'), value ('n (%)' or 'median [IQR]'), n (patients counted, or with a value),
    p_value, test (the same on every row of a characteristic; tests compare the groups only)."""
    return summary_from_per_patient(per_patient(patients, toxicity, interventions, exposure, episodes))


def summary_from_per_patient(data: pd.DataFrame) -> pd.DataFrame:
    """cohort_summary from its per-patient inputs (per_patient, or the selected patients' rows of
    it: Table 1 of those patients). Columns: as cohort_summary."""
    groups = group_order(data["group"])
    sizes = _with_overall(data[["group"]]).groupby("group").size()
    rows = [{"characteristic": "Patients", "level": "n", "group": g, "value": str(int(sizes.get(g, 0))),
             "n": int(sizes.get(g, 0)), "p_value": np.nan, "test": ""} for g in [*groups, ALL_PATIENTS]]
    rows += _continuous_rows(data, "age_years", "Age, years", groups)
    rows += _categorical_rows(data, "sex", "Sex", groups, levels=["F", "M", "other"])
    rows += _categorical_rows(data, "product", "Product", groups, levels=[p.short for p in S.PRODUCTS])
    rows += _categorical_rows(data, "disease", "Disease", groups)
    ecog = data["ecog"].map(lambda v: str(int(v)), na_action="ignore")
    rows += _categorical_rows(data.assign(ecog=ecog), "ecog", "ECOG performance status", groups,
                              levels=[str(i) for i in range(5)])
    grade_levels = [f"grade {g}" for g in range(6)]
    rows += _categorical_rows(data, "max_crs", "Maximum CRS grade (ASTCT)", groups, levels=grade_levels,
                              missing=NOT_ASSESSED)
    rows += _categorical_rows(data, "max_icans", "Maximum ICANS grade (ASTCT)", groups, levels=grade_levels,
                              missing=NOT_ASSESSED)
    rows += _categorical_rows(data, "severe_icans", "Severe ICANS episode", groups, levels=["yes", "no"],
                              only=["yes"])
    for agent_class in S.AGENT_CLASSES:
        column = f"received {agent_class}"
        if (data[column] == "yes").any():
            rows += _categorical_rows(data, column, f"Received {agent_class}", groups, levels=["yes", "no"],
                                      only=["yes"])
    rows += _continuous_rows(data, "steroid_days", "Systemic steroid days (all patients)", groups)
    rows += _continuous_rows(data, "cumulative_dex_mg",
                             "Cumulative dexamethasone-equivalent dose, mg (all patients)", groups)
    if data["time_to_resolution"].notna().any():
        rows += _continuous_rows(data, "time_to_resolution",
                                 "Time to resolution of severe ICANS, days (resolved episodes)", groups)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def used_tests(tidy: pd.DataFrame) -> pd.DataFrame:
    """The tests a summary used, in order of first use. Columns: test, explanation."""
    names = [t for t in dict.fromkeys(tidy["test"]) if t]
    return pd.DataFrame({"test": names, "explanation": [TEST_EXPLANATIONS.get(t, "") for t in names]})


def small_groups(patients: pd.DataFrame, minimum: int = SMALL_GROUP) -> pd.DataFrame:
    """Groups with fewer than `minimum` patients. Columns: group, n."""
    sizes = patients.groupby(patients["group"].astype(str)).size().rename("n").reset_index()
    return sizes[sizes["n"] < minimum].sort_values("group").reset_index(drop=True)


def summary_table(tidy: pd.DataFrame) -> pd.DataFrame:
    """Table 1 for display: one row per characteristic and level, a column per group headed
    'group (n=..)', then 'All patients', test and p (shown on a characteristic's first row)."""
    sizes = tidy[tidy["characteristic"] == "Patients"].set_index("group")["n"]
    groups = list(dict.fromkeys(tidy["group"]))
    headers = {g: f"{g} (n={int(sizes.get(g, 0))})" for g in groups}
    keys = tidy[["characteristic", "level"]].drop_duplicates()
    wide = (tidy.pivot(index=["characteristic", "level"], columns="group", values="value")
            .reindex(pd.MultiIndex.from_frame(keys))[groups].rename(columns=headers).reset_index())
    wide.columns.name = None
    tests = tidy.drop_duplicates("characteristic").set_index("characteristic")
    first = ~wide["characteristic"].duplicated()
    wide["test"] = np.where(first, wide["characteristic"].map(tests["test"]), "")
    wide["p"] = np.where(first, wide["characteristic"].map(tests["p_value"]).map(format_p), "")
    return wide


# --- key numbers, grades, interventions ----------------------------------------------------------

def key_numbers(patients: pd.DataFrame, episodes: pd.DataFrame) -> pd.DataFrame:
    """The headline numbers. Columns: measure, value (as shown), detail."""
    n = len(patients)
    severe = int(episodes["patient_id"].nunique()) if len(episodes) else 0
    resolved = episodes[episodes["outcome"] == "resolved"] if len(episodes) else episodes
    median_ttr = resolved["time_to_resolution"].median() if len(resolved) else np.nan
    deaths = int(patients["death_day"].notna().sum())
    return pd.DataFrame([
        {"measure": "Patients", "value": f"{n:,}", "detail": "selected patients"},
        {"measure": "With severe ICANS", "value": format_count(severe, n),
         "detail": "patients with a severe-ICANS episode"},
        {"measure": "Median time to resolution",
         "value": "n/a" if pd.isna(median_ttr) else f"{format_number(median_ttr)} days",
         # A plain median of resolved episodes; the Kaplan-Meier median (censoring deaths and
         # unresolved episodes) is on the time-to-resolution page.
         "detail": f"{len(resolved)} resolved of {len(episodes)} severe-ICANS episodes"},
        {"measure": "Deaths", "value": format_count(deaths, n), "detail": "death_day recorded"},
    ])


def grade_distribution(patients: pd.DataFrame, toxicity: pd.DataFrame) -> pd.DataFrame:
    """Patients by maximum ASTCT grade per syndrome and group (patients never assessed for a
    syndrome left out). Columns: syndrome (CRS, ICANS), group, grade, n, n_assessed, percent,
    label ('group (n=..)')."""
    frames = []
    for syndrome, column in (("CRS", "crs_grade"), ("ICANS", "icans_grade")):
        grades = patients[["patient_id", "group"]].assign(
            grade=patients["patient_id"].map(_max_grade(toxicity, column))).dropna(subset=["grade"])
        counts = grades.groupby(["group", "grade"]).size().rename("n").reset_index()
        counts["syndrome"] = syndrome
        frames.append(counts)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if out.empty:
        return pd.DataFrame(columns=["syndrome", "group", "grade", "n", "n_assessed", "percent", "label"])
    out["grade"] = out["grade"].astype(int)
    out["group"] = out["group"].astype(str)
    out["n_assessed"] = out.groupby(["syndrome", "group"])["n"].transform("sum")
    out["percent"] = 100.0 * out["n"] / out["n_assessed"]
    out["label"] = out["group"] + " (n=" + out["n_assessed"].astype(str) + ")"
    return (out[["syndrome", "group", "grade", "n", "n_assessed", "percent", "label"]]
            .sort_values(["syndrome", "group", "grade"]).reset_index(drop=True))


def interventions_by_class(interventions: pd.DataFrame | None, patients: pd.DataFrame) -> pd.DataFrame:
    """Patients receiving each intervention class per group. Columns: group, agent_class,
    n_patients (in the group), n_treated, percent, median_first_day (of each treated patient's
    first dose of the class), rows (intervention rows)."""
    columns = ["group", "agent_class", "n_patients", "n_treated", "percent", "median_first_day", "rows"]
    if interventions is None or interventions.empty:
        return pd.DataFrame(columns=columns)
    groups = patients[["patient_id", "group"]].astype({"group": str})
    given = interventions.merge(groups, on="patient_id")
    per_patient = given.groupby(["group", "agent_class", "patient_id"])["start_day"].agg(["min", "size"])
    per_class = per_patient.groupby(["group", "agent_class"]).agg(
        n_treated=("min", "size"), median_first_day=("min", "median"), rows=("size", "sum"))
    classes = [c for c in S.AGENT_CLASSES if c in set(given["agent_class"])]
    classes += sorted(set(given["agent_class"].dropna()) - set(classes))
    full = pd.MultiIndex.from_product([group_order(groups["group"]), classes], names=["group", "agent_class"])
    out = per_class.reindex(full).reset_index()
    out["n_patients"] = out["group"].map(groups.groupby("group").size()).astype(int)
    out["n_treated"] = out["n_treated"].fillna(0).astype(int)
    out["rows"] = out["rows"].fillna(0).astype(int)
    out["percent"] = 100.0 * out["n_treated"] / out["n_patients"]
    return out[columns]

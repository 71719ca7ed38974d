"""Cytokine kinetics: median levels per group and whole day, compared between groups each day.

Reproduces the IVIG study's Fig 3 (median serum cytokines per arm over days after
infusion, dashed lines at the median day each intervention was first given, a mark
for a trend and one for a significant difference). Conventions:

- days are whole days, floor(day - origin) (data contract: "Cytokine medians are per
  whole day"); the origin is the infusion, or a per-patient day such as severe-ICANS onset;
- quartiles use linear interpolation between order statistics: numpy's and pandas'
  default, R's quantile(type = 7);
- each day and analyte, the groups with at least 2 patients that day are compared:
  Mann-Whitney U (two-sided) for two groups, Kruskal-Wallis for more (the tests this
  literature uses); q-values are Benjamini-Hochberg over every test of one call;
- values below the lower limit of quantification (LLOQ) are stored at the LLOQ; they
  can be read as recorded or as LLOQ/2. Either way they are the lowest values, so
  ranks, and therefore p-values, do not change; medians and quartiles may.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from icans_core import day_cells
from icans_core import schema as S
from icans_core.schema import CELL_COUNT_ANALYTES, CYTOKINES

LLOQ_AS_RECORDED, LLOQ_HALF = "as recorded", "half"
LLOQ_OPTIONS = (LLOQ_AS_RECORDED, LLOQ_HALF)
MANN_WHITNEY, KRUSKAL_WALLIS = "Mann-Whitney U", "Kruskal-Wallis"
# A group joins a day's test only with at least this many patients that day.
MIN_PATIENTS_PER_GROUP = 2
# R's wilcox.test is exact below 50 patients per group when there are no ties.
EXACT_BELOW = 50
# The published figure style: p < 0.1 is a trend, p < 0.05 significant.
TREND, SIGNIFICANT = 0.1, 0.05
TREND_MARK, SIGNIFICANT_MARK = "trend", "significant"
# Clinical reference: warn when a group has fewer than 10 patients.
SMALL_GROUP = 10
# Serum markers offered besides the cytokines (inflammation, lagging IL-6).
SERUM_MARKERS = ("CRP", "ferritin")
DEFAULT_ANALYTES = ("IL-6", "IFN-gamma", "IL-10")
DEFAULT_DAYS = (-5, 28)  # the window of the IVIG study's Fig 3
# The dashed lines of the IVIG study's Fig 3: tocilizumab, glucocorticoids, IVIG
DEFAULT_LINES = (S.IL6_BLOCKADE, S.CORTICOSTEROID, S.IVIG_CLASS)

SUMMARY_COLUMNS = ["group", "analyte", "day", "n", "median", "q1", "q3", "unit", "n_below_lloq", "n_patients"]
MEDIAN_COLUMNS = ["group", "analyte", "day", "n", "median", "q1", "q3", "p_value", "q_value",
                  "unit", "n_below_lloq", "n_patients", "test"]
INTERVENTION_DAY_COLUMNS = ["group", "agent_class", "median_day", "n_patients", "n_group"]
MARK_COLUMNS = ["analyte", "day", "p_value", "q_value", "mark", "y"]


def list_serum_analytes(available: list[str]) -> list[str]:
    """The measured analytes that are not cell counts: cytokines, then CRP and ferritin, then others as given."""
    known = [a for a in (*CYTOKINES, *SERUM_MARKERS) if a in available]
    others = sorted(a for a in available if a not in known and a not in CELL_COUNT_ANALYTES)
    return known + others


def align_at_onset(episodes: pd.DataFrame) -> pd.DataFrame:
    """Origins at severe-ICANS onset, for lab_patient_days. Columns: patient_id, origin_day."""
    return pd.DataFrame({"patient_id": episodes["patient_id"].to_numpy(),
                         "origin_day": episodes["onset_day"].astype(float).to_numpy()})


def apply_lloq(patient_days: pd.DataFrame, lloq: str = LLOQ_AS_RECORDED) -> pd.DataFrame:
    """The patient-days with below-LLOQ values as recorded or halved. Columns: those of the input."""
    if lloq not in LLOQ_OPTIONS:
        raise ValueError(f"lloq must be one of {', '.join(LLOQ_OPTIONS)}")
    frame = patient_days.copy()
    # A blank flag (the column is optional in the contract) means quantifiable.
    frame["below_lloq"] = frame["below_lloq"].astype("boolean").fillna(False).astype(bool)
    if lloq == LLOQ_HALF:
        # lab_patient_days flags a day when any sample was below the LLOQ; with one sample a day
        # (the usual panel) the day's value is then the LLOQ itself and halving it is exact.
        frame["value"] = frame["value"].where(~frame["below_lloq"], frame["value"] / 2)
    return frame


def summarise_days(patient_days: pd.DataFrame, lloq: str = LLOQ_AS_RECORDED,
                   day_range: tuple[float, float] | None = None) -> pd.DataFrame:
    """Median and quartiles (type 7) per group, analyte and whole day.

    Columns: group, analyte, day, n, median, q1, q3, unit, n_below_lloq, n_patients
    (patients of the group with a value of the analyte in the day range).
    """
    frame = apply_lloq(_within(patient_days, day_range), lloq)
    if frame.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    keys = ["group", "analyte", "day"]
    summary = median_iqr(frame, keys)
    summary["n_below_lloq"] = frame.groupby(keys, sort=True)["below_lloq"].sum().astype(int).to_numpy()
    patients = frame.groupby(["group", "analyte"])["patient_id"].nunique().rename("n_patients")
    summary = summary.join(patients, on=["group", "analyte"])
    return summary[SUMMARY_COLUMNS].sort_values(["analyte", "group", "day"], kind="stable").reset_index(drop=True)


def median_iqr(frame: pd.DataFrame, keys: list[str], value: str = "value") -> pd.DataFrame:
    """Per cell of `keys` (rows: one per patient): patients, median and quartiles (type 7, R's default).

    Columns: the keys, unit, n, median, q1, q3.
    """
    cells = frame.groupby(keys, sort=True)
    quartiles = cells[value].quantile([0.25, 0.5, 0.75]).unstack()
    return pd.DataFrame({
        "unit": cells["unit"].first(), "n": cells["patient_id"].nunique(),
        "median": quartiles[0.5], "q1": quartiles[0.25], "q3": quartiles[0.75],
    }).reset_index()


def compare_groups(frame: pd.DataFrame, by: list[str], value: str = "value") -> pd.DataFrame:
    """Per cell of `by`, the groups compared on `value` (rows: one per patient).

    Columns: the `by` columns, p_value (NaN when fewer than 2 groups have 2 patients, or all
    values are equal), test (Mann-Whitney U or Kruskal-Wallis; blank when not tested).
    Every cell at once from rank sums (rank_tests); the same numbers as scipy cell by cell.
    """
    frame = frame.dropna(subset=[value])
    cells = frame[by].drop_duplicates().sort_values(by, kind="stable").reset_index(drop=True)
    if frame.empty:
        return cells.assign(p_value=pd.Series(dtype=float), test=pd.Series(dtype=object))
    # a row without a group is in no group compared, and one without a cell in no cell tested
    frame = frame[frame["group"].notna() & frame[by].notna().all(axis=1)]
    # cells numbered in the order of `cells`, groups in sorted order; then by cell and value, ranked in one pass
    cell = cells.assign(cell=np.arange(len(cells))).merge(frame[by], on=by, how="right")["cell"].to_numpy()
    group = pd.Categorical(frame["group"])
    n_groups = len(group.categories)
    cell_group = cell * n_groups + group.codes
    values = frame[value].to_numpy(float)
    order = np.lexsort((values, cell))
    names = np.asarray(group.categories, dtype=object)

    def name_cell_group(codes):
        return cells.iloc[codes // n_groups].reset_index(drop=True).assign(group=names[codes % n_groups])

    def name_cell(codes):
        return cells.iloc[codes].reset_index(drop=True)

    groups, ties = day_cells.rank_sums_in_order(cell[order], cell_group[order], values[order],
                                                MIN_PATIENTS_PER_GROUP, name_cell_group, name_cell)
    tests = rank_tests(groups, ties, by)
    out = cells.merge(tests, on=by, how="left")
    out["test"] = out["test"].astype(object).where(out["test"].notna(), None)
    return out.astype({"p_value": float})[[*by, "p_value", "test"]]


def rank_tests(groups: pd.DataFrame, ties: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """The group test of every cell at once, from rank statistics.

    `groups`: one row per cell of `by` and compared group (groups of >= 2 patients), sorted by
    cell then group, with n and rank_sum (average ranks within the cell, among these groups).
    `ties`: one row per cell with tie_term (sum of t^3 - t over the cell's tied values) and
    n_distinct (distinct values). Mann-Whitney U (two-sided; exact below 50 per group without
    ties, else normal approximation with continuity and tie correction: R's wilcox.test) for 2
    groups, Kruskal-Wallis (chi-square, tie-corrected) for more: scipy's formulas, operation for
    operation, so the p-values are scipy's. Columns: the `by` columns, p_value, test.
    """
    if groups.empty:
        return pd.DataFrame({**{c: pd.Series(dtype=groups[c].dtype) for c in by},
                             "p_value": pd.Series(dtype=float), "test": pd.Series(dtype=object)})
    cell_id = groups.groupby(by, sort=False, observed=True).ngroup().to_numpy()
    position = groups.groupby(by, sort=False, observed=True).cumcount().to_numpy()
    cells = groups.drop_duplicates(by)[by].reset_index(drop=True)
    n_cells, width = len(cells), max(int(position.max()) + 1, 2)
    n = np.zeros((n_cells, width), dtype=np.int64)
    rank_sum = np.zeros((n_cells, width))
    n[cell_id, position] = groups["n"].to_numpy(np.int64)
    rank_sum[cell_id, position] = groups["rank_sum"].to_numpy(float)
    k = (n > 0).sum(axis=1)
    total = n.sum(axis=1)
    tied = cells.merge(ties, on=by, how="left")
    tie_term = tied["tie_term"].to_numpy(float)
    distinct = tied["n_distinct"].to_numpy(np.int64)

    p = np.full(n_cells, np.nan)
    test = np.full(n_cells, None, dtype=object)
    tested = (k >= 2) & (distinct > 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Kruskal-Wallis as scipy.stats.kruskal: H from the rank sums, divided by the tie correction.
        many = tested & (k > 2)
        ssbn = np.zeros(n_cells)
        for j in range(width):  # summed group by group, in order, as scipy does
            ssbn = ssbn + np.where(n[:, j] > 0, rank_sum[:, j] ** 2 / np.maximum(n[:, j], 1), 0.0)
        correction = 1 - tie_term / (total ** 3 - total)
        h = 12.0 / (total * (total + 1)) * ssbn - 3 * (total + 1)
        h = h / correction
        p[many] = special.chdtrc(k[many] - 1, h[many])
        test[many] = KRUSKAL_WALLIS

        two = tested & (k == 2)
        n1, n2, r1 = n[:, 0], n[:, 1], rank_sum[:, 0]
        u1 = r1 - n1 * (n1 + 1) / 2
        u = np.maximum(u1, n1 * n2 - u1)
        exact = two & (n1 < EXACT_BELOW) & (n2 < EXACT_BELOW) & (tie_term == 0)
        normal = two & ~exact
        both = n1 + n2
        s = np.sqrt(n1 * n2 / 12 * ((both + 1) - tie_term / (both * (both - 1))))
        z = (u - n1 * n2 / 2 - 0.5) / s
        p[normal] = np.clip(special.ndtr(-z[normal]) * 2, 0.0, 1.0)
        p[exact] = _exact_mann_whitney(u1[exact], n1[exact], n2[exact])
        test[two] = MANN_WHITNEY
    return cells.assign(p_value=p, test=test)


def rank_sums(values) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rank statistics of every (analyte, day) at once, for rank_tests, with numpy.

    Input: an Arrow table or frame with analyte, day, group, value (one per patient, none
    missing). Groups with fewer than MIN_PATIENTS_PER_GROUP values that day are left out before
    ranking (scipy is given only the groups compared); tied values get the average rank.
    Returns (groups: analyte, day, group, n, rank_sum, sorted by analyte, day, group;
    ties: analyte, day, tie_term, n_distinct).
    """
    empty = (pd.DataFrame(columns=["analyte", "day", "group", "n", "rank_sum"]),
             pd.DataFrame(columns=["analyte", "day", "tie_term", "n_distinct"]))
    if len(values) == 0:
        return empty
    analyte, group = _sorted_codes(values["analyte"]), _sorted_codes(values["group"])
    day = np.asarray(values["day"], dtype=np.int64)
    value = np.asarray(values["value"], dtype=float)
    day0, n_days, n_groups = day.min(), int(day.max() - day.min() + 1), len(group.categories)
    cell = analyte.codes.astype(np.int64) * n_days + (day - day0)
    cell_group = cell * n_groups + group.codes
    # by cell, then value: a stable integer sort of the value order (two cheap sorts, not a lexsort)
    by_value = np.argsort(value, kind="stable")
    order = by_value[np.argsort(cell[by_value], kind="stable")]
    name_cell_group, name_cell = day_cells.day_namers(np.asarray(analyte.categories), np.asarray(group.categories),
                                                      n_days, day0)
    groups, ties = day_cells.rank_sums_in_order(cell[order], cell_group[order], value[order],
                                                MIN_PATIENTS_PER_GROUP, name_cell_group, name_cell)
    if groups.empty:
        return empty
    return groups, ties


def _sorted_codes(column) -> pd.Categorical:
    """A text column (Arrow or pandas) as codes into its sorted distinct values, without a Python
    object per row for Arrow input."""
    if hasattr(column, "combine_chunks"):  # Arrow: dictionary-encode in C++, then sort the few names
        encoded = column.combine_chunks().dictionary_encode()
        names = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
        order = np.argsort(names, kind="stable")
        position = np.empty(len(names), dtype=np.int64)
        position[order] = np.arange(len(names))
        return pd.Categorical.from_codes(position[np.asarray(encoded.indices)], names[order])
    return pd.Categorical(column)  # categories sorted


def _exact_mann_whitney(u1: np.ndarray, n1: np.ndarray, n2: np.ndarray) -> np.ndarray:
    """scipy's exact two-sided p for each (U1, n1, n2) without ties, one scipy call per (n1, n2).

    Without ties the exact p depends on U alone, so each cell is handed to scipy as a set of
    ranks with the cell's rank sum: x the lowest ranks, shifted up from the top until they sum to
    R1 = U1 + n1(n1 + 1)/2; y the rest of 1..n1+n2.
    """
    p = np.full(len(u1), np.nan)
    pairs = pd.DataFrame({"n1": n1, "n2": n2})
    for (a, b), rows in pairs.groupby(["n1", "n2"], sort=False).groups.items():
        rows = np.asarray(rows)
        x = np.empty((len(rows), a))
        y = np.empty((len(rows), b))
        for i, excess in zip(range(len(rows)), u1[rows].astype(np.int64)):
            ranks = np.arange(1, a + 1)
            for j in range(a - 1, -1, -1):  # the top rank first: each moves up by at most b
                shift = min(int(excess), b)
                ranks[j] += shift
                excess -= shift
            x[i] = ranks
            y[i] = np.setdiff1d(np.arange(1, a + b + 1), ranks)
        p[rows] = stats.mannwhitneyu(x, y, alternative="two-sided", method="exact", axis=1).pvalue
    return p


def adjust_bh(p_values: pd.Series) -> pd.Series:
    """Benjamini-Hochberg q-values of the non-missing p-values (scipy, as R's p.adjust "BH"); NaN stays NaN."""
    q_values = pd.Series(np.nan, index=p_values.index)
    tested = p_values.notna()
    if tested.any():
        q_values[tested] = stats.false_discovery_control(p_values[tested].to_numpy(float), method="bh")
    return q_values


def cytokine_medians(patient_days: pd.DataFrame, lloq: str = LLOQ_AS_RECORDED,
                     day_range: tuple[float, float] | None = None) -> pd.DataFrame:
    """Per group, analyte and whole day: medians, quartiles and the day's group test.

    Input: store.lab_patient_days (one value per patient, analyte and day). Quartiles are
    linear (numpy default, R type 7); p_value is shared by every group's row of a day;
    q_value is Benjamini-Hochberg over every day and analyte tested in this call (so the
    day range chosen changes it).
    Columns: group, analyte, day, n, median, q1, q3, p_value, q_value (as the export's
    cytokine_medians.csv), then unit, n_below_lloq, n_patients, test.
    """
    summary = summarise_days(patient_days, lloq, day_range)
    if summary.empty:
        return pd.DataFrame(columns=MEDIAN_COLUMNS)
    tests = compare_groups(_within(patient_days, day_range), ["analyte", "day"])
    tests["q_value"] = adjust_bh(tests["p_value"])
    medians = summary.merge(tests, on=["analyte", "day"], how="left")
    return medians[MEDIAN_COLUMNS]


def cohort_cytokine_medians(con, analytes: list[str], group_by: str = "group",
                            origins: pd.DataFrame | None = None, lloq: str = LLOQ_AS_RECORDED,
                            day_range: tuple[float, float] | None = None) -> pd.DataFrame:
    """cytokine_medians of store.lab_patient_days(con, analytes, group_by, origins), without a frame of
    patient-day rows in pandas.

    Days from infusion (origins None): the selection's values leave DuckDB as numbers in the cohort's
    stored rank order (store.patient_day_ordered) and day_cells counts them into quartiles and rank
    sums: the same rows and numbers as cytokine_medians, bit for bit. Days from a per-patient origin:
    aggregated in DuckDB (store.patient_day_cells, quartiles by quantile_cont, the same linear
    interpolation, equal to within 1e-13; p-values bit for bit). Columns: as cytokine_medians.
    """
    from icans_core import store  # store imports the ingest stack; kinetics stays light without it

    if lloq not in LLOQ_OPTIONS:
        raise ValueError(f"lloq must be one of {', '.join(LLOQ_OPTIONS)}")
    found = None
    if origins is None:  # at infusion the values come in rank order (day_cells): no sort at all
        ordered = store.patient_day_ordered(con, analytes, group_by, day_range)
        if ordered is not None:
            found = day_cells.cells_and_rank_sums(ordered, lloq == LLOQ_HALF, MIN_PATIENTS_PER_GROUP)
    if found is not None:
        summary, groups, ties = found
    else:
        summary = store.patient_day_cells(con, analytes, group_by, origins, lloq == LLOQ_HALF, day_range)
    if summary.empty:
        return pd.DataFrame(columns=MEDIAN_COLUMNS)
    keys = ["analyte", "day"]
    if found is None:
        groups, ties = rank_sums(store.patient_day_values(con, analytes, group_by, origins, day_range))
    all_days = summary[keys].drop_duplicates().sort_values(keys).reset_index(drop=True)
    tests = all_days.merge(rank_tests(groups, ties, keys), on=keys, how="left")
    tests["test"] = tests["test"].astype(object).where(tests["test"].notna(), None)
    tests["p_value"] = tests["p_value"].astype(float)
    tests["q_value"] = adjust_bh(tests["p_value"])
    medians = summary.merge(tests, on=["analyte", "day"], how="left")
    return medians[MEDIAN_COLUMNS]


def cohort_day_summary(con, analytes: list[str], group_by: str = "group") -> pd.DataFrame:
    """summarise_days of store.lab_patient_days(con, analytes, group_by) (values as recorded, every day),
    with no patient-day row in pandas: read off the cohort's rank order (day_cells), else aggregated in
    DuckDB. Columns: as summarise_days."""
    from icans_core import store

    ordered = store.patient_day_ordered(con, analytes, group_by)
    found = None if ordered is None else day_cells.cells_and_rank_sums(
        ordered, False, MIN_PATIENTS_PER_GROUP, with_ranks=False)
    summary = found[0] if found is not None else store.patient_day_cells(con, analytes, group_by)
    return summary if not summary.empty else pd.DataFrame(columns=SUMMARY_COLUMNS)


def select_medians(medians: pd.DataFrame, analytes: list[str], day_range: tuple[float, float]) -> pd.DataFrame:
    """The rows of chosen analytes within a day range; p and q keep the family they were computed in.

    The page tests every analyte and day of the cohort, as the results export does, and shows a
    part of it: so a q-value on screen is the q-value in the export. Columns: as cytokine_medians.
    """
    keep = medians["analyte"].isin(analytes) & medians["day"].between(*day_range)
    return medians[keep].reset_index(drop=True)


def count_below_lloq(medians: pd.DataFrame) -> pd.DataFrame:
    """How many of the patient-day values were below the LLOQ. Columns: analyte, unit, n_values, n_below_lloq."""
    counts = medians.groupby("analyte", sort=True).agg(
        unit=("unit", "first"), n_values=("n", "sum"), n_below_lloq=("n_below_lloq", "sum"))
    return counts.reset_index().astype({"n_values": int, "n_below_lloq": int})


def count_tests(medians: pd.DataFrame) -> pd.DataFrame:
    """How many days (over all analytes) were compared with each test. Columns: test ("not tested" too), n_tests."""
    days = medians.drop_duplicates(["analyte", "day"])
    counts = days["test"].fillna("not tested").value_counts().rename_axis("test").rename("n_tests")
    return counts.reset_index()


def count_patients(medians: pd.DataFrame) -> pd.DataFrame:
    """Patients with values per group and analyte. Columns: group, analyte, n_patients, small (< 10)."""
    counts = medians[["group", "analyte", "n_patients"]].drop_duplicates().reset_index(drop=True)
    counts["small"] = counts["n_patients"] < SMALL_GROUP
    return counts


def intervention_days(interventions: pd.DataFrame, patients: pd.DataFrame, origins: pd.DataFrame | None = None,
                      classes: list[str] | None = None) -> pd.DataFrame:
    """Median day each intervention class was first given per patient, per group (the dashed lines of Fig 3).

    Days are relative to the same origin as the medians (infusion, or `origins` patient_id,
    origin_day, leaving out patients without one); not floored, a dose at 4.25 is day 4.25.
    Columns: group, agent_class, median_day, n_patients (patients given the class),
    n_group (patients of the group considered).
    """
    people = patients[["patient_id", "group"]]
    if origins is not None:
        people = people.merge(origins[["patient_id", "origin_day"]], on="patient_id")
    else:
        people = people.assign(origin_day=0.0)
    doses = interventions[["patient_id", "agent_class", "start_day"]]
    if classes is not None:
        doses = doses[doses["agent_class"].isin(classes)]
    first = doses.groupby(["patient_id", "agent_class"], as_index=False)["start_day"].min()
    first = first.merge(people, on="patient_id")
    first["day"] = first["start_day"] - first["origin_day"]
    if first.empty:
        return pd.DataFrame(columns=INTERVENTION_DAY_COLUMNS)
    days = first.groupby(["group", "agent_class"], sort=True).agg(
        median_day=("day", "median"), n_patients=("patient_id", "nunique")).reset_index()
    days["n_group"] = days["group"].map(people.groupby("group")["patient_id"].nunique())
    return days[INTERVENTION_DAY_COLUMNS]


def significance_marks(medians: pd.DataFrame, on: str = "p_value") -> pd.DataFrame:
    """Days where the groups differ (`on` p_value or q_value below 0.1), with where to draw the mark.

    mark is "significant" below 0.05 and "trend" below 0.1; y is the highest q3 of that day
    (the chart draws the mark just above it).
    Columns: analyte, day, p_value, q_value, mark, y.
    """
    if on not in ("p_value", "q_value"):
        raise ValueError("marks are set on p_value or q_value")
    if medians.empty:
        return pd.DataFrame(columns=MARK_COLUMNS)
    days = medians.groupby(["analyte", "day"], sort=True).agg(
        p_value=("p_value", "first"), q_value=("q_value", "first"), y=("q3", "max")).reset_index()
    days = days[days[on] < TREND].copy()
    days["mark"] = np.where(days[on] < SIGNIFICANT, SIGNIFICANT_MARK, TREND_MARK)
    return days[MARK_COLUMNS].reset_index(drop=True)


def _within(patient_days: pd.DataFrame, day_range: tuple[float, float] | None) -> pd.DataFrame:
    if day_range is None:
        return patient_days
    first, last = day_range
    return patient_days[(patient_days["day"] >= first) & (patient_days["day"] <= last)]

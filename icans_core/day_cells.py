"""Per-day medians, quartiles and rank sums of a selection, from values already in rank order.

The cytokine page and the export test every analyte and day of the selection (kinetics). Sorting
the selection's patient-day values (1.7 million at 10,000 patients) took most of that time, and it
is the same order for every selection: store.patient_day_ordered gives each value its place among
every patient's values of its analyte and day (derived once per cohort), so a selection's values are
put in order by one counting pass, and everything kinetics needs is read off that order:
- per group, analyte and day: patients, quartiles (type 7, computed as pandas' groupby quantile
  does, so the numbers are those of kinetics.summarise_days), below-LLOQ count, unit;
- per analyte and day: rank sums and ties for kinetics.rank_tests (sums of half-integers, exact
  in any order, so the same as kinetics.rank_sums).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SUMMARY_COLUMNS = ["group", "analyte", "day", "n", "median", "q1", "q3", "unit", "n_below_lloq", "n_patients"]
GROUP_COLUMNS = ["analyte", "day", "group", "n", "rank_sum"]
TIE_COLUMNS = ["analyte", "day", "tie_term", "n_distinct"]


def rank_sums_in_order(cell: np.ndarray, cell_group: np.ndarray, value: np.ndarray, min_group: int,
                       name_cell_group, name_cell) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rank statistics per cell of values sorted by cell, then value (ties adjacent, in any order).

    `cell_group` numbers each (cell, group); groups with fewer than `min_group` values in their cell
    are left out before ranking (scipy is given only the groups compared); tied values get the
    average rank. `name_cell_group(codes)` and `name_cell(codes)` turn codes into frames of their
    key columns. Returns (groups: the cell_group keys, n, rank_sum, in code order; ties: the cell
    keys, tie_term (sum of t^3 - t over tied runs), n_distinct).
    """
    named = None
    if len(cell_group) and int(cell_group.max()) >= 4 * len(cell_group) + 4096:  # few of many possible codes
        # (thousands of groups over years of days): number those found, or each count would span every code
        named, cell_group = np.unique(cell_group, return_inverse=True)
    sizes = np.bincount(cell_group)
    if sizes.max(initial=0) and sizes[sizes > 0].min() < min_group:  # copies only when a group is left out
        keep = sizes[cell_group] >= min_group
        cell, cell_group, value = cell[keep], cell_group[keep], value[keep]
    if len(cell) == 0:
        return (name_cell_group(np.zeros(0, np.int64)).assign(n=np.zeros(0, np.int64), rank_sum=np.zeros(0)),
                name_cell(np.zeros(0, np.int64)).assign(tie_term=np.zeros(0), n_distinct=np.zeros(0, np.int64)))
    index = np.arange(len(cell))
    new_cell = np.r_[True, cell[1:] != cell[:-1]]
    cell_start = np.maximum.accumulate(np.where(new_cell, index, 0))
    new_run = new_cell | np.r_[True, value[1:] != value[:-1]]
    run_id = np.cumsum(new_run) - 1
    run_start = index[new_run]
    run_length = np.diff(np.r_[run_start, len(cell)])
    # 1-based positions in the cell; a run of ties shares the mean of its positions
    average = (run_start - cell_start[new_run] + 1) + (run_length - 1) / 2.0
    rank = average[run_id]
    size = int(cell_group.max()) + 1
    n = np.bincount(cell_group, minlength=size)
    rank_sum = np.bincount(cell_group, weights=rank, minlength=size)
    groups_found = np.flatnonzero(n)
    group_codes = groups_found if named is None else named[groups_found]
    run_cell = cell[new_run]
    t = run_length.astype(float)
    tie_term = np.bincount(run_cell, weights=t ** 3 - t)
    distinct = np.bincount(run_cell)
    cells_found = np.flatnonzero(distinct)
    groups = name_cell_group(group_codes).assign(n=n[groups_found], rank_sum=rank_sum[groups_found])
    ties = name_cell(cells_found).assign(tie_term=tie_term[cells_found], n_distinct=distinct[cells_found])
    return groups, ties


def day_namers(analytes: np.ndarray, groups: np.ndarray, n_days: int, day0: int):
    """(name_cell_group, name_cell) for rank_sums_in_order when cell = analyte * n_days + (day - day0) and
    cell_group = cell * len(groups) + group: codes to frames of analyte, day (, group)."""
    n_groups = len(groups)

    def name_cell_group(codes):
        return pd.DataFrame({"analyte": analytes[(codes // n_groups) // n_days],
                             "day": (codes // n_groups) % n_days + day0, "group": groups[codes % n_groups]})

    def name_cell(codes):
        return pd.DataFrame({"analyte": analytes[codes // n_days], "day": codes % n_days + day0})

    return name_cell_group, name_cell


def cells_and_rank_sums(ordered: dict, halve_below_lloq: bool, min_group: int, with_ranks: bool = True
                        ) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None] | None:
    """From store.patient_day_ordered: (summary, groups, ties); groups and ties None without `with_ranks`.

    summary: per group, analyte and day (sorted by analyte, group, day) n (patient-days, missing
    values too), median, q1, q3 (of the values, below-LLOQ ones halved with `halve_below_lloq`),
    unit (the first in sorted order, blank if none), n_below_lloq, n_patients: the columns of
    store.patient_day_cells. groups, ties: as kinetics.rank_sums, of the values as recorded.
    None when a patient's group is blank (kinetics then aggregates in DuckDB).
    """
    rows = ordered["rows"]
    if rows.column("group").null_count:
        return None
    analytes = np.asarray(ordered["analytes"], dtype=object)
    groups = np.asarray(ordered["groups"], dtype=object)
    units = np.asarray([None, *ordered["units"]], dtype=object)  # position 0: no unit
    if rows.num_rows == 0:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in SUMMARY_COLUMNS})
        return (empty, pd.DataFrame(columns=GROUP_COLUMNS), pd.DataFrame(columns=TIE_COLUMNS))
    analyte = rows.column("analyte").to_numpy().astype(np.int64) - 1
    group = rows.column("group").to_numpy().astype(np.int64) - 1
    day = rows.column("day").to_numpy().astype(np.int64)
    day0, n_days, n_groups = int(day.min()), int(day.max() - day.min() + 1), len(groups)
    cell = analyte * n_days + (day - day0)
    order = _rank_order(cell, rows.column("day_order").to_numpy().astype(np.int64), len(analytes) * n_days)
    cell, group = cell[order], group[order]
    value = rows.column("value").to_numpy()[order]  # missing values as NaN; `valid` tells them apart
    valid = rows.column("value").is_valid().to_numpy()[order]
    below = rows.column("below_lloq").to_numpy()[order]
    unit = rows.column("unit").to_numpy().astype(np.int64)[order]
    cell_group = cell * n_groups + group

    name_cell_group, name_cell = day_namers(analytes, groups, n_days, day0)
    rank_groups = ties = None
    if with_ranks:
        recorded = (cell, cell_group, value) if valid.all() else (cell[valid], cell_group[valid], value[valid])
        rank_groups, ties = rank_sums_in_order(*recorded, min_group, name_cell_group, name_cell)
    summary = _quartiles(cell_group, np.where(below & halve_below_lloq, value / 2, value), valid, below, unit)
    codes = summary.pop("cell_group").to_numpy()
    summary.insert(0, "group", groups[codes % n_groups])
    summary.insert(1, "analyte", analytes[(codes // n_groups) // n_days])
    summary.insert(2, "day", ((codes // n_groups) % n_days + day0).astype(np.int32))
    summary["unit"] = units[summary["unit"].to_numpy()]
    # patients of the group with the analyte (a value or not) in the selection's days
    patient = rows.column("patient").to_numpy().astype(np.int64)
    n_patients = max(int(ordered["patients"]), int(patient.max()) + 1)
    has = np.zeros(len(analytes) * n_patients, dtype=bool)
    has[analyte * n_patients + patient] = True
    group_of = np.zeros(n_patients, dtype=np.int64)
    group_of[patient] = rows.column("group").to_numpy().astype(np.int64) - 1
    with_analyte = np.flatnonzero(has)
    counts = np.bincount((with_analyte // n_patients) * n_groups + group_of[with_analyte % n_patients],
                         minlength=len(analytes) * n_groups)
    summary["n_patients"] = counts[((codes // n_groups) // n_days) * n_groups + codes % n_groups]
    keys = (summary["day"].to_numpy(), codes % n_groups, (codes // n_groups) // n_days)
    summary = summary.iloc[np.lexsort(keys)].reset_index(drop=True)
    return summary[SUMMARY_COLUMNS], rank_groups, ties


def _rank_order(cell: np.ndarray, day_order: np.ndarray, n_cells: int) -> np.ndarray:
    """The permutation putting rows in order of cell, then day_order (unique within a cell, from 1),
    by counting: each row's slot is its cell's offset plus its day_order, and the cells' sizes are
    their largest day_order."""
    size = np.zeros(n_cells, np.int64)
    np.maximum.at(size, cell, day_order)
    offset = np.r_[0, np.cumsum(size)[:-1]]
    slot = np.full(int(size.sum()), -1, np.int64)
    slot[offset[cell] + day_order - 1] = np.arange(len(cell))
    return slot[slot >= 0]


def _quartiles(cell_group: np.ndarray, value: np.ndarray, valid: np.ndarray, below: np.ndarray,
               unit: np.ndarray) -> pd.DataFrame:
    """Per cell_group, of rows in order of cell then value (missing values last in each cell): n, median,
    q1, q3, unit (smallest non-zero position, 0 if none), n_below_lloq. Columns: cell_group and those."""
    # each group's rows together, keeping the value order (a stable sort of small integers)
    key = cell_group.astype(np.uint16) if cell_group.max() < 2 ** 16 else cell_group
    by_group = np.argsort(key, kind="stable")
    cell_group, value, valid = cell_group[by_group], value[by_group], valid[by_group]
    same = cell_group[1:] == cell_group[:-1]
    if not np.all(~same | ~valid[1:] | (value[1:] >= value[:-1])):  # halving reordered some values
        by_value = np.lexsort((value, ~valid, cell_group))
        by_group = by_group[by_value]
        cell_group, value, valid = cell_group[by_value], value[by_value], valid[by_value]
    starts = np.flatnonzero(np.r_[True, ~same])
    n = np.diff(np.r_[starts, len(cell_group)])
    m = np.add.reduceat(valid.astype(np.int64), starts)  # the values, before the missing ones
    out = {"cell_group": cell_group[starts], "n": n}
    for name, p in (("median", 0.5), ("q1", 0.25), ("q3", 0.75)):
        # pandas' group_quantile, linear: the value at floor((m - 1) p), plus frac of the step to the next
        h = p * (m - 1)
        lower = np.floor(np.maximum(h, 0)).astype(np.int64)
        frac = h - lower
        at = value[starts + lower]
        following = value[starts + np.minimum(lower + 1, np.maximum(m - 1, 0))]
        with np.errstate(invalid="ignore"):
            quantile = np.where(frac == 0, at, at + (following - at) * frac)
        out[name] = np.where(m > 0, quantile, np.nan)
    positions = unit[by_group]
    out["unit"] = np.minimum.reduceat(np.where(positions > 0, positions, np.iinfo(np.int64).max), starts)
    out["unit"] = np.where(out["unit"] == np.iinfo(np.int64).max, 0, out["unit"])
    out["n_below_lloq"] = np.add.reduceat(below[by_group].astype(np.int64), starts)
    return pd.DataFrame(out)

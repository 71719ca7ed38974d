"""CAR-T expansion in blood: Cmax, Tmax and AUC0-28 per patient, and curves per group.

Exactly the data contract's definitions, for the cell-count analytes (CAR-T cells and
the CD4+ / CD8+ subsets): cmax = highest value; tmax_day = the first day it is reached;
auc_0_28 = trapezoidal area over the observed points with 0 <= day <= 28, with no
extrapolation to day 0 or 28 (so a patient first sampled on day 1 has no area for
day 0-1), and no area from fewer than 2 points. Cmax and Tmax use every observation.
Values below the LLOQ are used as recorded (at the LLOQ).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from icans_core.kinetics import adjust_bh, cohort_day_summary, compare_groups, median_iqr, summarise_days
from icans_core.schema import CELL_COUNT_ANALYTES

AUC_FIRST_DAY, AUC_LAST_DAY = 0.0, 28.0
METRICS = ("cmax", "tmax_day", "auc_0_28")
# How each metric reads, and its unit given the analyte's unit.
METRIC_LABELS = {"cmax": "Cmax", "tmax_day": "Tmax", "auc_0_28": "AUC0-28"}
METRIC_COLUMNS = ["patient_id", "analyte", "cmax", "tmax_day", "auc_0_28", "unit", "n_points"]
POINT_COLUMNS = ["patient_id", "group", "analyte", "metric", "value", "unit"]
SUMMARY_COLUMNS = ["group", "analyte", "metric", "unit", "n", "median", "q1", "q3", "p_value", "q_value", "test"]
CURVE_COLUMNS = ["group", "analyte", "day", "n", "median", "q1", "q3", "unit", "n_below_lloq", "n_patients"]


def _metric_unit(metric: str, unit: str) -> str:
    """The unit of an expansion metric for an analyte measured in `unit`."""
    return {"cmax": unit, "tmax_day": "day", "auc_0_28": f"{unit} x days"}[metric]


def expansion_metrics(lab_values: pd.DataFrame) -> pd.DataFrame:
    """Cmax, Tmax and AUC0-28 per patient and cell-count analyte (input: store.lab_values).

    Columns: patient_id, analyte, cmax, tmax_day, auc_0_28 (as the export's expansion.csv),
    then unit, n_points (observations with 0 <= day <= 28, those the area uses).
    """
    keys = ["patient_id", "analyte"]
    cells = lab_values.loc[lab_values["analyte"].isin(CELL_COUNT_ANALYTES) & lab_values["value"].notna(),
                           ["patient_id", "analyte", "day", "value", "unit"]]
    if cells.empty:
        return pd.DataFrame(columns=METRIC_COLUMNS)
    cells = cells.sort_values([*keys, "day"], kind="stable")
    series = cells.groupby(keys, sort=True)
    cmax = series["value"].max()
    at_peak = cells[cells["value"] == series["value"].transform("max")]
    metrics = pd.DataFrame({
        "cmax": cmax,
        "tmax_day": at_peak.groupby(keys)["day"].min(),  # the first day of a repeated maximum
        "unit": series["unit"].first(),
    })
    window = cells[(cells["day"] >= AUC_FIRST_DAY) & (cells["day"] <= AUC_LAST_DAY)]
    n_points = window.groupby(keys).size().reindex(metrics.index, fill_value=0)
    metrics["auc_0_28"] = _trapezoid_areas(window, keys).reindex(metrics.index).where(n_points >= 2)
    metrics["n_points"] = n_points.astype(int)
    return metrics.reset_index()[METRIC_COLUMNS]


def _trapezoid_areas(window: pd.DataFrame, keys: list[str]) -> pd.Series:
    if window.empty:
        return pd.Series(np.nan, index=pd.MultiIndex.from_tuples([], names=keys), dtype=float)
    # One row per series, padded with its own last point: numpy.trapezoid then sums every
    # series at once, the repeated points adding zero-width trapezoids.
    padded = window.assign(position=window.groupby(keys).cumcount()) \
        .pivot(index=keys, columns="position", values=["day", "value"]).ffill(axis=1)
    areas = np.trapezoid(padded["value"].to_numpy(float), padded["day"].to_numpy(float), axis=1)
    return pd.Series(areas, index=padded.index)


def attach_groups(frame: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
    """The frame with each patient's group in front. Columns: group, then the frame's columns."""
    grouped = frame.merge(patients[["patient_id", "group"]], on="patient_id", how="inner")
    return grouped[["group", *frame.columns]].sort_values(["group", "patient_id"], kind="stable") \
        .reset_index(drop=True)


def melt_metrics(metrics: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
    """One row per patient, analyte and metric with a value (for strip charts and tests).

    Columns: patient_id, group, analyte, metric, value, unit (of the metric).
    """
    if metrics.empty:
        return pd.DataFrame(columns=POINT_COLUMNS)
    long = attach_groups(metrics, patients).melt(
        id_vars=["patient_id", "group", "analyte", "unit"], value_vars=list(METRICS),
        var_name="metric", value_name="value").dropna(subset=["value"])
    # _metric_unit, a column at a time (one row per patient, analyte and metric: 90,000 at 10,000 patients)
    metric, unit = long["metric"].to_numpy(), long["unit"]
    long["unit"] = np.where(metric == "cmax", unit.to_numpy(object),
                            np.where(metric == "tmax_day", "day", (unit.astype(str) + " x days").to_numpy(object)))
    long["value"] = long["value"].astype(float)
    return long[POINT_COLUMNS].reset_index(drop=True)


def expansion_summary(metrics: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
    """Per group, analyte and metric: n, median and quartiles (type 7), with the groups compared.

    The test per analyte and metric is Mann-Whitney U (2 groups) or Kruskal-Wallis (more),
    over groups with at least 2 patients; q_value is Benjamini-Hochberg over those tests.
    Columns: group, analyte, metric, unit, n, median, q1, q3, p_value, q_value, test.
    """
    return summarise_points(melt_metrics(metrics, patients))


def summarise_points(points: pd.DataFrame) -> pd.DataFrame:
    """expansion_summary of metrics already melted (melt_metrics), for a caller that also charts them."""
    if points.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    _refuse_mixed_units(points)
    summary = median_iqr(points, ["group", "analyte", "metric"])
    tests = compare_groups(points, ["analyte", "metric"])
    tests["q_value"] = adjust_bh(tests["p_value"])
    summary = summary.merge(tests, on=["analyte", "metric"], how="left")
    order = {m: i for i, m in enumerate(METRICS)}
    summary = summary.sort_values(["analyte", "metric", "group"], key=lambda c: c.map(order) if c.name == "metric"
                                  else c, kind="stable")
    return summary[SUMMARY_COLUMNS].reset_index(drop=True)


def _refuse_mixed_units(points: pd.DataFrame) -> None:
    # cells/uL and copies/ug DNA (or any two units) are different measures: never one median or test
    units = points.groupby(["analyte", "metric"])["unit"].nunique().groupby("analyte").max()
    if (units > 1).any():
        raise ValueError("an analyte measured in more than one unit cannot be summarised: "
                         + ", ".join(units[units > 1].index))


def expansion_curves(patient_days: pd.DataFrame) -> pd.DataFrame:
    """Median and quartiles (type 7) of each cell-count analyte per group and whole day.

    Input: store.lab_patient_days. Columns: group, analyte, day, n, median, q1, q3, unit,
    n_below_lloq, n_patients.
    """
    cells = patient_days[patient_days["analyte"].isin(CELL_COUNT_ANALYTES)]
    return summarise_days(cells)[CURVE_COLUMNS]


def cohort_expansion_curves(con, analytes: list[str], group_by: str = "group") -> pd.DataFrame:
    """expansion_curves of store.lab_patient_days(con, analytes, group_by), computed where the rows are
    (kinetics.cohort_day_summary). Columns: as expansion_curves."""
    cells = [a for a in analytes if a in CELL_COUNT_ANALYTES]
    if not cells:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    return cohort_day_summary(con, cells, group_by)[CURVE_COLUMNS]

"""Systemic corticosteroid exposure per patient, exactly as the data contract defines it.

- Only systemic corticosteroids count: agent_class "corticosteroid". Intrathecal
  hydrocortisone or dexamethasone is class "intrathecal therapy" and never counts: the
  literature's cumulative steroid dose is systemic only (clinical reference).
- steroid_days = the number of distinct whole days floor(d) covered by any row, each row
  covering floor(start_day) .. floor(end_day); overlapping rows count a day once.
- cumulative_dex_mg = sum over rows of daily_dose x factor x (floor(end_day) - floor(start_day) + 1),
  the factor from schema.DEXAMETHASONE_EQUIVALENTS (Meikle & Tyler 1977). Rows whose dose is
  not in mg (g, mg/kg, ...), or has no dose, are left out of the total, counted in
  rows_left_out and listed by `left_out_rows` so a page can warn; their days still count.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from icans_core import schema as S
from icans_core.summary import compare_continuous, group_order
from icans_core.template import steroid_equivalents

EXPORT_COLUMNS = ["patient_id", "steroid_days", "cumulative_dex_mg"]
EXPOSURE_COLUMNS = [*EXPORT_COLUMNS, "group", "rows_left_out", "first_steroid_day"]
MEASURES = {
    "cumulative_dex_mg": "Cumulative dexamethasone-equivalent dose (mg)",
    "steroid_days": "Systemic corticosteroid days (days)",
}
TREATED, ALL = "treated patients", "all patients"


def _systemic_steroid_rows(interventions: pd.DataFrame | None) -> pd.DataFrame:
    if interventions is None or interventions.empty:
        return pd.DataFrame(columns=["patient_id", "agent", "start_day", "end_day", "daily_dose", "dose_unit",
                                     "route"])
    # The class already makes route IT "intrathecal therapy"; the route test keeps that true
    # for frames built by hand.
    rows = interventions[(interventions["agent_class"] == S.CORTICOSTEROID)
                         & (interventions["route"].astype(object) != "IT")].copy()
    rows["end_day"] = rows["end_day"].fillna(rows["start_day"])  # blank = start_day (contract)
    return rows


def _left_out_reason(rows: pd.DataFrame) -> pd.Series:
    factor = rows["agent"].map(S.DEXAMETHASONE_EQUIVALENTS)
    unit = rows["dose_unit"].astype(object)
    reason = np.select(
        [rows["daily_dose"].isna(), unit.isna(), unit != "mg", factor.isna()],
        ["no daily dose", "no dose unit", "dose in " + unit.fillna("").astype(str) + ", not mg",
         "no dexamethasone equivalent for this agent"],
        "")
    return pd.Series(reason, index=rows.index)


def steroid_exposure(interventions: pd.DataFrame | None, patients: pd.DataFrame) -> pd.DataFrame:
    """Systemic steroid exposure, one row per patient (0 and 0 without steroids). Columns:
    patient_id, steroid_days, cumulative_dex_mg (the export's steroid_exposure.csv), group,
    rows_left_out (steroid rows not in mg or without a dose), first_steroid_day (NaN if none)."""
    rows = _systemic_steroid_rows(interventions)
    rows = rows[rows["patient_id"].isin(patients["patient_id"])]
    first = np.floor(rows["start_day"].to_numpy(dtype=float)).astype(np.int64)
    last = np.floor(rows["end_day"].to_numpy(dtype=float)).astype(np.int64)
    length = np.maximum(last - first + 1, 1)

    # Every (patient, whole day) covered, expanded without a Python loop over rows.
    offsets = np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length)
    covered = pd.DataFrame({"patient_id": np.repeat(rows["patient_id"].to_numpy(), length),
                            "day": np.repeat(first, length) + offsets}).drop_duplicates()
    days = covered.groupby("patient_id").size()

    counted = (_left_out_reason(rows) == "").to_numpy()
    dex_mg = _exact_totals(rows["patient_id"].to_numpy()[counted], rows["daily_dose"].astype(float).to_numpy()[counted],
                           rows["agent"].map(S.DEXAMETHASONE_EQUIVALENTS).astype(float).to_numpy()[counted],
                           length[counted])
    left_out = pd.Series(~counted, index=rows.index).groupby(rows["patient_id"]).sum()
    first_day = rows.groupby("patient_id")["start_day"].min()

    ids = patients["patient_id"]
    return pd.DataFrame({
        "patient_id": ids.to_numpy(),
        "steroid_days": ids.map(days).fillna(0).astype(int).to_numpy(),
        "cumulative_dex_mg": ids.map(dex_mg).fillna(0.0).astype(float).to_numpy(),
        "group": patients["group"].astype(str).to_numpy(),
        "rows_left_out": ids.map(left_out).fillna(0).astype(int).to_numpy(),
        "first_steroid_day": ids.map(first_day).astype(float).to_numpy(),
    }, columns=EXPOSURE_COLUMNS)


def _exact_totals(patient_ids, doses, factors, days) -> pd.Series:
    """Per patient, the sum of dose x factor x days in decimal arithmetic (as a hand calculation: 3 mg of
    prednisone x 0.15 is 0.45 mg, not 0.44999999999999996), then as the nearest float. Index: patient_id."""
    totals: dict[str, Decimal] = {}
    for patient, dose, factor, n in zip(patient_ids, doses, factors, days):
        totals[patient] = totals.get(patient, Decimal(0)) + Decimal(repr(float(dose))) * Decimal(repr(float(factor))) * int(n)
    return pd.Series({patient: float(total) for patient, total in totals.items()}, dtype=float)


def severe_icans_exposure(exposure: pd.DataFrame, episodes: pd.DataFrame) -> pd.DataFrame:
    """The exposure rows of patients with a severe-ICANS episode. Columns: as steroid_exposure."""
    return exposure[exposure["patient_id"].isin(episodes["patient_id"])].reset_index(drop=True)


def left_out_rows(interventions: pd.DataFrame | None) -> pd.DataFrame:
    """Systemic steroid rows left out of the cumulative dose. Columns: patient_id, agent,
    start_day, end_day, daily_dose, dose_unit, reason."""
    rows = _systemic_steroid_rows(interventions)
    reason = _left_out_reason(rows)
    out = rows.assign(reason=reason)[reason != ""]
    return out[["patient_id", "agent", "start_day", "end_day", "daily_dose", "dose_unit", "reason"]].reset_index(
        drop=True)


def _describe(values: pd.Series) -> dict:
    values = values.dropna().astype(float)
    if values.empty:
        return {"n": 0, "median": np.nan, "q1": np.nan, "q3": np.nan, "mean": np.nan}
    q1, median, q3 = np.percentile(values.to_numpy(), [25, 50, 75])  # R's quantile type 7
    return {"n": int(len(values)), "median": median, "q1": q1, "q3": q3, "mean": float(values.mean())}


def steroid_summary(exposure: pd.DataFrame, episodes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Steroid exposure per group, among treated patients (steroid_days > 0) and among all.
    With `episodes`, only patients with a severe-ICANS episode are summarised. Columns: group,
    n_patients, n_treated, measure (steroid_days, cumulative_dex_mg), among ('treated patients',
    'all patients'), n, median, q1, q3, mean, test, p_value (groups compared within measure
    and population)."""
    columns = ["group", "n_patients", "n_treated", "measure", "among", "n", "median", "q1", "q3", "mean",
               "test", "p_value"]
    if episodes is not None:
        exposure = severe_icans_exposure(exposure, episodes)
    if exposure.empty:
        return pd.DataFrame(columns=columns)
    treated = exposure["steroid_days"] > 0
    groups = group_order(exposure["group"])
    n_patients = exposure.groupby("group").size()
    n_treated = exposure[treated].groupby("group").size()
    rows = []
    for measure in MEASURES:
        for among, subset in ((TREATED, exposure[treated]), (ALL, exposure)):
            test, p = compare_continuous(subset[measure], subset["group"])
            for group in groups:
                rows.append({"group": group, "n_patients": int(n_patients.get(group, 0)),
                             "n_treated": int(n_treated.get(group, 0)), "measure": measure, "among": among,
                             **_describe(subset.loc[subset["group"] == group, measure]),
                             "test": test, "p_value": p})
    return pd.DataFrame(rows, columns=columns)


def equivalence_table() -> pd.DataFrame:
    """The dexamethasone-equivalence factors used here. Columns: agent, dexamethasone_mg_per_mg,
    equipotent_mg (mg equal to 0.75 mg dexamethasone), source."""
    return steroid_equivalents()

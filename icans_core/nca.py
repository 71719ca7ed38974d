"""CAR-T cellular kinetics by non-compartmental-analysis (NCA) conventions, as PKNCA (the reference users know).

Per patient and cell-count analyte: Cmax, Tmax, Clast, Tlast, AUC0-28 and AUC0-90, with three
visible options (NcaOptions):
- method: "linear" (linear trapezoid) or "lin up/log down" (PKNCA's default: a segment that
  falls to a value above 0 is integrated log-linearly, (t2 - t1)(c1 - c2) / ln(c1 / c2);
  rising, flat or falling to 0 segments linearly);
- window: "observed" (the data contract's rule and the export's expansion.csv: only counts with
  start <= day <= end, nothing added at the window's ends, no area from fewer than 2 counts) or
  "interpolated" (PKNCA's aucint with AUClast: a window end without a count gets one:
  0 before the first count (no CAR-T cells before infusion, PKNCA's conc.origin = 0),
  interpolated with the method's rule up to Tlast, 0 after Tlast; then the counts inside the
  window are integrated with the method, a segment between two zeros adding 0);
- blq: how counts flagged below the LLOQ enter: "as recorded" (the stored value, at the LLOQ:
  the project's rule elsewhere), "zero" (each set to 0) or "PKNCA" (set to 0; those before the
  first and after the last quantifiable count kept, those between dropped: PKNCA's default
  conc.blq = first "keep", middle "drop", last "keep").
Tlast / Clast: the last count above 0 after the BLQ rule. Cmax / Tmax: the highest count after
the BLQ rule and the first day it is reached. Two counts on the same day are averaged.
A series without a count in a window has no area for it (PKNCA would give 0 there).
Units are never pooled: a series is one patient, analyte and unit, and a group summary refuses an
analyte measured in more than one unit (cells/uL and copies/ug DNA are different measures).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from icans_core.cancel import checkpoint
from icans_core.schema import CELL_COUNT_ANALYTES

LINEAR, LIN_UP_LOG_DOWN = "linear", "lin up/log down"
METHODS = (LINEAR, LIN_UP_LOG_DOWN)
OBSERVED, INTERPOLATED = "observed", "interpolated"
WINDOWS = (OBSERVED, INTERPOLATED)
BLQ_AS_RECORDED, BLQ_ZERO, BLQ_PKNCA = "as recorded", "zero", "PKNCA"
BLQ_RULES = (BLQ_AS_RECORDED, BLQ_ZERO, BLQ_PKNCA)
INTERVALS = {"auc_0_28": (0.0, 28.0), "auc_0_90": (0.0, 90.0)}
RULES = ("PKNCA conventions: lin up/log down integrates a fall to a value above 0 log-linearly; the interpolated "
         "window adds a missing end (0 before the first count, interpolated up to Tlast, 0 after Tlast, nothing "
         "integrated after Tlast into it); the observed window uses the counts inside it only; Tlast/Clast = the "
         "last count above 0; PKNCA BLQ rule = first kept as 0, middle dropped, last kept as 0.")
NCA_COLUMNS = ["patient_id", "analyte", "unit", "cmax", "tmax_day", "clast", "tlast_day", "auc_0_28", "auc_0_90",
               "n_points", "auc_method", "auc_window", "blq_rule"]


@dataclass(frozen=True)
class NcaOptions:
    """AUC method, what happens at a window end without a count, and how below-LLOQ counts enter."""

    method: str = LINEAR
    window: str = OBSERVED
    blq: str = BLQ_AS_RECORDED

    def __post_init__(self) -> None:
        for value, allowed, name in ((self.method, METHODS, "method"), (self.window, WINDOWS, "window"),
                                     (self.blq, BLQ_RULES, "blq")):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")


def clean_blq(time: np.ndarray, conc: np.ndarray, below: np.ndarray, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """The series (sorted by time) after the BLQ rule: (time, conc)."""
    if rule == BLQ_AS_RECORDED or not below.any():
        return time, conc
    conc = np.where(below, 0.0, conc)
    if rule == BLQ_ZERO:
        return time, conc
    quantified = np.flatnonzero(~below & (conc > 0))
    if quantified.size == 0:
        return time, conc
    middle = below & (np.arange(conc.size) > quantified[0]) & (np.arange(conc.size) < quantified[-1])
    return time[~middle], conc[~middle]


def _segment_methods(conc: np.ndarray, method: str) -> list[str]:
    """PKNCA's choose_interval_method (AUClast, Tlast = the last point) for each consecutive pair."""
    out = []
    for c1, c2 in zip(conc[:-1], conc[1:]):
        if c1 == 0 and c2 == 0:
            out.append("zero")
        elif method == LIN_UP_LOG_DOWN and c2 < c1 and c2 != 0:
            out.append("log")
        else:
            out.append("linear")
    return out


def _integrate(time: np.ndarray, conc: np.ndarray, method: str, zero_into: float | None = None) -> float:
    # zero_into: a window end after Tlast without a count; the segment into it adds nothing (PKNCA
    # integrates it as "log" towards 0, which is 0)
    area = 0.0
    for i, kind in enumerate(_segment_methods(conc, method)):
        dt, c1, c2 = time[i + 1] - time[i], conc[i], conc[i + 1]
        if zero_into is not None and time[i + 1] == zero_into:
            continue
        if kind == "linear":
            area += dt * (c1 + c2) / 2
        elif kind == "log":
            area += dt * (c1 - c2) / np.log(c1 / c2)
    return float(area)


def _interpolate(time: np.ndarray, conc: np.ndarray, at: float, tlast: float, method: str) -> float:
    """A count at a time without one: PKNCA's interp.extrap.conc with AUClast."""
    if at < time[0]:
        return 0.0
    if at > tlast:
        return 0.0
    after = int(np.searchsorted(time, at, side="right"))
    t1, t2, c1, c2 = time[after - 1], time[after], conc[after - 1], conc[after]
    kind = _segment_methods(np.array([c1, c2]), method)[0]
    if kind == "zero":
        return 0.0
    if kind == "log":
        return float(np.exp(np.log(c1) + (at - t1) / (t2 - t1) * (np.log(c2) - np.log(c1))))
    return float(c1 + (at - t1) * (c2 - c1) / (t2 - t1))


def auc(time: np.ndarray, conc: np.ndarray, start: float, end: float, method: str = LINEAR,
        window: str = OBSERVED) -> float:
    """Area under one series from start to end (time sorted, distinct, BLQ rule applied); NaN if not computable."""
    inside = (time >= start) & (time <= end)
    if window == OBSERVED:
        if inside.sum() < 2:
            return np.nan
        return _integrate(time[inside], conc[inside], method)
    if not inside.any():
        return np.nan
    if np.all(conc == 0):
        return 0.0
    tlast = float(time[np.flatnonzero(conc > 0)[-1]])
    points = dict(zip(time[inside].tolist(), conc[inside].tolist()))
    extrapolated = end if end not in points and end > tlast else None
    for edge in (start, end):
        if edge not in points:
            points[edge] = _interpolate(time, conc, edge, tlast, method)
    days = np.array(sorted(points))
    return _integrate(days, np.array([points[d] for d in days]), method, extrapolated)


def series_metrics(time: np.ndarray, conc: np.ndarray, below: np.ndarray, options: NcaOptions) -> dict:
    """Cmax, Tmax, Clast, Tlast, AUC0-28, AUC0-90 and n_points (counts in days 0-28) of one series."""
    order = np.argsort(time, kind="stable")
    time, conc, below = time[order], conc[order], below[order]
    if np.unique(time).size < time.size:  # two counts on one day: their mean
        frame = pd.DataFrame({"t": time, "c": conc, "b": below}).groupby("t", sort=True).agg(c=("c", "mean"),
                                                                                              b=("b", "all"))
        time, conc, below = frame.index.to_numpy(float), frame["c"].to_numpy(float), frame["b"].to_numpy(bool)
    time, conc = clean_blq(time, conc, below, options.blq)
    out = {"cmax": np.nan, "tmax_day": np.nan, "clast": np.nan, "tlast_day": np.nan}
    if conc.size:
        out["cmax"] = float(conc.max())
        out["tmax_day"] = float(time[np.flatnonzero(conc == conc.max())[0]])
        positive = np.flatnonzero(conc > 0)
        if positive.size:
            out["clast"], out["tlast_day"] = float(conc[positive[-1]]), float(time[positive[-1]])
    for name, (start, end) in INTERVALS.items():
        out[name] = auc(time, conc, start, end, options.method, options.window) if conc.size else np.nan
    out["n_points"] = int(((time >= 0) & (time <= 28)).sum())
    return out


def nca_metrics(lab_values: pd.DataFrame, options: NcaOptions = NcaOptions()) -> pd.DataFrame:
    """NCA metrics per patient, cell-count analyte and unit (input: store.lab_values), with the options used.

    Columns: patient_id, analyte, unit, cmax, tmax_day, clast, tlast_day, auc_0_28, auc_0_90,
    n_points (counts with 0 <= day <= 28), auc_method, auc_window, blq_rule.
    """
    cells = lab_values[lab_values["analyte"].isin(CELL_COUNT_ANALYTES) & lab_values["value"].notna()]
    cells = cells.sort_values(["patient_id", "analyte", "unit", "day"], kind="stable")
    # series bounds compare the keys as text (a blank unit is one key), but each row takes the values as given:
    # a blank unit stays missing, not the text "nan" or "None"
    keys = cells[["patient_id", "analyte", "unit"]].astype(str)
    given = cells[["patient_id", "analyte", "unit"]].astype(object)
    starts = np.flatnonzero(keys.ne(keys.shift()).any(axis=1).to_numpy())
    bounds = np.append(starts, len(cells))
    day, value = cells["day"].to_numpy(float), cells["value"].to_numpy(float)
    below = cells["below_lloq"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    rows = []
    for first, stop in zip(bounds[:-1], bounds[1:]):  # one series at a time, as numpy slices
        checkpoint()
        metrics = series_metrics(day[first:stop], value[first:stop], below[first:stop], options)
        patient, analyte, unit = given.iloc[first]
        unit = None if pd.isna(unit) else unit
        rows.append({"patient_id": patient, "analyte": analyte, "unit": unit, **metrics})
    frame = pd.DataFrame(rows, columns=NCA_COLUMNS[:-3])
    frame["auc_method"], frame["auc_window"], frame["blq_rule"] = options.method, options.window, options.blq
    return frame[NCA_COLUMNS]


def mixed_units(lab_values: pd.DataFrame) -> pd.DataFrame:
    """Cell-count analytes measured in more than one unit (never pooled). Columns: analyte, units."""
    cells = lab_values[lab_values["analyte"].isin(CELL_COUNT_ANALYTES)]
    # a blank unit beside a given one is a series of its own too (validation allows either per analyte)
    units = cells.assign(unit=cells["unit"].astype(object).where(cells["unit"].notna(), "(no unit)")) \
        .groupby("analyte")["unit"].unique()
    mixed = units[units.map(len) > 1]
    return pd.DataFrame({"analyte": mixed.index, "units": [", ".join(sorted(u)) for u in mixed]})

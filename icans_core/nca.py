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
    """Cmax, Tmax, Clast, Tlast, AUC0-28, AUC0-90 and n_points (counts in days 0-28) of one series: the
    definition, step by step, that nca_metrics computes for every series at once (tests/test_nca.py checks
    that the two agree, and this one against PKNCA's own test cases)."""
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
    starts = np.flatnonzero(keys.ne(keys.shift()).any(axis=1).to_numpy())
    day, value = cells["day"].to_numpy(float), cells["value"].to_numpy(float)
    below = cells["below_lloq"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    metrics = _all_metrics(starts, day, value, below, options)
    frame = pd.DataFrame({name: cells[name].to_numpy(dtype=object)[starts]
                          for name in ("patient_id", "analyte", "unit")})
    frame["unit"] = frame["unit"].where(frame["unit"].notna(), None)
    frame = pd.concat([frame, metrics.reset_index(drop=True)], axis=1)
    frame["n_points"] = frame["n_points"].astype(int)
    frame["auc_method"], frame["auc_window"], frame["blq_rule"] = options.method, options.window, options.blq
    return frame[NCA_COLUMNS]


def _all_metrics(starts: np.ndarray, day: np.ndarray, value: np.ndarray, below: np.ndarray,
                 options: NcaOptions) -> pd.DataFrame:
    """series_metrics of every series at once: the same steps on arrays sorted by series and day, a registry's
    30,000 series in a few numpy calls (a series at a time took 2-3 s at 10,000 patients). Areas are summed
    segment by segment in time order, as _integrate does, so each is the same float."""
    series = np.cumsum(np.isin(np.arange(day.size), starts)) - 1
    # two counts on one day: their mean (pandas' groupby mean, as series_metrics), below LLOQ if both are
    same_day = pd.DataFrame({"s": series, "t": day, "c": value, "b": below}).groupby(["s", "t"], sort=True)
    days = same_day.agg(c=("c", "mean"), b=("b", "all")).reset_index()
    series, time = days["s"].to_numpy(), days["t"].to_numpy(float)
    conc, below = days["c"].to_numpy(float), days["b"].to_numpy(bool)
    n = int(series[-1]) + 1 if series.size else 0
    first = np.flatnonzero(np.r_[True, series[1:] != series[:-1]]) if series.size else np.array([], int)
    if options.blq != BLQ_AS_RECORDED:
        conc = np.where(below, 0.0, conc)
    if options.blq == BLQ_PKNCA:  # middle BLQ counts (between the first and last quantified one) dropped
        position = np.arange(conc.size)
        quantified = np.where(~below & (conc > 0), position, -1)
        last_q = np.maximum.reduceat(quantified, first)[series]
        first_q = np.minimum.reduceat(np.where(quantified >= 0, quantified, conc.size), first)[series]
        keep = ~(below & (position > first_q) & (position < last_q))
        series, time, conc = series[keep], time[keep], conc[keep]
        first = np.flatnonzero(np.r_[True, series[1:] != series[:-1]]) if series.size else first[:0]
    out = {}
    cmax = np.maximum.reduceat(conc, first) if n else np.array([])
    position = np.arange(conc.size)
    at_max = np.where(conc == cmax[series], position, conc.size)
    out["cmax"] = cmax
    out["tmax_day"] = time[np.minimum.reduceat(at_max, first)] if n else np.array([])
    last_positive = np.maximum.reduceat(np.where(conc > 0, position, -1), first) if n else np.array([], int)
    found = last_positive >= 0
    out["clast"] = np.where(found, conc[np.maximum(last_positive, 0)], np.nan) if n else np.array([])
    out["tlast_day"] = np.where(found, time[np.maximum(last_positive, 0)], np.nan) if n else np.array([])
    areas = _observed_areas if options.window == OBSERVED else _interpolated_areas
    for name, (start, end) in INTERVALS.items():
        out[name] = areas(series, time, conc, n, start, end, options.method)
    out["n_points"] = np.bincount(series[(time >= 0) & (time <= 28)], minlength=n)
    return pd.DataFrame(out, columns=NCA_COLUMNS[3:-3])


def _observed_areas(series: np.ndarray, time: np.ndarray, conc: np.ndarray, n: int, start: float, end: float,
                    method: str) -> np.ndarray:
    """auc(..., window="observed") of each of n series: NaN with fewer than 2 counts in [start, end]."""
    inside = (time >= start) & (time <= end)
    counts = np.bincount(series[inside], minlength=n)
    s, t, c = series[inside], time[inside], conc[inside]
    pair = np.flatnonzero(s[1:] == s[:-1])  # consecutive counts of one series: a segment each
    pieces = _pieces(t[pair + 1] - t[pair], c[pair], c[pair + 1], method)
    return np.where(counts >= 2, _sums_in_order(s[pair], pieces, n), np.nan)


def _interpolated_areas(series: np.ndarray, time: np.ndarray, conc: np.ndarray, n: int, start: float, end: float,
                        method: str) -> np.ndarray:
    """auc(..., window="interpolated") of each of n series: the counts inside [start, end], with a window end
    that has no count given one by _interpolate's rules (0 before the first count and after Tlast); the segment
    into an end after Tlast adds nothing. NaN without a count inside; 0 for a series of zeros."""
    first = np.flatnonzero(np.r_[True, series[1:] != series[:-1]]) if series.size else np.array([], int)
    position = np.arange(series.size)
    last_positive = np.maximum.reduceat(np.where(conc > 0, position, -1), first) if n else np.array([], int)
    tlast = np.where(last_positive >= 0, time[np.maximum(last_positive, 0)], np.nan)
    inside = (time >= start) & (time <= end)
    counts = np.bincount(series[inside], minlength=n)

    def edge(at: float) -> tuple[np.ndarray, np.ndarray]:
        """Per series: whether a count falls on `at`, and the value _interpolate gives there if not."""
        given = np.bincount(series[time == at], minlength=n) > 0
        before = np.bincount(series[time <= at], minlength=n)  # searchsorted(time, at, "right") in the series
        within = ~given & (time[first] < at) & (at <= tlast)  # NaN tlast (all zero): never
        after = first + before
        t1, t2 = time[np.maximum(after - 1, 0)], time[np.minimum(after, time.size - 1)]
        c1, c2 = conc[np.maximum(after - 1, 0)], conc[np.minimum(after, time.size - 1)]
        log = (method == LIN_UP_LOG_DOWN) & (c2 < c1) & (c2 != 0)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # for rows not interpolated
            fraction = (at - t1) / (t2 - t1)
            value = np.where(log, np.exp(np.log(c1) + fraction * (np.log(c2) - np.log(c1))),
                             c1 + (at - t1) * (c2 - c1) / (t2 - t1))
        value = np.where((c1 == 0) & (c2 == 0), 0.0, value)
        return given, np.where(within, value, 0.0)

    has_start, start_value = edge(start)
    has_end, end_value = edge(end)
    # each series' points in time order: [start, if added], its counts inside, [end, if added]
    add_start, add_end = ~has_start & (counts > 0), ~has_end & (counts > 0)
    s_in, t_in, c_in = series[inside], time[inside], conc[inside]
    owners = np.concatenate([np.flatnonzero(add_start), s_in, np.flatnonzero(add_end)])
    times = np.concatenate([np.full(add_start.sum(), start), t_in, np.full(add_end.sum(), end)])
    values = np.concatenate([start_value[add_start], c_in, end_value[add_end]])
    placed = np.concatenate([np.zeros(add_start.sum()), np.ones(s_in.size), np.full(add_end.sum(), 2)])
    order = np.lexsort((placed, owners))  # by series, then start, counts (in time order), end
    owners, times, values = owners[order], times[order], values[order]
    into_end = np.r_[False, (owners[1:] == owners[:-1])] & (times == end) & (end > tlast[owners])  # zero_into
    pair = np.flatnonzero(owners[1:] == owners[:-1])
    pieces = _pieces(times[pair + 1] - times[pair], values[pair], values[pair + 1], method)
    pieces[into_end[pair + 1] & add_end[owners[pair]]] = 0.0
    areas = _sums_in_order(owners[pair], pieces, n)
    every_zero = ((np.maximum.reduceat(conc, first) == 0) & (np.minimum.reduceat(conc, first) == 0)) if n \
        else np.array([], bool)
    return np.where(counts == 0, np.nan, np.where(every_zero, 0.0, areas))


def _pieces(dt: np.ndarray, c1: np.ndarray, c2: np.ndarray, method: str) -> np.ndarray:
    """Each segment's area by _segment_methods' kind: linear, log (a fall to a value above 0, lin up/log
    down), zero (between two zeros: nothing)."""
    log = (method == LIN_UP_LOG_DOWN) & (c2 < c1) & (c2 != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pieces = np.where(log, dt * (c1 - c2) / np.log(np.where(log, c1 / c2, 1.0)), dt * (c1 + c2) / 2)
    pieces[(c1 == 0) & (c2 == 0)] = 0.0
    return pieces


def _sums_in_order(owner: np.ndarray, pieces: np.ndarray, n: int) -> np.ndarray:
    """Per series (owner, sorted), the sum of its pieces added one at a time in order, as _integrate adds them:
    the k-th piece of every series at once, k = 0, 1, ..."""
    rank = np.arange(owner.size) - np.searchsorted(owner, owner, side="left")
    sums = np.zeros(n)
    for k in range(int(rank.max()) + 1 if rank.size else 0):
        checkpoint()  # a few tens of steps, each over every series
        at = rank == k
        sums[owner[at]] += pieces[at]
    return sums


def mixed_units(lab_values: pd.DataFrame) -> pd.DataFrame:
    """Cell-count analytes measured in more than one unit (never pooled). Columns: analyte, units."""
    cells = lab_values[lab_values["analyte"].isin(CELL_COUNT_ANALYTES)]
    # a blank unit beside a given one is a series of its own too (validation allows either per analyte)
    units = cells.assign(unit=cells["unit"].astype(object).where(cells["unit"].notna(), "(no unit)")) \
        .groupby("analyte")["unit"].unique()
    mixed = units[units.map(len) > 1]
    return pd.DataFrame({"analyte": mixed.index, "units": [", ".join(sorted(u)) for u in mixed]})

"""Resolution with death as a competing event: cumulative incidence with cmprsk's variance, and Gray's test.

Both follow R's cmprsk package (Gray), which users check against:
- the estimate is the Aalen-Johansen cumulative incidence (cmprsk::cuminc's `est`);
- its variance is cuminc's `var` (Gray's Fortran routine `cinc`, an Aalen-type estimator). As
  cuminc reports it, the variance of a cause changes only at that cause's event times;
- the 95% band is the log(-log) transform of that variance:
  F ^ exp(+-1.96 sqrt(var) / (F log F)) (the delta method on log(-log F)), the usual band drawn
  from cuminc (e.g. tidycmprsk); none where F is 0 or 1;
- Gray's test compares the cumulative incidence of one cause between groups: cuminc's `Tests`
  (rho = 0, no strata), chi-square on groups - 1 df. Ported from cmprsk's Fortran `crstm`.
Times are first made equal within R's timefix tolerance (survival.timefix), as the rest of the
resolution analysis does. cmprsk itself does not apply timefix: the project's times are already
exact decimals (episodes.py), so the two agree on the times the export writes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from icans_core.cancel import checkpoint
from icans_core.survival import CONFIDENCE, DEATH_EVENT, RESOLUTION_EVENT, _analysable

_Z = norm.ppf(1 - (1 - CONFIDENCE) / 2)
CI_METHOD = ("cmprsk::cuminc variance (Gray's cinc), log(-log) transform: "
             "F^exp(+-1.96 sqrt(var) / (F log F))")
GRAY_TEST = "Gray's test"
GRAY_RULE = ("Gray's test = cmprsk::cuminc's test (rho = 0, no strata) of the cumulative incidence of each cause "
             "(resolution; death) between groups, chi-square on groups - 1 df; empty where cmprsk reports a "
             "singular variance (statistic -1).")
CIF_COLUMNS = ["group", "event", "time", "n_at_risk", "cumulative_incidence", "ci_lower", "ci_upper", "variance"]
GRAY_COLUMNS = ["test", "event", "statistic", "df", "p_value"]
CAUSES = ((RESOLUTION_EVENT, 1), (DEATH_EVENT, 2))


def _codes(rows: pd.DataFrame) -> np.ndarray:
    """0 censored (and "died" only for Kaplan-Meier; here death is cause 2), 1 resolved, 2 died."""
    return np.select([rows["resolved"].to_numpy(), rows["died"].to_numpy()], [1, 2], 0)


def cumulative_incidence(episodes: pd.DataFrame) -> pd.DataFrame:
    """Aalen-Johansen cumulative incidence of resolution and of death (the competing event) per group.

    Long format: `event` is "resolution" or "death", each with its own curve. One row per group
    and event at time 0 (0) and at every time with a resolution, a death or a censoring; the value
    is the estimate after everything at that time; n_at_risk those with time >= t; variance as
    cmprsk::cuminc reports it; ci_lower/ci_upper its log(-log) 95% band (see CI_METHOD), 0-0 where
    the incidence is still 0, empty where it is 1.
    Columns: group, event, time, n_at_risk, cumulative_incidence, ci_lower, ci_upper, variance.
    """
    data = _analysable(episodes)
    parts = []
    for group, rows in data.groupby("group", sort=True):
        checkpoint()
        parts.append(_group_curves(group, rows))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("group", "event") else float)
                             for c in CIF_COLUMNS})
    return pd.concat(parts, ignore_index=True)[CIF_COLUMNS]


def _group_curves(group: str, rows: pd.DataFrame) -> pd.DataFrame:
    time = rows["time"].to_numpy(dtype=float)
    codes = _codes(rows)
    parts = []
    for event, cause in CAUSES:
        times, at_risk, estimate, variance = cinc(time, codes, cause)
        curve = pd.DataFrame({"time": np.concatenate([[0.0], times]),
                              "n_at_risk": np.concatenate([[len(rows)], at_risk]).astype(int),
                              "cumulative_incidence": np.concatenate([[0.0], estimate]),
                              "variance": np.concatenate([[0.0], variance])})
        lower, upper = log_log_band(curve["cumulative_incidence"].to_numpy(), curve["variance"].to_numpy())
        curve["ci_lower"], curve["ci_upper"] = lower, upper
        curve = curve.drop_duplicates("time", keep="last") if (times == 0).any() else curve
        curve.insert(0, "event", event)
        curve.insert(0, "group", group)
        parts.append(curve)
    return pd.concat(parts, ignore_index=True)


def cinc(time: np.ndarray, codes: np.ndarray, cause: int) -> tuple[np.ndarray, ...]:
    """cmprsk's `cinc` at every distinct time: (times, n at risk, estimate, variance) of one cause.

    codes: 0 censored, else the cause of the event. The variance is updated at the cause's own event
    times only (as cuminc reports it), the running sums at every event of any cause.
    """
    order = np.argsort(time, kind="stable")
    time, codes = time[order], codes[order]
    times, first = np.unique(time, return_index=True)
    n = time.size
    at_risk = n - first
    d1 = np.add.reduceat((codes == cause).astype(float), first) if n else np.array([])
    d2 = np.add.reduceat(((codes != 0) & (codes != cause)).astype(float), first) if n else np.array([])
    estimate = np.empty(times.size)
    variance = np.empty(times.size)
    fk, f, v, v1, v2, v3 = 1.0, 0.0, 0.0, 0.0, 0.0, 0.0
    for i in range(times.size):
        rs, nd1, nd2 = float(at_risk[i]), d1[i], d2[i]
        nd = nd1 + nd2
        if nd > 0:
            fkn = fk * (rs - nd) / rs
            if nd1 > 0:
                f = f + fk * nd1 / rs
            if nd2 > 0 and fkn > 0:
                t5 = 1 - (nd2 - 1) / (rs - 1) if nd2 > 1 else 1.0
                t6 = fk * fk * t5 * nd2 / (rs * rs)
                t3, t4 = 1 / fkn, f / fkn
                v1, v2, v3 = v1 + t4 * t4 * t6, v2 + t3 * t4 * t6, v3 + t3 * t3 * t6
            if nd1 > 0:
                t5 = 1 - (nd1 - 1) / (rs - 1) if nd1 > 1 else 1.0
                t6 = fk * fk * t5 * nd1 / (rs * rs)
                t3 = 1 / fkn if fkn > 0 else 0.0
                t4 = 1 + t3 * f
                v1, v2, v3 = v1 + t4 * t4 * t6, v2 + t3 * t4 * t6, v3 + t3 * t3 * t6
                v = v1 + f * f * v3 - 2 * f * v2
            fk = fkn
        estimate[i], variance[i] = f, v
    return times, at_risk, estimate, variance


def log_log_band(estimate: np.ndarray, variance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """95% band F^exp(+-z sqrt(var)/(F log F)): 0-0 where F = 0, NaN where F = 1 (log F = 0)."""
    f = np.asarray(estimate, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        spread = _Z * np.sqrt(np.maximum(variance, 0.0)) / (f * np.log(f))
        one, two = f ** np.exp(spread), f ** np.exp(-spread)
    lower, upper = np.minimum(one, two), np.maximum(one, two)
    zero, full = f <= 0, f >= 1
    lower = np.where(zero, 0.0, np.where(full, np.nan, lower))
    upper = np.where(zero, 0.0, np.where(full, np.nan, upper))
    return lower, upper


def gray_test(episodes: pd.DataFrame) -> pd.DataFrame:
    """Gray's test of the cumulative incidence of resolution, and of death, between groups (cmprsk::cuminc).

    One row per cause that occurs (as cuminc): test "Gray's test", event "resolution" or "death",
    statistic, df (groups - 1), p_value. Where cmprsk finds the variance matrix singular it reports
    statistic -1 (p = 1); here both are empty. Empty with fewer than two groups.
    Columns: test, event, statistic, df, p_value.
    """
    data = _analysable(episodes)
    groups = sorted(data["group"].unique())
    if len(groups) < 2:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("test", "event") else float) for c in GRAY_COLUMNS})
    codes = _codes(data)
    group = np.searchsorted(groups, data["group"].to_numpy())
    time = data["time"].to_numpy(dtype=float)
    rows = []
    for event, cause in CAUSES:
        checkpoint()
        if not (codes == cause).any():
            continue
        # crstm's coding: 1 the cause of interest, 2 any other cause, 0 censored
        coded = np.where(codes == cause, 1, np.where(codes == 0, 0, 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            score, variance = _crst(time, coded, group, len(groups))
        statistic = np.nan
        finite = np.all(np.isfinite(variance)) and np.all(np.isfinite(score))
        if finite and np.linalg.matrix_rank(variance) == variance.shape[0]:
            statistic = float(score @ np.linalg.solve(variance, score))
        rows.append({"test": GRAY_TEST, "event": event, "statistic": statistic, "df": len(groups) - 1,
                     "p_value": float(chi2.sf(statistic, len(groups) - 1)) if np.isfinite(statistic) else np.nan})
    return pd.DataFrame(rows, columns=GRAY_COLUMNS).astype({"statistic": float, "df": int, "p_value": float})


def _crst(y: np.ndarray, m: np.ndarray, ig: np.ndarray, ng: int) -> tuple[np.ndarray, np.ndarray]:
    """Score (first ng - 1 groups) and its variance matrix: cmprsk's Fortran `crst`, rho = 0, vectorised over groups."""
    order = np.argsort(y, kind="stable")
    y, m, ig = y[order], m[order], ig[order]
    ng1 = ng - 1
    rs = np.bincount(ig, minlength=ng).astype(float)
    s = np.zeros(ng1)
    v = np.zeros((ng1, ng1))
    f1m, skmm = np.zeros(ng), np.ones(ng)
    v3 = np.zeros(ng)
    v2 = np.zeros((ng1, ng))
    c = np.zeros((ng, ng))
    fm = 0.0
    times, first = np.unique(y, return_index=True)
    bounds = np.append(first, y.size)
    fb = 1.0  # (1 - fm) ** rho with rho = 0
    for start, stop in zip(bounds[:-1], bounds[1:]):
        d = np.zeros((3, ng))
        np.add.at(d, (m[start:stop], ig[start:stop]), 1.0)
        nd1, nd2 = d[1].sum(), d[2].sum()
        if nd1 > 0 or nd2 > 0:
            live = rs > 0
            skm, f1 = skmm.copy(), f1m.copy()
            td = d[1] + d[2]
            skm[live] = skmm[live] * (rs[live] - td[live]) / rs[live]
            f1[live] = f1m[live] + skmm[live] * d[1][live] / rs[live]
            t1 = np.where(live, rs / np.where(live, skmm, 1.0), 0.0)
            tr = t1.sum()
            tq = np.where(live, rs * (1 - f1m) / np.where(live, skmm, 1.0), 0.0).sum()
            f = fm + nd1 / tr
            a = -fb * np.outer(t1, t1) / tr
            np.fill_diagonal(a, fb * t1 * (1 - t1 / tr))
            a[~live, :] = 0.0
            a[:, ~live] = 0.0
            c += np.where(a != 0, a * nd1 / (tr * (1 - fm)), 0.0)
            liv1 = live[:ng1]
            s[liv1] += fb * (d[1][:ng1][liv1] - nd1 * rs[:ng1][liv1] * (1 - f1m[:ng1][liv1])
                             / (skmm[:ng1][liv1] * tq))
            if nd1 > 0:
                k = live
                t4 = np.where(skm > 0, 1 - (1 - f) / np.where(skm > 0, skm, 1.0), 1.0)
                t5 = 1 - (nd1 - 1) / (tr * skmm - 1) if nd1 > 1 else np.ones(ng)
                t3 = np.where(k, t5 * skmm * nd1 / (tr * np.where(k, rs, 1.0)), 0.0)
                v3 += t4 * t4 * t3
                t1m = a[:ng1, :] - t4[None, :] * c[:ng1, :]
                v2 += t1m * (t4 * t3)[None, :]
                v += (t1m * t3[None, :]) @ t1m.T
            if nd2 > 0:
                k = (skm > 0) & (d[2] > 0)
                t4 = np.where(k, (1 - f) / np.where(k, skm, 1.0), 0.0)
                t5 = np.where(d[2] > 1, 1 - (d[2] - 1) / np.where(rs > 1, rs - 1, 1.0), 1.0)
                t3 = np.where(k, t5 * skmm ** 2 * d[2] / np.where(k, rs, 1.0) ** 2, 0.0)
                v3 += t4 * t4 * t3
                t1m = t4[None, :] * c[:ng1, :]
                v2 -= t1m * (t4 * t3)[None, :]
                v += (t1m * t3[None, :]) @ t1m.T
            fm, f1m, skmm = f, f1, skm
        if stop < y.size:
            rs -= np.bincount(ig[start:stop], minlength=ng)
    v += (c[:ng1, :] * v3[None, :]) @ c[:ng1, :].T + c[:ng1, :] @ v2.T + v2 @ c[:ng1, :].T
    return s, v

"""Time to resolution of severe ICANS: Kaplan-Meier, log-rank and cumulative incidence.

Computed in numpy, checked against R (tests/test_survival_r.py); returns tidy frames. The event is RESOLUTION, so the Kaplan-Meier S(t)
is the proportion still with severe ICANS and 1 - S(t) the proportion resolved. Per the
data contract, "died" is censored for Kaplan-Meier and the log-rank test, and a competing
event for the cumulative incidence. Episodes without a time (no origin: the chosen
intervention class was not given during the episode) are left out of every analysis.
Conventions follow R's survival package, which users check results against.
"""

from __future__ import annotations

from itertools import combinations
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from icans_core.cancel import checkpoint
from icans_core.episodes import DIED, RESOLVED

CI_LOG, CI_LOG_LOG = "log", "log-log"
CI_TRANSFORMS = {
    CI_LOG: "log (R survival's default)",
    CI_LOG_LOG: "log-log (lifelines' default, exponential Greenwood)",
}
CONFIDENCE = 0.95
_Z = norm.ppf(1 - (1 - CONFIDENCE) / 2)
# R's quantile.survfit treats survival values within sqrt(machine epsilon) of 0.5 as equal to it.
_TOLERANCE = float(np.sqrt(np.finfo(float).eps))
# How the median and the log-rank tests are computed, in words for the page and the export's notes.
MEDIAN_RULE = ("median = R's quantile(survfit) rule: the first time S(t) <= 0.5, or the midpoint of the interval "
               "where S(t) equals 0.5 exactly (to sqrt(machine eps)), that interval ending at the last follow-up "
               "when the curve stays at 0.5; R's print(survfit) differs only there, giving the time S first "
               "reached 0.5. CI bounds: the same rule on the band. Times within sqrt(machine eps) are one time "
               "(R's timefix).")
LOGRANK_RULE = ("log-rank = R's survdiff (rho = 0), deaths censored: df = groups with expected resolutions > 0, "
                "minus 1; no statistic or p when fewer than two such groups (R: chi-square 0, p NA). Pairwise: "
                "survdiff on each pair alone, Holm-adjusted over the pairs with a p-value (p.adjust 'holm').")
SMALL_GROUP = 10  # the seed IVIG study had 9 vs 10 patients: warn below 10 (clinical reference)

KM_COLUMNS = ["group", "time", "n_at_risk", "n_events", "n_censored", "survival", "ci_lower", "ci_upper",
              "resolved", "resolved_ci_lower", "resolved_ci_upper"]
MEDIAN_COLUMNS = ["group", "n", "resolved", "median_days", "median_ci_lower", "median_ci_upper"]
TEST_COLUMNS = ["test", "statistic", "df", "p_value", "p_holm"]
AT_RISK_COLUMNS = ["group", "time", "n_at_risk"]
CIF_COLUMNS = ["group", "event", "time", "n_at_risk", "cumulative_incidence", "ci_lower", "ci_upper", "variance"]
LEFT_OUT_COLUMNS = ["group", "episodes", "analysed", "left_out"]
RESOLUTION_EVENT, DEATH_EVENT = "resolution", "death"


def _check_ci(ci: str) -> None:
    if ci not in CI_TRANSFORMS:
        raise ValueError(f"ci must be one of {', '.join(CI_TRANSFORMS)}, not {ci!r}")


def _analysable(episodes: pd.DataFrame) -> pd.DataFrame:
    """Episodes with a time to resolution: group, time, resolved (bool), died (bool)."""
    timed = episodes[episodes["time_to_resolution"].notna()]
    return pd.DataFrame({
        "group": timed["group"].astype(str).to_numpy(),
        "time": timefix(timed["time_to_resolution"].astype(float).to_numpy()),
        "resolved": (timed["outcome"] == RESOLVED).to_numpy(),
        "died": (timed["outcome"] == DIED).to_numpy(),
    })


# --- Kaplan-Meier -------------------------------------------------------------------------------

def kaplan_meier(episodes: pd.DataFrame, ci: str = CI_LOG) -> pd.DataFrame:
    """Kaplan-Meier step function of time to resolution per group, with a 95% band.

    One row per group at time 0 (survival 1) and at every time with a resolution or a
    censoring ("died" is censored). Columns: group, time, n_at_risk, n_events, n_censored,
    survival (proportion still with severe ICANS), ci_lower, ci_upper, resolved (1 - survival),
    resolved_ci_lower, resolved_ci_upper. `ci` is "log" (R's default) or "log-log" (lifelines').
    """
    _check_ci(ci)
    data = _analysable(episodes)
    if data.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "group" else float) for c in KM_COLUMNS})
    km = _km_steps(data, ci)
    km["resolved"] = 1 - km["survival"]
    # 1 - S turns the band over: the upper bound of S gives the lower bound of the proportion resolved.
    km["resolved_ci_lower"] = 1 - km["ci_upper"]
    km["resolved_ci_upper"] = 1 - km["ci_lower"]
    return km[KM_COLUMNS]


def _km_steps(data: pd.DataFrame, ci: str) -> pd.DataFrame:
    # Computed here, every group at once, rather than by lifelines (0.1 s a fit: 150 groups took 15 s):
    # R's survfit rows at every distinct time of a group, Greenwood variance, and the chosen band.
    cells = (data.assign(event=data["resolved"].astype(int))
             .groupby(["group", "time"], sort=True).agg(n=("event", "size"), n_events=("event", "sum")).reset_index())
    by_group = cells.groupby("group", sort=False)
    size = by_group["n"].transform("sum")
    cells["n_at_risk"] = size - by_group["n"].cumsum() + cells["n"]
    cells["n_censored"] = cells["n"] - cells["n_events"]
    cells["survival"] = (1 - cells["n_events"] / cells["n_at_risk"]).groupby(cells["group"], sort=False).cumprod()
    n, d = cells["n_at_risk"].to_numpy(float), cells["n_events"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        increment = pd.Series(np.where(d > 0, d / (n * (n - d)), 0.0), index=cells.index)
    cells["se"] = np.sqrt(increment.groupby(cells["group"], sort=False).cumsum())
    lower, upper = _log_band(cells) if ci == CI_LOG else _log_log_band(cells)
    cells["ci_lower"], cells["ci_upper"] = lower, upper
    start = pd.DataFrame({"group": cells["group"].unique()}).merge(
        cells.groupby("group", sort=True)["n"].sum().rename("n_at_risk").reset_index(), on="group")
    start = start.assign(time=0.0, n_events=0, n_censored=0, survival=1.0, ci_lower=1.0, ci_upper=1.0, order=0)
    columns = ["group", "time", "n_at_risk", "n_events", "n_censored", "survival", "ci_lower", "ci_upper"]
    steps = pd.concat([start[columns + ["order"]], cells[columns].assign(order=1)], ignore_index=True)
    steps = steps.sort_values(["group", "order", "time"], kind="stable").drop(columns="order").reset_index(drop=True)
    return steps.astype({"n_at_risk": int, "n_events": int, "n_censored": int})


def _log_log_band(steps: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    # R's conf.type = "log-log" (lifelines' "exponential Greenwood"): exp(-exp(log(-log S) +- z se / log S));
    # NA where S is 0 or 1, as R
    s = steps["survival"].to_numpy(dtype=float)
    se = steps["se"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        one = np.exp(-np.exp(np.log(-np.log(s)) + _Z * se / np.log(s)))
        two = np.exp(-np.exp(np.log(-np.log(s)) - _Z * se / np.log(s)))
    gone = (s <= 0) | (s >= 1)
    return np.where(gone, np.nan, np.minimum(one, two)), np.where(gone, np.nan, np.maximum(one, two))


def _log_band(steps: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    # lifelines offers only the log-log band, so R's conf.type = "log" is computed here (Greenwood):
    # S * exp(+-z * sqrt(sum d / (n (n - d)))), the upper bound capped at 1; R gives NA where S = 0.
    s = steps["survival"].to_numpy(dtype=float)
    se = steps["se"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = s * np.exp(-_Z * se)
        upper = np.minimum(s * np.exp(_Z * se), 1.0)
    gone = s <= 0
    return np.where(gone, np.nan, lower), np.where(gone, np.nan, upper)


def median_times(episodes: pd.DataFrame, ci: str = CI_LOG, km: pd.DataFrame | None = None) -> pd.DataFrame:
    """Median time to resolution per group with its 95% CI, following R's survival package.

    median_days is the smallest t with S(t) <= 0.5, except where S(t) equals 0.5 (within
    sqrt(machine epsilon)) over an interval: then the midpoint of that interval, which ends at
    the next drop of the curve, or at the last follow-up time when the curve stays at 0.5 (R's
    quantile.survfit). The CI bounds apply the same rule to the band of the chosen transform:
    median_ci_lower from the lower band, median_ci_upper from the upper band. NaN = not reached.
    `km`: kaplan_meier(episodes, ci) when the caller has it already.
    Columns: group, n (episodes analysed), resolved (number resolved), median_days,
    median_ci_lower, median_ci_upper.
    """
    km = kaplan_meier(episodes, ci) if km is None else km
    data = _analysable(episodes)
    counts = data.groupby("group", sort=True).agg(n=("time", "size"), resolved=("resolved", "sum"))
    rows = []
    for group, curve in km.groupby("group", sort=True):
        checkpoint()
        times = curve["time"].to_numpy()
        rows.append({"group": group, "median_days": _r_median(times, curve["survival"].to_numpy()),
                     "median_ci_lower": _r_median(times, curve["ci_lower"].to_numpy()),
                     "median_ci_upper": _r_median(times, curve["ci_upper"].to_numpy())})
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "group" else float) for c in MEDIAN_COLUMNS})
    medians = counts.join(pd.DataFrame(rows).set_index("group")).reset_index()
    return medians.astype({"n": int, "resolved": int})[MEDIAN_COLUMNS]


def _r_median(times: np.ndarray, survival: np.ndarray) -> float:
    # R's findq on the curve 1 - S: the first time 1 - S reaches 0.5 (within tolerance) and the first
    # time it passes 0.5 by more than the tolerance; their midpoint (equal unless S is flat at 0.5).
    last_time = times[-1]
    keep = ~np.isnan(survival)
    times, cumulative = times[keep], 1 - survival[keep]
    if cumulative.size == 0 or cumulative.max() < 0.5:
        return np.nan
    reached = np.flatnonzero(cumulative + _TOLERANCE >= 0.5)
    passed = np.flatnonzero(cumulative - _TOLERANCE >= 0.5)
    if passed.size:
        return float((times[reached[0]] + times[passed[0]]) / 2)
    if abs(cumulative[-1] - 0.5) < _TOLERANCE:  # flat at 0.5 to the end of follow-up
        return float((times[reached[0]] + last_time) / 2)
    return np.nan


def print_median(episodes: pd.DataFrame, km: pd.DataFrame | None = None) -> pd.DataFrame:
    """The median as R's print(survfit) gives it (survmean), which differs from quantile() in one case.

    When S(t) reaches exactly 0.5 and never drops below it (flat at 0.5 to the end of follow-up),
    print(survfit) gives the time it reached 0.5, quantile() (median_times, the project's
    rule) the midpoint of that time and the last follow-up. Elsewhere the two agree.
    Columns: group, median_days.
    """
    km = kaplan_meier(episodes) if km is None else km
    rows = []
    for group, curve in km.groupby("group", sort=True):
        times, surv = curve["time"].to_numpy(), curve["survival"].to_numpy()
        keep = surv < 0.5 + _TOLERANCE
        median = np.nan
        if keep.any():
            x, y = times[keep], surv[keep]
            lower = np.flatnonzero(y < y[0])
            median = float((x[0] + x[lower[0]]) / 2) if abs(y[0] - 0.5) < _TOLERANCE and lower.size else float(x[0])
        rows.append({"group": group, "median_days": median})
    return pd.DataFrame(rows, columns=["group", "median_days"])


def number_at_risk(km: pd.DataFrame, times: Sequence[float] | None = None) -> pd.DataFrame:
    """Patients still at risk (time >= t) per group at the chosen times, for the table under the plot.

    Without `times`, round steps from 0 to the longest follow-up (see risk_table_times).
    Columns: group, time, n_at_risk.
    """
    if km.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "group" else float) for c in AT_RISK_COLUMNS})
    times = risk_table_times(km) if times is None else sorted(float(t) for t in times)
    groups = sorted(km["group"].unique())
    wanted = pd.MultiIndex.from_product([groups, times], names=["group", "time"]).to_frame(index=False)
    # n_at_risk on a Kaplan-Meier row counts those with time >= that row's time, so at t it is the
    # value of the first row at or after t; past the last row nobody is left.
    steps = km[["group", "time", "n_at_risk"]].drop_duplicates(["group", "time"], keep="first")
    found = pd.merge_asof(wanted.sort_values("time"), steps.sort_values("time"), on="time", by="group",
                          direction="forward")
    found["n_at_risk"] = found["n_at_risk"].fillna(0).astype(int)
    return found.sort_values(["group", "time"]).reset_index(drop=True)[AT_RISK_COLUMNS]


def risk_table_times(km: pd.DataFrame, most: int = 8) -> list[float]:
    """Round day steps (1, 2, 5, 7, 14, 28, ... days) from 0 that cover the follow-up in at most `most` ticks."""
    longest = float(km["time"].max()) if len(km) else 0.0
    for step in (1, 2, 5, 7, 14, 28, 56, 91, 182, 365):
        if longest / step <= most - 1:
            break
    return [float(t) for t in np.arange(0, longest + step / 2, step) if t <= longest] or [0.0]


# --- Log-rank ---------------------------------------------------------------------------------------

# Pairwise tests grow as k(k - 1) / 2: 150 groups would be 11,175 tests (issue 10). Beyond this many
# groups only the overall test is given, and the page and the export say so.
MAX_PAIRWISE_GROUPS = 10
PAIRWISE_SKIPPED = "pairwise tests not computed: more than {limit} groups ({k})"


def timefix(times: np.ndarray) -> np.ndarray:
    """Times within sqrt(machine epsilon) (absolute, or relative to the mean |time|) made equal, as R's aeqSurv.

    R's survfit, survdiff and coxph apply this by default (timefix = TRUE): sorted distinct
    times closer than the tolerance to their predecessor are replaced by the first of their run.
    """
    times = np.asarray(times, dtype=float)
    finite = np.unique(times[np.isfinite(times)])
    if finite.size < 2:
        return times
    gaps = np.diff(finite)
    tied = (gaps <= _TOLERANCE) | (gaps / np.mean(np.abs(finite)) <= _TOLERANCE)
    if not tied.any():
        return times
    cuts = finite[np.concatenate([[True], ~tied])]
    fixed = times.copy()
    ok = np.isfinite(times)
    fixed[ok] = cuts[np.searchsorted(cuts, times[ok], side="right") - 1]
    return fixed


def survdiff(time: np.ndarray, event: np.ndarray, group: np.ndarray) -> dict:
    """R's survdiff (rho = 0) on one data set: observed, expected, variance, chi-square, df and p.

    As R: only groups with expected events > 0 enter the statistic, df = their number - 1; with
    fewer than two such groups there is no test (R prints chi-square 0 with p NaN or 0; here NaN);
    nor with a singular variance (R stops with an error).
    Keys: groups, observed, expected, chisq, df, p_value.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    groups, codes = np.unique(np.asarray(group, dtype=object).astype(str), return_inverse=True)
    k = groups.size
    event_times = np.unique(time[event])
    # at risk per event time and group: those with time >= t
    at_risk = np.empty((event_times.size, k))
    deaths = np.zeros((event_times.size, k))
    for j in range(k):
        own = np.sort(time[codes == j])
        at_risk[:, j] = own.size - np.searchsorted(own, event_times, side="left")
        own_events = time[(codes == j) & event]
        deaths[:, j] = np.bincount(np.searchsorted(event_times, own_events), minlength=event_times.size)
    n = at_risk.sum(axis=1)
    d = deaths.sum(axis=1)
    expected = (d / n) @ at_risk if event_times.size else np.zeros(k)
    observed = deaths.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(n > 1, d * (n - d) / (n * n * (n - 1)), 0.0)
    # var = sum_t w_t (n_t diag(r_t) - r_t r_t'), r_t the at-risk vector
    variance = np.diag((weight * n) @ at_risk) - (at_risk * weight[:, None]).T @ at_risk
    keep = expected > 0
    df = int(keep.sum()) - 1
    if keep.sum() < 2:
        chisq, p_value = np.nan, np.nan
    else:
        diff = (observed - expected)[keep][1:]
        vv = variance[np.ix_(keep, keep)][1:, 1:]
        try:
            chisq = float(diff @ np.linalg.solve(vv, diff))
            p_value = float(chi2.sf(chisq, df))
        except np.linalg.LinAlgError:
            # variance 0, e.g. everyone at risk resolved at the only resolution time: R's solve() stops
            # with "exactly singular"; here there is no test
            chisq, p_value = np.nan, np.nan
    return {"groups": list(groups), "observed": observed, "expected": expected, "chisq": chisq,
            "df": max(df, 0), "p_value": p_value}


def logrank(episodes: pd.DataFrame, max_pairwise_groups: int = MAX_PAIRWISE_GROUPS) -> pd.DataFrame:
    """Log-rank tests of time to resolution ("died" censored), exactly as R's survdiff.

    Rows: "log-rank" over all groups (df = groups with expected resolutions > 0, minus 1; no
    statistic and no p when fewer than two such groups: empty, R's NA); with 3 to
    `max_pairwise_groups` groups also one row per pair, "log-rank: A vs B" (survdiff on the
    two groups alone), whose Holm-adjusted p is in p_holm (Holm over the pairs with a p-value,
    as R's p.adjust with NAs; empty on the overall row). With more groups, no pairwise rows
    (see pairwise_note). Columns: test, statistic, df, p_value, p_holm. Empty with fewer than two groups.
    """
    data = _analysable(episodes)
    groups = sorted(data["group"].unique())
    if len(groups) < 2:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "test" else float) for c in TEST_COLUMNS})
    time, event, group = data["time"].to_numpy(), data["resolved"].to_numpy(), data["group"].to_numpy()
    overall = survdiff(time, event, group)
    rows = [{"test": "log-rank", "statistic": overall["chisq"], "df": overall["df"],
             "p_value": overall["p_value"], "p_holm": np.nan}]
    if 2 < len(groups) <= max_pairwise_groups:
        pairs = []
        for a, b in combinations(groups, 2):
            checkpoint()  # k(k-1)/2 tests: the longest loop of the page
            pair = (group == a) | (group == b)
            result = survdiff(time[pair], event[pair], group[pair])
            pairs.append({"test": f"log-rank: {a} vs {b}", "statistic": result["chisq"], "df": result["df"],
                          "p_value": result["p_value"]})
        pairs = pd.DataFrame(pairs)
        pairs["p_holm"] = holm(pairs["p_value"].to_numpy())
        rows += pairs.to_dict("records")
    tests = pd.DataFrame(rows, columns=TEST_COLUMNS)
    return tests.astype({"statistic": float, "df": int, "p_value": float, "p_holm": float})


def pairwise_note(episodes: pd.DataFrame, max_pairwise_groups: int = MAX_PAIRWISE_GROUPS) -> str | None:
    """Why there are no pairwise rows when the groups are too many; None when they are computed."""
    k = _analysable(episodes)["group"].nunique()
    return PAIRWISE_SKIPPED.format(limit=max_pairwise_groups, k=k) if k > max_pairwise_groups else None


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of p-values (as R's p.adjust(method = "holm")): NaN stays NaN, out of the family."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    order = present[np.argsort(p[present], kind="stable")]
    m = order.size
    adjusted[order] = np.minimum(np.maximum.accumulate((m - np.arange(m)) * p[order]), 1.0)
    return adjusted


# --- Cumulative incidence (Aalen-Johansen) ---------------------------------------------------------

def cumulative_incidence(episodes: pd.DataFrame) -> pd.DataFrame:
    """Cumulative incidence of resolution and of death per group, with cmprsk's variance and band.

    See competing_risks.cumulative_incidence (kept here for the pages and the report).
    Columns: group, event, time, n_at_risk, cumulative_incidence, ci_lower, ci_upper, variance.
    """
    from icans_core import competing_risks  # it builds on this module

    return competing_risks.cumulative_incidence(episodes)


# --- What the page warns about -------------------------------------------------------------------

def small_groups(episodes: pd.DataFrame, threshold: int = SMALL_GROUP) -> list[str]:
    """Groups with fewer than `threshold` patients in the analysis (episodes with a time), sorted."""
    counts = _analysable(episodes)["group"].value_counts()
    return sorted(counts[counts < threshold].index)


def count_left_out(episodes: pd.DataFrame) -> pd.DataFrame:
    """Episodes per group and how many were left out for want of a time origin.

    Columns: group, episodes, analysed, left_out.
    """
    has_time = episodes["time_to_resolution"].notna()
    counts = (pd.DataFrame({"group": episodes["group"].astype(str), "analysed": has_time})
              .groupby("group", sort=True).agg(episodes=("analysed", "size"), analysed=("analysed", "sum")))
    counts["left_out"] = counts["episodes"] - counts["analysed"]
    return counts.reset_index().astype({"episodes": int, "analysed": int, "left_out": int})[LEFT_OUT_COLUMNS]

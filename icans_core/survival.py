"""Time to resolution of severe ICANS: Kaplan-Meier, log-rank and cumulative incidence.

Wraps lifelines and returns tidy frames. The event is RESOLUTION, so the Kaplan-Meier S(t)
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
from lifelines import AalenJohansenFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test
from scipy.stats import norm

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
SMALL_GROUP = 10  # the seed IVIG study had 9 vs 10 patients: warn below 10 (clinical reference)

KM_COLUMNS = ["group", "time", "n_at_risk", "n_events", "n_censored", "survival", "ci_lower", "ci_upper",
              "resolved", "resolved_ci_lower", "resolved_ci_upper"]
MEDIAN_COLUMNS = ["group", "n", "resolved", "median_days", "median_ci_lower", "median_ci_upper"]
TEST_COLUMNS = ["test", "statistic", "df", "p_value", "p_holm"]
AT_RISK_COLUMNS = ["group", "time", "n_at_risk"]
CIF_COLUMNS = ["group", "event", "time", "n_at_risk", "cumulative_incidence", "ci_lower", "ci_upper"]
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
        "time": timed["time_to_resolution"].astype(float).to_numpy(),
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
    parts = [_km_group(group, rows, ci) for group, rows in data.groupby("group", sort=True)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "group" else float) for c in KM_COLUMNS})
    km = pd.concat(parts, ignore_index=True)
    km["resolved"] = 1 - km["survival"]
    # 1 - S turns the band over: the upper bound of S gives the lower bound of the proportion resolved.
    km["resolved_ci_lower"] = 1 - km["ci_upper"]
    km["resolved_ci_upper"] = 1 - km["ci_lower"]
    return km[KM_COLUMNS]


def _km_group(group: str, rows: pd.DataFrame, ci: str) -> pd.DataFrame:
    fitter = KaplanMeierFitter(alpha=1 - CONFIDENCE).fit(rows["time"], rows["resolved"], label="survival")
    table = fitter.event_table
    steps = pd.DataFrame({
        "time": table.index.to_numpy(dtype=float),
        "n_at_risk": table["at_risk"].to_numpy(),
        "n_events": table["observed"].to_numpy(),
        "n_censored": table["censored"].to_numpy(),
        "survival": fitter.survival_function_["survival"].reindex(table.index).to_numpy(),
    })
    if ci == CI_LOG:
        lower, upper = _log_band(steps)
    else:
        band = fitter.confidence_interval_survival_function_.reindex(table.index)
        gone = steps["survival"].to_numpy() <= 0  # lifelines gives 0-0 there, R gives NA: follow R
        lower = np.where(gone, np.nan, band.filter(like="_lower_").iloc[:, 0].to_numpy())
        upper = np.where(gone, np.nan, band.filter(like="_upper_").iloc[:, 0].to_numpy())
    steps["ci_lower"], steps["ci_upper"] = lower, upper
    steps = steps[steps["n_events"].add(steps["n_censored"]).gt(0)]
    start = pd.DataFrame({"time": [0.0], "n_at_risk": [len(rows)], "n_events": [0], "n_censored": [0],
                          "survival": [1.0], "ci_lower": [1.0], "ci_upper": [1.0]})
    steps = pd.concat([start, steps], ignore_index=True)
    steps.insert(0, "group", group)
    return steps.astype({"n_at_risk": int, "n_events": int, "n_censored": int})


def _log_band(steps: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    # lifelines offers only the log-log band, so R's conf.type = "log" is computed here (Greenwood):
    # S * exp(+-z * sqrt(sum d / (n (n - d)))), the upper bound capped at 1; R gives NA where S = 0.
    n, d, s = (steps[c].to_numpy(dtype=float) for c in ("n_at_risk", "n_events", "survival"))
    with np.errstate(divide="ignore", invalid="ignore"):
        greenwood = np.cumsum(np.where(d > 0, d / (n * (n - d)), 0.0))
        se = np.sqrt(greenwood)
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

def logrank(episodes: pd.DataFrame) -> pd.DataFrame:
    """Log-rank tests of time to resolution ("died" censored), as R's survdiff.

    Rows: "log-rank" over all groups (k - 1 df); with more than two groups also one row per
    pair, "log-rank: A vs B" (1 df), whose Holm-adjusted p is in p_holm (empty on the overall row).
    Columns: test, statistic, df, p_value, p_holm. Empty with fewer than two groups.
    """
    data = _analysable(episodes)
    groups = sorted(data["group"].unique())
    if len(groups) < 2:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "test" else float) for c in TEST_COLUMNS})
    overall = multivariate_logrank_test(data["time"], data["group"], data["resolved"])
    rows = [{"test": "log-rank", "statistic": overall.test_statistic, "df": overall.degrees_of_freedom,
             "p_value": overall.p_value, "p_holm": np.nan}]
    if len(groups) > 2:
        pairs = []
        for a, b in combinations(groups, 2):
            one, two = data[data["group"] == a], data[data["group"] == b]
            result = logrank_test(one["time"], two["time"], one["resolved"], two["resolved"])
            pairs.append({"test": f"log-rank: {a} vs {b}", "statistic": result.test_statistic, "df": 1,
                          "p_value": result.p_value})
        pairs = pd.DataFrame(pairs)
        pairs["p_holm"] = holm(pairs["p_value"].to_numpy())
        rows += pairs.to_dict("records")
    tests = pd.DataFrame(rows, columns=TEST_COLUMNS)
    return tests.astype({"statistic": float, "df": int, "p_value": float, "p_holm": float})


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of p-values (as R's p.adjust(method = "holm"))."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p, kind="stable")
    m = len(p)
    stepped = np.minimum(np.maximum.accumulate((m - np.arange(m)) * p[order]), 1.0)
    adjusted = np.empty(m)
    adjusted[order] = stepped
    return adjusted


# --- Cumulative incidence (Aalen-Johansen) ---------------------------------------------------------

def cumulative_incidence(episodes: pd.DataFrame) -> pd.DataFrame:
    """Aalen-Johansen cumulative incidence of resolution and of death (the competing event) per group.

    Long format: `event` is "resolution" or "death", each with its own curve. One row per group
    and event at time 0 (0) and at every time with a resolution, a death or a censoring; the value
    is the estimate after everything at that time. CI: lifelines' 95% band (delta method on
    log(-log F), Collett), 0-0 where the incidence is still 0.
    Columns: group, event, time, n_at_risk, cumulative_incidence, ci_lower, ci_upper.
    """
    data = _analysable(episodes)
    parts = [_aj_group(group, rows) for group, rows in data.groupby("group", sort=True)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("group", "event") else float)
                             for c in CIF_COLUMNS})
    return pd.concat(parts, ignore_index=True)[CIF_COLUMNS]


def _aj_group(group: str, rows: pd.DataFrame) -> pd.DataFrame:
    codes = np.select([rows["resolved"], rows["died"]], [1, 2], 0)
    original = rows["time"].to_numpy()
    # lifelines jitters tied times of different events at random (and reseeds numpy's global
    # generator). Instead, ties are broken deterministically: resolutions, then deaths, then
    # censorings (R's convention: those censored at t were at risk at t), a quarter of the
    # smallest gap apart. The estimate after all of a tied time does not depend on this order;
    # rows are reported at the original times. Everything also moves one gap later, because
    # lifelines sets the estimate at its first time to 0 and would drop events at time 0.
    distinct = np.unique(original)
    gap = np.diff(distinct).min() if distinct.size > 1 else 1.0
    offset = gap + np.select([codes == 1, codes == 2], [0.0, 1.0], 2.0) * gap / 4
    shifted = original + offset
    back = pd.Series(original, index=shifted).groupby(level=0).first()
    parts = []
    for event, code in ((RESOLUTION_EVENT, 1), (DEATH_EVENT, 2)):
        fitter = AalenJohansenFitter(alpha=1 - CONFIDENCE, calculate_variance=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            fitter.fit(shifted, codes, event_of_interest=code)
        estimate = fitter.cumulative_density_.iloc[:, 0]
        band = fitter.confidence_interval_cumulative_density_.reindex(estimate.index)
        curve = pd.DataFrame({
            "shifted": estimate.index.to_numpy(dtype=float),
            "n_at_risk": fitter.event_table["at_risk"].reindex(estimate.index).to_numpy(),
            "cumulative_incidence": estimate.to_numpy(),
            # lifelines' column labels for this band are swapped (its "upper" holds the lower bound)
            "ci_lower": band.min(axis=1).to_numpy(), "ci_upper": band.max(axis=1).to_numpy(),
        })
        curve = curve[curve["shifted"] > 0]
        curve["time"] = curve["shifted"].map(back)
        curve = curve.groupby("time", sort=True).agg(
            n_at_risk=("n_at_risk", "first"), cumulative_incidence=("cumulative_incidence", "last"),
            ci_lower=("ci_lower", "last"), ci_upper=("ci_upper", "last")).reset_index()
        zero = curve["cumulative_incidence"] <= 0
        curve.loc[zero, ["ci_lower", "ci_upper"]] = 0.0
        start = pd.DataFrame({"time": [0.0], "n_at_risk": [len(rows)], "cumulative_incidence": [0.0],
                              "ci_lower": [0.0], "ci_upper": [0.0]})
        curve = pd.concat([start, curve], ignore_index=True)
        curve.insert(0, "event", event)
        curve.insert(0, "group", group)
        parts.append(curve)
    return pd.concat(parts, ignore_index=True).astype({"n_at_risk": int})


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

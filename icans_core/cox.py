"""Adjusted comparison of time to resolution: Cox proportional hazards, as R's coxph and cox.zph.

The model is resolution ~ group + the covariates the user picks (peak ICANS grade, ECOG, age,
product, costimulatory domain); "died" is censored, as in the Kaplan-Meier analysis. Conventions
are R survival's (3.x), which users check against:
- ties by Efron's method (coxph's default), Newton-Raphson from 0 to full convergence;
- a categorical covariate (group, product, costimulatory domain) as treatment contrasts against
  its first level in sorted order (R's factor default with levels sorted); peak grade, ECOG and
  age as numbers (per grade, per point, per year);
- patients with a missing covariate are left out (na.omit), and the count says how many;
- HR = exp(coef) with exp(coef +- 1.959964 se); Wald z per coefficient; the likelihood-ratio,
  Wald and score (log-rank) tests of the whole model, as summary(coxph) prints them;
- the proportional-hazards check is cox.zph's score test of survival >= 3.0 (transform "km",
  one test per term, then GLOBAL), not the older correlation test of Grambsch and Therneau's
  residual plot (survival < 3.0 gave other numbers).
A HR is trustworthy only with enough resolutions per coefficient: a warning below 10.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from icans_core.cancel import checkpoint
from icans_core.episodes import RESOLVED
from icans_core.survival import timefix

# covariate -> (label, kind); kind "number" (per unit) or "factor" (levels against the first)
COVARIATES = {
    "peak_grade": ("peak ICANS grade (per grade)", "number"),
    "ecog": ("ECOG (per point)", "number"),
    "age_years": ("age (per year)", "number"),
    "product": ("product", "factor"),
    "costimulatory_domain": ("costimulatory domain", "factor"),
}
MIN_EVENTS_PER_COEFFICIENT = 10
_Z = norm.ppf(0.975)
COEF_COLUMNS = ["term", "variable", "level", "reference", "coef", "hr", "hr_ci_lower", "hr_ci_upper", "se", "z",
                "p_value"]
TEST_COLUMNS = ["test", "statistic", "df", "p_value"]
LIKELIHOOD_RATIO, WALD, SCORE = "likelihood ratio", "Wald", "score (log-rank)"
PH_PREFIX = "proportional hazards (cox.zph): "
METHOD = ("Cox proportional hazards as R's coxph (ties = 'efron'), deaths censored; factors against their first "
          "level (sorted); HR 95% CI exp(coef +- 1.96 se); likelihood-ratio, Wald and score tests; "
          "proportional-hazards check cox.zph of survival >= 3.0 (transform 'km', score test per term and GLOBAL).")


@dataclass
class CoxResult:
    """A fitted model: coefficients (COEF_COLUMNS), tests (TEST_COLUMNS), counts and warnings."""

    coefficients: pd.DataFrame
    tests: pd.DataFrame
    n: int = 0
    events: int = 0
    left_out: int = 0
    warnings: list[str] = field(default_factory=list)
    covariates: list[str] = field(default_factory=list)


def model_data(episodes: pd.DataFrame, patients: pd.DataFrame, covariates: list[str]) -> pd.DataFrame:
    """One row per analysable episode: time, resolved, group and the chosen covariates (missing kept).

    Columns: patient_id, time, resolved, group, then the covariates.
    """
    unknown = [c for c in covariates if c not in COVARIATES]
    if unknown:
        raise ValueError(f"unknown covariate(s) {', '.join(unknown)}; choose from {', '.join(COVARIATES)}")
    timed = episodes[episodes["time_to_resolution"].notna()]
    data = pd.DataFrame({"patient_id": timed["patient_id"].to_numpy(),
                         "time": timefix(timed["time_to_resolution"].to_numpy(dtype=float)),
                         "resolved": (timed["outcome"] == RESOLVED).to_numpy(),
                         "group": timed["group"].astype(str).to_numpy(),
                         "peak_grade": timed["peak_grade"].to_numpy(dtype=float)})
    extra = [c for c in covariates if c != "peak_grade"]
    if extra:
        data = data.merge(patients[["patient_id", *extra]], on="patient_id", how="left")
    return data[["patient_id", "time", "resolved", "group", *covariates]]


def _design(data: pd.DataFrame, covariates: list[str]) -> tuple[np.ndarray, list[dict], list[list[int]], list[str]]:
    """Model matrix, one description per column, the columns of each term, term names."""
    columns, described, assign, terms = [], [], [], []
    for variable in ["group", *covariates]:
        kind = "factor" if variable == "group" else COVARIATES[variable][1]
        label = "group" if variable == "group" else COVARIATES[variable][0]
        start = len(columns)
        if kind == "number":
            columns.append(data[variable].to_numpy(dtype=float))
            described.append({"term": label, "variable": variable, "level": "", "reference": ""})
        else:
            values = data[variable].astype(str).to_numpy()
            levels = sorted(set(values))
            for level in levels[1:]:
                columns.append((values == level).astype(float))
                described.append({"term": f"{label}: {level}", "variable": variable, "level": level,
                                  "reference": levels[0]})
        if len(columns) > start:
            assign.append(list(range(start, len(columns))))
            terms.append(label)
    x = np.column_stack(columns) if columns else np.empty((len(data), 0))
    return x, described, assign, terms


def efron(beta: np.ndarray, time: np.ndarray, event: np.ndarray, x: np.ndarray,
          gtime: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray, dict]:
    """Efron partial log-likelihood, score and information at beta (data sorted by time).

    With gtime (a value per event time, cox.zph), also the score and information of the augmented
    model [x, x * g(t)] at (beta, 0): returned in the dict as "u" and "imat".
    """
    p = x.shape[1]
    eta = x @ beta
    w = np.exp(eta - eta.max()) if eta.size else eta
    loglik, score, info = 0.0, np.zeros(p), np.zeros((p, p))
    zph_u = np.zeros(2 * p)
    zph_i = np.zeros((2 * p, 2 * p))
    distinct = np.unique(time[event])
    order = np.argsort(-time, kind="stable")
    # risk-set sums by cumulating from the latest time down
    ts, ws, xs = time[order], w[order], x[order]
    s0 = np.cumsum(ws)
    s1 = np.cumsum(ws[:, None] * xs, axis=0)
    s2 = np.cumsum(ws[:, None, None] * xs[:, :, None] * xs[:, None, :], axis=0)
    last_at = len(ts) - 1 - np.searchsorted(ts[::-1], distinct, side="left")  # last index with time >= t
    shift = eta.max() if eta.size else 0.0
    # the events of each distinct event time, found once (rows are sorted by time)
    event_rows = np.flatnonzero(event)
    event_rows = event_rows[np.argsort(time[event_rows], kind="stable")]
    lo = np.searchsorted(time[event_rows], distinct, side="left")
    hi = np.searchsorted(time[event_rows], distinct, side="right")
    for k, t in enumerate(distinct):
        i = last_at[k]
        dead = event_rows[lo[k]:hi[k]]
        d = dead.size
        wd, xd = w[dead], x[dead]
        d0, d1 = wd.sum(), wd @ xd
        d2 = (wd[:, None, None] * xd[:, :, None] * xd[:, None, :]).sum(axis=0)
        loglik += eta[dead].sum()
        score += xd.sum(axis=0)
        g = 0.0 if gtime is None else gtime[k]
        u_t = xd.sum(axis=0)
        for r in range(d):
            frac = r / d
            a0 = s0[i] - frac * d0
            a1 = s1[i] - frac * d1
            a2 = s2[i] - frac * d2
            mean = a1 / a0
            var = a2 / a0 - np.outer(mean, mean)
            loglik -= np.log(a0) + shift
            score -= mean
            info += var
            u_t = u_t - mean
            if gtime is not None:
                zph_i += np.kron(np.array([[1.0, g], [g, g * g]]), var)
        if gtime is not None:
            zph_u[p:] += g * u_t
    return loglik, score, info, {"u": zph_u, "imat": zph_i}


def _fit(time, event, x, max_iter: int = 50) -> tuple[np.ndarray, float, float, np.ndarray, bool]:
    """Newton-Raphson with step halving, from beta = 0: (beta, loglik0, loglik, information, converged)."""
    beta = np.zeros(x.shape[1])
    loglik0, score, info, _ = efron(beta, time, event, x)
    loglik = loglik0
    converged = False
    for _ in range(max_iter):
        checkpoint()
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            break
        for _halving in range(30):
            candidate = beta + step
            new_loglik, new_score, new_info, _ = efron(candidate, time, event, x)
            if np.isfinite(new_loglik) and new_loglik >= loglik - 1e-12 * abs(loglik):
                break
            step = step / 2
        change = abs(new_loglik - loglik)
        beta, loglik, score, info = candidate, new_loglik, new_score, new_info
        if np.max(np.abs(step)) < 1e-10 * max(1.0, np.max(np.abs(beta))) or change < 1e-14 * max(1.0, abs(loglik)):
            converged = True
            break
    return beta, loglik0, loglik, info, converged


def _aliased(x: np.ndarray) -> list[int]:
    """Columns that add nothing to the ones before them (and a constant): R's coxph gives them NA."""
    if x.shape[0] and np.linalg.matrix_rank(np.column_stack([np.ones(x.shape[0]), x])) == x.shape[1] + 1:
        return []  # the usual case, in one decomposition
    dropped, kept = [], [np.ones(x.shape[0])]
    for j in range(x.shape[1]):
        trial = np.column_stack([*kept, x[:, j]])
        if x.shape[0] and np.linalg.matrix_rank(trial) > len(kept):
            kept.append(x[:, j])
        else:
            dropped.append(j)
    return dropped


def _km_transform(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """cox.zph's transform "km": 1 - S(t-) of the pooled Kaplan-Meier, at each observation's time."""
    distinct = np.unique(time)
    at_risk = time.size - np.searchsorted(np.sort(time), distinct, side="left")
    deaths = np.array([np.sum((time == t) & event) for t in distinct])
    surv = np.cumprod(1 - deaths / at_risk)
    before = np.searchsorted(distinct, time, side="left")  # number of distinct times < t
    return 1 - np.concatenate([[1.0], surv])[before]


MAX_COEFFICIENTS = 30  # the adjusted comparison is not fitted beyond this many coefficients


def fit_cox(episodes: pd.DataFrame, patients: pd.DataFrame, covariates: list[str] = ()) -> CoxResult:
    """Cox model of time to resolution on group + covariates (Efron ties), with its tests and PH check.

    Returns CoxResult: coefficients (term, variable, level, reference, coef, hr, hr_ci_lower,
    hr_ci_upper, se, z, p_value), tests (likelihood ratio, Wald, score (log-rank), then
    cox.zph per term and GLOBAL: test, statistic, df, p_value), n, events, left_out, warnings.
    """
    covariates = list(dict.fromkeys(covariates))
    data = model_data(episodes, patients, covariates)
    complete = data.dropna(subset=covariates)
    result = CoxResult(pd.DataFrame(columns=COEF_COLUMNS), pd.DataFrame(columns=TEST_COLUMNS),
                       n=len(complete), events=int(complete["resolved"].sum()), left_out=len(data) - len(complete),
                       covariates=covariates)
    if result.left_out:
        result.warnings.append(f"{result.left_out} episode(s) left out for a missing covariate "
                               f"({', '.join(c for c in covariates if data[c].isna().any())}).")
    order = np.argsort(complete["time"].to_numpy(), kind="stable")
    complete = complete.iloc[order].reset_index(drop=True)
    x, described, assign, terms = _design(complete, covariates)
    if x.shape[1] > MAX_COEFFICIENTS:
        # bounds the work (each Newton step is O(coefficients^2 x episodes)): a few hundred study arms
        # would tie up a server core for minutes, for a model nobody could read
        result.warnings.append(f"No model: {x.shape[1]} coefficients; the adjusted comparison is fitted for at most "
                               f"{MAX_COEFFICIENTS} (compare by a coarser grouping, or adjust for fewer covariates).")
        return result
    if x.shape[1] >= max(result.events, 1):
        # also bounds the work: 150 groups of one patient would be 149 coefficients and no information
        result.warnings.append(f"No model: {x.shape[1]} coefficient(s) but only {result.events} resolution(s); "
                               "a Cox model needs many more resolutions than coefficients.")
        return result
    # a column that does not vary (a level nobody has, one product only) cannot be estimated
    constant = _aliased(x)
    if constant:
        result.warnings.append("Not estimable (no variation, or determined by the other terms, e.g. the "
                               "costimulatory domain by the product): "
                               + ", ".join(described[j]["term"] for j in constant))
        keep = [j for j in range(x.shape[1]) if j not in constant]
        remap = {old: new for new, old in enumerate(keep)}
        x, described = x[:, keep], [described[j] for j in keep]
        pairs = [([remap[j] for j in cols if j in remap], name) for cols, name in zip(assign, terms)]
        pairs = [(cols, name) for cols, name in pairs if cols]
        assign, terms = [c for c, _ in pairs], [n for _, n in pairs]
    if x.shape[1] == 0 or result.events == 0:
        result.warnings.append("No model: " + ("no resolutions." if result.events == 0 else
                                                "nothing to estimate (one group and no varying covariate)."))
        return result
    if x.shape[1] >= result.events:
        # also bounds the work: 150 groups of one patient would be 149 coefficients and no information
        result.warnings.append(f"No model: {x.shape[1]} coefficient(s) but only {result.events} resolution(s); "
                               "a Cox model needs many more resolutions than coefficients.")
        return result
    time, event = complete["time"].to_numpy(dtype=float), complete["resolved"].to_numpy(dtype=bool)
    beta, loglik0, loglik, info, converged = _fit(time, event, x)
    try:
        variance = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        variance = np.full(info.shape, np.nan)
    se = np.sqrt(np.diag(variance))
    if not converged or np.any(np.abs(beta) > 15) or not np.all(np.isfinite(se)):
        result.warnings.append("The model did not converge to finite estimates (a group or level where everyone "
                               "or no one resolved): a hazard ratio may be infinite; do not read it.")
    per_coefficient = result.events / x.shape[1]
    if per_coefficient < MIN_EVENTS_PER_COEFFICIENT:
        result.warnings.append(f"Only {result.events} resolutions for {x.shape[1]} coefficient(s) "
                               f"({per_coefficient:.1f} per coefficient; at least {MIN_EVENTS_PER_COEFFICIENT} "
                               "are advised): the estimates may be biased and their intervals too narrow.")
    z = beta / se
    coefficients = pd.DataFrame(described)
    coefficients["coef"] = beta
    with np.errstate(over="ignore"):  # a diverged fit: an infinite HR, written blank and warned above
        coefficients["hr"] = np.exp(beta)
        coefficients["hr_ci_lower"] = np.exp(beta - _Z * se)
        coefficients["hr_ci_upper"] = np.exp(beta + _Z * se)
    coefficients["se"] = se
    coefficients["z"] = z
    coefficients["p_value"] = 2 * norm.sf(np.abs(z))
    result.coefficients = coefficients[COEF_COLUMNS]

    p = x.shape[1]
    _, score0, info0, _ = efron(np.zeros(p), time, event, x)
    lr = 2 * (loglik - loglik0)
    wald = float(beta @ info @ beta)
    rows = [(LIKELIHOOD_RATIO, lr, p), (WALD, wald, p)]
    try:
        rows.append((SCORE, float(score0 @ np.linalg.solve(info0, score0)), p))
        # a diverged fit (a group where every resolution comes after the other's) leaves cox.zph's
        # information matrix singular: R's cox.zph stops there too; say so instead of failing
        rows += [(PH_PREFIX + name, stat, df) for name, stat, df in _zph(beta, time, event, x, assign, terms)]
    except np.linalg.LinAlgError:
        result.warnings.append("The score test or the proportional-hazards check (cox.zph) could not be computed: "
                               "its information matrix is singular (the model did not converge).")
    tests = pd.DataFrame(rows, columns=["test", "statistic", "df"])
    tests["p_value"] = chi2.sf(tests["statistic"], tests["df"])
    result.tests = tests.astype({"statistic": float, "df": int, "p_value": float})[TEST_COLUMNS]
    return result


def _zph(beta, time, event, x, assign, terms) -> list[tuple[str, float, int]]:
    """cox.zph (survival >= 3.0): score tests of x * g(t), g = 1 - KM(t-) centred over the events."""
    ttimes = _km_transform(time, event)
    gtime_obs = ttimes - ttimes[event].mean()
    distinct = np.unique(time[event])
    gtime = np.array([gtime_obs[np.flatnonzero(time == t)[0]] for t in distinct])
    _, _, _, zph = efron(beta, time, event, x, gtime)
    p = x.shape[1]
    u, imat = zph["u"], zph["imat"]
    out = []
    for name, cols in zip(terms, assign):
        kk = list(range(p)) + [p + j for j in cols]
        uu = np.concatenate([np.zeros(p), u[[p + j for j in cols]]])
        out.append((name, float(np.linalg.solve(imat[np.ix_(kk, kk)], uu) @ uu), len(cols)))
    uu = np.concatenate([np.zeros(p), u[p:]])
    out.append(("GLOBAL", float(np.linalg.solve(imat, uu) @ uu), p))
    return out

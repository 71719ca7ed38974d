"""Time to resolution checked against R itself on generated and edge-case cohorts (one Rscript call).

R computes each time as end day - origin day in floating point and applies survival's timefix;
the project computes it in decimal arithmetic (episodes.py). Compared: survfit (log and log-log
bands, n at risk, events), quantile() medians with their CIs, print(survfit)'s median, survdiff
(statistic, df, p; overall and pairwise), p.adjust(holm), cmprsk::cuminc (estimate, variance)
and its Gray's test. R's numbers are the oracle; tolerance 1e-6 (relative or absolute).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from icans_core import competing_risks, survival
from icans_core.episodes import compute_episodes
from tests.r_oracle import run_r

TOL = 1e-6


def _cohort(name: str, rows: list[tuple[str, float, float, int]]) -> pd.DataFrame:
    """rows: (group, origin_day, end_day, status 0 censored / 1 resolved / 2 died)."""
    frame = pd.DataFrame(rows, columns=["group", "origin_day", "end_day", "status"])
    frame.insert(0, "patient_id", [f"{name}-{i}" for i in range(len(rows))])
    frame.insert(0, "cohort", name)
    return frame


def generated(name: str, seed: int, n: int, groups: list[str], step: float, deaths: float = 0.15) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        group = groups[i % len(groups)]
        onset = float(rng.integers(0, 40)) * step
        status = int(rng.choice([0, 1, 2], p=[0.3 - deaths / 2, 0.7 - deaths / 2, deaths]))
        # a resolution is a later assessment than the onset; a death or censoring may fall on the onset day
        length = float(rng.integers(1 if status == 1 else 0, 30)) * step
        rows.append((group, round(onset, 6), round(onset + length, 6), status))
    return _cohort(name, rows)


def cohorts() -> pd.DataFrame:
    near = _cohort("near-ties", [  # 4.35 - 2.1 and 7 - 4.75 are both 2.25 (R: timefix)
        ("A", 2.1, 4.35, 1), ("A", 4.75, 7, 1), ("A", 1.1, 3.35, 0), ("A", 0.3, 4.0, 1), ("A", 0.1, 2.35, 1),
        ("A", 0.7, 10.05, 0), ("B", 0.2, 0.5, 1), ("B", 0.1, 0.4, 1), ("B", 5.3, 7.55, 1), ("B", 1.15, 3.4, 2),
        ("B", 3.3, 9.9, 1), ("B", 2.6, 8.1, 0)])
    early = _cohort("censored-before-first-event", [  # group C leaves before anyone resolves
        ("A", 0, 3, 1), ("A", 0, 5, 1), ("A", 0, 8, 0), ("B", 0, 4, 1), ("B", 0, 6, 2), ("B", 0, 9, 1),
        ("C", 0, 1, 0), ("C", 0, 2, 0), ("C", 0, 2.5, 0)])
    only_c = _cohort("only-one-group-expected", [  # df 0 in R: no test
        ("A", 0, 3, 1), ("A", 0, 5, 1), ("C", 0, 1, 0), ("C", 0, 2, 0)])
    singles = _cohort("one-patient-per-group", [
        ("A", 0, 3, 1), ("B", 1, 5, 1), ("C", 2, 4, 0), ("D", 0.5, 7.25, 1), ("E", 0, 2, 2)])
    none = _cohort("no-events", [("A", 0, 3, 0), ("A", 0, 5, 0), ("B", 1, 4, 0), ("B", 0, 6, 2)])
    onset_deaths = _cohort("deaths-on-onset-day", [
        ("A", 3, 3, 2), ("A", 2, 2, 2), ("A", 0, 4, 1), ("A", 1, 6, 1), ("A", 0, 9, 0), ("B", 5, 5, 2),
        ("B", 0, 2, 1), ("B", 0, 3, 1), ("B", 1, 8, 1), ("B", 0, 10, 0)])
    half = _cohort("flat-at-half", [  # S = 0.5 from day 2 to the end of follow-up
        ("A", 0, 1, 1), ("A", 0, 2, 1), ("A", 0, 5, 0), ("A", 0, 7, 0), ("B", 0, 1, 1), ("B", 0, 2, 1),
        ("B", 0, 3, 1), ("B", 0, 4, 1)])
    return pd.concat([
        near, early, only_c, singles, none, onset_deaths, half,
        generated("two-groups-ties", 1, 40, ["IVIG", "steroids"], 1.0),
        generated("three-groups-quarters", 2, 60, ["A", "B", "C"], 0.25),
        generated("four-groups-fractions", 3, 80, ["w", "x", "y", "z"], 0.1, deaths=0.25),
        generated("twelve-groups", 4, 96, [f"g{i:02d}" for i in range(12)], 0.5),
    ], ignore_index=True)


R_SCRIPT = r"""
suppressMessages({library(survival); library(cmprsk)})
d <- read.csv("episodes.csv", stringsAsFactors = FALSE)
res <- list()
add <- function(cohort, what, group, time, value) {
  if (length(value) == 0) return(invisible())
  res[[length(res) + 1]] <<- data.frame(cohort = cohort, what = what, group = group,
                                         time = sprintf("%.17g", time), value = sprintf("%.17g", value))
}
strip <- function(s) sub("^group=", "", s)
for (co in unique(d$cohort)) {
  x <- d[d$cohort == co, ]
  x$time <- x$end_day - x$origin_day
  x$event <- as.integer(x$status == 1)
  for (conf in c("log", "log-log")) {
    fit <- survfit(Surv(time, event) ~ group, data = x, conf.type = conf)
    s <- summary(fit, censored = TRUE)
    g <- strip(as.character(s$strata))
    add(co, paste("surv", conf), g, s$time, s$surv)
    add(co, paste("lower", conf), g, s$time, s$lower)
    add(co, paste("upper", conf), g, s$time, s$upper)
    if (conf == "log") {
      add(co, "n.risk", g, s$time, s$n.risk)
      add(co, "n.event", g, s$time, s$n.event)
      tab <- summary(fit)$table
      add(co, "print median", strip(rownames(tab)), NA, tab[, "median"])
    }
    q <- quantile(fit, 0.5)
    add(co, paste("median", conf), strip(rownames(q$quantile)), NA, q$quantile[, 1])
    add(co, paste("median lower", conf), strip(rownames(q$lower)), NA, q$lower[, 1])
    add(co, paste("median upper", conf), strip(rownames(q$upper)), NA, q$upper[, 1])
  }
  groups <- sort(unique(x$group))
  sd <- survdiff(Surv(time, event) ~ group, data = x)
  add(co, "survdiff chisq", "", NA, sd$chisq)
  add(co, "survdiff df", "", NA, sum(sd$exp > 0) - 1)
  add(co, "survdiff p", "", NA, sd$pvalue)
  if (length(groups) > 2) {
    pairs <- combn(groups, 2)
    labels <- paste(pairs[1, ], "vs", pairs[2, ])
    p <- numeric(0)
    for (k in seq_len(ncol(pairs))) {
      y <- x[x$group %in% pairs[, k], ]
      sp <- suppressWarnings(survdiff(Surv(time, event) ~ group, data = y))
      add(co, "pair chisq", labels[k], NA, sp$chisq)
      add(co, "pair df", labels[k], NA, sum(sp$exp > 0) - 1)
      p <- c(p, if (sum(sp$exp > 0) < 2) NA else sp$pvalue)
    }
    add(co, "pair p", labels, NA, p)
    add(co, "pair holm", labels, NA, p.adjust(p, "holm"))
  }
  # cmprsk does not apply timefix; the oracle applies survival's own rule first
  ft <- aeqSurv(Surv(x$time, x$event))[, 1]
  ci <- cuminc(ft, x$status, x$group, cencode = 0)
  tp <- timepoints(ci[names(ci) != "Tests"], sort(unique(ft)))
  for (nm in rownames(tp$est)) {
    parts <- strsplit(nm, " ")[[1]]
    cause <- parts[length(parts)]
    grp <- paste(parts[-length(parts)], collapse = " ")
    add(co, paste("cif est", cause), grp, sort(unique(ft)), tp$est[nm, ])
    add(co, paste("cif var", cause), grp, sort(unique(ft)), tp$var[nm, ])
  }
  if (!is.null(ci$Tests)) {
    add(co, "gray stat", rownames(ci$Tests), NA, ci$Tests[, "stat"])
    add(co, "gray p", rownames(ci$Tests), NA, ci$Tests[, "pv"])
    add(co, "gray df", rownames(ci$Tests), NA, ci$Tests[, "df"])
  }
}
write.csv(do.call(rbind, res), "out.csv", row.names = FALSE)
"""


def episodes_of(cohort: pd.DataFrame) -> pd.DataFrame:
    """The cohort as an upload would give it, through compute_episodes (so times use the project's rule)."""
    tox, patients = [], []
    for row in cohort.itertuples():
        tox.append((row.patient_id, row.origin_day, 3))
        if row.status == 1:
            tox.append((row.patient_id, row.end_day, 1))
        elif row.status == 0:
            tox.append((row.patient_id, row.end_day, 3))
        patients.append((row.patient_id, row.group, row.end_day if row.status == 2 else np.nan))
    toxicity = pd.DataFrame(tox, columns=["patient_id", "day", "icans_grade"]).astype({"icans_grade": "Int64"})
    frame = pd.DataFrame(patients, columns=["patient_id", "group", "death_day"])
    return compute_episodes(toxicity, frame)


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    data = cohorts()
    r = run_r(R_SCRIPT, {"episodes": data}, tmp_path_factory.mktemp("r_survival"))
    r["group"] = r["group"].fillna("").astype(str)
    return data, r


def close(ours: float, theirs: float) -> bool:
    if isinstance(theirs, float) and math.isnan(theirs):
        return ours is None or (isinstance(ours, float) and math.isnan(ours))
    return ours is not None and not math.isnan(ours) and abs(ours - theirs) <= TOL * max(1.0, abs(theirs))


class Tally:
    """Counts every value compared and the largest difference, so a failure names the value."""

    def __init__(self):
        self.count, self.largest, self.bad = 0, 0.0, []

    def check(self, label: str, ours, theirs) -> None:
        ours = None if ours is None else float(ours)
        self.count += 1
        if not close(ours, float(theirs)):
            self.bad.append(f"{label}: project {ours!r}, R {theirs!r}")
        elif ours is not None and not math.isnan(ours):
            self.largest = max(self.largest, abs(ours - float(theirs)))


def _key(t) -> float:
    return round(float(t), 9)


def test_kaplan_meier_medians_and_log_rank_match_r(oracle):
    data, r = oracle
    tally = Tally()
    for name, cohort in data.groupby("cohort", sort=False):
        episodes = episodes_of(cohort)
        got = r[r["cohort"] == name]

        def values(what):
            return got[got["what"] == what]
        for ci in ("log", "log-log"):
            km = survival.kaplan_meier(episodes, ci)
            km = km.assign(key=km["time"].map(_key)).drop_duplicates(["group", "key"], keep="last")
            km = km.set_index(["group", "key"])
            for column, what in (("survival", f"surv {ci}"), ("ci_lower", f"lower {ci}"),
                                 ("ci_upper", f"upper {ci}")):
                for row in values(what).itertuples():
                    tally.check(f"{name} {what} {row.group} t={row.time}", km.loc[(row.group, _key(row.time)), column],
                                row.value)
            if ci == "log":
                for column, what in (("n_at_risk", "n.risk"), ("n_events", "n.event")):
                    for row in values(what).itertuples():
                        tally.check(f"{name} {what} {row.group} t={row.time}",
                                    km.loc[(row.group, _key(row.time)), column], row.value)
            medians = survival.median_times(episodes, ci).set_index("group")
            for column, what in (("median_days", f"median {ci}"), ("median_ci_lower", f"median lower {ci}"),
                                 ("median_ci_upper", f"median upper {ci}")):
                for row in values(what).itertuples():
                    tally.check(f"{name} {what} {row.group}", medians.loc[row.group, column], row.value)
        printed = survival.print_median(episodes).set_index("group")
        for row in values("print median").itertuples():
            tally.check(f"{name} print median {row.group}", printed.loc[row.group, "median_days"], row.value)
        tests = survival.logrank(episodes).set_index("test")
        overall = tests.loc["log-rank"]
        tally.check(f"{name} survdiff chisq", overall.statistic,
                    values("survdiff chisq").value.iloc[0] if values("survdiff df").value.iloc[0] >= 1 else np.nan)
        tally.check(f"{name} survdiff df", overall.df, max(values("survdiff df").value.iloc[0], 0))
        tally.check(f"{name} survdiff p", overall.p_value,
                    values("survdiff p").value.iloc[0] if values("survdiff df").value.iloc[0] >= 1 else np.nan)
        k = cohort["group"].nunique()
        if 2 < k <= survival.MAX_PAIRWISE_GROUPS:
            for what, column in (("pair p", "p_value"), ("pair holm", "p_holm"), ("pair df", "df")):
                for row in values(what).itertuples():
                    theirs = max(row.value, 0) if what == "pair df" else row.value
                    tally.check(f"{name} {what} {row.group}", tests.loc[f"log-rank: {row.group}", column], theirs)
            for row in values("pair chisq").itertuples():
                df = values("pair df").set_index("group").loc[row.group, "value"]
                tally.check(f"{name} pair chisq {row.group}", tests.loc[f"log-rank: {row.group}", "statistic"],
                            row.value if df >= 1 else np.nan)
        elif k > survival.MAX_PAIRWISE_GROUPS:
            assert list(tests.index) == ["log-rank"]
            assert survival.pairwise_note(episodes) is not None
    assert not tally.bad, "\n".join(tally.bad[:40])
    assert tally.count > 1500
    print(f"survival vs R: {tally.count} values, largest difference {tally.largest:.3g}")


def test_cumulative_incidence_and_grays_test_match_cmprsk(oracle):
    data, r = oracle
    tally = Tally()
    for name, cohort in data.groupby("cohort", sort=False):
        episodes = episodes_of(cohort)
        got = r[r["cohort"] == name]
        cif = competing_risks.cumulative_incidence(episodes)
        for cause, event in (("1", "resolution"), ("2", "death")):
            curve = cif[cif["event"] == event]
            for what, column in (("est", "cumulative_incidence"), ("var", "variance")):
                for row in got[got["what"] == f"cif {what} {cause}"].itertuples():
                    if math.isnan(row.value):
                        continue  # timepoints() past the group's last time
                    own = curve[curve["group"] == row.group]
                    # the step function at t: our last row at or before t
                    at = own[own["time"].map(_key) <= _key(row.time)]
                    tally.check(f"{name} cif {what} {event} {row.group} t={row.time}", at[column].iloc[-1], row.value)
        gray = competing_risks.gray_test(episodes).set_index("event")
        for row in got[got["what"] == "gray stat"].itertuples():
            event = {"1": "resolution", "2": "death"}[str(row.group)]
            theirs_p = got[(got["what"] == "gray p") & (got["group"] == row.group)].value.iloc[0]
            if row.value < 0:  # cmprsk's mark for a singular variance
                assert math.isnan(gray.loc[event, "statistic"])
                continue
            tally.check(f"{name} gray stat {event}", gray.loc[event, "statistic"], row.value)
            tally.check(f"{name} gray p {event}", gray.loc[event, "p_value"], theirs_p)
            tally.check(f"{name} gray df {event}", gray.loc[event, "df"],
                        got[(got["what"] == "gray df") & (got["group"] == row.group)].value.iloc[0])
    assert not tally.bad, "\n".join(tally.bad[:40])
    assert tally.count > 1000
    print(f"cmprsk vs project: {tally.count} values, largest difference {tally.largest:.3g}")

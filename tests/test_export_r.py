"""The export's files checked against R reading the export's own episodes (one export, one Rscript call).

`python -m icans_core export` on the bundled sample (4 arms, deaths, ties) with a Cox model on group,
peak grade and ECOG; R reads episodes.csv, steroid_exposure.csv and the sample's patients.csv and
recomputes survfit, survdiff (overall, pairwise, Holm), quantile medians, cmprsk::cuminc and its
Gray's test, coxph and cox.zph, and Table 1's kruskal.test / fisher.test. Every compared number of
km_curve, number_at_risk, resolution_summary, resolution_test(s), cumulative_incidence, cox,
cox_tests and table1 must agree to 1e-6.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from icans_core.results import MORE_RESULT_COLUMNS, RESULT_COLUMNS
from tests.r_oracle import run_r

ROOT = Path(__file__).resolve().parent.parent
TOL = 1e-6

R_SCRIPT = r"""
suppressMessages({library(survival); library(cmprsk)})
res <- list()
add <- function(what, group, time, value) {
  if (length(value) == 0) return(invisible())
  res[[length(res) + 1]] <<- data.frame(export = export, what = what, group = group, time = sprintf("%.17g", time),
                                         value = sprintf("%.17g", value))
}
for (export in EXPORTS) {
ep <- read.csv(file.path(export, "episodes.csv"), stringsAsFactors = FALSE)
pt <- read.csv("patients.csv", stringsAsFactors = FALSE)
ex <- read.csv(file.path(export, "steroid_exposure.csv"), stringsAsFactors = FALSE)
pt <- pt[pt$patient_id %in% ex$patient_id, ]  # the export's selection (every selected patient has a row)
nar <- read.csv(file.path(export, "number_at_risk.csv"), stringsAsFactors = FALSE)
strip <- function(s) sub("^group=", "", s)
ep$group <- factor(ep$group, levels = sort(unique(ep$group), method = "radix"))
ep$event <- as.integer(ep$outcome == "resolved")
ep$status <- ifelse(ep$outcome == "resolved", 1, ifelse(ep$outcome == "died", 2, 0))
fit <- survfit(Surv(time_to_resolution, event) ~ group, data = ep)
s <- summary(fit, censored = TRUE)
g <- strip(as.character(s$strata))
add("surv", g, s$time, s$surv); add("lower", g, s$time, s$lower); add("upper", g, s$time, s$upper)
add("n.risk", g, s$time, s$n.risk)
st <- summary(fit, times = sort(unique(nar$time)), extend = TRUE)
add("risk table", strip(as.character(st$strata)), st$time, st$n.risk)
q <- quantile(fit, 0.5)
add("median", strip(rownames(q$quantile)), NA, q$quantile[, 1])
add("median lower", strip(rownames(q$lower)), NA, q$lower[, 1])
add("median upper", strip(rownames(q$upper)), NA, q$upper[, 1])
sd <- survdiff(Surv(time_to_resolution, event) ~ group, data = ep)
add("survdiff chisq", "", NA, sd$chisq); add("survdiff p", "", NA, sd$pvalue)
groups <- levels(ep$group)
if (length(groups) > 2) {
  pairs <- combn(groups, 2)
  labels <- paste(pairs[1, ], "vs", pairs[2, ])
  p <- sapply(seq_len(ncol(pairs)), function(k) survdiff(Surv(time_to_resolution, event) ~ group,
                                                          data = droplevels(ep[ep$group %in% pairs[, k], ]))$pvalue)
  add("pair p", labels, NA, p); add("pair holm", labels, NA, p.adjust(p, "holm"))
}
ci <- cuminc(ep$time_to_resolution, ep$status, ep$group, cencode = 0)
times <- sort(unique(ep$time_to_resolution))
tp <- timepoints(ci[names(ci) != "Tests"], times)
for (nm in rownames(tp$est)) {
  parts <- strsplit(nm, " ")[[1]]
  grp <- paste(parts[-length(parts)], collapse = " ")
  add(paste("cif est", parts[length(parts)]), grp, times, tp$est[nm, ])
  add(paste("cif var", parts[length(parts)]), grp, times, tp$var[nm, ])
}
add("gray stat", rownames(ci$Tests), NA, ci$Tests[, "stat"]); add("gray p", rownames(ci$Tests), NA, ci$Tests[, "pv"])
m <- merge(ep, pt[, c("patient_id", "ecog")], by = "patient_id")
m <- merge(m, pt[, c("patient_id", "age_years")], by = "patient_id")
f <- if (length(groups) > 2) Surv(time_to_resolution, event) ~ group + peak_grade + ecog else
  Surv(time_to_resolution, event) ~ group + age_years
cf <- coxph(f, data = m, ties = "efron")
sc <- summary(cf)
add("cox coef", rownames(sc$coefficients), NA, sc$coefficients[, "coef"])
add("cox se", rownames(sc$coefficients), NA, sc$coefficients[, "se(coef)"])
add("cox p", rownames(sc$coefficients), NA, sc$coefficients[, "Pr(>|z|)"])
add("cox lower", rownames(sc$conf.int), NA, sc$conf.int[, "lower .95"])
add("cox upper", rownames(sc$conf.int), NA, sc$conf.int[, "upper .95"])
add("cox lr", "", NA, 2 * diff(cf$loglik)); add("cox wald", "", NA, cf$wald.test); add("cox score", "", NA, cf$score)
z <- cox.zph(cf)$table
add("zph chisq", rownames(z), NA, z[, "chisq"]); add("zph p", rownames(z), NA, z[, "p"])
# Table 1 (groups of the patients table; tests leave missing values out)
rank_test <- function(formula, data) {
  if (length(unique(data$group)) == 2) suppressWarnings(wilcox.test(formula, data = data))$p.value
  else kruskal.test(formula, data = data)$p.value
}
add("t1 Age, years", "", NA, rank_test(age_years ~ factor(group), pt))
add("t1 Sex", "", NA, fisher.test(table(pt$sex, pt$group))$p.value)
pt$severe <- ifelse(pt$patient_id %in% ep$patient_id, "yes", "no")
if (length(unique(pt$severe)) > 1)
  add("t1 Severe ICANS episode", "", NA, fisher.test(table(pt$severe, pt$group))$p.value)
sx <- merge(pt, ex, by = "patient_id")
add("t1 Systemic steroid days (all patients)", "", NA, rank_test(steroid_days ~ factor(group), sx))
rs <- merge(ep[ep$outcome == "resolved", c("patient_id", "time_to_resolution")], pt[, c("patient_id", "group")])
add("t1 Time to resolution of severe ICANS, days (resolved episodes)", "", NA,
    rank_test(time_to_resolution ~ factor(group), rs))
}
write.csv(do.call(rbind, res), "out.csv", row.names = FALSE)
"""

ZPH_NAMES = {"group": "group", "peak ICANS grade (per grade)": "peak_grade", "ECOG (per point)": "ecog",
             "age (per year)": "age_years"}


EXPORTS = {  # name -> export arguments: all four arms with a 3-term Cox model; two arms with age (Mann-Whitney)
    "all-arms": ["--cox-covariate", "peak_grade", "--cox-covariate", "ecog"],
    "two-arms": ["--group", "Steroids + IVIG", "--group", "Steroids alone", "--cox-covariate", "age_years"],
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export_r")
    for name, args in EXPORTS.items():
        done = subprocess.run([sys.executable, "-m", "icans_core", "export", "data/sample", "--out", str(folder / name),
                               *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    patients = pd.read_csv(ROOT / "data" / "sample" / "patients.csv")
    script = R_SCRIPT.replace("EXPORTS", "c(" + ", ".join(f'"{n}"' for n in EXPORTS) + ")")
    r = run_r(script, {"patients": patients}, folder)
    r["group"] = r["group"].fillna("").astype(str)
    files = {export: {name: pd.read_csv(folder / export / f"{name}.csv")
                      for name in [*RESULT_COLUMNS, *MORE_RESULT_COLUMNS]} for export in EXPORTS}
    return files, r


class Tally:
    def __init__(self):
        self.count, self.largest, self.bad = 0, 0.0, []

    def check(self, label, ours, theirs):
        self.count += 1
        ours, theirs = float(ours), float(theirs)
        if math.isnan(theirs):
            if not math.isnan(ours):
                self.bad.append(f"{label}: project {ours}, R NA")
        elif math.isnan(ours) or abs(ours - theirs) > TOL * max(1.0, abs(theirs)):
            self.bad.append(f"{label}: project {ours}, R {theirs}")
        else:
            self.largest = max(self.largest, abs(ours - theirs))


@pytest.mark.parametrize("export", list(EXPORTS))
def test_every_added_file_with_its_columns(exported, export):
    files = exported[0][export]
    for name, columns in MORE_RESULT_COLUMNS.items():
        assert list(files[name].columns) == columns, name
        assert len(files[name]) > 0, name
    for name, columns in RESULT_COLUMNS.items():  # the contract's files are unchanged
        assert list(files[name].columns) == columns, name
    nca = files["expansion_nca"].merge(files["expansion"], on=["patient_id", "analyte"], suffixes=("", "_contract"))
    assert len(nca) == len(files["expansion"])
    np.testing.assert_allclose(nca["auc_0_28"], nca["auc_0_28_contract"], rtol=1e-9)  # defaults = the contract's
    assert (nca["cmax"] == nca["cmax_contract"]).all()
    notes = " ".join(files["analysis_notes"]["note"])
    assert "cmprsk::cuminc" in notes and "quantile(survfit)" in notes and "efron" in notes
    rank_test = "Kruskal-Wallis" if export == "all-arms" else "Mann-Whitney U"
    assert set(files["table1"]["test"].dropna()) >= {rank_test, "Fisher's exact"}


@pytest.mark.parametrize("export", list(EXPORTS))
def test_exported_numbers_agree_with_r(exported, export):
    files, r = exported[0][export], exported[1]
    r = r[r["export"] == export]
    tally = Tally()

    def rows(what):
        return r[r["what"] == what]
    km = files["km_curve"].drop_duplicates(["group", "time"], keep="last").set_index(["group", "time"])
    for what, column in (("surv", "survival"), ("lower", "ci_lower"), ("upper", "ci_upper"), ("n.risk", "n_at_risk")):
        for row in rows(what).itertuples():
            tally.check(f"km {what} {row.group} {row.time}", km.loc[(row.group, float(row.time)), column], row.value)
    table = files["number_at_risk"].set_index(["group", "time"])
    for row in rows("risk table").itertuples():
        tally.check(f"at risk {row.group} {row.time}", table.loc[(row.group, float(row.time)), "n_at_risk"], row.value)
    summary = files["resolution_summary"].set_index("group")
    for what, column in (("median", "median_days"), ("median lower", "median_ci_lower"),
                         ("median upper", "median_ci_upper")):
        for row in rows(what).itertuples():
            tally.check(f"{what} {row.group}", summary.loc[row.group, column], row.value)
    tests = files["resolution_tests"].set_index(["test", "event"])
    old = files["resolution_test"].set_index("test")
    tally.check("survdiff chisq", tests.loc[("log-rank", "resolution"), "statistic"], rows("survdiff chisq").value.iloc[0])
    tally.check("survdiff p", old.loc["log-rank", "p_value"], rows("survdiff p").value.iloc[0])
    for what, column in (("pair p", "p_value"), ("pair holm", "p_holm")):
        for row in rows(what).itertuples():
            tally.check(f"{what} {row.group}", tests.loc[(f"log-rank: {row.group}", "resolution"), column], row.value)
    for row in rows("gray stat").itertuples():
        event = {"1": "resolution", "2": "death"}[row.group]
        tally.check(f"gray {event}", tests.loc[("Gray's test", event), "statistic"], row.value)
        tally.check(f"gray p {event}", tests.loc[("Gray's test", event), "p_value"],
                    rows("gray p").set_index("group").loc[row.group, "value"])
    cif = files["cumulative_incidence"]
    for cause, event in (("1", "resolution"), ("2", "death")):
        for what, column in (("est", "cumulative_incidence"), ("var", "variance")):
            for row in rows(f"cif {what} {cause}").itertuples():
                if math.isnan(row.value):
                    continue
                own = cif[(cif["group"] == row.group) & (cif["event"] == event) & (cif["time"] <= float(row.time))]
                tally.check(f"cif {what} {event} {row.group} {row.time}", own[column].iloc[-1], row.value)
    cox = files["cox"].assign(name=lambda f: f["variable"] + f["level"].fillna("")).set_index("name")
    for what, column in (("cox coef", "coef"), ("cox se", "se"), ("cox p", "p_value"), ("cox lower", "hr_ci_lower"),
                         ("cox upper", "hr_ci_upper")):
        for row in rows(what).itertuples():
            tally.check(f"{what} {row.group}", cox.loc[row.group, column], row.value)
    cox_tests = files["cox_tests"].set_index("test")
    for what, test in (("cox lr", "likelihood ratio"), ("cox wald", "Wald"), ("cox score", "score (log-rank)")):
        tally.check(what, cox_tests.loc[test, "statistic"], rows(what).value.iloc[0])
    zph = cox_tests[cox_tests.index.str.startswith("proportional hazards")]
    zph.index = [ZPH_NAMES.get(t.split(": ", 1)[1], t.split(": ", 1)[1]) for t in zph.index]
    for what, column in (("zph chisq", "statistic"), ("zph p", "p_value")):
        for row in rows(what).itertuples():
            tally.check(f"{what} {row.group}", zph.loc[row.group, column], row.value)
    table1 = files["table1"].drop_duplicates("characteristic").set_index("characteristic")
    for row in r[r["what"].str.startswith("t1 ")].itertuples():
        tally.check(row.what, table1.loc[row.what.removeprefix("t1 "), "p_value"], row.value)
    assert not tally.bad, "\n".join(tally.bad[:40])
    assert tally.count > 140
    if export == "two-arms":
        assert files["table1"].set_index("characteristic").loc["Age, years", "test"].iloc[0] == "Mann-Whitney U"
    print(f"export {export} vs R: {tally.count} values, largest difference {tally.largest:.3g}")

"""Cox proportional hazards checked against R's coxph (Efron) and cox.zph on generated cohorts (one Rscript call).

Compared per model: coefficients, standard errors, hazard ratios with their 95% CI, Wald z and p,
the likelihood-ratio, Wald and score tests, and cox.zph's per-term and GLOBAL tests, to 1e-6.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from icans_core import cox
from tests.r_oracle import run_r

TOL = 1e-6
PRODUCTS = {"axi-cel": "CD28", "brexu-cel": "CD28", "tisa-cel": "4-1BB", "liso-cel": "4-1BB"}
MODELS = {  # name -> covariates
    "group": [],
    "group+peak+ecog": ["peak_grade", "ecog"],
    "group+age+costim": ["age_years", "costimulatory_domain"],
    "group+peak+ecog+age+product": ["peak_grade", "ecog", "age_years", "product"],
}


def cohort(seed: int, n: int, groups: list[str], step: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Episodes and patients: ties (whole days) or fractional days, some deaths and censorings, a few missing ECOG."""
    rng = np.random.default_rng(seed)
    products = list(PRODUCTS)
    patients, episodes = [], []
    for i in range(n):
        pid = f"S{seed}-{i}"
        group = groups[i % len(groups)]
        peak = int(rng.integers(3, 6))
        ecog = float(rng.integers(0, 3)) if rng.random() > 0.05 else np.nan
        age = float(rng.integers(25, 80))
        product = products[int(rng.integers(0, len(products)))]
        rate = 0.15 * (1.3 if group == groups[0] else 1.0) / (1 + 0.3 * (peak - 3))
        time = max(step, round(float(rng.exponential(1 / rate)) / step) * step)
        outcome = rng.choice(["resolved", "censored", "died"], p=[0.7, 0.2, 0.1])
        patients.append((pid, group, ecog, age, product, PRODUCTS[product]))
        episodes.append((pid, group, peak, time, outcome))
    return (pd.DataFrame(episodes, columns=["patient_id", "group", "peak_grade", "time_to_resolution", "outcome"]),
            pd.DataFrame(patients, columns=["patient_id", "group", "ecog", "age_years", "product",
                                            "costimulatory_domain"]))


COHORTS = {"ties-2-groups": (1, 60, ["IVIG", "steroids"], 1.0),
           "fractional-3-groups": (2, 90, ["A", "B", "C"], 0.25),
           "ties-4-groups": (3, 120, ["w", "x", "y", "z"], 1.0)}

R_SCRIPT = r"""
suppressMessages(library(survival))
d <- read.csv("cox.csv", stringsAsFactors = FALSE)
models <- read.csv("models.csv", stringsAsFactors = FALSE)
res <- list()
add <- function(key, what, name, value) {
  res[[length(res) + 1]] <<- data.frame(key = key, what = what, name = name, value = sprintf("%.17g", value))
}
for (k in seq_len(nrow(models))) {
  x <- d[d$cohort == models$cohort[k], ]
  x$event <- as.integer(x$outcome == "resolved")
  for (v in c("group", "product", "costimulatory_domain")) x[[v]] <- factor(x[[v]], levels = sort(unique(x[[v]]), method = "radix"))
  covs <- if (models$covariates[k] == "") character(0) else strsplit(models$covariates[k], " ")[[1]]
  f <- as.formula(paste("Surv(time_to_resolution, event) ~", paste(c("group", covs), collapse = " + ")))
  fit <- coxph(f, data = x, ties = "efron")
  key <- paste(models$cohort[k], models$model[k])
  s <- summary(fit)$coefficients
  add(key, "coef", rownames(s), s[, "coef"])
  add(key, "se", rownames(s), s[, "se(coef)"])
  add(key, "z", rownames(s), s[, "z"])
  add(key, "p", rownames(s), s[, "Pr(>|z|)"])
  ci <- summary(fit)$conf.int
  add(key, "hr lower", rownames(ci), ci[, "lower .95"])
  add(key, "hr upper", rownames(ci), ci[, "upper .95"])
  add(key, "lr", "", 2 * diff(fit$loglik))
  add(key, "wald", "", fit$wald.test)
  add(key, "score", "", fit$score)
  add(key, "n", "", fit$n)
  add(key, "nevent", "", fit$nevent)
  z <- cox.zph(fit)$table
  add(key, "zph chisq", rownames(z), z[, "chisq"])
  add(key, "zph df", rownames(z), z[, "df"])
  add(key, "zph p", rownames(z), z[, "p"])
}
write.csv(do.call(rbind, res), "out.csv", row.names = FALSE)
"""
R_NAMES = {"peak_grade": "peak_grade", "ecog": "ecog", "age_years": "age_years"}


def r_name(row) -> str:
    """R's coefficient name for one of our terms: variable then level (groupB, productaxi-cel) or the variable."""
    return f"{row.variable}{row.level}" if row.level else row.variable


def zph_name(test: str) -> str:
    label = test.removeprefix(cox.PH_PREFIX)
    by_label = {v[0]: k for k, v in cox.COVARIATES.items()}
    return by_label.get(label, label)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    frames, models, ours = [], [], {}
    for name, args in COHORTS.items():
        episodes, patients = cohort(*args)
        frames.append(episodes.merge(patients.drop(columns="group"), on="patient_id").assign(cohort=name))
        for model, covariates in MODELS.items():
            models.append({"cohort": name, "model": model, "covariates": " ".join(covariates)})
            ours[f"{name} {model}"] = cox.fit_cox(episodes, patients, covariates)
    r = run_r(R_SCRIPT, {"cox": pd.concat(frames, ignore_index=True), "models": pd.DataFrame(models)},
              tmp_path_factory.mktemp("r_cox"))
    r["name"] = r["name"].fillna("").astype(str)
    return ours, r


def test_coxph_and_cox_zph_match_r(fitted):
    ours, r = fitted
    count, largest, bad = 0, 0.0, []

    def check(label, mine, theirs):
        nonlocal count, largest
        count += 1
        if not math.isfinite(mine) or abs(mine - theirs) > TOL * max(1.0, abs(theirs)):
            bad.append(f"{label}: project {mine!r}, R {theirs!r}")
        else:
            largest = max(largest, abs(mine - theirs))

    for key, result in ours.items():
        got = r[r["key"] == key]
        coefficients = result.coefficients.assign(name=lambda f: [r_name(row) for row in f.itertuples()])
        coefficients = coefficients.set_index("name")
        for what, column in (("coef", "coef"), ("se", "se"), ("z", "z"), ("p", "p_value"),
                             ("hr lower", "hr_ci_lower"), ("hr upper", "hr_ci_upper")):
            rows = got[got["what"] == what]
            assert set(rows["name"]) == set(coefficients.index), (key, what)
            for row in rows.itertuples():
                check(f"{key} {what} {row.name}", coefficients.loc[row.name, column], row.value)
        tests = result.tests.set_index("test")
        for what, test in (("lr", cox.LIKELIHOOD_RATIO), ("wald", cox.WALD), ("score", cox.SCORE)):
            check(f"{key} {what}", tests.loc[test, "statistic"], got[got["what"] == what].value.iloc[0])
        assert result.n == got[got["what"] == "n"].value.iloc[0]
        assert result.events == got[got["what"] == "nevent"].value.iloc[0]
        zph = tests[tests.index.str.startswith(cox.PH_PREFIX)]
        zph = zph.set_axis([zph_name(t) for t in zph.index])
        for what, column in (("zph chisq", "statistic"), ("zph df", "df"), ("zph p", "p_value")):
            rows = got[got["what"] == what]
            assert set(rows["name"]) == set(zph.index), (key, what, set(rows["name"]), set(zph.index))
            for row in rows.itertuples():
                check(f"{key} {what} {row.name}", zph.loc[row.name, column], row.value)
    assert not bad, "\n".join(bad[:40])
    assert count > 300
    print(f"coxph/cox.zph vs project: {count} values, largest difference {largest:.3g}")


def test_few_events_per_coefficient_warn_and_missing_covariates_are_counted(fitted):
    episodes, patients = cohort(5, 12, ["A", "B"], 1.0)
    patients["ecog"] = 1.0
    patients.loc[0, "ecog"] = np.nan
    result = cox.fit_cox(episodes, patients, ["peak_grade", "ecog", "age_years"])
    assert result.left_out == 1 and result.n == 11
    assert any("per coefficient" in w for w in result.warnings)
    assert any("left out for a missing covariate" in w for w in result.warnings)


def test_product_and_its_costimulatory_domain_together_leave_the_domain_out():
    episodes, patients = cohort(6, 80, ["A", "B"], 1.0)
    result = cox.fit_cox(episodes, patients, ["product", "costimulatory_domain"])
    assert "costimulatory domain: CD28" not in set(result.coefficients["term"])
    assert any("Not estimable" in w for w in result.warnings)


def test_unknown_covariate_is_refused():
    episodes, patients = cohort(7, 10, ["A", "B"], 1.0)
    with pytest.raises(ValueError):
        cox.fit_cox(episodes, patients, ["shoe_size"])

"""Resolution of severe ICANS: Kaplan-Meier curves, medians, log-rank tests and cumulative incidence (Fig 1A)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from icans_core import competing_risks, cox, derived_tables, store, survival
from icans_core.charts import survival as survival_charts
from icans_core.content.sections import NOT_REACHED, Figure, Heading, Note, Table, View
from icans_core.options import AnalysisOptions

TITLE = "Resolution"


@dataclass(frozen=True)
class ResolutionOptions:
    """What the curves show (the origin and CI transform are part of AnalysisOptions)."""

    orientation: str = survival_charts.RESOLVED
    cox_covariates: tuple[str, ...] = ()  # the adjusted comparison: group plus these (cox.COVARIATES)


def logrank_text(tests) -> str:
    """'Log-rank p = 0.042' for the overall test (empty when there is nothing to compare)."""
    if tests.empty:
        return ""
    p = float(tests["p_value"].iloc[0])
    return f"Log-rank p {'< 0.001' if p < 0.001 else f'= {p:.3g}'}"


def build(con: duckdb.DuckDBPyConnection, analysis: AnalysisOptions,
          options: ResolutionOptions = ResolutionOptions()) -> View:
    """The Resolution view's sections."""
    view = View("resolution", TITLE)
    episode_options, ci = analysis.episodes, analysis.ci
    patients = store.patients_frame(con, analysis.group_by)
    if patients.empty:
        return view.add(Note("No patients are selected: widen the cohort filters to see resolution.", "info"))
    episodes = derived_tables.episodes(con, analysis.group_by, episode_options)  # derived once, restricted
    groups = store.group_names(con, analysis.group_by)  # the whole cohort: colours stay put under filters
    if episodes.empty:
        return view.add(Note(f"No selected patient has ICANS grade {episode_options.severe_grade} or higher: there "
                             "are no severe episodes to analyse. Lower the severe grade or widen the cohort filters.",
                             "info"))
    left_out = survival.count_left_out(episodes)
    missing = left_out[left_out["left_out"] > 0]
    if len(missing):
        detail = "; ".join(f"{r.group}: {r.left_out} of {r.episodes}" for r in missing.itertuples())
        view.add(Note(f"{int(missing['left_out'].sum())} of {int(left_out['episodes'].sum())} episode(s) had no "
                      f"{episode_options.origin} dose between onset and the end of the episode and are left out "
                      f"({detail}).", "info"))
    if left_out["analysed"].sum() == 0:
        view.add(Note(f"No episode had a {episode_options.origin} dose between onset and the end of the episode, so "
                      "no time to resolution can be measured from it. Choose another time origin.", "info"))
    else:
        _results(view, episodes, analysis, options, groups)
        _adjusted(view, episodes, patients, options)
    view.add(Heading("Episodes"), Table(
        episodes, "resolution-episodes", "resolution_episodes",
        "One row per patient with a severe-ICANS episode (the first one). Times in days since CAR-T infusion; "
        "time_to_resolution in days since the chosen origin. Blank resolution_day: not resolved by the last "
        "assessment.", limit=50))
    return view


def _results(view: View, episodes, analysis: AnalysisOptions, options: ResolutionOptions, groups: list[str]) -> None:
    ci, origin_label = analysis.ci, analysis.episodes.origin_label
    km = survival.kaplan_meier(episodes, ci)
    medians = survival.median_times(episodes, ci, km)
    at_risk = survival.number_at_risk(km)
    tests = survival.logrank(episodes)
    small = survival.small_groups(episodes)
    if small:
        view.add(Note(f"Fewer than {survival.SMALL_GROUP} patients in: {', '.join(small)}. Curves, medians and "
                      "tests for such groups are very uncertain; read the number at risk.", "warning"))
    figure = survival_charts.km_figure(km, medians, at_risk, origin_label, ci, options.orientation, groups,
                                       test_text=logrank_text(tests))
    view.add(Heading("Kaplan-Meier: time to resolution"),
             Figure(figure, km, "resolution-kaplan-meier", "resolution_km",
                    f"Time from {origin_label} to resolution; 95% band: {survival.CI_TRANSFORMS[ci]}; + censored. "
                    + (f"{logrank_text(tests)} (overall, deaths censored)." if len(tests) else "")))
    view.add(Heading("Median time to resolution"), Table(
        medians, "resolution-medians", "resolution_medians",
        "Median in days (R survival's rule: midpoint where the curve sits exactly at 0.5); 95% CI from the "
        f"{survival.CI_TRANSFORMS[ci]} band; '{NOT_REACHED}': the curve (or its CI bound) never reaches 0.5. "
        "n = episodes analysed, resolved = episodes that resolved. The median follows R's quantile(survfit); "
        "R's print(survfit) differs only when the curve stays exactly at 0.5 to the end of follow-up: it "
        "prints the day the curve reached 0.5, quantile() (and this table) the midpoint of that day and the "
        "last follow-up.",
        formats={"median_days": ".1f", "median_ci_lower": ".1f", "median_ci_upper": ".1f"},
        missing={"median_days": NOT_REACHED, "median_ci_lower": NOT_REACHED, "median_ci_upper": NOT_REACHED}))
    view.add(Heading("Log-rank test"))
    if tests.empty:
        view.add(Note("Only one group has episodes to analyse: there is nothing to compare. Try another "
                      "'Compare by' option or time origin.", "info"))
    else:
        view.add(Table(tests, "resolution-log-rank", "resolution_logrank",
                       "Deaths counted as censored, as in R's survdiff. With more than two groups, each pair is also "
                       "tested; p_holm is the Holm-adjusted p of the pairwise tests (blank on the overall row).",
                       formats={"statistic": ".3f", "p_value": "p", "p_holm": "p"}))
        if (note := survival.pairwise_note(episodes)) is not None:
            k = note.split("(")[-1].rstrip(")")
            view.add(Note(f"Pairwise log-rank tests are computed for up to {survival.MAX_PAIRWISE_GROUPS} groups; "
                          f"this selection has more ({k}), so only the overall test is given. Narrow the cohort "
                          "or compare by a coarser grouping to see pairs.", "info"))
    gray = competing_risks.gray_test(episodes)
    if not gray.empty:
        view.add(Heading("Gray's test"), Table(
            gray, "resolution-gray-test", "resolution_gray",
            "Cumulative incidence of resolution compared between groups with death as a competing event "
            "(Gray 1988; R's cmprsk::cuminc): chi-square on groups - 1 df.",
            formats={"statistic": ".3f", "p_value": "p"}))
    cif = survival.cumulative_incidence(episodes)
    view.add(Heading("Cumulative incidence of resolution (death as a competing event)"),
             Figure(survival_charts.cif_chart(cif, medians, origin_label, groups), cif,
                    "resolution-cumulative-incidence", "resolution_cif",
                    "An episode that ended in death before resolution is censored at the day of death in the "
                    "Kaplan-Meier curve, the medians and the log-rank test. In the cumulative incidence, death is "
                    "a competing event (Aalen-Johansen): the dashed line is the proportion who died first. "
                    f"95% band: {competing_risks.CI_METHOD}."))


def _adjusted(view: View, episodes, patients, options: ResolutionOptions) -> None:
    """The adjusted comparison: Cox proportional hazards of resolution on group + the chosen covariates."""
    result = cox.fit_cox(episodes, patients, list(options.cox_covariates))
    chosen = ", ".join(cox.COVARIATES[c][0] for c in options.cox_covariates) or "no covariates"
    view.add(Heading(f"Adjusted comparison (Cox; group and {chosen})"))
    for warning in result.warnings:
        # no model at all (one group, no resolutions) is information; a shaky model is a warning
        view.add(Note(warning, "info" if warning.startswith("No model") else "warning"))
    if result.coefficients.empty:
        return
    view.add(Table(result.coefficients, "resolution-cox", "resolution_cox",
                   f"{result.n} episodes, {result.events} resolutions; Efron ties, as R's coxph; deaths censored. "
                   "HR > 1: faster resolution than the reference group "
                   f"({result.coefficients['reference'].iloc[0]}); 95% CI exp(coef ± 1.96 se).",
                   formats={c: ".4g" for c in ("coef", "hr", "hr_ci_lower", "hr_ci_upper", "se", "z")}
                   | {"p_value": "p"}),
             Table(result.tests, "resolution-cox-tests", "resolution_cox_tests",
                   "Tests of the whole model (likelihood ratio, Wald, score) and the proportional-hazards check "
                   "(R's cox.zph, survival >= 3.0): a small p means the hazard ratio changes over time, and a "
                   "single HR misleads.", formats={"statistic": ".3f", "p_value": "p"}))

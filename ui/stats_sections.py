"""Page sections of the R-exact statistics (issue 12): Gray's test, the adjusted comparison (Cox) and NCA options.

Each function draws one self-contained section, so a page (or a view definition) adds it with one call.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from icans_core import competing_risks, cox, nca, survival
from ui.figures import show_table
from ui.text import plain

COX_COVARIATE_LABELS = {name: label for name, (label, _) in cox.COVARIATES.items()}
NCA_WINDOW_LABELS = {nca.OBSERVED: "observed counts only (contract)",
                     nca.INTERPOLATED: "interpolated ends (PKNCA aucint)"}


def show_pairwise_note(episodes: pd.DataFrame) -> None:
    """Say so when the pairwise log-rank tests were not computed for too many groups."""
    note = survival.pairwise_note(episodes)
    if note:
        st.info(f"Pairwise log-rank tests are computed for up to {survival.MAX_PAIRWISE_GROUPS} groups; this "
                f"selection has more ({note.split('(')[-1].rstrip(')')}), so only the overall test is given. "
                "Narrow the cohort or compare by a coarser grouping to see pairs.")


def show_gray_test(episodes: pd.DataFrame) -> None:
    """Gray's test of the cumulative incidences (cmprsk::cuminc), under the log-rank table."""
    gray = competing_risks.gray_test(episodes)
    if gray.empty:
        return
    st.markdown("**Gray's test** (cumulative incidence with death as a competing event, R's "
                "`cmprsk::cuminc`; chi-square on groups − 1 df)")
    show_table(gray, "resolution-gray-test", key="resolution_gray")


def cif_caption() -> None:
    """Name the band of the cumulative-incidence chart."""
    st.caption(f"95% band of the cumulative incidence: {competing_risks.CI_METHOD}.")


def median_rule_caption() -> None:
    """The median rule, where a user compares with R."""
    st.caption("The median follows R's `quantile(survfit)`. R's `print(survfit)` differs only when the curve "
               "stays exactly at 0.5 to the end of follow-up: it prints the day the curve reached 0.5, "
               "quantile() (and this page) the midpoint of that day and the last follow-up.")


def show_cox_section(episodes: pd.DataFrame, patients: pd.DataFrame) -> None:
    """The "Adjusted comparison (Cox)" expander: covariates to pick, HRs with CIs, tests, PH check, caveats."""
    with st.expander("Adjusted comparison (Cox)"):
        chosen = st.multiselect("Adjust for", list(cox.COVARIATES), format_func=COX_COVARIATE_LABELS.get,
                                key="resolution_cox_covariates",
                                help="Cox proportional hazards of resolution on the group and these covariates "
                                     "(Efron ties, as R's coxph). Deaths are censored, as in the Kaplan-Meier curve.")
        result = cox.fit_cox(episodes, patients, chosen)
        for warning in result.warnings:
            # no model at all (one group, no resolutions) is information; a shaky model is a warning
            (st.info if warning.startswith("No model") else st.warning)(plain(warning))
        if result.coefficients.empty:
            return
        st.caption(f"{result.n} episodes, {result.events} resolutions. HR > 1: faster resolution than the "
                   f"reference group ({plain(result.coefficients['reference'].iloc[0])}); 95% CI "
                   "exp(coef ± 1.96 se).")
        show_table(result.coefficients, "resolution-cox", key="resolution_cox",
                   column_config={c: st.column_config.NumberColumn(c, format="%.4g")
                                  for c in ("coef", "hr", "hr_ci_lower", "hr_ci_upper", "se", "z", "p_value")})
        st.caption("Tests of the whole model (likelihood ratio, Wald, score) and the proportional-hazards check "
                   "(R's cox.zph, survival >= 3.0: a small p means the hazard ratio changes over time, and a "
                   "single HR misleads).")
        show_table(result.tests, "resolution-cox-tests", key="resolution_cox_tests")


def read_nca_options() -> nca.NcaOptions:
    """The NCA options (AUC method, window ends, below-LLOQ counts) as widgets."""
    method_column, window_column, blq_column = st.columns(3)
    method = method_column.radio("AUC method", list(nca.METHODS), key="expansion_auc_method", horizontal=True,
                                 help="linear trapezoid, or PKNCA's default: linear up, log-linear on a fall "
                                      "to a value above 0.")
    window = window_column.radio("Window ends without a count", list(nca.WINDOWS), key="expansion_auc_window",
                                 format_func=NCA_WINDOW_LABELS.get,
                                 help="observed: only counts inside days 0-28 / 0-90, nothing added. interpolated: "
                                      "PKNCA aucint: 0 before the first count, interpolated up to Tlast, 0 after.")
    blq = blq_column.radio("Below the LLOQ", list(nca.BLQ_RULES), key="expansion_blq",
                           help="as recorded (at the LLOQ), zero, or PKNCA's default (zero; first and last kept, "
                                "those between quantifiable counts dropped).")
    return nca.NcaOptions(method, window, blq)


def show_nca_section(lab_values: pd.DataFrame, analyte: str) -> None:
    """Cellular kinetics by NCA conventions (PKNCA) for one analyte: options and a per-patient table."""
    st.markdown("**Cellular kinetics (NCA conventions, as PKNCA)**")
    options = read_nca_options()
    mixed = nca.mixed_units(lab_values)
    if len(mixed):
        st.warning("Measured in more than one unit, never pooled: "
                   + "; ".join(f"{plain(r.analyte)} ({plain(r.units)})" for r in mixed.itertuples()))
    metrics = nca.nca_metrics(lab_values, options)
    shown = metrics[metrics["analyte"] == analyte]
    st.caption(f"{len(shown)} patients. Tlast/Clast: the last count above 0; AUC0-28 and AUC0-90 by the "
               f"{options.method} rule, {NCA_WINDOW_LABELS[options.window]}; below-LLOQ counts "
               f"{options.blq}. Blank: no area (fewer than 2 counts in the window, or none).")
    show_table(shown, f"expansion nca {analyte}", key="expansion_nca",
               column_config={c: st.column_config.NumberColumn(c, format="%.4g")
                              for c in ("cmax", "clast", "auc_0_28", "auc_0_90")})

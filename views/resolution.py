"""Resolution of severe ICANS: Kaplan-Meier curves, medians, log-rank tests and cumulative incidence."""

from dataclasses import replace

import streamlit as st

from icans_core import schema as S
from icans_core import cox, survival
from icans_core.charts import survival as survival_charts
from icans_core.content import resolution
from icans_core.episodes import ONSET
from ui import cohort_imports, session
from ui.options import current
from ui.render import show_view
from ui.view_cache import cached_view

ORIGINS = [ONSET, S.CORTICOSTEROID, S.IVIG_CLASS, S.IL1_BLOCKADE, S.INTRATHECAL, S.IL6_BLOCKADE]
ORIENTATION_LABELS = {survival_charts.RESOLVED: "Proportion resolved (1 - S)",
                      survival_charts.STILL_SEVERE: "Proportion still severe (S)"}

con = session.connection()
st.title("Resolution of severe ICANS")
cohort_imports.show_derived_notice(con)  # issue 13: grades from episode forms / observations
st.caption("Time from severe-ICANS onset (or from the first dose of a treatment class given during the "
           "episode) to the first assessment at or below the resolved grade.")


def read_options():
    analysis = current()  # severe and resolved grades and "compare by" are set in the sidebar
    origin, ci_column, orientation_column = st.columns(3)
    # Bound to the URL, an option's shown text is its link value: machine values, labels in help/captions.
    origin_choice = origin.selectbox(
        "Time starts at (onset, or the first dose after onset of a class)", ORIGINS, key="resolution_origin",
        bind="query-params",
        help="onset = severe-ICANS onset; a class = its first dose after onset. Episodes without a dose of the "
             "chosen class between onset and the episode's end have no time and are left out.")
    ci = ci_column.radio(
        "95% confidence band", list(survival.CI_TRANSFORMS), key="resolution_ci", bind="query-params", horizontal=True,
        captions=["R default" if c == survival.CI_LOG else "lifelines default" for c in survival.CI_TRANSFORMS],
        help="log: S·exp(±1.96·√Σd/(n(n−d))), R survival's default (conf.type = \"log\"), capped at 1. "
             "log-log: the 'exponential Greenwood' interval, lifelines' default and R's conf.type = "
             "\"log-log\"; it always stays within 0-1. The median's CI is read off the chosen band.")
    orientation = orientation_column.radio("Curve shows", list(ORIENTATION_LABELS), key="resolution_orientation", bind="query-params",
                                           captions=list(ORIENTATION_LABELS.values()), horizontal=True)
    covariates = st.multiselect(
        "Adjusted comparison (Cox): adjust for", list(cox.COVARIATES), key="resolution_cox_covariates",
        bind="query-params", help="Cox proportional hazards of resolution on the group and these covariates (Efron "
        "ties, as R's coxph): " + "; ".join(f"{name} = {label}" for name, (label, _) in cox.COVARIATES.items()))
    return (replace(analysis, ci=ci, episodes=replace(analysis.episodes, origin=origin_choice)), orientation,
            tuple(covariates))


analysis, orientation, covariates = read_options()
st.caption(f"Severe ICANS: grade {analysis.episodes.severe_grade} or higher; resolved at grade "
           f"{analysis.episodes.resolved_grade} or lower (change them in the sidebar).")
show_view(cached_view(resolution.build, con, analysis,
                      resolution.ResolutionOptions(orientation=orientation, cox_covariates=covariates)))

"""Resolution of severe ICANS: Kaplan-Meier curves, medians, log-rank tests and cumulative incidence."""

import streamlit as st

from icans_core import schema as S
from icans_core import store, survival
from icans_core.charts import survival as survival_charts
from dataclasses import replace

from icans_core.episodes import ONSET, EpisodeOptions, compute_episodes
from ui import cohort_imports, session, stats_sections
from ui.options import current
from ui.figures import show_figure, show_table
from ui.text import plain

ORIGINS = [ONSET, S.CORTICOSTEROID, S.IVIG_CLASS, S.IL1_BLOCKADE, S.INTRATHECAL, S.IL6_BLOCKADE]
ORIENTATION_LABELS = {survival_charts.RESOLVED: "Proportion resolved (1 - S)",
                      survival_charts.STILL_SEVERE: "Proportion still severe (S)"}

con = session.connection()
st.title("Resolution of severe ICANS")
cohort_imports.show_derived_notice(con)  # issue 13: grades from episode forms / observations
st.caption("Time from severe-ICANS onset (or from the first dose of a treatment class given during the "
           "episode) to the first assessment at or below the resolved grade.")


def read_options() -> tuple[EpisodeOptions, str, str, str]:
    analysis = current()  # severe and resolved grades and "compare by" are set in the sidebar
    origin, ci_column, orientation_column = st.columns(3)
    # Bound to the URL, an option's shown text is its link value: machine values, labels in help/captions.
    origin_choice = origin.selectbox(
        "Time starts at (onset, or the first dose after onset of a class)", ORIGINS, key="resolution_origin",
        bind="query-params",
        help="onset = severe-ICANS onset; a class = its first dose after onset. Episodes without a dose of the chosen class between onset and the episode's end have no time "
             "and are left out.")
    ci = ci_column.radio(
        "95% confidence band", list(survival.CI_TRANSFORMS), key="resolution_ci", bind="query-params", horizontal=True,
        captions=["R default" if c == survival.CI_LOG else "lifelines default" for c in survival.CI_TRANSFORMS],
        help="log: S·exp(±1.96·√Σd/(n(n−d))), R survival's default (conf.type = \"log\"), capped at 1. "
             "log-log: the 'exponential Greenwood' interval, lifelines' default and R's conf.type = "
             "\"log-log\"; it always stays within 0-1. The median's CI is read off the chosen band.")
    orientation = orientation_column.radio("Curve shows", list(ORIENTATION_LABELS), key="resolution_orientation", bind="query-params",
                                           captions=list(ORIENTATION_LABELS.values()), horizontal=True)
    return replace(analysis.episodes, origin=origin_choice), ci, analysis.group_by, orientation


def show_left_out(left_out, options: EpisodeOptions) -> None:
    missing = left_out[left_out["left_out"] > 0]
    if len(missing):
        detail = "; ".join(f"{plain(r.group)}: {r.left_out} of {r.episodes}" for r in missing.itertuples())
        st.info(f"{int(missing['left_out'].sum())} of {int(left_out['episodes'].sum())} episode(s) had no "
                f"{options.origin} dose between onset and the end of the episode and are left out ({detail}).")


def show_results(episodes, options: EpisodeOptions, ci: str, group_by: str, orientation: str,
                 all_groups: list[str]) -> None:
    km = survival.kaplan_meier(episodes, ci)
    medians = survival.median_times(episodes, ci, km)
    at_risk = survival.number_at_risk(km)
    small = survival.small_groups(episodes)
    if small:
        st.warning(f"Fewer than {survival.SMALL_GROUP} patients in: {', '.join(plain(g) for g in small)}. Curves, "
                   "medians and tests for such groups are very uncertain; read the number at risk.")

    st.subheader("Kaplan-Meier: time to resolution")
    figure = survival_charts.km_figure(km, medians, at_risk, options.origin_label, ci, orientation, all_groups)
    show_figure(figure, km, "resolution-kaplan-meier", key="resolution_km")

    st.subheader("Median time to resolution")
    st.caption("Median in days (R survival's rule: midpoint where the curve sits exactly at 0.5); "
               f"95% CI from the {survival.CI_TRANSFORMS[ci]} band; blank = not reached. "
               "n = episodes analysed, resolved = episodes that resolved.")
    show_table(medians, "resolution-medians", key="resolution_medians")
    stats_sections.median_rule_caption()

    st.subheader("Log-rank test")
    tests = survival.logrank(episodes)
    if tests.empty:
        st.info("Only one group has episodes to analyse: there is nothing to compare. Try another "
                "'Compare by' option or time origin.")
    else:
        st.caption("Deaths counted as censored, as in R's survdiff. With more than two groups, each pair is "
                   "also tested; p_holm is the Holm-adjusted p of the pairwise tests.")
        show_table(tests, "resolution-log-rank", key="resolution_logrank")
        stats_sections.show_pairwise_note(episodes)
        stats_sections.show_gray_test(episodes)

    st.subheader("Cumulative incidence of resolution (death as a competing event)")
    cif = survival.cumulative_incidence(episodes)
    show_figure(survival_charts.cif_chart(cif, medians, options.origin_label, all_groups), cif,
                "resolution-cumulative-incidence", key="resolution_cif")
    stats_sections.cif_caption()
    st.markdown(
        "**What \"died\" means here.** An episode that ended in death before resolution is *censored* at the "
        "day of death in the Kaplan-Meier curve, the medians and the log-rank test: they estimate resolution "
        "as if death had not intervened. In the cumulative incidence, death is a *competing event*: a patient "
        "who died can no longer resolve, so the curve gives the proportion who actually resolved by each day "
        "(Aalen-Johansen); the dashed line is the proportion who died first.")


def show_episodes(episodes) -> None:
    st.subheader("Episodes")
    st.caption("One row per patient with a severe-ICANS episode (the first one). Times in days since CAR-T "
               "infusion; time_to_resolution in days since the chosen origin.")
    show_table(episodes, "resolution-episodes", key="resolution_episodes")


options, ci, group_by, orientation = read_options()
st.caption(f"Severe ICANS: grade {options.severe_grade} or higher; resolved at grade {options.resolved_grade} "
           "or lower (change them in the sidebar).")
patients = store.patients_frame(con, group_by)
episodes = compute_episodes(store.toxicity_frame(con), patients, store.interventions_frame(con), options)
all_groups = store.group_names(con, group_by)  # the whole cohort: colours stay put under filters
if episodes.empty:
    st.info(f"No selected patient has ICANS grade {options.severe_grade} or higher: there are no severe "
            "episodes to analyse. Lower the severe grade or widen the cohort filters.")
else:
    left_out = survival.count_left_out(episodes)
    show_left_out(left_out, options)
    if left_out["analysed"].sum() > 0:
        show_results(episodes, options, ci, group_by, orientation, all_groups)
        stats_sections.show_cox_section(episodes, patients)
    else:
        st.info(f"No episode had a {options.origin} dose between onset and the end of the episode, so no "
                "time to resolution can be measured from it. Choose another time origin.")
    show_episodes(episodes)

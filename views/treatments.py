"""Treatments: systemic steroid exposure per patient and group, the dexamethasone equivalents
used, and the interventions received per class and group."""

import streamlit as st

from icans_core import schema, steroids, store, summary
from icans_core.charts.steroids import intervention_timing_chart, steroid_chart
from icans_core.episodes import compute_episodes
from ui import session
from ui.options import current
from ui.figures import show_figure, show_table
from ui.text import plain

con = session.connection()
st.title("Treatments")

analysis = current()
middle, right = st.columns(2)
# bound to the URL: the shown option is its link value, the label its caption
measure = middle.radio("Steroid measure", list(steroids.MEASURES), captions=list(steroids.MEASURES.values()),
                       key="treatments_measure", bind="query-params")
log = right.checkbox("Logarithmic axis", key="treatments_log", bind="query-params")
severe_only = right.checkbox("Only patients with a severe-ICANS episode", key="treatments_severe_only", bind="query-params")


def show_equivalents() -> None:
    st.subheader("Dexamethasone equivalents used")
    show_table(steroids.equivalence_table(), "dexamethasone-equivalents", key="treatments_equivalents")
    st.caption(f"Source: {schema.STEROID_EQUIVALENCE_SOURCE}. mg of the drug x factor = mg dexamethasone; "
               "equipotent_mg is the dose equal to 0.75 mg dexamethasone. Some sources differ slightly. "
               "Intrathecal hydrocortisone or dexamethasone is intrathecal therapy, not systemic exposure.")


patients = store.patients_frame(con, analysis.group_by)
interventions = store.interventions_frame(con)
if patients.empty:
    st.info("No patients are selected: widen the cohort filters to see their treatments.")
    show_equivalents()
    st.stop()
if interventions.empty:
    st.info("The selected patients have no recorded interventions (the interventions table is empty or "
            "was not uploaded).")
    show_equivalents()
    st.stop()

exposure = steroids.steroid_exposure(interventions, patients)
episodes = (compute_episodes(store.toxicity_frame(con), patients, interventions, analysis.episodes)
            if severe_only else None)
shown = steroids.severe_icans_exposure(exposure, episodes) if severe_only else exposure
steroid_groups = steroids.steroid_summary(exposure, episodes)

left_out = steroids.left_out_rows(interventions)
if len(left_out):
    st.warning(f"{len(left_out)} systemic corticosteroid row(s) are left out of the cumulative "
               "dexamethasone-equivalent dose (their dose is not in mg or is missing); their days still "
               "count as steroid days.")
    show_table(left_out, "steroid-rows-left-out", key="treatments_left_out")

st.subheader("Systemic steroid exposure per group")
small = summary.small_groups(shown)
if shown.empty:
    st.info("No selected patient had a severe-ICANS episode." if severe_only else "No patients to show.")
elif not (shown["steroid_days"] > 0).any():
    st.info("None of these patients received a systemic corticosteroid.")
else:
    if len(small):
        listed = ", ".join(f"{plain(g)} ({n})" for g, n in small.itertuples(index=False))
        st.warning(f"Small groups (fewer than {summary.SMALL_GROUP} patients): {listed}.")
    show_figure(steroid_chart(shown, steroid_groups, measure, log), shown, f"steroid-{measure}",
                key="treatments_steroid_chart")
    show_table(steroid_groups, "steroid-exposure-per-group", key="treatments_steroid_summary",
               column_config={c: st.column_config.NumberColumn(c, format="%.1f")
                              for c in ("median", "q1", "q3", "mean")}
               | {"p_value": st.column_config.NumberColumn("p_value", format="%.3g")})
    st.caption("Among 'treated patients' (at least one systemic steroid day) and among 'all patients' "
               "(untreated count as 0). Quartiles by linear interpolation (R's default). Groups compared with "
               "Mann-Whitney U (two groups) or Kruskal-Wallis (more).")
    with st.expander("Steroid exposure per patient"):
        show_table(shown, "steroid-exposure-per-patient", key="treatments_per_patient")
        st.caption("patient_id, steroid_days, cumulative_dex_mg are the export's steroid_exposure.csv.")

show_equivalents()

st.subheader("Interventions received per class and group")
by_class = summary.interventions_by_class(interventions, patients)
show_table(by_class, "interventions-per-class", key="treatments_by_class",
           column_config={"percent": st.column_config.NumberColumn("percent", format="%.0f%%"),
                          "median_first_day": st.column_config.NumberColumn("median first day", format="%.2f")})
show_figure(intervention_timing_chart(by_class), by_class, "intervention-timing", key="treatments_timing")

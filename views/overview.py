"""Overview: key numbers, Table 1 per group with its tests, maximum grades, and published series."""

import streamlit as st

from icans_core import published, steroids, store, summary
from icans_core.charts.overview import grade_distribution_chart
from icans_core.episodes import compute_episodes
from ui import session
from ui.options import current
from ui.figures import show_figure, show_table
from ui.text import plain

con = session.connection()
st.title("Overview")

analysis = current()
patients = store.patients_frame(con, analysis.group_by)
if patients.empty:
    st.info("No patients are selected: widen the cohort filters to see an overview.")
    st.stop()

toxicity = store.toxicity_frame(con)
interventions = store.interventions_frame(con)
options = analysis.episodes
episodes = compute_episodes(toxicity, patients, interventions, options)
exposure = steroids.steroid_exposure(interventions, patients)

for column, row in zip(st.columns(4), summary.key_numbers(patients, episodes).itertuples()):
    column.metric(row.measure, row.value, help=row.detail)
st.caption(f"Severe ICANS: ASTCT grade {options.severe_grade} or higher; resolved at grade "
           f"{options.resolved_grade} or lower; time from {options.origin_label}.")

small = summary.small_groups(patients)
if len(small):
    listed = ", ".join(f"{plain(g)} ({n})" for g, n in small.itertuples(index=False))
    st.warning(f"Small groups (fewer than {summary.SMALL_GROUP} patients): {listed}. Percentages and "
               "p-values for them are fragile; read the counts.")

st.subheader("Patient characteristics per group (Table 1)")
tidy = summary.cohort_summary(patients, toxicity, interventions, exposure, episodes)
show_table(summary.summary_table(tidy), "table-1", key="overview_table1")
tests = summary.used_tests(tidy)
st.caption("Tests compare the groups (the 'All patients' column is not part of any test); missing values "
           "are shown as 'unknown' and left out of tests. "
           + " ".join(f"**{t}**: {e}." for t, e in tests.itertuples(index=False)))

st.subheader("Maximum CRS and ICANS grade per group")
distribution = summary.grade_distribution(patients, toxicity)
if distribution.empty:
    st.info("No CRS or ICANS assessment is recorded for the selected patients.")
else:
    show_figure(grade_distribution_chart(distribution), distribution, "max-grade-per-group", key="overview_grades")

st.subheader("This cohort beside published series")
comparison = published.compare_with_published(episodes, exposure)
if episodes.empty:
    st.info("No selected patient had a severe-ICANS episode: only the published series are listed.")
show_table(comparison, "comparison-with-published-series", key="overview_published",
           column_config={"response_rate": st.column_config.NumberColumn("response rate", format="percent"),
                          "median_ttr_days": st.column_config.NumberColumn("median TTR (days)", format="%.1f"),
                          "median_csd_mg": st.column_config.NumberColumn("median CSD (dex mg)", format="%.1f"),
                          "mean_steroid_days": st.column_config.NumberColumn("mean steroid days", format="%.1f")})
st.markdown(
    "Response rate = share of severe-ICANS episodes resolved; TTR = time to resolution (this cohort: "
    "median over resolved episodes); CSD = cumulative systemic steroid dose in dexamethasone mg "
    "(this cohort: median over patients with an episode, whole follow-up). N/R = not reported. "
    "The published series are steroid-refractory or selected populations: compare with care.")
st.markdown("**Sources**\n" + "\n".join(f"- {c}: {what}" for c, what in
                                         published.citations().itertuples(index=False)))

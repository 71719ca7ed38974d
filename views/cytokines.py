"""Cytokine kinetics: median serum levels per group over days, compared each day (the IVIG study's Fig 3)."""

import streamlit as st

from icans_core import kinetics, store
from icans_core import schema as S
from icans_core.charts.kinetics import cytokine_chart
from icans_core.episodes import compute_episodes
from ui import session
from ui.options import current
from ui.text import plain
from ui.figures import show_figure, show_table

ALIGNMENTS = {"infusion": "Days since CAR-T infusion", "onset": "Days since severe-ICANS onset"}
LLOQ_LABELS = {kinetics.LLOQ_AS_RECORDED: "As recorded (the LLOQ)", kinetics.LLOQ_HALF: "Half the LLOQ"}
MARK_ON = {"p_value": "raw p", "q_value": "BH q"}
MARK_SYMBOL = {"p_value": "p", "q_value": "q"}

con = session.connection()
st.title("Cytokine kinetics")
st.caption("Median serum levels per group and whole day, with the day's group comparison and the median day "
           "each treatment class was first given.")

analytes_measured = store.lab_analytes(con)
choices = kinetics.list_serum_analytes(list(analytes_measured["analyte"]))
if not choices:
    st.info("This cohort has no cytokine or serum-marker measurements (labs table), so there is nothing to "
            "show here. Add a labs table to the upload to see cytokine kinetics.")
    st.stop()

analysis = current()
top = st.columns([3, 1.6])
chosen = top[0].multiselect(
    "Analytes", choices, default=[a for a in kinetics.DEFAULT_ANALYTES if a in choices] or choices[:1],
    key="cytokines_analytes", bind="query-params", help="Cytokines (pg/mL), CRP (mg/L) and ferritin (ng/mL); one chart each.")
alignment = top[1].radio("Day 0 is", list(ALIGNMENTS), format_func=lambda a: {
    "infusion": "CAR-T infusion", "onset": f"Severe-ICANS onset (grade {analysis.episodes.severe_grade}+)"}[a], key="cytokines_alignment", bind="query-params",
    horizontal=True)
row = st.columns([2.2, 1, 1.4, 2.6, 1.1])
day_range = row[0].slider("Days", -30, 90, kinetics.DEFAULT_DAYS, key="cytokines_days", bind="query-params")
log_scale = row[1].toggle("Log scale", value=True, key="cytokines_log", bind="query-params")
lloq = row[2].radio("Below LLOQ", kinetics.LLOQ_OPTIONS, format_func=LLOQ_LABELS.get, key="cytokines_lloq", bind="query-params",
                    help="Values below the lower limit of quantification are stored at the LLOQ. Either "
                         "reading keeps their rank, so p-values do not change; medians may.")
classes = row[3].multiselect("Intervention lines", list(S.AGENT_CLASSES), default=list(kinetics.DEFAULT_LINES),
                             key="cytokines_classes", bind="query-params")
mark_on = row[4].radio("Mark days by", list(MARK_ON), format_func=MARK_ON.get, key="cytokines_mark_on", bind="query-params")

if not chosen:
    st.info("Choose at least one analyte.")
    st.stop()

patients = store.patients_frame(con, analysis.group_by)
groups = store.group_names(con, analysis.group_by)  # one colour per group whatever the alignment or filter
origins = None
if alignment == "onset":
    episodes = compute_episodes(store.toxicity_frame(con), patients, options=analysis.episodes)
    origins = kinetics.align_at_onset(episodes)
    left_out = len(patients) - len(origins)
    st.info(f"Aligned at severe-ICANS onset (first ICANS grade {analysis.episodes.severe_grade} or higher): {len(origins)} patients with an "
            f"episode; {left_out} patients without one are left out.")
    if origins.empty:
        st.stop()

# every serum analyte and day is tested, as in the export, so the q-values shown are the export's
medians = kinetics.select_medians(kinetics.cohort_cytokine_medians(con, choices, analysis.group_by, origins, lloq),
                                  chosen, day_range)
if medians.empty:
    st.info(f"No values of {', '.join(plain(a) for a in chosen)} between day {day_range[0]} and day "
            f"{day_range[1]} for these patients.")
    st.stop()
marks = kinetics.significance_marks(medians, on=mark_on)
lines = kinetics.intervention_days(store.interventions_frame(con), patients, origins, classes)

sizes = kinetics.count_patients(medians)
small = sizes[sizes["small"]]
if len(small):
    named = dict.fromkeys(f"{plain(r.group)} (n={r.n_patients})" for r in small.itertuples())
    st.warning(f"Small groups, fewer than {kinetics.SMALL_GROUP} patients with values: {'; '.join(named)}. "
               "Read their medians and tests with care.")

for analyte in chosen:
    analyte_medians = medians[medians["analyte"] == analyte]
    if analyte_medians.empty:
        st.info(f"No {plain(analyte)} values in this day range.")
        continue
    chart = cytokine_chart(medians, marks, lines, analyte, log_scale, ALIGNMENTS[alignment], groups,
                           MARK_SYMBOL[mark_on])
    show_figure(chart, analyte_medians, f"cytokine kinetics {analyte}", key=f"cytokines_{S.vocabulary_key(analyte)}")

lloq_counts = kinetics.count_below_lloq(medians)
tests = kinetics.count_tests(medians)
st.subheader("Medians per group and day")
st.markdown(
    "Per day, the groups with at least 2 patients that day are compared: **Mann-Whitney U** (two-sided; "
    "exact below 50 per group without ties, as R's `wilcox.test`) for two groups, **Kruskal-Wallis** for more. "
    f"Days here: {', '.join(f'{r.n_tests} {r.test}' for r in tests.itertuples())}. "
    "**q** is the Benjamini-Hochberg adjustment over every day and serum analyte of the cohort (as in "
    "the results export), not only those shown. "
    "Quartiles: linear interpolation (numpy default, R type 7). One value per patient and day (the patient's "
    "median that day).")
st.markdown(f"**Below the LLOQ** (read {'as recorded' if lloq == kinetics.LLOQ_AS_RECORDED else 'as LLOQ/2'}): "
            + "; ".join(f"{plain(r.analyte)} {r.n_below_lloq} of {r.n_values} patient-day values"
                        for r in lloq_counts.itertuples()) + ".")
show_table(medians, "cytokine medians", key="cytokines_medians", column_config={
    "day": st.column_config.NumberColumn("day", help=ALIGNMENTS[alignment]),
    "median": st.column_config.NumberColumn("median", format="%.4g"),
    "q1": st.column_config.NumberColumn("q1", format="%.4g"),
    "q3": st.column_config.NumberColumn("q3", format="%.4g"),
    "p_value": st.column_config.NumberColumn("p", format="%.3g"),
    "q_value": st.column_config.NumberColumn("q (BH)", format="%.3g")})

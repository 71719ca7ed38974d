"""CAR-T expansion: cell counts in blood per group over days, and Cmax, Tmax and AUC0-28 per patient."""

import streamlit as st

from icans_core import expansion, kinetics, store
from icans_core import schema as S
from icans_core.charts.expansion import expansion_chart, metric_strip_chart
from ui import session, stats_sections
from ui.options import current
from ui.figures import show_figure, show_table
from ui.text import plain

METRIC_CHOICES = {"cmax": "Cmax (highest count)", "auc_0_28": "AUC0-28 (area, days 0-28)",
                  "tmax_day": "Tmax (day of Cmax)"}

con = session.connection()
st.title("CAR-T expansion")
st.caption("CAR-T cells in blood after infusion: the median curve per group, and each patient's peak (Cmax), "
           "its day (Tmax) and the area under the curve over days 0-28 (AUC0-28).")

# An empty selection is the filters' doing, not the cohort's: say so before looking for counts.
if store.patients_frame(con).empty:
    st.info("No patients are selected, so there are no CAR-T cell counts to show. Widen the cohort filters in "
            "the sidebar (remove a choice with its ×, or widen the age range).")
    st.stop()
measured = set(store.lab_analytes(con)["analyte"])
cell_analytes = [a for a in S.CELL_COUNT_ANALYTES if a in measured]
if not cell_analytes:
    st.info("This cohort has no CAR-T cell counts (labs with analyte 'CAR-T cells', 'CD4+ CAR-T cells' or "
            "'CD8+ CAR-T cells'), so expansion cannot be shown. Add them to the labs table of the upload.")
    st.stop()

group_by = current().group_by
top = st.columns([2, 1])
analyte = top[0].selectbox("Cell count", cell_analytes, key="expansion_analyte", bind="query-params")
log_scale = top[1].toggle("Log scale", value=True, key="expansion_log", bind="query-params")

patients = store.patients_frame(con, group_by)
groups = store.group_names(con, group_by)  # one colour per group whatever the filter
curves = expansion.expansion_curves(store.lab_patient_days(con, cell_analytes, group_by))
metrics = expansion.expansion_metrics(store.lab_values(con, cell_analytes))
summary = expansion.expansion_summary(metrics, patients)
points = expansion.melt_metrics(metrics, patients)

st.subheader("Expansion curves")
shown_curves = curves[curves["analyte"] == analyte]
show_figure(expansion_chart(curves, analyte, log_scale, groups), shown_curves, f"expansion {analyte}",
            key="expansion_curves")
sizes = kinetics.count_patients(shown_curves)
small = [f"{plain(r.group)} (n={r.n_patients})" for r in sizes[sizes["small"]].itertuples()]
if small:
    st.warning(f"Small groups, fewer than {kinetics.SMALL_GROUP} patients with {plain(analyte)}: {'; '.join(small)}. "
               "Read their medians and tests with care.")

st.subheader("Cmax, Tmax and AUC0-28 per patient")
# bound to the URL: the shown option is its link value, the label its caption
metric = st.radio("Metric", list(METRIC_CHOICES), captions=list(METRIC_CHOICES.values()), horizontal=True,
                  key="expansion_metric", bind="query-params")
if points[(points["analyte"] == analyte) & (points["metric"] == metric)].empty:
    st.info(f"No patient has a {expansion.METRIC_LABELS[metric]} for {plain(analyte)}"
            + (" (the area needs at least 2 counts between day 0 and day 28)." if metric == "auc_0_28" else "."))
else:
    # Tmax is a day (day 0 is possible): never on a log scale.
    strip = metric_strip_chart(points, summary, analyte, metric, log_scale and metric != "tmax_day", groups)
    show_figure(strip, summary[(summary["analyte"] == analyte) & (summary["metric"] == metric)],
                f"expansion {metric} {analyte}", key="expansion_strip")
st.markdown(
    "**Cmax** = highest count (cells/uL); **Tmax** = first day it is reached; **AUC0-28** = trapezoidal area "
    "(cells/uL x days) over the observed counts with 0 <= day <= 28, not extrapolated to day 0 or 28, and blank "
    "with fewer than 2 counts in that window. Values below the LLOQ are used as recorded.")
show_table(expansion.attach_groups(metrics, patients), "expansion per patient", key="expansion_metrics",
           column_config={
               "cmax": st.column_config.NumberColumn("Cmax (cells/uL)", format="%.4g"),
               "tmax_day": st.column_config.NumberColumn("Tmax (day)", format="%g"),
               "auc_0_28": st.column_config.NumberColumn("AUC0-28 (cells/uL x days)", format="%.4g"),
               "n_points": st.column_config.NumberColumn("counts in days 0-28")})

st.subheader("Per group, with tests")
st.markdown(
    "Median and IQR (linear quartiles, R type 7) per group. Groups with at least 2 patients are compared per "
    "analyte and metric: **Mann-Whitney U** (two-sided; exact below 50 per group without ties, as R's "
    "`wilcox.test`) for two groups, **Kruskal-Wallis** for more; **q** is the Benjamini-Hochberg adjustment "
    "over the analyte x metric tests in this table.")
show_table(summary, "expansion per group", key="expansion_summary", column_config={
    "median": st.column_config.NumberColumn("median", format="%.4g"),
    "q1": st.column_config.NumberColumn("q1", format="%.4g"),
    "q3": st.column_config.NumberColumn("q3", format="%.4g"),
    "p_value": st.column_config.NumberColumn("p", format="%.3g"),
    "q_value": st.column_config.NumberColumn("q (BH)", format="%.3g")})
stats_sections.show_nca_section(store.lab_values(con, cell_analytes), analyte)

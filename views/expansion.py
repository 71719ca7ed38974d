"""CAR-T expansion: cell counts in blood per group over days, and Cmax, Tmax and AUC0-28 per patient."""

import streamlit as st

from icans_core.content import expansion
from icans_core import store
from ui import session, stats_sections
from ui.options import current
from ui.render import show_view
from ui.view_cache import cached_view

METRIC_CHOICES = expansion.METRIC_CHOICES

con = session.connection()
st.title("CAR-T expansion")
st.caption("CAR-T cells in blood after infusion: the median curve per group, and each patient's peak (Cmax), "
           "its day (Tmax) and the area under the curve over days 0-28 (AUC0-28).")

cell_analytes = expansion.cell_analytes(con)
analysis = current()
if cell_analytes:
    top = st.columns([2, 1, 2.4])
    analyte = top[0].selectbox("Cell count", cell_analytes, key="expansion_analyte", bind="query-params")
    log_scale = top[1].toggle("Log scale", value=True, key="expansion_log", bind="query-params")
    # bound to the URL: the shown option is its link value, the label its caption
    metric = top[2].radio("Metric", list(METRIC_CHOICES), captions=list(METRIC_CHOICES.values()), horizontal=True,
                          key="expansion_metric", bind="query-params")
    options = expansion.ExpansionOptions(analyte=analyte, log_scale=log_scale, metric=metric)
else:
    options = expansion.ExpansionOptions()
show_view(cached_view(expansion.build, con, analysis, options))
if cell_analytes and not store.patients_frame(con).empty:
    stats_sections.show_nca_section(con, options.analyte)

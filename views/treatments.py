"""Treatments: systemic steroid exposure per patient and group, the dexamethasone equivalents
used, and the interventions received per class and group."""

import streamlit as st

from icans_core import steroids
from icans_core.content import treatments
from ui import cohort_imports, session
from ui.options import current
from ui.render import show_view
from ui.view_cache import cached_view

con = session.connection()
st.title("Treatments")
cohort_imports.show_derived_notice(con)  # issue 13: episode-form treatments without days

analysis = current()
middle, right = st.columns(2)
# bound to the URL: the shown option is its link value, the label its caption
measure = middle.radio("Steroid measure", list(steroids.MEASURES), captions=list(steroids.MEASURES.values()),
                       key="treatments_measure", bind="query-params")
log = right.checkbox("Logarithmic axis", key="treatments_log", bind="query-params")
severe_only = right.checkbox("Only patients with a severe-ICANS episode", key="treatments_severe_only", bind="query-params")

show_view(cached_view(treatments.build, con, analysis,
                      treatments.TreatmentOptions(measure=measure, log=log, severe_only=severe_only)))

"""Cytokine kinetics: median serum levels per group over days, compared each day (the IVIG study's Fig 3)."""

import streamlit as st

from icans_core import kinetics
from icans_core import schema as S
from icans_core.content import cytokines
from icans_core.content.cytokines import ALIGNMENTS, LAYOUTS, MARK_STYLE_LABELS
from ui import ranges, session
from ui.options import current
from ui.render import show_view
from ui.view_cache import cached_view

LLOQ_LABELS = {kinetics.LLOQ_AS_RECORDED: "As recorded (the LLOQ)", kinetics.LLOQ_HALF: "Half the LLOQ"}
MARK_ON = {"p_value": "raw p", "q_value": "BH q"}

con = session.connection()
st.title("Cytokine kinetics")
st.caption("Median serum levels per group and whole day, with the day's group comparison and the median day "
           "each treatment class was first given.")

choices = cytokines.available_analytes(con)
analysis = current()
if choices:
    top = st.columns([3, 1.6])
    chosen = top[0].multiselect(
        "Analytes", choices, default=cytokines.default_analytes(choices),
        key="cytokines_analytes", bind="query-params", help="Cytokines (pg/mL), CRP (mg/L) and ferritin (ng/mL); one chart each.")
    # Bound to the URL, an option's shown text is its link value: machine values, the labels as captions.
    alignment = top[1].radio("Day 0 is", list(ALIGNMENTS), captions=[
        "CAR-T infusion", f"severe-ICANS onset (grade {analysis.episodes.severe_grade}+)"], key="cytokines_alignment",
        bind="query-params", horizontal=True)
    row = st.columns([2.2, 1, 1.4, 2.6, 1.1])
    day_range = ranges.ordered(row[0].slider("Days", -30, 90, kinetics.DEFAULT_DAYS, key="cytokines_days",
                                             bind="query-params"))
    log_scale = row[1].toggle("Log scale", value=True, key="cytokines_log", bind="query-params")
    lloq = row[2].radio("Below LLOQ", kinetics.LLOQ_OPTIONS, captions=[LLOQ_LABELS[o] for o in kinetics.LLOQ_OPTIONS],
                        key="cytokines_lloq", bind="query-params",
                        help="Values below the lower limit of quantification are stored at the LLOQ. Either "
                             "reading keeps their rank, so p-values do not change; medians may.")
    classes = row[3].multiselect("Intervention lines", list(S.AGENT_CLASSES), default=list(kinetics.DEFAULT_LINES),
                                 key="cytokines_classes", bind="query-params")
    mark_on = row[4].radio("Mark days by", list(MARK_ON), captions=list(MARK_ON.values()), key="cytokines_mark_on",
                           bind="query-params")
    third = st.columns([2, 2])
    layout = third[0].radio("Figures", list(LAYOUTS), captions=list(LAYOUTS.values()), key="cytokines_layout",
                            bind="query-params", horizontal=True)
    mark_style = third[1].radio("Marks", list(MARK_STYLE_LABELS), captions=list(MARK_STYLE_LABELS.values()),
                                key="cytokines_mark_style", bind="query-params", horizontal=True)
    options = cytokines.CytokineOptions(
        analytes=tuple(chosen), alignment=alignment, days=tuple(day_range), log_scale=log_scale, lloq=lloq,
        classes=tuple(classes), mark_on=mark_on, mark_style=mark_style, layout=layout)
else:
    options = cytokines.CytokineOptions()
show_view(cached_view(cytokines.build, con, analysis, options))

"""The Expansion page's section of cellular kinetics by NCA conventions (issue 12): its options and table.
(Gray's test and the adjusted comparison are sections of the Resolution view, icans_core/content/resolution.py.)
"""

from __future__ import annotations

import duckdb
import streamlit as st

from icans_core import derived_tables, nca, store
from ui.figures import show_table
from ui.text import plain

NCA_WINDOW_LABELS = {nca.OBSERVED: "observed counts only (contract)",
                     nca.INTERPOLATED: "interpolated ends (PKNCA aucint)"}


def read_nca_options() -> nca.NcaOptions:
    """The NCA options (AUC method, window ends, below-LLOQ counts) as widgets, bound to the URL (a shared
    link shows the same areas): each option's shown text is its link value, its label a caption."""
    method_column, window_column, blq_column = st.columns(3)
    method = method_column.radio("AUC method", list(nca.METHODS), key="expansion_auc_method", horizontal=True,
                                 bind="query-params",
                                 help="linear trapezoid, or PKNCA's default: linear up, log-linear on a fall "
                                      "to a value above 0.")
    window = window_column.radio("Window ends without a count", list(nca.WINDOWS), key="expansion_auc_window",
                                 captions=[NCA_WINDOW_LABELS[w] for w in nca.WINDOWS], bind="query-params",
                                 help="observed: only counts inside days 0-28 / 0-90, nothing added. interpolated: "
                                      "PKNCA aucint: 0 before the first count, interpolated up to Tlast, 0 after.")
    blq = blq_column.radio("Below the LLOQ", list(nca.BLQ_RULES), key="expansion_blq", bind="query-params",
                           help="as recorded (at the LLOQ), zero, or PKNCA's default (zero; first and last kept, "
                                "those between quantifiable counts dropped).")
    return nca.NcaOptions(method, window, blq)


def show_nca_section(con: duckdb.DuckDBPyConnection, analyte: str) -> None:
    """Cellular kinetics by NCA conventions (PKNCA) for one analyte of the selected patients: options and a
    per-patient table. The metrics are derived once per cohort and options (derived_tables.nca_metrics)
    and restricted to the selection: a rerun or filter change does not recompute every patient's areas."""
    st.markdown("**Cellular kinetics (NCA conventions, as PKNCA)**")
    options = read_nca_options()
    mixed = nca.mixed_units(store.lab_analytes(con))  # one row per analyte and unit measured
    if len(mixed):
        st.warning("Measured in more than one unit, never pooled: "
                   + "; ".join(f"{plain(r.analyte)} ({plain(r.units)})" for r in mixed.itertuples()))
    metrics = derived_tables.nca_metrics(con, options)
    shown = metrics[metrics["analyte"] == analyte]
    st.caption(f"{len(shown):,} patients. Tlast/Clast: the last count above 0; AUC0-28 and AUC0-90 by the "
               f"{options.method} rule, {NCA_WINDOW_LABELS[options.window]}; below-LLOQ counts "
               f"{options.blq}. Blank: no area (fewer than 2 counts in the window, or none).")
    show_table(shown, f"expansion nca {analyte}", key="expansion_nca",
               column_config={c: st.column_config.NumberColumn(c, format="%.4g")
                              for c in ("cmax", "clast", "auc_0_28", "auc_0_90")})

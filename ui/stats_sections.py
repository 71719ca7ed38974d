"""The Expansion page's section of cellular kinetics by NCA conventions (issue 12): its options and table.
(Gray's test and the adjusted comparison are sections of the Resolution view, icans_core/content/resolution.py.)
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from icans_core import nca
from ui.figures import show_table
from ui.text import plain

NCA_WINDOW_LABELS = {nca.OBSERVED: "observed counts only (contract)",
                     nca.INTERPOLATED: "interpolated ends (PKNCA aucint)"}


def read_nca_options() -> nca.NcaOptions:
    """The NCA options (AUC method, window ends, below-LLOQ counts) as widgets."""
    method_column, window_column, blq_column = st.columns(3)
    method = method_column.radio("AUC method", list(nca.METHODS), key="expansion_auc_method", horizontal=True,
                                 help="linear trapezoid, or PKNCA's default: linear up, log-linear on a fall "
                                      "to a value above 0.")
    window = window_column.radio("Window ends without a count", list(nca.WINDOWS), key="expansion_auc_window",
                                 format_func=NCA_WINDOW_LABELS.get,
                                 help="observed: only counts inside days 0-28 / 0-90, nothing added. interpolated: "
                                      "PKNCA aucint: 0 before the first count, interpolated up to Tlast, 0 after.")
    blq = blq_column.radio("Below the LLOQ", list(nca.BLQ_RULES), key="expansion_blq",
                           help="as recorded (at the LLOQ), zero, or PKNCA's default (zero; first and last kept, "
                                "those between quantifiable counts dropped).")
    return nca.NcaOptions(method, window, blq)


def show_nca_section(lab_values: pd.DataFrame, analyte: str) -> None:
    """Cellular kinetics by NCA conventions (PKNCA) for one analyte: options and a per-patient table."""
    st.markdown("**Cellular kinetics (NCA conventions, as PKNCA)**")
    options = read_nca_options()
    mixed = nca.mixed_units(lab_values)
    if len(mixed):
        st.warning("Measured in more than one unit, never pooled: "
                   + "; ".join(f"{plain(r.analyte)} ({plain(r.units)})" for r in mixed.itertuples()))
    metrics = nca.nca_metrics(lab_values, options)
    shown = metrics[metrics["analyte"] == analyte]
    st.caption(f"{len(shown)} patients. Tlast/Clast: the last count above 0; AUC0-28 and AUC0-90 by the "
               f"{options.method} rule, {NCA_WINDOW_LABELS[options.window]}; below-LLOQ counts "
               f"{options.blq}. Blank: no area (fewer than 2 counts in the window, or none).")
    show_table(shown, f"expansion nca {analyte}", key="expansion_nca",
               column_config={c: st.column_config.NumberColumn(c, format="%.4g")
                              for c in ("cmax", "clast", "auc_0_28", "auc_0_90")})

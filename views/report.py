"""Report: every figure and table of the analysis pages, for the current cohort filters and analysis
options, as one self-contained HTML file or a PDF, to keep, share or print."""

from datetime import datetime, timezone

import streamlit as st

from icans_core import report, report_pdf, store
from ui import lifecycle, session
from ui.downloads import owned
from ui.options import current
from ui.text import plain

con = session.connection()
st.title("Report")
st.markdown(
    "One HTML file that opens in any browser, offline, or the same as a PDF: the cohort filters and analysis options below, the "
    "data's provenance (every source file with its size and SHA-256), then the figures and tables of "
    "**Overview** (key numbers, Table 1 with its tests, maximum grades, published series with citations), "
    "**Swimlanes** (clinical course, grade change after IVIG), **Cytokines** (IL-6, IFN-gamma, IL-10 and "
    "their medians), **Resolution** (Kaplan-Meier with number at risk and log-rank p, medians, log-rank, "
    "cumulative incidence), **Treatments** (steroid exposure, dexamethasone equivalents, interventions and "
    "when they were first given) and **Expansion** (curves, Cmax / Tmax / AUC0-28). They are the pages' own "
    "figures and tables, drawn from the same definitions, with each page's default choices; patient-level "
    f"tables show their first {report.MAX_ROWS} rows (the pages and the CSV export have them all).")

filter_lines = list(st.session_state.get("cohort_filter_lines") or [])  # set by the sidebar's cohort filters
options = current()
info = store.cohort_info(con)

left, right = st.columns(2)
left.markdown("**Cohort filters**\n" + "\n".join(f"- {plain(line)}" for line in report.describe_filters(filter_lines)))
right.markdown("**Analysis options**\n" + "\n".join(
    f"- {name}: {value}" for name, value in report.describe_options(options)))
st.caption(f"Cohort: {plain(info['label'])}. Change the options in the sidebar.")


life = lifecycle.current()


def build() -> str:
    # Streamlit runs a deferred download in another thread: that thread gets its own cursor (which a
    # departing browser interrupts, ui/lifecycle.py).
    with life.cursor(con) as cursor:
        return report.build_report(cursor, options, filter_lines, report.app_version())


def build_pdf() -> bytes:
    with life.cursor(con) as cursor:
        return report_pdf.build_report_pdf(cursor, options, filter_lines, report.app_version())


file_name = report.report_file_name(info["label"], datetime.now(timezone.utc))
html_column, pdf_column = st.columns(2)
html_column.download_button(
    "Download the report (HTML)", owned(build, "the report"), file_name=file_name,
    mime="text/html", icon=":material/download:", type="primary", key="report_download", on_click="ignore",
    help="Built when clicked: about 10 seconds on a few thousand patients, half a minute on 100,000.")
pdf_column.download_button(
    "Download the report (PDF)", owned(build_pdf, "the PDF report"), file_name=report_pdf.report_pdf_file_name(file_name),
    mime="application/pdf", icon=":material/picture_as_pdf:", key="report_download_pdf", on_click="ignore",
    help="A4 pages, every figure and table; built when clicked (up to about a minute, on 100,000 patients too).")

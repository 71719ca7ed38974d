"""Cohort page sections for issue 13: import a REDCap project, and the grades derived from
observations and episode forms (with every disagreement with a recorded grade)."""

from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path

import streamlit as st

from icans_core import derived, derived_tables, store
from icans_core.readers import Source
from icans_core.redcap import load_redcap
from icans_core.spreadsheet_safe import spreadsheet_csv
from ui.downloads import owned
from ui import lifecycle, session
from ui.figures import rows_to_show, show_report, warnings_also_listed
from ui.text import plain

log = logging.getLogger("icans")
EXAMPLE_DIR = Path(__file__).resolve().parent.parent / "data" / "redcap-example"
_RESULT = "redcap_result"


def example_zip() -> bytes:
    """The shipped example REDCap project as one .zip (the same for everyone: synthetic)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(EXAMPLE_DIR.iterdir()):
            archive.write(path, f"redcap-example/{path.name}")
    return buffer.getvalue()


def show_redcap_import() -> None:
    """Upload a REDCap export, its data dictionary and a mapping file; load them all-or-nothing."""
    st.subheader("Import from REDCap")
    if not st.toggle("Import a REDCap project (export, data dictionary and mapping)", key="redcap_open"):
        return
    st.markdown(
        "Three files: the **flat CSV export** (raw data or labels; repeating instruments and events are "
        "fine), the project's **data dictionary** (CSV), and a **mapping file** (TOML) that says which REDCap "
        "field is which column of the data format (see the data format's *REDCap import* section). Export "
        "**de-identified** (REDCap's options: remove tagged identifiers and dates): identifier and date "
        "fields are refused. Nothing loads unless every check passes.")
    st.download_button("Download the example REDCap project (.zip)", owned(example_zip, "the example project"),
                       file_name="redcap-example.zip", mime="application/zip", key="redcap_example",
                       icon=":material/download:", on_click="ignore",
                       help="Synthetic: data dictionary, raw and labels exports, and the mapping. Upload "
                            "export.csv, dictionary.csv and mapping.toml below to see the whole path work.")
    left, middle, right = st.columns(3)
    export = left.file_uploader("REDCap export (CSV)", type=["csv"], key="redcap_export")
    dictionary = middle.file_uploader("Data dictionary (CSV)", type=["csv"], key="redcap_dictionary")
    mapping = right.file_uploader("Mapping (TOML)", type=["toml", "txt"], key="redcap_mapping")
    chosen = [export, dictionary, mapping]
    names = [f.name for f in chosen if f is not None]
    if st.button("Import from REDCap", type="primary", disabled=None in chosen, key="redcap_load"):
        with st.spinner("Reading, mapping and validating the REDCap project…"):
            try:
                result = load_redcap(*(Source(f.name, f.getvalue()) for f in chosen))
            except Exception:  # never show a traceback; keep the details in the server log
                log.exception("REDCap import failed unexpectedly")
                st.error("The REDCap project could not be imported because of an internal error. The current "
                         "cohort is unchanged.")
                return
        if result.ok:
            session.use_cohort(result.cohort)
        st.session_state[_RESULT] = {"ok": result.ok, "errors": len(result.errors), "names": names,
                                     "report": result.report}
        if result.ok:
            st.rerun()
    last = st.session_state.get(_RESULT)
    if not last or last["names"] != names:
        return
    shown = ", ".join(plain(n) for n in last["names"])
    if last["ok"]:
        st.success(f"Imported {shown} from REDCap." + (
            f" {len(last['report']):,} note(s) below (fields not imported, ...)." if len(last["report"]) else ""))
        if len(last["report"]):
            with st.expander("Import notes"):
                show_report(last["report"], "redcap_notes", ("Download the import notes (CSV)", "redcap-import-notes.csv"))
        return
    st.error(f"**Not imported:** {shown}: {last['errors']:,} error(s). Nothing was loaded; the cohort above is "
             "still the one in use. Fix every problem listed below (rows are the export's rows) and import again."
             + warnings_also_listed(last["report"]))
    show_report(last["report"], "redcap_report", ("Download the import report (CSV)", "redcap-import-report.csv"))


def show_derived_notice(con, sources=None) -> None:
    """On any page: say which grades were derived, and what episode-level grades cannot show
    (`sources`: store.grade_source_counts, when the caller has it already)."""
    sources = store.grade_source_counts(con) if sources is None else sources
    derived_rows = sources[sources["source"] != derived.RECORDED]
    if derived_rows.empty:
        return
    if (derived_rows["source"] == derived.EPISODE_FORM).any():
        patients = int(derived_rows.loc[derived_rows["source"] == derived.EPISODE_FORM, "patients"].max())
        st.info(f"Grades of {patients} patient(s) come from **episode-level forms**. " + derived.EPISODE_LIMITS,
                icon=":material/info:")
    show_episode_treatment_notice(con)
    if (derived_rows["source"] == derived.FROM_OBSERVATIONS).any():
        count = int(derived_rows.loc[derived_rows["source"] == derived.FROM_OBSERVATIONS, "assessments"].sum())
        st.info(f"{count:,} grade(s) were **derived from bedside observations** by the ASTCT rules (where no "
                "grade was recorded); the Cohort page lists them and every disagreement with a recorded grade.",
                icon=":material/info:")


def show_episode_treatment_notice(con) -> None:
    """Which treatments listed on episode forms have days (used as interventions) and which do not (and
    so which analyses leave them out)."""
    episodes = store.toxicity_episodes_frame(con)
    if episodes.empty:
        return
    dated, undated = derived.treatment_day_counts(episodes)
    if undated:
        st.warning(derived.UNDATED_TREATMENTS.format(undated=undated, total=dated + undated),
                   icon=":material/event_busy:")
    if dated:
        st.info(derived.DATED_TREATMENTS.format(dated=dated), icon=":material/event_available:")


def every_derived_grade(con):
    """The CSV of every derived grade of the selection, for a deferred download: Streamlit runs it in another
    thread, which reads through its own cursor (interrupted if the browser leaves, ui/lifecycle.py)."""
    life = lifecycle.current()

    def build() -> str:
        with life.cursor(con) as cursor:
            return spreadsheet_csv(derived_tables.derived_grades(cursor))
    return build


def show_grading() -> None:
    """Grades by source, and the discrepancy table between recorded and derived grades."""
    con = session.connection()
    sources = store.grade_source_counts(con)
    graded = derived_tables.derived_grade_count(con)  # graded once per cohort, restricted to the selection
    if sources["source"].eq(derived.RECORDED).all() and not graded:
        return
    st.subheader("Grades derived from observations and episode forms")
    show_derived_notice(con, sources)
    st.markdown("**Where the grades come from** (whole cohort)")
    st.dataframe(sources, hide_index=True)
    if not graded:
        return
    found = derived_tables.grade_discrepancies(con)  # the table the swimlanes' marks come from
    st.markdown(f"**ASTCT grades derived from {graded:,} observation(s)** of the selected patients "
                "(Lee et al. 2019; the domain that set each grade is named).")
    with st.expander("Derived grades"):
        # only the rows shown leave the database on a run; the download reads them all when clicked
        st.dataframe(derived_tables.derived_grades(con, limit=rows_to_show(graded, "derived_grades")), hide_index=True)
        st.download_button("Download the derived grades (CSV)", owned(every_derived_grade(con), "the derived grades"),
                           file_name="derived-grades.csv", mime="text/csv", key="derived_grades", on_click="ignore")
    if found.empty:
        st.success("Every recorded grade agrees with the grade derived from its observations.")
        return
    st.warning(f"**{len(found)} recorded grade(s) disagree** with the grade derived from the observations of the "
               f"same patient and day ({found['patient_id'].nunique()} patient(s)).", icon=":material/rule:")
    st.dataframe(found.iloc[:rows_to_show(len(found), "discrepancies")], hide_index=True)
    st.download_button("Download the discrepancies (CSV)", owned(lambda: spreadsheet_csv(found), "the discrepancies"),
                       file_name="grade-discrepancies.csv", mime="text/csv", key="discrepancies_csv",
                       icon=":material/download:", on_click="ignore")

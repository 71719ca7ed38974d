"""Cohort: what is loaded, share it by link, upload your own, read the validation report and the data format."""

import logging
from datetime import datetime

import streamlit as st

from icans_core import limits, store, template
from icans_core.problems import report_frame
from ui import access, cohort_imports, lifecycle, links, session
from ui.downloads import owned
from ui.figures import show_report, warnings_also_listed
from ui.text import plain

log = logging.getLogger("icans")
UPLOAD_TYPES = ["xlsx", "zip", "csv", "parquet"]
UPLOADER, UPLOADER_GENERATION = "upload_files", "upload_generation"


def uploader_key() -> str:
    """The uploader's key now: a new one after each successful load, which empties the uploader (a
    file uploader cannot be cleared by code), so the next upload does not send the loaded files again."""
    generation = st.session_state.get(UPLOADER_GENERATION, 0)
    return UPLOADER if generation == 0 else f"{UPLOADER}_{generation}"

con = session.connection()
st.title("Cohort")


def show_loaded() -> None:
    info = store.cohort_info(con)
    counts = store.table_counts(con).set_index("table")["rows"]
    kind = session.kind_text()
    loaded = datetime.fromisoformat(info["loaded_at"]).strftime("%d %b %Y, %H:%M UTC")
    st.markdown(f"**Loaded:** {plain(info['label'])} — {kind}, loaded {loaded}.")
    labels = {"patients": "Patients", "toxicity": "Toxicity assessments",
              "interventions": "Intervention rows", "labs": "Lab measurements",
              "observations": "Observations", "toxicity_episodes": "Episode forms"}
    counts = counts.loc[[t in labels and (rows > 0 or t not in ("observations", "toxicity_episodes"))
                     for t, rows in counts.items()]]  # issue 13's optional tables only when present
    columns = st.columns(len(counts))
    for column, (table, rows) in zip(columns, counts.items()):
        column.metric(labels[table], f"{rows:,}")
    left, right = st.columns(2)
    left.markdown("**Patients per product**")
    left.dataframe(store.product_counts(con), hide_index=True)
    right.markdown("**Patients per group** (the patient's group where given, else the product)")
    right.dataframe(store.group_counts(con), hide_index=True)
    with st.expander("Source files"):
        st.dataframe(info["sources"], hide_index=True)
    warnings = session.cohort_warnings()
    if warnings:
        # the user's own data (an upload, a published or the deployment's cohort), not the bundled sample:
        # a warning is a value loaded as written that may be analysed otherwise than meant
        theirs = not session.is_sample()
        if theirs:
            st.warning(f"**{len(warnings):,} warning(s) from loading this cohort:** values loaded as written "
                       "that an analysis may treat otherwise than you meant (two spellings of one group are two "
                       "groups; an agent the app does not know is not counted as a steroid). Each names its "
                       "file, row, column and value below.", icon=":material/warning:")
        with st.expander(f"{len(warnings)} warning(s) from loading this cohort", expanded=theirs):
            show_report(report_frame(warnings), "load_warnings", ("Download the warnings (CSV)", "load-warnings.csv"))
    if not session.is_sample() and st.button("Go back to the sample cohort", icon=":material/restart_alt:"):
        session.restore_sample()
        st.session_state.pop("upload_result", None)
        st.rerun()


def show_notice() -> None:
    """How this session's cohort was chosen: a published link, a broken link, a deployment cohort that failed."""
    notice = session.notice()
    if not notice:
        return
    {"info": st.info, "warning": st.warning, "error": st.error}[notice["level"]](notice["text"])
    if notice.get("report") is not None and len(notice["report"]):
        with st.expander("Problems in this deployment's cohort", expanded=True):
            show_report(notice["report"], "deployment_problems",
                        ("Download the problems (CSV)", "deployment-cohort-problems.csv"))


PUBLISH_STATEMENT = (
    "Publishing stores a copy of this cohort on this server. Anyone who can open this deployment and has "
    "the link can see it (on a deployment with sign-in, only after signing in); it is marked with your name "
    "if you signed in; it stays until the server's administrator deletes it. Publish only de-identified "
    "data you are allowed to share.")


def show_share() -> None:
    st.subheader("Share this cohort")
    if session.is_sample():
        st.markdown("The bundled sample is the same for everyone, so it is not published: share any link of "
                    "this app. To share your own data, upload it below, then publish it here.")
        return
    st.markdown(PUBLISH_STATEMENT + " The whole cohort is published, not only the patients the sidebar's "
                "filters select; the filters travel in the link only if you add them.")
    loaded_at = store.cohort_info(con)["loaded_at"]
    published = st.session_state.get("published_cohort")
    if published and published["loaded_at"] == loaded_at:
        show_link(published["id"])
        return
    agreed = st.checkbox("I have read this, and I am allowed to share this data on this server",
                         key="publish_confirm")
    if st.button("Publish", disabled=not agreed, key="publish", icon=":material/share:"):
        try:
            cohort_id = session.publish_current(publisher=access.current_user())
        except Exception as exc:  # never show a traceback; keep the details in the server log
            lifecycle.raise_if_ended(exc)
            log.exception("publishing failed")
            st.error("The cohort could not be published because of an error on the server. Nothing was "
                     "shared. Please tell the server's administrator.")
            return
        st.session_state["published_cohort"] = {"id": cohort_id, "loaded_at": loaded_at}
        st.rerun()  # the session now shows the published copy: the sidebar and its link name it


def show_link(cohort_id: str) -> None:
    st.success("Published. Share this link (add it to the address of this app):", icon=":material/link:")
    st.code(f"?cohort={cohort_id}", language=None)
    if st.context.url:
        st.caption("The full link from this page:")
        st.code(f"{st.context.url}?{links.build_link_query([], {}, cohort_id, session.fingerprint())}", language=None)
    st.caption(f"Cohort id: `{cohort_id}`. Keep it as you would the data: whoever has it can open the cohort.")


def show_upload() -> None:
    st.subheader("Upload a cohort")
    st.markdown(
        "One **.xlsx** workbook with a sheet per table, a **.zip** of CSV files, or **.csv / .parquet** "
        "files named after the tables (`patients`, `toxicity`, and optionally `interventions`, `labs`). "
        "Time is **days since CAR-T infusion**, never calendar dates. Nothing loads unless every check "
        "passes; the current cohort stays in place until then.")
    st.info("**An upload is private and lasts for this browser tab only.** Nobody else can see it, a link to it "
            "opens for nobody, and closing or reloading the tab drops it (the app then says so). To keep it and "
            "share it, publish it under **Share this cohort** above; otherwise keep your files to upload again.",
            icon=":material/lock_clock:")
    # The uploader refuses a file over the deployment's limit before sending it ($ICANS_MAX_UPLOAD_MB,
    # capped by server.maxUploadSize); the reader checks the total of all files again.
    limit_mb = limits.Limits.from_environment().max_upload_bytes // limits.MIB
    chosen = st.file_uploader("Cohort files", type=UPLOAD_TYPES, accept_multiple_files=True, key=uploader_key(),
                              max_upload_size=limit_mb,
                              help="To replace a file, add the corrected one: the newest file of a name is used. "
                                   f"Up to {limit_mb} MB in all.")
    files = latest_by_name(chosen or [])
    if st.button("Validate and load", type="primary", disabled=not files, key="upload_load"):
        progress = st.progress(0.0, text="Starting")
        try:
            result = session.load_upload(files, on_step=lambda text, done: progress.progress(done, text=text))
        except Exception as exc:  # never show a traceback; keep the details in the server log
            lifecycle.raise_if_ended(exc)  # the browser left: a query interrupted for that is no failure
            log.exception("upload failed unexpectedly")
            progress.empty()
            st.error("The upload could not be processed because of an internal error. The current cohort "
                     "is unchanged. Please report this with the files, if you can share them.")
            return
        progress.empty()
        st.session_state["upload_result"] = {
            "ok": result.ok, "errors": len(result.errors), "names": [f.name for f in files],
            "report": result.report,
        }
        if result.ok:
            st.session_state[UPLOADER_GENERATION] = st.session_state.get(UPLOADER_GENERATION, 0) + 1
            st.rerun()
    show_last_result([f.name for f in files])


def latest_by_name(files: list) -> list:
    """The files to load: when a name was added twice (a corrected file), the newest one."""
    return list({f.name.strip().lower(): f for f in files}.values())


def show_last_result(chosen_names: list[str]) -> None:
    last = st.session_state.get("upload_result")
    if not last or (last["names"] != chosen_names and not (last["ok"] and not chosen_names)):
        return  # the result belongs to files that are no longer chosen (a loaded upload empties the uploader)
    names = ", ".join(plain(n) for n in last["names"])  # file names are the uploader's text
    report = last["report"]
    if last["ok"]:
        st.success(f"Loaded {names}." + (f" {len(report):,} warning(s) listed above." if len(report) else ""))
        return
    # the files the errors are in, not every file chosen (one bad file among four is not four bad files)
    bad = list(dict.fromkeys(report.loc[report["severity"] == "error", "source"].dropna().astype(str)))
    where = f" in {', '.join(plain(b) for b in bad)}" if bad else ""
    st.error(f"**Not loaded:** {last['errors']:,} error(s){where}, so none of {names} was loaded; the cohort "
             "above is still the one in use. Fix every row listed below and upload again."
             + warnings_also_listed(report))
    show_report(report, "validation_report", ("Download the validation report (CSV)", "validation-report.csv"))


def show_format() -> None:
    st.subheader("Data format")
    st.download_button("Download the .xlsx template", owned(template.template_bytes, "the template"),
                       file_name="cohort-template.xlsx", icon=":material/download:", on_click="ignore",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    with st.expander("Data dictionary"):
        st.dataframe(template.data_dictionary(), hide_index=True)
    with st.expander("Vocabularies: products, agents, analytes and what normalises to them"):
        st.dataframe(template.vocabularies(), hide_index=True)
    with st.expander("Corticosteroid dexamethasone equivalents"):
        st.dataframe(template.steroid_equivalents(), hide_index=True)


show_notice()
show_loaded()
show_share()
show_upload()
cohort_imports.show_redcap_import()  # issue 13: REDCap import
cohort_imports.show_grading()  # issue 13: derived grades and discrepancies
show_format()

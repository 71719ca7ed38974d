"""Links that mean one thing: every link names its cohort and carries the cohort's fingerprint.

    ?cohort=<published id>&fp=<10 hex>&product=axi-cel&resolution_ci=log-log

`cohort` is a published id, or `sample`, `deployment` (this server's $ICANS_COHORT) or `upload` (a
private upload: it can open for nobody, so the link says so instead of showing other data, and
carries no fingerprint). `fp` is icans_core.library.fingerprint of the cohort the link was made on: opened on a cohort whose
content differs (the deployment's file was replaced, the sample regenerated) the app names the
mismatch on every page. Values in links are stable machine values (ids, `log-log`, `onset`), never
labels; links from before that (with labels) are read through OLD_LABELS.
"""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from ui import session
from ui.text import plain

COHORT, FINGERPRINT = session.COHORT_PARAMETER, "fp"
_CARRIED = "link_carried"  # per run: values a page wants in its link that the address may lack
_INITIAL = "link_initial_parameters"  # the parameters the session was opened with
_MISMATCH = "link_fingerprint_mismatch"  # {"wanted", "found", "ref"} while that cohort is open
_CHECKED = "link_checked"

# Option values that older links carried as display labels, by parameter: label -> value today.
OLD_LABELS: dict[str, dict[str, str]] = {
    "resolution_ci": {"log (R default)": "log", "log-log (lifelines default)": "log-log"},
    "resolution_origin": {"severe-ICANS onset": "onset", "first corticosteroid dose after onset": "corticosteroid",
                          "first IVIG dose after onset": "IVIG", "first IL-1 blockade dose after onset": "IL-1 blockade",
                          "first intrathecal dose after onset": "intrathecal",
                          "first IL-6 blockade dose after onset": "IL-6 blockade"},
    "resolution_orientation": {"Proportion resolved (1 - S)": "resolved",
                               "Proportion still severe (S)": "still severe"},
    "group_by": {"Group (study arm, else product)": "group", "Product": "product",
                 "Costimulatory domain": "costimulatory_domain", "Target antigen": "target", "Disease": "disease"},
    "rx_mode": {"received any of": "any", "received all of": "all", "received none of": "none"},
    "cytokines_lloq": {"As recorded (the LLOQ)": "as recorded", "Half the LLOQ": "half"},
    "cytokines_mark_on": {"raw p": "p_value", "BH q": "q_value"},
    "cytokines_alignment": {"CAR-T infusion": "infusion"},  # the onset label carried the grade: any grade
    "expansion_metric": {"Cmax (highest count)": "cmax", "AUC0-28 (area, days 0-28)": "auc_0_28",
                         "Tmax (day of Cmax)": "tmax_day"},
    "treatments_measure": {"Cumulative dexamethasone-equivalent dose (mg)": "cumulative_dex_mg",
                           "Systemic corticosteroid days (days)": "steroid_days"},
    "swimlanes_patients": {"Severe ICANS only": "severe", "All patients": "all"},
    "swimlanes_change_day0": {"First dose at or after severe-ICANS onset": "onset", "First dose at any time": "any"},
    "patient_days": {"Acute phase": "acute", "Whole course": "whole"},
}


def old_label_value(key: str, value: str) -> str | None:
    """The value today of an option label an older link carried (None if it is not one)."""
    if key == "cytokines_alignment" and value.startswith("Severe-ICANS onset"):
        return "onset"
    if key == "patient_id" and " · " in value:  # "P0035 · Steroids + IVIG": the id, then the group
        return value.split(" · ", 1)[0]
    return OLD_LABELS.get(key, {}).get(value)


def start_run() -> None:
    """Once per run, before any widget: forget last run's carried values; on a session's first run,
    keep the parameters it was opened with and read old label values as today's values."""
    st.session_state[_CARRIED] = {}
    if _INITIAL in st.session_state:
        return
    initial = {key: st.query_params.get_all(key) for key in st.query_params}
    st.session_state[_INITIAL] = initial
    for key, values in initial.items():
        mapped = old_label_value(key, values[-1]) if values else None
        if mapped is not None and key not in st.session_state:
            # The widget is not drawn yet: its URL value is not an option, so Streamlit drops it and
            # this value holds; the page's link carries it until the address has it again.
            st.session_state[key] = mapped
            carry(key, mapped)


def initial_parameters() -> dict[str, list[str]]:
    """The link parameters this session was opened with (the address loses them as widgets claim them)."""
    return st.session_state.get(_INITIAL, {})


def carry(key: str, value: str) -> None:
    """Put `key=value` in this run's link, whatever the address holds (e.g. the patient shown)."""
    st.session_state.setdefault(_CARRIED, {})[key] = str(value)


# --- the cohort the link names ---------------------------------------------------------------------

def check_opened_link() -> None:
    """On a session's first run: compare the link's fingerprint with the cohort that opened."""
    if st.session_state.get(_CHECKED):
        return
    st.session_state[_CHECKED] = True
    wanted = st.query_params.get(FINGERPRINT)
    if wanted is None or session.link_problem():
        return
    found = session.fingerprint()
    if wanted != found:
        st.session_state[_MISMATCH] = {"wanted": wanted, "found": found, "ref": session.cohort_ref()}


def show_link_problem() -> bool:
    """A blocking notice when the opened link's cohort cannot be opened here; True if shown (stop).

    Nothing of another cohort is shown in its place unless the user asks for it."""
    problem = session.link_problem()
    if problem is None:
        return False
    ref = problem["ref"]
    if ref == session.REF_UPLOAD:
        title = "This link was made on a private upload, which only its uploader's browser tab can see."
        detail = ("Uploads are never shared by a link: nobody else (and not even the uploader, once that tab "
                  "is closed or reloaded) can open this data. Ask whoever sent the link to publish the cohort "
                  "(Cohort page → Share this cohort) and send the link it gives.")
    elif ref == session.REF_DEPLOYMENT:
        title = "This link was made on a deployment's own cohort, which this server does not have."
        detail = "The link belongs to another deployment of this app, or this server's cohort is not configured."
    elif ref == session.REF_SEVERAL:
        title = "This link is ambiguous."
        detail = problem.get("text") or ""
    else:
        title = "This link's published cohort is not available on this server."
        detail = problem.get("text") or ""
    st.error(f"**The cohort of this link cannot be shown.** {title} {detail} No numbers are shown, so that "
             "no other cohort's numbers pass for the shared ones.", icon=":material/link_off:")
    if st.button(f"Open {session.kind_text()} instead, without the link's cohort", key="link_problem_dismiss"):
        session.dismiss_link_problem()
        st.rerun()
    return True


def show_mismatch() -> None:
    """On every page while the mismatched cohort is open: the link's numbers are not these."""
    mismatch = st.session_state.get(_MISMATCH)
    if not mismatch or mismatch["ref"] != session.cohort_ref() or mismatch["found"] != session.fingerprint():
        return
    # an edited link may leave the value empty (?fp=): named as such, not as a blank before the semicolon
    wanted = plain(mismatch["wanted"]) if mismatch["wanted"] else "(empty: fp= has no value)"
    st.error(f"**This cohort is not the one the link was made on.** The link names a cohort with fingerprint "
             f"{wanted}; the cohort open here has fingerprint {mismatch['found']}, so its data "
             "changed since the link was made (e.g. the deployment's file was replaced). The numbers below are "
             "today's, not the ones that were shared.", icon=":material/difference:")


def keep_cohort_in_address() -> None:
    """The browser's address names the current cohort too, so a copied address or a reload keeps it."""
    if session.link_problem():
        return  # keep the link as it came while its problem is on screen
    ref = session.cohort_ref()
    if st.query_params.get(COHORT) != ref:
        st.query_params[COHORT] = ref
    fp = _shareable_fingerprint(ref, session.fingerprint())
    if fp is None and FINGERPRINT in st.query_params:
        del st.query_params[FINGERPRINT]
    elif fp is not None and st.query_params.get(FINGERPRINT) != fp:
        st.query_params[FINGERPRINT] = fp


def _shareable_fingerprint(ref: str, fp: str) -> str | None:
    # A private upload's link opens for nobody, so its fingerprint would only tell whoever holds the
    # link something about the data (whether it is a dataset they have): it is left out.
    return None if ref == session.REF_UPLOAD else fp


def build_link_query(parameters: list[tuple[str, str]], carried: dict[str, str], ref: str, fp: str) -> str:
    """The query string of a link: the cohort and fingerprint first, then the view's parameters, a
    carried value replacing the address's value of the same name."""
    own = {COHORT, FINGERPRINT, *carried}
    kept = [(key, value) for key, value in parameters if key not in own]
    fp = _shareable_fingerprint(ref, fp)
    return urlencode([(COHORT, ref), *([(FINGERPRINT, fp)] if fp else []), *kept, *carried.items()])


def link_query() -> str:
    """The query string of a link to exactly this view, on this cohort."""
    parameters = [(key, value) for key in st.query_params for value in st.query_params.get_all(key)]
    return build_link_query(parameters, st.session_state.get(_CARRIED, {}), session.cohort_ref(),
                            session.fingerprint())


def switch_page_parameters() -> dict[str, str]:
    """What st.switch_page must set: the cohort and fingerprint (it clears the address, and may not
    clear parameters bound to widgets: those come back from the widgets' own state)."""
    ref = session.cohort_ref()
    fp = _shareable_fingerprint(ref, session.fingerprint())
    return {COHORT: ref, **({FINGERPRINT: fp} if fp else {})}

"""Entry point: `streamlit run dashboard.py`. Page setup, the shared sidebar, navigation."""

import logging

import streamlit as st

from ui import access, errors, filters, lifecycle, links, number_links, options, session, sidebar
from ui.icon import page_icon

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
number_links.install()  # a link's ?rx_window=inf is an invalid value, not an error box (ui/number_links.py)

# The icon is an image the app serves itself: a ":material/..." icon is fetched from a font CDN.
st.set_page_config(page_title="CAR-T toxicity cohorts", page_icon=page_icon(), layout="wide")
# The data grid's own "Download as CSV" writes cells as they are, so a patient id such as
# "=HYPERLINK(...)" would run as a formula in Excel. Every table has our "Table (CSV)" download
# beside it instead, which neutralises such cells (icans_core.spreadsheet_safe).
st.html('<style>[data-testid="stElementToolbar"] button[aria-label="Download as CSV"]{display:none}</style>')

# The pages live in views/, not pages/: with a folder named pages/ beside this script, Streamlit's
# legacy multipage mode runs a deep-linked page on a fresh server without this entry point (no
# sidebar, no options), which would break shared links (streamlit/runtime/scriptrunner: _mpa_v1).
pages = [
    st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("views/swimlanes.py", title="Swimlanes", icon=":material/view_timeline:"),
    st.Page("views/cytokines.py", title="Cytokines", icon=":material/show_chart:"),
    st.Page("views/resolution.py", title="Resolution", icon=":material/trending_down:"),
    st.Page("views/treatments.py", title="Treatments", icon=":material/medication:"),
    st.Page("views/expansion.py", title="Expansion", icon=":material/biotech:"),
    st.Page("views/patient.py", title="Patient", icon=":material/person:"),
    st.Page("views/report.py", title="Report", icon=":material/description:"),
    st.Page("views/cohort.py", title="Cohort", icon=":material/groups:"),
]
# Everything below runs as one cancellable run: the core's long loops stop at a stop or rerun
# request and when the browser leaves (ui/lifecycle.py), as Streamlit's own calls do.
with lifecycle.script_run():
    session.watch_connection()  # a session its browser resumed: interrupt its database on the next leave
    # Navigation is declared before the sign-in gate (hidden until signed in) so that a shared
    # link's page, e.g. /resolution?product=axi-cel, is still the page shown after signing in.
    navigation = st.navigation(pages, position="sidebar" if access.is_allowed() else "hidden")
    # On a deployment with sign-in configured, nothing below (no page, no sidebar, no cohort, not
    # even a published one named by the link) runs for an anonymous visitor.
    access.require_sign_in()
    links.start_run()  # before any widget: old links' label values are read as today's values
    with errors.reported("the link"):
        links.check_opened_link()
        if links.show_link_problem():  # the link's cohort cannot be opened: show nothing in its place
            st.stop()
    link_slot = None
    with errors.reported("the sidebar"):
        sidebar.show_cohort_badge()
        access.show_account()
        options.show_analysis_options()
        filters.show_selection_size(filters.show_filter_panel())
        links.keep_cohort_in_address()
        link_slot = sidebar.show_share_link()  # now, in case the page stops early (st.stop): nothing runs after
    links.show_mismatch()
    with errors.reported("this page"):
        navigation.run()
    with errors.reported("the link to this view"):
        sidebar.show_share_link(link_slot)  # again after the page, with its own options in the address too
        filters.note_unknown_parameters()  # after the page: its own options are known then

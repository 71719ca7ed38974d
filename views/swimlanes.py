"""Toxicity swimlanes: each patient's ICANS and CRS grades over time with the treatments given
(IVIG study, Fig 2), and the change in ICANS grade after an intervention (Fig 1B)."""

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from icans_core import grade_change, swimlanes
from icans_core.charts.swimlanes import MAX_LANES_PER_PAGE
from icans_core.content import swimlanes as lanes_view
from ui import cohort_imports, links, ranges, session
from ui.options import current
from ui.render import show_view
from ui.text import plain

# Link values (options bound to the URL show their value: the labels are captions)
SEVERE_ONLY, EVERYONE = "severe", "all"
AFTER_ONSET, ANY_TIME = "onset", "any"
SYMBOLS = {"class": "one per intervention class", "agent": "one per drug (e.g. dexamethasone vs methylprednisolone)"}
PATIENT_PAGE, PATIENT_KEY = "views/patient.py", "patient_id"  # the Patient page and its selector's key

con = session.connection()
st.title("Toxicity swimlanes")
cohort_imports.show_derived_notice(con)  # issue 13: grades from episode forms / observations
st.caption("Each patient's ASTCT grades over days since CAR-T infusion: ICANS (top bar) and CRS (lower bar), "
           "with the interventions given. Intervals follow the data contract: a grade holds from its "
           "assessment until the next assessment of the same syndrome; a blank grade is not an assessment.")

analysis = current()
data = lanes_view.read(con, analysis)
patients, classes = data.patients, data.classes
if patients.empty:
    show_view(lanes_view.lanes(data, analysis))
    st.stop()


def show_swimlanes() -> None:
    st.subheader("Clinical course per patient")
    first = st.columns([1, 1, 1, 1])
    by = first[0].selectbox("Sort lanes by", list(swimlanes.ORDERINGS), key="swimlanes_sort", bind="query-params",
                            help="Group, then severe-ICANS onset within the group; patients without a "
                                 "severe episode come last.")
    which = first[1].radio("Patients", [SEVERE_ONLY, EVERYONE], key="swimlanes_patients", bind="query-params", horizontal=True,
                           captions=["severe ICANS only", "every patient"])
    per_page = first[2].number_input("Lanes per page", min_value=1, max_value=MAX_LANES_PER_PAGE, value=60, step=10,
                                     key="swimlanes_max_lanes", bind="query-params",
                                     help=f"Up to {MAX_LANES_PER_PAGE} lanes per page keep every patient id readable.")
    page = first[3].number_input("Page", min_value=1, value=1, step=1, key="swimlanes_page", bind="query-params")
    second = st.columns([1, 1, 1])
    low, high = data.day_extent
    slider_low, slider_high = min(low, -5), max(high, 60)
    days = ranges.with_width(second[0].slider("Days since infusion shown", min_value=slider_low, max_value=slider_high,
                                              value=(-5, 60), key="swimlanes_days", bind="query-params"), second[0])
    marked = second[1].multiselect("Interventions marked", classes, default=classes, key="swimlanes_classes", bind="query-params")
    symbol_by = second[2].radio("Symbols", list(SYMBOLS), captions=list(SYMBOLS.values()), key="swimlanes_symbols",
                                bind="query-params")
    view = lanes_view.lanes(data, analysis, lanes_view.LaneOptions(
        by=by, only_severe=which == SEVERE_ONLY, per_page=int(per_page), page=int(page),
        days=days, classes=tuple(marked), symbol_by=symbol_by))
    if view.context.get("order"):
        st.caption("Click a patient's lane or identifier to open the patient view.")
    show_view(view, below_heading=True, figure_options={"swimlanes_lanes": {
        "transform": with_lane_click, "on_select": lane_clicked, "selection_mode": [LANE_CLICK]}})
    pages = view.context.get("pages", 1)
    if int(page) > pages:  # a page number past the last (typed, or from a link): the last is shown
        st.info(f"There {'is 1 page' if pages == 1 else f'are {pages} pages'} of lanes: page {pages} is shown.")
    if view.context.get("order"):
        show_patient_link(view.context["order"], view.context["patient_groups"])


# --- opening a patient from the swimlanes (a click on a lane, or the selector) ---------------------
LANE_CLICK = "lane_click"  # the swimlane chart's selection: the clicked lane's patient_id
_CLICKED = "swimlanes_clicked_patient"


def with_lane_click(chart):
    """The chart with a click selection on patient_id in every view (lanes, marks, the id strip)."""
    import warnings

    import altair as alt

    click = alt.selection_point(name=LANE_CLICK, fields=["patient_id"], on="click", clear=False)
    with warnings.catch_warnings():  # Altair notes that it shares the one parameter between the views
        warnings.simplefilter("ignore", UserWarning)
        return chart.add_params(click)


def lane_clicked() -> None:
    # Streamlit calls this before the rerun; the page opens the patient once the rerun reaches it.
    event = st.session_state.get("swimlanes_lanes_chart")
    points = (event or {}).get("selection", {}).get(LANE_CLICK) or []
    if points and points[0].get("patient_id"):
        st.session_state[_CLICKED] = str(points[0]["patient_id"])


def show_patient_link(order: list[str], patient_groups: dict[str, str]) -> None:
    """Open one of the lanes' patients on the Patient page (lane order, top first)."""
    pick, go = st.columns([3, 1], vertical_alignment="bottom")
    chosen = pick.selectbox("Open a patient in the patient view", order, key="swimlanes_open_patient",
                            format_func=lambda p: f"{p} · {patient_groups.get(p, '')}")
    clicked = st.session_state.pop(_CLICKED, None)
    if go.button("Open patient view", key="swimlanes_open", icon=":material/person:"):
        open_patient(chosen)
    elif clicked in order:
        open_patient(clicked)


def open_patient(patient_id: str) -> None:
    st.session_state[PATIENT_KEY] = patient_id  # the Patient page's selector reads it before it is drawn
    try:
        # st.switch_page without query_params clears the address, which Streamlit refuses while
        # widgets (the sidebar's filters and options) are bound to it. Given parameters replace
        # the address instead; the bound widgets put theirs back from their own state.
        st.switch_page(PATIENT_PAGE, query_params={**links.switch_page_parameters(), PATIENT_KEY: patient_id})
    except StreamlitPageNotFoundError:  # this page run on its own, outside the dashboard
        st.warning(f"The patient view is not part of this app; {plain(patient_id)} is remembered for it.")


def show_grade_change() -> None:
    if not classes:
        show_view(lanes_view.change(data, analysis))
        return
    st.subheader("Grade change after an intervention")
    first = st.columns([1, 2])
    default = lanes_view.default_class(classes)
    agent_class = first[0].selectbox("Intervention class", classes, index=classes.index(default),
                                     key="swimlanes_change_class", bind="query-params")
    anchor = first[1].radio("Day 0: the first dose", [AFTER_ONSET, ANY_TIME], key="swimlanes_change_day0", bind="query-params", horizontal=True,
                            captions=["at or after severe-ICANS onset", "at any time"],
                            help="At or after onset is the time origin of the resolution analysis (the "
                                 "data contract); 'any time' counts from the very first dose, e.g. steroids "
                                 "given for CRS before ICANS.")
    second = st.columns([1, 1, 2])
    before = second[0].number_input("Days before", min_value=0, max_value=30, value=grade_change.DAYS_BEFORE, key="swimlanes_change_before", bind="query-params")
    after = second[1].number_input("Days after", min_value=1, max_value=90, value=grade_change.DAYS_AFTER, key="swimlanes_change_after", bind="query-params")
    groups = second[2].multiselect("Groups", data.groups, default=data.groups,
                                   key="swimlanes_change_groups", bind="query-params")
    lines = st.toggle("Show each patient's line", value=True, key="swimlanes_change_lines", bind="query-params")
    view = lanes_view.change(data, analysis, lanes_view.ChangeOptions(
        agent_class=agent_class, after_onset=anchor == AFTER_ONSET, before=int(before), after=int(after),
        groups=tuple(groups), lines=lines))
    # The page's own subheader stands above the controls; the view's heading (naming the class) is the report's.
    show_view(view, below_heading=True)


show_swimlanes()
show_grade_change()

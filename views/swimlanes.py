"""Toxicity swimlanes: each patient's ICANS and CRS grades over time with the treatments given
(IVIG study, Fig 2), and the change in ICANS grade after an intervention (Fig 1B)."""

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from icans_core import grade_change, store, swimlanes
from icans_core.charts.grade_change import grade_change_chart
from icans_core.charts.swimlanes import swimlane_chart
from icans_core.episodes import compute_episodes
from icans_core.schema import IVIG_CLASS
from ui import cohort_imports, links, session
from ui.options import current
from ui.figures import show_figure, show_table
from ui.text import plain

# Link values (options bound to the URL show their value: the labels are captions)
SEVERE_ONLY, EVERYONE = "severe", "all"
AFTER_ONSET, ANY_TIME = "onset", "any"
SMALL_GROUP = 10  # the clinical reference: warn below 10 patients per group
PATIENT_PAGE, PATIENT_KEY = "views/patient.py", "patient_id"  # the Patient page and its selector's key

con = session.connection()
st.title("Toxicity swimlanes")
cohort_imports.show_derived_notice(con)  # issue 13: grades from episode forms / observations
st.caption("Each patient's ASTCT grades over days since CAR-T infusion: ICANS (top bar) and CRS (lower bar), "
           "with the interventions given. Intervals follow the data contract: a grade holds from its "
           "assessment until the next assessment of the same syndrome; a blank grade is not an assessment.")

analysis = current()
episode_options = analysis.episodes
severe_grade = episode_options.severe_grade
patients = store.patients_frame(con, analysis.group_by)
toxicity = store.toxicity_frame(con)
interventions = store.interventions_frame(con)
if patients.empty:
    st.info("No patients are selected: widen the cohort filters to see swimlanes.")
    st.stop()
episodes = compute_episodes(toxicity, patients, interventions, episode_options)
classes = swimlanes.intervention_classes(interventions)


def show_swimlanes() -> None:
    st.subheader("Clinical course per patient")
    first = st.columns([1, 1, 1])
    by = first[0].selectbox("Sort lanes by", list(swimlanes.ORDERINGS), key="swimlanes_sort", bind="query-params",
                            help="Group, then severe-ICANS onset within the group; patients without a "
                                 "severe episode come last.")
    which = first[1].radio("Patients", [SEVERE_ONLY, EVERYONE], key="swimlanes_patients", bind="query-params", horizontal=True,
                           captions=["severe ICANS only", "every patient"])
    limit = first[2].number_input("Maximum lanes", min_value=1, max_value=5000, value=60, step=10,
                                  key="swimlanes_max_lanes", bind="query-params")
    second = st.columns([1, 1])
    low, high = swimlanes.day_extent(toxicity, interventions)
    slider_low, slider_high = min(low, -5), max(high, 60)
    days = second[0].slider("Days since infusion shown", min_value=slider_low, max_value=slider_high,
                            value=(-5, 60), key="swimlanes_days", bind="query-params")
    marked = second[1].multiselect("Interventions marked", classes, default=classes, key="swimlanes_classes", bind="query-params")
    view = swimlanes.build_swimlanes(toxicity, interventions, patients, episodes, swimlanes.SwimlaneOptions(
        by=by, only_severe=which == SEVERE_ONLY, limit=int(limit), days=(float(days[0]), float(days[1])),
        classes=tuple(marked)))
    if not view.order:
        st.info(f"No patient in the selected cohort has a severe ICANS episode (grade {severe_grade} or more). "
                f"Choose Patients: '{EVERYONE}' to see every patient.")
        return
    if view.left_out:
        st.info(f"Showing the first {len(view.order)} of {view.eligible} patients in this order; "
                f"{view.left_out} left out. Raise 'Maximum lanes' to see them.")
    chart = swimlane_chart(view.intervals, view.marks, view.patient_marks, view.order,
                           patient_groups=view.patient_groups, groups=view.groups, group_sizes=view.group_sizes,
                           days=view.days)
    st.caption("Click a patient's lane or identifier to open the patient view.")
    show_figure(with_lane_click(chart), view.intervals, "toxicity swimlanes", key="swimlanes_lanes",
                on_select=lane_clicked, selection_mode=[LANE_CLICK])
    show_patient_link(view.order, view.patient_groups)


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
    st.subheader("Grade change after an intervention")
    if not classes:
        st.info("This cohort records no interventions, so there is no first dose to count from.")
        return
    first = st.columns([1, 2])
    agent_class = first[0].selectbox("Intervention class", classes,
                                     index=classes.index(IVIG_CLASS) if IVIG_CLASS in classes else 0,
                                     key="swimlanes_change_class", bind="query-params")
    anchor = first[1].radio("Day 0: the first dose", [AFTER_ONSET, ANY_TIME], key="swimlanes_change_day0", bind="query-params", horizontal=True,
                            captions=["at or after severe-ICANS onset", "at any time"],
                            help="At or after onset is the time origin of the resolution analysis (the "
                                 "data contract); 'any time' counts from the very first dose, e.g. steroids "
                                 "given for CRS before ICANS.")
    second = st.columns([1, 1, 2])
    before = second[0].number_input("Days before", min_value=0, max_value=30, value=grade_change.DAYS_BEFORE, key="swimlanes_change_before", bind="query-params")
    after = second[1].number_input("Days after", min_value=1, max_value=90, value=grade_change.DAYS_AFTER, key="swimlanes_change_after", bind="query-params")
    groups = second[2].multiselect("Groups", swimlanes.group_order(patients), default=swimlanes.group_order(patients),
                                   key="swimlanes_change_groups", bind="query-params")
    lines = st.toggle("Show each patient's line", value=True, key="swimlanes_change_lines", bind="query-params")

    options = episode_options if anchor == AFTER_ONSET else None
    daily = grade_change.grade_after_intervention(toxicity, interventions, patients, agent_class, int(before),
                                                  int(after), options=options, groups=groups)
    day0 = (f"first {agent_class} dose at or after severe-ICANS onset (grade {severe_grade}+)"
            if options else f"first {agent_class} dose at any time")
    if daily.empty:
        st.info(f"No patient in the chosen groups has an ICANS assessment around a {day0}.")
        return
    sizes = grade_change.patients_per_group(daily)
    small = [f"{plain(g)} ({n})" for g, n in sizes.items() if n < SMALL_GROUP]
    if small:
        st.warning("Fewer than 10 patients in: " + ", ".join(small) + ". Medians of so few patients move a "
                   "whole grade with one patient; read them with the individual lines.")
    summary = grade_change.summarise_grade_change(daily, severe_grade=severe_grade)
    chart = grade_change_chart(summary, daily if lines else None, agent_class,
                               groups=swimlanes.group_order(patients), group_sizes=sizes, day0=day0,
                               severe_grade=severe_grade)
    show_figure(chart, daily, f"icans grade after {agent_class}", key="swimlanes_change")
    st.markdown(f"**Per group and day relative to the {day0}:** patients with a grade (n), median and "
                f"quartiles of the ICANS grade, share with grade {severe_grade} or more.")
    show_table(summary, f"icans grade after {agent_class} summary", key="swimlanes_change_summary",
               column_config={"share_severe": st.column_config.NumberColumn(
                   f"share grade ≥ {severe_grade}", format="percent")})


show_swimlanes()
show_grade_change()

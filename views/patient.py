"""One patient at a time, for a tumour board on a shared screen: key numbers, the clinical course on
one day axis (grades, treatments, cytokines, CAR-T cells) and the treatments given."""

import streamlit as st

from icans_core import derived_tables, patient, store
from icans_core import schema as S
from icans_core.charts.patient import patient_timeline_chart
from ui import links, session
from ui.figures import show_figure, show_table
from ui.options import current
from ui.text import plain

PATIENT = "patient_id"  # shared with the swimlanes page, which opens a patient here
REMEMBERED = "patient_remembered"  # the patient shown last, kept when the user visits other pages
ACUTE, WHOLE = "acute", "whole"  # link values; the labels are the radio's captions
OUTCOME_WORDS = {"resolved": "Resolved", "died": "Died before resolution", "censored": "Not resolved (censored)"}

con = session.connection()
st.title("Patient")
st.caption("One patient's clinical course for review: ASTCT grades, treatments with daily doses, cytokines and "
           "CAR-T cells on one axis of days since CAR-T infusion. Step through the selected cohort (by group, "
           "then patient) with Previous and Next.")

analysis = current()
episode_options = analysis.episodes
patients = store.patients_frame(con, analysis.group_by)
if patients.empty:
    st.info("No patients are selected: widen the cohort filters to review a patient.")
    st.stop()
order = patient.sort_patients(patients)
group_of = dict(zip(patients["patient_id"], patients["group"].astype(str)))

# Where the patient comes from: Previous/Next or the swimlanes (both set PATIENT before this run),
# else the last one shown here, else the first of the cohort.
# A shared link carries the patient in the URL (?patient_id=...): the selector is bound to it.
requested = (st.session_state.get(PATIENT) or st.query_params.get(PATIENT)
             or st.session_state.get(REMEMBERED))
if requested is not None and requested not in group_of:
    # `requested` may come from the link: shown as text, never as markdown
    st.info(f"Patient '{plain(requested)}' is not in the selected cohort (check the cohort filters or the "
            f"identifier); showing {plain(order[0])}, the first patient, instead.")
    requested = None
st.session_state[PATIENT] = requested if requested is not None else order[0]


def go_to(patient_id: str) -> None:
    st.session_state[PATIENT] = patient_id


def fmt_day(day: float | None) -> str:
    return "–" if day is None else f"day {day:g}"


choose, back, forward, window = st.columns([3, 1, 1, 2], vertical_alignment="bottom")
# Bound to the URL, the shown option is the link's value: the bare id (the group is in the heading).
# No default (index=None), so even the first patient stays in the address and the link.
chosen = choose.selectbox(f"Patient ({len(order)} in the selected cohort)", order, key=PATIENT,
                          bind="query-params", index=None)
links.carry(PATIENT, chosen)  # the link names the patient shown, whatever the address holds
previous, following = patient.neighbours(order, chosen)
back.button("Previous", key="patient_previous", icon=":material/arrow_back:", on_click=go_to, args=(previous,),
            disabled=previous is None, width="stretch")
forward.button("Next", key="patient_next", icon=":material/arrow_forward:", on_click=go_to, args=(following,),
               disabled=following is None, width="stretch")
shown_days = window.radio("Days shown", [ACUTE, WHOLE], key="patient_days", bind="query-params", horizontal=True,
                          captions=["acute phase", "whole course"],
                          help="Acute phase: up to day 30, or longer while treatment or the severe episode "
                               "runs on. Whole course: every recorded day.")
st.session_state[REMEMBERED] = chosen

# Only this patient's rows leave the database; the episodes are the cohort's, derived once per options
# (each patient's episode depends on that patient's rows alone).
toxicity = store.toxicity_frame(con, patient_id=chosen)
interventions = store.interventions_frame(con, patient_id=chosen)
labs = store.lab_patient_days(con, [*S.CYTOKINES, *S.CELL_COUNT_ANALYTES], analysis.group_by, patient_id=chosen)
episodes = derived_tables.episodes(con, analysis.group_by, episode_options)
course = patient.patient_course(chosen, patients, toxicity, interventions, labs, episodes)
key = course.key

# The tumour board reads this on a shared 1920x1080 screen: the course (grades, drugs, cytokines,
# CAR-T cells of the acute phase) and the patient's key numbers side by side, all without scrolling.
# The course is about 900 px wide: in a narrower column (a 1280-1400 px window) it scrolls sideways within
# it, not over the key numbers beside it.
st.html('<style>[data-testid="stMainBlockContainer"]{padding-top:2.5rem}'
        '.st-key-patient_course{overflow-x:auto;overflow-y:hidden}</style>')
course_column, numbers = st.columns([2.6, 1], gap="medium")
numbers.subheader(f"{plain(chosen)} · {plain(key.group)}")
facts = [key.product, key.disease, None if key.age_years is None else f"{key.age_years:g} years", key.sex,
         None if key.ecog is None else f"ECOG {key.ecog}"]
if key.death_day is not None:
    facts.append(f"died day {key.death_day:g}" + (f" ({key.death_cause})" if key.death_cause else ""))
else:
    facts.append(f"alive at last follow-up, {fmt_day(key.last_followup_day)}")
numbers.markdown(plain(" · ".join(f for f in facts if f)))  # product, disease, cause of death: as given

severe = f"grade {episode_options.severe_grade}+"
first, second = numbers.columns(2)
third, fourth = numbers.columns(2)
first.metric(f"Severe ICANS onset ({severe})", fmt_day(key.onset_day) if key.severe else "No episode")
second.metric("Peak ICANS grade", f"{key.peak_grade}" if key.severe else
              ("–" if key.max_icans_grade is None else f"{key.max_icans_grade}"),
              help="The highest grade of the severe episode (onset to resolution); without a severe episode, "
                   "the highest ICANS grade recorded.")
if not key.severe:
    third.metric("Time to resolution", "–")
elif key.outcome == "resolved":
    third.metric("Time to resolution", f"{key.time_to_resolution:g} days",
                 help=f"From onset to the first later assessment at grade {episode_options.resolved_grade} or "
                      f"lower ({fmt_day(key.resolution_day)}).")
else:
    third.metric("Time to resolution", f"> {key.time_to_resolution:g} days",
                 help="Not resolved: time to death or to the last ICANS assessment.")
fourth.metric("Outcome", OUTCOME_WORDS.get(key.outcome, "No severe ICANS"))
fifth, sixth = numbers.columns(2)
seventh, eighth = numbers.columns(2)
fifth.metric("Steroid dose (mg dexamethasone)", f"{key.cumulative_dex_mg:,.1f}".removesuffix(".0"),
             help="Cumulative systemic corticosteroid dose in dexamethasone-equivalent mg (Meikle & Tyler "
                  "1977); intrathecal steroids do not count.")
sixth.metric("Steroid days", f"{key.steroid_days}")
seventh.metric("Max CRS grade", "–" if key.max_crs_grade is None else f"{key.max_crs_grade}")
eighth.metric("Death" if key.death_day is not None else "Last follow-up",
              fmt_day(key.death_day if key.death_day is not None else key.last_followup_day))
if key.steroid_rows_left_out:
    numbers.caption(f"{key.steroid_rows_left_out} systemic steroid course(s) without a dose in mg are left out of "
                    "the dose (their days still count); see the table below.")

with course_column.container(key="patient_course"):
    if course.has_timeline:
        days = course.acute_days if shown_days == ACUTE else course.days
        show_figure(patient_timeline_chart(course, days, compact=True), patient.tabulate_timeline(course),
                    f"patient {chosen} clinical course", key="patient_timeline")
    else:
        st.info(f"Nothing is recorded over time for {plain(chosen)}: no assessments, treatments or lab values.")

st.subheader("Interventions")
if len(course.treatments):
    show_table(course.intervention_table, f"patient {chosen} interventions", key="patient_interventions",
               column_config={"agent_class": "class", "daily_dose": "daily dose", "dose_unit": "unit",
                              "days": "days (since infusion)"})
else:
    st.info(f"No interventions are recorded for {plain(chosen)}.")

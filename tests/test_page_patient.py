"""The Patient page through Streamlit's AppTest: the hand-made cohort of test_patient.py in the
session's database (its numbers worked by hand there), and the bundled sample cohort."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from icans_core import store
from icans_core.filters import CohortFilter
from icans_core.ingest import load_sources
from tests.cohorts import sources
from tests.test_patient import COHORT, GRADE_RANGE

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "views" / "patient.py")
SWIMLANES = str(ROOT / "views" / "swimlanes.py")
TITLE_PREFIX = "Patient "

# The hand cohort's stepping order: groups IVIG, Steroids, liso-cel (C1 has no group), then identifier.
ORDER = ["A1", "A2", "B1", "B2", "B10", "C1"]
A1 = {"Severe ICANS onset (grade 3+)": "day 4.5", "Peak ICANS grade": "4", "Time to resolution": "5.5 days",
      "Outcome": "Resolved", "Steroid dose (mg dexamethasone)": "592.5", "Steroid days": "7",
      "Max CRS grade": "2", "Last follow-up": "day 100"}
A2 = {"Severe ICANS onset (grade 3+)": "day 2", "Peak ICANS grade": "4", "Time to resolution": "> 7.5 days",
      "Outcome": "Died before resolution", "Steroid dose (mg dexamethasone)": "40", "Steroid days": "2",
      "Max CRS grade": "3", "Death": "day 9.5"}


def hand_connection(cohort_filter: CohortFilter | None = None):
    result = load_sources(sources(COHORT), label="patient view")
    assert result.ok, result.report
    con = store.connect()
    store.load_cohort(con, result.cohort)
    if cohort_filter is not None:
        store.select_patients(con, cohort_filter)
    return con


def page(monkeypatch, con=None, patient_id: str | None = None) -> AppTest:
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(PAGE, default_timeout=60)
    if con is not None:
        at.session_state["duckdb_connection"] = con
        at.session_state["cohort_warnings"] = []
        at.session_state["cohort_is_sample"] = False
    if patient_id is not None:
        at.session_state["patient_id"] = patient_id
    at.run()
    assert_no_exception(at)
    return at


def assert_no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def shown_patient(at: AppTest) -> str:
    return at.selectbox(key="patient_id").value


def infos(at: AppTest) -> list[str]:
    return [i.value for i in at.info]


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert_no_exception(at)
    return at


def timeline_spec(at: AppTest) -> dict:
    found = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    found = [s for s in found if s.get("title", {}).get("text", "").startswith(TITLE_PREFIX)]
    assert len(found) == 1, "expected one patient timeline"
    return found[0]


def interventions_table(at: AppTest):
    found = [d.value for d in at.dataframe if "agent_class" in d.value.columns]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


@pytest.fixture
def hand(monkeypatch) -> AppTest:
    return page(monkeypatch, hand_connection())


def test_opens_on_the_first_patient_with_their_numbers(hand):
    assert shown_patient(hand) == "A1"
    assert at_least(metrics(hand), A1)
    assert hand.button(key="patient_previous").disabled  # nothing before the first patient
    assert not hand.button(key="patient_next").disabled
    table = interventions_table(hand)
    assert list(table["agent"]) == ["tocilizumab", "dexamethasone", "methylprednisolone", "hydrocortisone",
                                    "prednisone"]
    assert list(table["days"]) == ["3", "4.5-6.5", "6-8", "7", "9-10"]
    assert [c.value for c in hand.caption if "without a dose in mg" in c.value], "the mg/kg prednisone row"


def at_least(shown: dict, expected: dict) -> bool:
    assert {k: shown.get(k) for k in expected} == expected, shown
    return True


def test_next_and_previous_step_through_the_cohort(hand):
    click(hand, "patient_next")
    assert shown_patient(hand) == "A2"
    assert at_least(metrics(hand), A2)
    assert timeline_spec(hand)["title"]["text"] == "Patient A2: clinical course"
    for expected in ORDER[2:]:
        click(hand, "patient_next")
        assert shown_patient(hand) == expected
    assert hand.button(key="patient_next").disabled  # C1 is the last: no wrapping
    click(hand, "patient_previous")
    assert shown_patient(hand) == "B10"
    quiet = metrics(click(hand, "patient_previous"))  # B2: no severe ICANS
    assert shown_patient(hand) == "B2"
    assert quiet["Outcome"] == "No severe ICANS" and quiet["Severe ICANS onset (grade 3+)"] == "No episode"  # was "None", read as a missing value


def test_a_patient_chosen_beforehand_is_opened(monkeypatch):
    at = page(monkeypatch, hand_connection(), patient_id="A2")
    assert shown_patient(at) == "A2"
    assert at_least(metrics(at), A2)
    assert not [i for i in infos(at) if "not in the selected cohort" in i]
    click(at, "patient_previous")
    assert shown_patient(at) == "A1"
    assert at.button(key="patient_previous").disabled


def test_an_unknown_patient_gives_a_note_not_an_exception(monkeypatch):
    at = page(monkeypatch, hand_connection(), patient_id="Z9")
    assert [i for i in infos(at) if "'Z9' is not in the selected cohort" in i], infos(at)
    assert shown_patient(at) == "A1"
    assert at_least(metrics(at), A1)


def test_an_id_with_spaces_around_it_is_quoted_as_given(monkeypatch):
    # a link's " A1 " is not the patient A1: the note shows the spaces (inside quotes), not a bare "A1"
    at = page(monkeypatch, hand_connection(), patient_id=" A1 ")
    assert [i for i in infos(at) if "Patient ' A1 ' is not in the selected cohort" in i], infos(at)


def test_stepping_stays_within_the_filtered_cohort(monkeypatch):
    at = page(monkeypatch, hand_connection(CohortFilter(groups=("Steroids",))), patient_id="A1")
    assert [i for i in infos(at) if "'A1' is not in the selected cohort" in i], infos(at)
    assert shown_patient(at) == "B1"
    # bare ids: bound to the URL, the shown option is the link's value (never "B1 · Steroids")
    assert at.selectbox(key="patient_id").options == ["B1", "B2", "B10"]
    click(at, "patient_next")
    click(at, "patient_next")
    assert shown_patient(at) == "B10"
    assert at.button(key="patient_next").disabled


def test_an_empty_cohort_says_so(monkeypatch):
    at = page(monkeypatch, hand_connection(CohortFilter(products=("ide-cel",))))
    assert [i for i in infos(at) if "No patients are selected" in i], infos(at)
    assert not at.metric and not at.get("vega_lite_chart")


def test_the_sidebar_threshold_changes_the_numbers(hand):
    hand.session_state["severe_grade"] = 4
    hand.run()
    assert_no_exception(hand)
    shown = metrics(hand)
    assert shown["Severe ICANS onset (grade 4+)"] == "day 6" and shown["Time to resolution"] == "4 days"


def test_the_timeline_shares_one_day_axis_with_the_grade_colours(hand):
    spec = timeline_spec(hand)
    assert spec["resolve"]["scale"]["x"] == "shared"
    assert len(spec["vconcat"]) == 4
    bars = spec["vconcat"][0]["layer"][0]
    assert bars["encoding"]["color"]["scale"]["range"] == GRADE_RANGE
    assert bars["encoding"]["x"]["scale"]["domain"] == [0, 14]
    hand.radio(key="patient_days").set_value("whole").run()  # A1's whole course is its acute phase
    assert timeline_spec(hand)["vconcat"][0]["layer"][0]["encoding"]["x"]["scale"]["domain"] == [0, 14]


# --- on the bundled sample cohort ----------------------------------------------------------------

def test_the_sample_cohort_opens_and_the_day_range_is_a_choice(monkeypatch):
    at = page(monkeypatch)
    first = shown_patient(at)
    assert first == "P0001"  # group "No severe ICANS" sorts first; P0001 is in it (data/sample/patients.csv)
    at.selectbox(key="patient_id").set_value("P0002").run()  # steroids, then intrathecal therapy; day 90 seen
    assert_no_exception(at)
    assert metrics(at)["Severe ICANS onset (grade 3+)"] == "day 4"  # data/sample/toxicity.csv: grade 3 on day 4
    acute = timeline_spec(at)["vconcat"][0]["layer"][0]["encoding"]["x"]["scale"]["domain"]
    at.radio(key="patient_days").set_value("whole").run()
    assert_no_exception(at)
    whole = timeline_spec(at)["vconcat"][0]["layer"][0]["encoding"]["x"]["scale"]["domain"]
    assert acute == [-5, 30] and whole == [-5, 90]


def test_the_swimlanes_remember_the_patient_to_open(monkeypatch):
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(SWIMLANES, default_timeout=60)
    at.run()
    assert_no_exception(at)
    lanes = [o.split(" · ")[0] for o in at.selectbox(key="swimlanes_open_patient").options]
    assert len(lanes) == 54  # the sample's severe-ICANS patients, in lane order
    at.selectbox(key="swimlanes_open_patient").set_value(lanes[2]).run()
    at.button(key="swimlanes_open").click().run()
    assert_no_exception(at)
    assert at.session_state["patient_id"] == lanes[2]
    # run alone, this page has no Patient page to switch to: it says so instead of failing
    assert [w.value for w in at.warning if "not part of this app" in w.value]

"""Link logic (ui/links.py, the fingerprint in icans_core/library.py, the sidebar's reporting and the
age slider's clamping in ui/filters.py): pure functions, then the dashboard through AppTest."""

from __future__ import annotations

import os

import hashlib
import json
from pathlib import Path
from urllib.parse import parse_qsl

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from icans_core import library, store
from icans_core.ingest import load_sources
from tests import cohorts
from tests.test_page_cohort import PATIENTS_CSV, TOXICITY_CSV, as_shown, csv_file
from tests.test_page_cohort import upload as upload_files
from ui import filters, links

ROOT = Path(__file__).resolve().parent.parent


# --- the fingerprint ----------------------------------------------------------------------------------

@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    result = load_sources(cohorts.sources(), label="fingerprint")
    assert result.ok, result.report.to_string()
    return result.cohort.tables


def test_the_fingerprint_is_ten_hex_digits_and_the_same_for_the_same_content(tables):
    first = library.fingerprint(tables)
    assert len(first) == library.FINGERPRINT_LENGTH == 10 and int(first, 16) >= 0
    again = load_sources(cohorts.sources(), label="another label, another load time").cohort.tables
    assert library.fingerprint(again) == first  # content only: not the label or the load time


@pytest.mark.parametrize("change", ["cell", "row order", "extra row", "column name", "table"])
def test_any_change_of_content_changes_the_fingerprint(tables, change):
    before = library.fingerprint(tables)
    changed = {name: frame.copy() for name, frame in tables.items()}
    toxicity = changed["toxicity"]
    if change == "cell":
        toxicity.loc[toxicity.index[1], "icans_grade"] = 2  # 3 -> 2
    elif change == "row order":
        changed["toxicity"] = toxicity.iloc[::-1]
    elif change == "extra row":
        changed["toxicity"] = pd.concat([toxicity, toxicity.iloc[[0]]])
    elif change == "column name":
        changed["toxicity"] = toxicity.rename(columns={"ice_score": "ice"})
    else:
        changed.pop("labs")
    assert library.fingerprint(changed) != before


def test_the_fingerprint_is_a_sha256_prefix_of_the_tables_as_documented():
    # computed here by hand from the definition: header bytes, then pandas' fixed-key row hashes
    frame = pd.DataFrame({"a": [1, 2]})
    digest = hashlib.sha256(b"t\x1f2\x1fa\x1e" + pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    assert library.fingerprint({"t": frame}) == digest.hexdigest()[:10]


def test_a_published_cohort_has_the_same_fingerprint_every_time_it_opens(tmp_path, tables):
    result = load_sources(cohorts.sources(), label="centre")
    cohort_id = library.publish(result.cohort, tmp_path)
    first = library.fingerprint(library.open_published(cohort_id, tmp_path).tables)
    assert library.fingerprint(library.open_published(cohort_id, tmp_path).tables) == first


# --- building links and reading old ones ----------------------------------------------------------

def test_a_link_names_its_cohort_first_and_carried_values_replace_the_address():
    address = [("cohort", "sample"), ("fp", "stale"), ("product", "axi-cel"), ("product", "tisa-cel"),
               ("patient_id", "P0035 · Steroids + IVIG"), ("resolution_ci", "log-log")]
    built = parse_qsl(links.build_link_query(address, {"patient_id": "P0035"}, "AbC_-id", "0123456789"))
    assert built == [("cohort", "AbC_-id"), ("fp", "0123456789"), ("product", "axi-cel"), ("product", "tisa-cel"),
                     ("resolution_ci", "log-log"), ("patient_id", "P0035")]


def test_a_private_uploads_link_carries_no_fingerprint():
    built = parse_qsl(links.build_link_query([("product", "axi-cel")], {}, "upload", "0123456789"))
    assert built == [("cohort", "upload"), ("product", "axi-cel")]


@pytest.mark.parametrize("key, label, value", [
    ("resolution_ci", "log-log (lifelines default)", "log-log"),
    ("resolution_origin", "first IVIG dose after onset", "IVIG"),
    ("resolution_origin", "severe-ICANS onset", "onset"),
    ("cytokines_alignment", "Severe-ICANS onset (grade 4+)", "onset"),
    ("patient_id", "P0035 · Steroids + IVIG", "P0035"),
    ("swimlanes_patients", "All patients", "all"),
    ("group_by", "Costimulatory domain", "costimulatory_domain"),
])
def test_old_links_with_labels_read_as_todays_values(key, label, value):
    assert links.old_label_value(key, label) == value


def test_a_value_that_is_no_old_label_is_left_alone():
    assert links.old_label_value("resolution_ci", "log-log") is None
    assert links.old_label_value("product", "axi-cel") is None


# --- the age slider after a cohort switch ----------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ((70.0, 80.0), (70.0, 75.0)), ((30.0, 50.0), (40.0, 50.0)), ((50.0, 60.0), (50.0, 60.0)),
    ((18.0, 30.0), (40.0, 75.0)), ((80.0, 90.0), (40.0, 75.0)), ((60.0, 45.0), (45.0, 60.0)),
    (("x", 3), None), (5, None),
])
def test_a_remembered_range_is_moved_inside_the_new_cohorts_ages(value, expected):
    assert filters.clamp_range(value, 40.0, 75.0) == expected


# --- the dashboard through AppTest ------------------------------------------------------------------

@pytest.fixture(autouse=True)
def server(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("ICANS_LIBRARY_DIR", str(tmp_path / "library"))
    monkeypatch.delenv("ICANS_COHORT", raising=False)
    return tmp_path / "library"


def open_app(page: str | None = None, **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def sidebar_captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.sidebar.caption)


def test_a_pages_own_options_are_applied_and_never_reported_as_ignored():
    at = open_app("views/resolution.py", resolution_ci="log-log", resolution_origin="IVIG", not_an_option="1")
    assert at.radio(key="resolution_ci").value == "log-log"
    assert at.selectbox(key="resolution_origin").value == "IVIG"
    shown = sidebar_captions(at)
    assert "Ignored link parameter(s) the app does not know: not\\_an\\_option." in shown, shown
    assert "resolution" not in shown.split("Ignored link parameter(s)")[1], shown


def test_an_old_link_with_label_values_opens_with_those_options():
    at = open_app("views/resolution.py", resolution_ci="log-log (lifelines default)",
                  resolution_origin="first IVIG dose after onset")
    assert at.radio(key="resolution_ci").value == "log-log"
    assert at.selectbox(key="resolution_origin").value == "IVIG"
    assert "Ignored link parameter" not in sidebar_captions(at)


@pytest.mark.parametrize("ref, words", [
    ("upload", "private upload"),
    ("deployment", "deployment's own cohort, which this server does not have"),
    ("A" * library.ID_LENGTH, "No published cohort has this link's id"),
    ("../etc/passwd", "not valid"),
])
def test_a_link_whose_cohort_cannot_open_shows_nothing_else_in_its_place(ref, words):
    at = open_app("views/resolution.py", cohort=ref, product="axi-cel")
    shown = "\n".join(e.value for e in at.error)
    assert "The cohort of this link cannot be shown" in shown and words in shown, shown
    assert not at.sidebar.markdown and not at.metric and not at.get("vega_lite_chart")
    assert not [t for t in at.title if "Resolution" in t.value]
    at.button(key="link_problem_dismiss").click().run()  # the user chooses to go on with the sample
    assert not at.exception
    assert "Sample cohort (synthetic)" in as_shown("\n".join(m.value for m in at.sidebar.markdown))
    assert not at.error


def test_a_wrong_fingerprint_is_named_on_every_page():
    sample_fp = open_app().query_params["fp"]
    at = open_app(cohort="sample", fp="0123456789")
    shown = "\n".join(e.value for e in at.error)
    assert "not the one the link was made on" in shown and "0123456789" in shown and sample_fp in shown, shown
    at.switch_page("views/swimlanes.py")
    at.run()
    assert any("not the one the link was made on" in e.value for e in at.error)
    right = open_app(cohort="sample", fp=sample_fp)
    assert not right.exception and not [e for e in right.error if "link" in e.value]
    empty = "\n".join(e.value for e in open_app(cohort="sample", fp="").error)
    assert "fingerprint (empty: fp= has no value); the cohort open here" in empty, empty


def test_the_address_names_the_cohort_and_its_fingerprint(tables):
    at = open_app()
    assert at.query_params["cohort"] == "sample" and len(at.query_params["fp"]) == 10
    at.switch_page("views/cohort.py")
    at.run()
    upload_files(at, csv_file("patients.csv", PATIENTS_CSV), csv_file("toxicity.csv", TOXICITY_CSV))
    at.run()
    assert at.query_params["cohort"] == "upload"
    assert "fp" not in at.query_params  # a private upload's link opens for nobody: no fingerprint of it


def test_the_sidebar_survives_every_cohort_switch_with_an_age_range_set():
    at = open_app("views/cohort.py")
    at.slider(key="age").set_value((75.0, 80.0)).run()  # older than anyone in the upload (61 and 70)
    assert not at.exception
    upload_files(at, csv_file("patients.csv", PATIENTS_CSV), csv_file("toxicity.csv", TOXICITY_CSV))
    assert not at.exception, [e.value for e in at.exception]
    assert tuple(at.slider(key="age").value) == (61.0, 70.0)  # no overlap: the whole new range
    assert "All 2 patients selected" in sidebar_captions(at)
    at.checkbox(key="publish_confirm").check().run()
    at.button(key="publish").click().run()  # the session goes on with the published copy
    assert not at.exception, [e.value for e in at.exception]
    assert library.is_valid_id(at.query_params["cohort"])
    at.slider(key="age").set_value((61.0, 65.0)).run()
    [b for b in at.button if b.label == "Go back to the sample cohort"][0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params["cohort"] == "sample"
    assert at.sidebar.markdown and "Sample cohort (synthetic)" in as_shown(at.sidebar.markdown[0].value)


def test_publishing_keeps_the_filter_the_sidebar_shows_and_the_link_says(tmp_path):
    """The publisher goes on with the published copy: its selection is the filter the sidebar shows, as the
    colleague opening the link gets it (adversarial finding: it fell back to every patient)."""
    at = open_app("views/cohort.py")
    upload_files(at, csv_file("patients.csv", PATIENTS_CSV), csv_file("toxicity.csv", TOXICITY_CSV))
    at.multiselect(key="product").set_value(["axi-cel"]).run()
    assert "1 of 2 patients selected" in " ".join(m.value for m in at.sidebar.markdown)
    at.checkbox(key="publish_confirm").check().run()
    at.button(key="publish").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert library.is_valid_id(at.query_params["cohort"])
    assert "1 of 2 patients selected" in " ".join(m.value for m in at.sidebar.markdown)
    # the session's own database, which every page, download and the report read
    assert len(store.patients_frame(at.session_state["duckdb_connection"])) == 1


@pytest.mark.parametrize("ref, carried", [("upload", None), ("sample", "0123456789"), ("deployment", "0123456789")])
def test_opening_a_patient_carries_a_fingerprint_only_where_a_link_may(monkeypatch, ref, carried):
    """st.switch_page's parameters follow the link's rule: no fingerprint of a private upload (adversarial
    finding: opening a patient from the swimlanes put it in the browser's history)."""
    from ui import session
    monkeypatch.setattr(session, "cohort_ref", lambda: ref)
    monkeypatch.setattr(session, "fingerprint", lambda: "0123456789")
    assert links.switch_page_parameters().get(links.FINGERPRINT) == carried
    assert links.switch_page_parameters()[links.COHORT] == ref


def test_a_link_naming_two_cohorts_blocks_instead_of_opening_the_last():
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.query_params["cohort"] = ["sample", "deployment"]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(as_shown(e.value) for e in at.error)
    assert "cannot be shown" in shown and "names 2 cohorts" in shown
    assert not at.metric  # no numbers of either cohort pass for the shared ones


def test_an_untouched_age_range_stays_no_restriction_on_the_next_cohort():
    """The sample's whole age range, never narrowed, must not cut a new cohort with younger patients."""
    at = open_app("views/cohort.py")
    younger = PATIENTS_CSV.replace("DLBCL,61,F", "DLBCL,12,F")  # below the sample's youngest
    upload_files(at, csv_file("patients.csv", younger), csv_file("toxicity.csv", TOXICITY_CSV))
    assert not at.exception, [e.value for e in at.exception]
    assert tuple(at.slider(key="age").value) == (12.0, 70.0)
    assert "All 2 patients selected" in sidebar_captions(at)
    assert "age" not in at.query_params


def test_a_value_a_page_does_not_offer_is_named_not_dropped_silently():
    at = open_app("views/resolution.py", resolution_ci="loglog", resolution_orientation="resolved")
    assert at.radio(key="resolution_ci").value == "log"  # the default
    shown = as_shown(sidebar_captions(at))
    assert "Ignored link value(s) this page does not offer: resolution_ci=loglog;" in shown, shown
    assert "resolution_orientation" not in shown


def test_a_link_to_the_deployment_cohort_names_a_replaced_file(tmp_path, monkeypatch):
    folder = tmp_path / "centre-a"
    folder.mkdir()
    for name, rows in cohorts.VALID.items():
        (folder / f"{name}.csv").write_text(cohorts.csv_text(rows))
    monkeypatch.setenv("ICANS_COHORT", str(folder))
    before = open_app()
    assert before.query_params["cohort"] == "deployment"
    link_fp = before.query_params["fp"]
    assert not open_app(cohort="deployment", fp=link_fp).error  # the same file: no notice

    changed = cohorts.with_cell("toxicity", 3, "icans_grade", "2")  # the administrator replaces the file
    (folder / "toxicity.csv").write_text(cohorts.csv_text(changed["toxicity"]))
    after = open_app(cohort="deployment", fp=link_fp)
    shown = "\n".join(e.value for e in after.error)
    assert "not the one the link was made on" in shown and link_fp in shown, shown
    assert after.query_params["fp"] != link_fp

    # a copy that keeps the file's size and modification time (cp -p, rsync -a) is seen as well
    path = folder / "toxicity.csv"
    stamp, text = path.stat(), path.read_text()
    edited = text.replace(",2,", ",1,", 1)
    assert edited != text and len(edited) == len(text)
    path.write_text(edited)
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    again = open_app(cohort="deployment", fp=after.query_params["fp"])
    assert "not the one the link was made on" in "\n".join(e.value for e in again.error)


# --- filter values edited by hand: each one not applied as written is named ---------------------------

def sidebar_notes(at: AppTest) -> str:
    return as_shown(sidebar_captions(at))


def test_a_reversed_age_range_in_a_link_is_read_in_order_not_an_error():
    at = open_app(age=["50", "40"])
    assert "Filter: age: 40 to 50 years" in sidebar_notes(at)
    assert not at.sidebar.error and not at.error


@pytest.mark.parametrize("ages", [["30", "200"], ["45"], ["abc", "60"]])
def test_an_age_range_the_slider_cannot_take_is_named_as_ignored(ages):
    shown = sidebar_notes(open_app(age=ages))
    assert f"Ignored link value(s) {', '.join(f'age={a}' for a in ages)}: the age filter takes two numbers" in shown, shown
    assert "All 300 patients selected (no filter)." in shown


def test_an_intervention_not_in_the_cohort_is_named_with_the_other_filters():
    shown = sidebar_notes(open_app(product="AXI-CEL", rx="ivig", max_icans="3"))
    assert "Ignored link value(s) not found in this cohort: product=AXI-CEL, rx=ivig;" in shown, shown
    assert "maximum ICANS grade: 3" in shown  # what was applied is said too


@pytest.mark.parametrize("window,said", [
    ("-5", "Ignored link value(s) rx_window=-5: the days after onset take one whole number from 0 to 365; any time was used."),
    ("abc", "Ignored link value(s) rx_window=abc:"),
    ("3.5", "The link's rx_window=3.5 was read as rx_window=3"),
])
def test_a_day_window_not_taken_as_written_is_named(window, said):
    shown = sidebar_notes(open_app(rx="IVIG", rx_window=window))
    assert said in shown, shown


@pytest.mark.parametrize("window", ["inf", "-inf", "1e400", "Infinity"])
def test_an_infinite_day_window_is_named_and_the_other_filters_still_apply(window):
    # Streamlit's number box raised OverflowError on int(inf): an error box, and the whole cohort shown while the
    # link named a product (ui/number_links.py)
    at = open_app(product="axi-cel", rx_window=window)
    assert not at.sidebar.error and not at.error, [e.value for e in [*at.sidebar.error, *at.error]]
    shown = sidebar_notes(at)
    assert f"Ignored link value(s) rx_window={window}: the days after onset take one whole number" in shown, shown
    assert "Filter: product: axi-cel" in shown and "of 300 patients selected" in as_shown(
        "\n".join(m.value for m in at.sidebar.markdown)), shown


@pytest.mark.parametrize("key,value", [("swimlanes_page", "inf"), ("swimlanes_max_lanes", "inf"),
                                       ("swimlanes_change_before", "1e999"), ("swimlanes_change_after", "-inf")])
def test_an_infinite_swimlanes_number_is_named_as_this_pages_and_the_page_is_drawn(key, value):
    at = open_app("views/swimlanes.py", **{key: value})
    assert not at.sidebar.error and not at.error, [e.value for e in [*at.sidebar.error, *at.error]]
    shown = sidebar_notes(at)
    assert f"Ignored link value(s) this page does not offer: {key}={value}" in shown, shown
    assert "another page's options" not in shown, shown


def test_a_day_window_taken_as_written_says_nothing_more():
    shown = sidebar_notes(open_app(rx="IVIG", rx_window="7"))
    assert "rx_window" not in shown and "started within 7 days after severe-ICANS onset" in shown, shown


def test_a_day_window_without_an_intervention_is_no_filter():
    shown = sidebar_notes(open_app(rx_window="7", rx_mode="none"))
    assert "All 300 patients selected (no filter)." in shown and "Filter:" not in shown, shown


# --- hand-edited page options (adversarial findings) ------------------------------------------------

def lane_domains(at: AppTest) -> set:
    spec = next(json.loads(c.proto.spec) for c in at.get("vega_lite_chart")
                if json.loads(c.proto.spec).get("title", {}).get("text") == "Clinical course per patient")
    return {tuple(layer["encoding"]["x"]["scale"]["domain"]) for layer in _layers(spec)
            if "domain" in layer.get("encoding", {}).get("x", {}).get("scale", {})}


@pytest.mark.parametrize("days, same_as", [(["60", "-5"], ["-5", "60"]), (["10", "10"], ["10", "11"])])
def test_a_reversed_or_one_day_range_in_a_swimlanes_link_shows_the_lanes(days, same_as):
    at = open_app("views/swimlanes.py", swimlanes_days=days)
    assert not at.error, [e.value for e in at.error]  # was: "the day range must run forwards", page incomplete
    assert lane_domains(at) == lane_domains(open_app("views/swimlanes.py", swimlanes_days=same_as))
    if days[0] == "10":
        assert "Both ends are on day 10: days 10 to 11 are shown." in [c.value for c in at.caption]


def _layers(spec: dict):
    yield spec
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for child in spec.get(key, []):
            yield from _layers(child)
    if isinstance(spec.get("spec"), dict):
        yield from _layers(spec["spec"])


def test_a_reversed_cytokines_range_is_read_in_order():
    reversed_link = open_app("views/cytokines.py", cytokines_days=["30", "0"])
    in_order = open_app("views/cytokines.py", cytokines_days=["0", "30"])
    assert not reversed_link.error and not in_order.error
    tables = [t.value for t in reversed_link.dataframe]
    assert tables and all(a.equals(b) for a, b in zip(tables, [t.value for t in in_order.dataframe]))
    assert "between day 30 and day 0" not in " ".join(i.value for i in reversed_link.info)


def test_values_a_multiselect_or_a_range_does_not_take_are_named():
    at = open_app("views/swimlanes.py", swimlanes_classes="unicorn", swimlanes_days="10")
    shown = as_shown(sidebar_captions(at))
    assert "Ignored link value(s) this page does not offer: swimlanes_classes=unicorn, swimlanes_days=10;" in shown, \
        shown
    clean = open_app("views/swimlanes.py", swimlanes_classes=["corticosteroid"], swimlanes_days=["-5", "30"])
    assert "Ignored link value" not in sidebar_captions(clean)


def test_an_option_given_twice_names_the_value_used():
    at = open_app(severe_grade=["2", "4"])
    assert at.selectbox(key="severe_grade").value == 4
    assert "The link gives severe_grade more than once (2, 4): 4 was used." in as_shown(sidebar_captions(at))


def test_a_swimlanes_page_past_the_only_page_is_named():
    at = open_app("views/swimlanes.py", swimlanes_page="2")
    assert "There is 1 page of lanes: page 1 is shown." in [i.value for i in at.info]


def test_another_pages_option_is_named_as_such_not_as_unknown():
    at = open_app(cytokines_days=["0", "30"], swimlanes_page="2", bogus="1")
    shown = as_shown(sidebar_captions(at))
    assert "Ignored link parameter(s) the app does not know: bogus." in shown, shown
    assert ("Ignored link parameter(s) of another page's options, which this page does not use: cytokines_days, "
            "swimlanes_page.") in shown, shown


def test_a_one_patient_cohort_is_one_patient_in_the_sidebar():
    at = open_app("views/cohort.py")
    one = "\n".join(PATIENTS_CSV.strip().split("\n")[:2]) + "\n"
    upload_files(at, csv_file("patients.csv", one), csv_file("toxicity.csv", TOXICITY_CSV.replace("P2,2,1,,\n", "")))
    assert not at.exception, [e.value for e in at.exception]
    sidebar = as_shown("\n".join(m.value for m in at.sidebar.markdown) + "\n" + sidebar_captions(at))
    assert "1 patient · " in sidebar and "1 patients" not in sidebar, sidebar
    assert "The cohort's 1 patient is selected (no filter)." in sidebar, sidebar

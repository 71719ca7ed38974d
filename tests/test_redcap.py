"""REDCap import: the shipped example imports into the same cohort as its contract files; the mapping
validator names every unmapped or mis-typed field; events, repeating instruments, checkboxes and
choice codes; refusals name the export's row and the REDCap field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from icans_core import redcap
from icans_core.ingest import load_paths
from icans_core.readers import Source
from icans_core.redcap import load_redcap
from icans_core.sample import generate_cohort, write_cohort
from icans_core.sample_redcap import write_redcap_example

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "data" / "redcap-example"
EXAMPLE_PATIENTS, EXAMPLE_SEED = 40, 15  # as the Makefile's sample target writes it
CONTRACT_TABLES = ("patients", "toxicity", "interventions", "labs")


def source(path: Path) -> Source:
    return Source(path.name, path.read_bytes())


def example(export: str = "export.csv") -> tuple[Source, Source, Source]:
    return source(EXAMPLE / export), source(EXAMPLE / "dictionary.csv"), source(EXAMPLE / "mapping.toml")


@pytest.fixture(scope="module")
def contract_dir(tmp_path_factory) -> Path:
    """The example's cohort as contract CSV files, written by the same generator."""
    out = tmp_path_factory.mktemp("contract")
    write_cohort(generate_cohort(EXAMPLE_PATIENTS, EXAMPLE_SEED), out)
    return out


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    # source_row is the row of the file read (the export's row vs the table's); *_as_given keeps what
    # the file said (a brand name in REDCap's choice label vs the short name): both differ by design
    kept = [c for c in frame.columns if c != "source_row" and not c.endswith("_as_given")]
    return frame[kept].reset_index(drop=True)


def test_the_shipped_example_is_exactly_the_generator_output(tmp_path):
    written = write_redcap_example(generate_cohort(EXAMPLE_PATIENTS, EXAMPLE_SEED), tmp_path)
    assert sorted(p.name for p in EXAMPLE.iterdir()) == sorted(p.name for p in written)
    for path in written:
        assert (EXAMPLE / path.name).read_bytes() == path.read_bytes(), path.name


@pytest.mark.parametrize("export", ["export.csv", "export-labels.csv"])
def test_the_example_imports_into_the_cohort_its_contract_files_give(export, contract_dir):
    result = load_redcap(*example(export))
    assert result.ok, result.report.head(20).to_string()
    # the only warning: the dictionary's infusion date, which a de-identified export leaves out
    assert [(p.severity, p.column) for p in result.problems] == [("warning", "infusion_date")]
    reference = load_paths([contract_dir]).cohort.tables
    for name in CONTRACT_TABLES:
        pd.testing.assert_frame_equal(comparable(result.cohort.tables[name]), comparable(reference[name]), obj=name)
    assert result.cohort.tables["patients"]["product_as_given"].iloc[0] in {"Yescarta", "Kymriah", "Breyanzi",
                                                                            "Tecartus", "Aucatzyl", "Abecma",
                                                                            "Carvykti"}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "icans_core", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_cli_round_trip_gives_the_same_results_export(tmp_path, contract_dir):
    converted = tmp_path / "converted"
    done = run("import-redcap", str(EXAMPLE / "export-labels.csv"), "--dictionary", str(EXAMPLE / "dictionary.csv"),
               "--mapping", str(EXAMPLE / "mapping.toml"), "--out", str(converted))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: converted" in done.stdout
    assert run("validate", str(converted)).returncode == 0
    for name, cohort in (("redcap", converted), ("contract", contract_dir)):
        done = run("export", str(cohort), "--out", str(tmp_path / name))
        assert done.returncode == 0, done.stdout + done.stderr
    files = sorted(p.name for p in (tmp_path / "contract").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "redcap").iterdir())
    assert "episodes.csv" in files
    for name in files:
        assert (tmp_path / "redcap" / name).read_bytes() == (tmp_path / "contract" / name).read_bytes(), name
    episodes = pd.read_csv(tmp_path / "redcap" / "episodes.csv")
    assert len(episodes) >= 8  # the example has severe-ICANS episodes to compare


def test_cli_check_only_and_refusal(tmp_path):
    done = run("import-redcap", str(EXAMPLE / "export.csv"), "--dictionary", str(EXAMPLE / "dictionary.csv"),
               "--mapping", str(EXAMPLE / "mapping.toml"))
    assert done.returncode == 0 and "OK: the REDCap project would load (40 patients rows" in done.stdout
    bad = tmp_path / "mapping.toml"
    bad.write_text((EXAMPLE / "mapping.toml").read_text().replace('age_years = "age"', 'age_years = "agee"'))
    done = run("import-redcap", str(EXAMPLE / "export.csv"), "--dictionary", str(EXAMPLE / "dictionary.csv"),
               "--mapping", str(bad), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert ("ERROR: mapping.toml, column patients.columns.age_years: 'agee' is not a field of the data "
            "dictionary (did you mean 'age'?). (value: 'agee')") in done.stdout
    assert not (tmp_path / "out").exists()


# --- a small hand-made project: events, repeating instruments and events, checkboxes ----------------

DICTIONARY = """Variable / Field Name,Form Name,Section Header,Field Type,Field Label,"Choices, Calculations, OR Slider Labels",Field Note,Text Validation Type OR Show Slider Number,Text Validation Min,Text Validation Max,Identifier?
study_id,enrolment,,text,Study ID,,,,,,
prod,enrolment,,radio,Product,"1, Yescarta | 2, tisa-cel",,,,,
fu,enrolment,,text,Follow-up day,,,number,,,
mrn,enrolment,,text,Hospital number,,,,,,y
dob,enrolment,,text,Date of birth,,,date_ymd,,,y
note,enrolment,,notes,Notes,,,,,,
aday,assessment,,text,Day,,,integer,,,
crs,assessment,,dropdown,CRS grade,"0, none | 1, one | 2, two | 3, three | 4, four | 5, five",,,,,
icans,assessment,,text,ICANS grade,,,,,,
pressors,assessment,,checkbox,Vasopressors,"1, Norepinephrine | 2, Vasopressin | 3, Epinephrine",,,,,
temp,assessment,,text,Temperature,,,number,,,
episode_kind,episode,,radio,Syndrome,"1, CRS | 2, ICANS",,,,,
ep_onset,episode,,text,Onset day,,,number,,,
ep_peak,episode,,radio,Highest grade,"0, 0 | 1, 1 | 2, 2 | 3, 3 | 4, 4 | 5, 5",,,,,
ep_end,episode,,text,Resolution day,,,number,,,
ep_tx,episode,,checkbox,Treatments,"1, Tocilizumab | 2, Dexamethasone | 3, IVIG",,,,,
"""
MAPPING = """version = 1
[patients]
instrument = "enrolment"
event = "baseline_arm_1"
[patients.columns]
product = "prod"
last_followup_day = "fu"

[toxicity]
instrument = "assessment"
[toxicity.columns]
day = "aday"
crs_grade = "crs"
icans_grade = "icans"

[toxicity_episodes]
instrument = "episode"
[toxicity_episodes.columns]
syndrome = "episode_kind"
onset_day = "ep_onset"
peak_grade = "ep_peak"
resolution_day = "ep_end"
treatments = "ep_tx"
"""
# A longitudinal project: enrolment in the baseline event; "assessment" is a repeating event (no
# repeat instrument on its rows); "episode" a repeating instrument. Spreadsheet rows start at 2.
EXPORT = """study_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,prod,fu,mrn,dob,note,enrolment_complete,aday,crs,icans,pressors___1,pressors___2,pressors___3,temp,assessment_complete,episode_kind,ep_onset,ep_peak,ep_end,ep_tx___1,ep_tx___2,ep_tx___3,episode_complete
S1,baseline_arm_1,,,1,100,,,,2,,,,,,,,,,,,,,,,
S1,daily_arm_1,,1,,,,,,,1,1,0,0,0,0,38.5,2,,,,,,,,
S1,daily_arm_1,,2,,,,,,,2,3,1,1,1,0,39,2,,,,,,,,
S1,baseline_arm_1,episode,1,,,,,,,,,,,,,,,2,5,3,9,0,1,1,2
S2,baseline_arm_1,,,2,50,,,,2,,,,,,,,,,,,,,,,
S2,daily_arm_1,,1,,,,,,,3,2,,0,0,0,,2,,,,,,,,
"""


def project(export: str = EXPORT, mapping: str = MAPPING, dictionary: str = DICTIONARY):
    return (Source("export.csv", export.encode()), Source("dictionary.csv", dictionary.encode()),
            Source("mapping.toml", mapping.encode()))


# the example's mapping with the assessment instrument's observations: a checkbox into a list column
OBSERVATIONS = MAPPING + """
[observations]
instrument = "assessment"
[observations.columns]
day = "aday"
temperature_c = "temp"
vasopressors = "pressors"
"""


def test_events_repeating_events_instruments_and_checkboxes():
    result = load_redcap(*project())
    assert result.ok, result.report.to_string()
    tables = result.cohort.tables
    assert tables["patients"][["patient_id", "product", "last_followup_day"]].to_dict("records") == [
        {"patient_id": "S1", "product": "axi-cel", "last_followup_day": 100.0},
        {"patient_id": "S2", "product": "tisa-cel", "last_followup_day": 50.0}]
    assert list(tables["patients"]["source_row"]) == [2, 6]  # the export's rows
    episodes = tables["toxicity_episodes"]
    assert episodes[["patient_id", "syndrome", "onset_day", "peak_grade", "resolution_day", "treatments"]].to_dict(
        "records") == [{"patient_id": "S1", "syndrome": "ICANS", "onset_day": 5.0, "peak_grade": 3,
                        "resolution_day": 9.0, "treatments": "dexamethasone; IVIG"}]
    tox = tables["toxicity"].sort_values(["patient_id", "day"])
    assert tox[["patient_id", "day", "crs_grade", "icans_grade", "icans_grade_source"]].astype(object).where(
        tox.notna(), None).to_dict("records") == [
        {"patient_id": "S1", "day": 1.0, "crs_grade": 1, "icans_grade": 0, "icans_grade_source": "recorded"},
        {"patient_id": "S1", "day": 2.0, "crs_grade": 3, "icans_grade": 1, "icans_grade_source": "recorded"},
        {"patient_id": "S1", "day": 5.0, "crs_grade": None, "icans_grade": 3, "icans_grade_source": "episode form"},
        {"patient_id": "S1", "day": 9.0, "crs_grade": None, "icans_grade": 0, "icans_grade_source": "episode form"},
        {"patient_id": "S2", "day": 3.0, "crs_grade": 2, "icans_grade": None, "icans_grade_source": None}]
    # unmapped fields are named; the empty identifier and date fields are not refused
    unmapped = {p.column for p in result.problems if "not imported" in p.problem}
    assert unmapped == {"mrn", "dob", "note", "pressors", "temp"}


def test_checkbox_into_a_list_column_and_vasopressin_not_counted():
    result = load_redcap(*project(mapping=OBSERVATIONS))
    assert result.ok, result.report.to_string()
    obs = result.cohort.tables["observations"]
    assert list(obs["vasopressors"].fillna("")) == ["", "norepinephrine; vasopressin"]


def test_identifier_and_date_fields_with_values_are_refused_on_a_server_and_dropped_locally():
    export = EXPORT.replace("S1,baseline_arm_1,,,1,100,,,", "S1,baseline_arm_1,,,1,100,12345,2001-02-03,")
    result = load_redcap(*project(export=export))
    assert not result.ok
    found = {(p.column, p.severity) for p in result.problems if p.severity == "error"}
    assert found == {("mrn", "error"), ("dob", "error")}
    assert all("de-identification" in p.problem for p in result.errors)
    local = redcap.convert_redcap(*project(export=export), on_server=False)
    assert not [p for p in local.problems if p.severity == "error"]
    assert {p.column for p in local.problems if "dropped" in p.problem} == {"mrn", "dob"}


@pytest.mark.parametrize("change, column, words", [
    (('version = 1', 'version = 2'), "version", "version = 1"),
    (('[toxicity]\ninstrument = "assessment"\n[toxicity.columns]', '[toxcity]\ninstrument = "assessment"\n'
      '[toxcity.columns]'), "toxcity", "not a table of the data format"),
    (('day = "aday"', 'dday = "aday"'), "toxicity.columns.dday", "not a column of the toxicity table"),
    (('day = "aday"', 'day = "fu"'), "toxicity.columns.day", "is on form 'enrolment'"),
    (('last_followup_day = "fu"', 'last_followup_day = "dob"'), "patients.columns.last_followup_day",
     "date_ymd field: calendar dates never enter a cohort"),
    (('crs_grade = "crs"', 'crs_grade = "pressors"'), "toxicity.columns.crs_grade", "is a checkbox"),
    (('instrument = "episode"', 'instrument = "episodes"'), "toxicity_episodes.instrument",
     "did you mean 'episode'"),
    (('onset_day = "ep_onset"\n', ''), "toxicity_episodes.columns.onset_day", "required column 'onset_day'"),
], ids=["version", "unknown-table", "unknown-column", "wrong-form", "date-field", "checkbox", "instrument",
        "unmapped-required"])
def test_the_mapping_validator_names_each_problem(change, column, words):
    mapping = MAPPING.replace(*change)
    result = load_redcap(*project(mapping=mapping))
    assert not result.ok
    errors = [p for p in result.errors if p.source == "mapping.toml"]
    named = [p for p in errors if p.column == column]
    assert len(named) == 1, [(p.column, p.problem) for p in result.errors]
    assert words in named[0].problem
    # nothing else is blamed but what follows from the change (a required column left unmapped)
    assert all(p.column == column or "is not mapped" in p.problem for p in errors), [p.problem for p in errors]


def test_mis_typed_fields_are_named():
    # a radio whose codes are not numbers cannot fill a number column
    dictionary = DICTIONARY.replace('episode_kind,episode,,radio,Syndrome,"1, CRS | 2, ICANS"',
                                    'episode_kind,episode,,radio,Syndrome,"c, CRS | i, ICANS"')
    mapping = MAPPING.replace('peak_grade = "ep_peak"', 'peak_grade = "episode_kind"\nsyndrome_x = 1')
    found = redcap.check_mapping(redcap.tomllib.loads(mapping), redcap.read_dictionary(
        Source("d.csv", dictionary.encode()))[0], "mapping.toml")[1]
    messages = {p.column: p.problem for p in found if p.severity == "error"}
    assert "codes are not numbers" in messages["toxicity_episodes.columns.peak_grade"]
    assert "not a column of the toxicity_episodes table" in messages["toxicity_episodes.columns.syndrome_x"]
    # free text (no number validation) for a grade is allowed, with a warning: each value is checked
    warnings = {p.column: p.problem for p in found if p.severity == "warning"}
    assert "free text" in warnings["toxicity.columns.icans_grade"]


def test_values_are_checked_by_the_normal_validation_naming_the_export_row_and_field():
    export = EXPORT.replace("S1,daily_arm_1,,2,,,,,,,2,3,1,", "S1,daily_arm_1,,2,,,,,,,2,3,7,")
    result = load_redcap(*project(export=export))
    assert not result.ok
    [problem] = result.errors
    assert (problem.source, problem.row, problem.column, problem.value) == (
        "export.csv › assessment (as toxicity)", 4, "icans (icans_grade)", "7")
    assert problem.problem == "Must be 5 or less."


def test_a_choice_not_in_the_dictionary_is_refused():
    export = EXPORT.replace("S2,baseline_arm_1,,,2,50", "S2,baseline_arm_1,,,9,50")
    result = load_redcap(*project(export=export))
    [problem] = result.errors
    assert (problem.row, problem.column, problem.value) == (6, "prod", "9")
    assert "Not one of the choices of 'prod'" in problem.problem


def test_unreadable_files_give_messages_not_tracebacks():
    result = load_redcap(Source("export.csv", b""), Source("dictionary.csv", b"a,b\n1,2\n"),
                         Source("mapping.toml", b"version = = 1"))
    assert not result.ok
    problems = {p.source: p.problem for p in result.errors}
    assert "Not a REDCap data dictionary" in problems["dictionary.csv"]
    assert "not valid TOML" in problems["mapping.toml"]


def test_episode_treatment_days_from_a_text_field_become_interventions():
    # A text field on the episode form holds the ticked treatments' first days, in the choices' order.
    dictionary = DICTIONARY.replace(
        'ep_tx,episode,,checkbox,Treatments,"1, Tocilizumab | 2, Dexamethasone | 3, IVIG",,,,,\n',
        'ep_tx,episode,,checkbox,Treatments,"1, Tocilizumab | 2, Dexamethasone | 3, IVIG",,,,,\n'
        'ep_tx_start,episode,,text,First day of each treatment,,,,,,\n')
    mapping = MAPPING.replace('treatments = "ep_tx"\n', 'treatments = "ep_tx"\ntreatment_start_days = "ep_tx_start"\n')
    export = EXPORT.replace("ep_tx___3,episode_complete", "ep_tx___3,ep_tx_start,episode_complete")
    lines = export.splitlines()
    lines = [line + ",," if i and not line.startswith("S1,baseline_arm_1,episode") else line for i, line in
             enumerate(lines)]
    lines = [line.replace(",0,1,1,2", ',0,1,1,"5; 6.5",2') if line.startswith("S1,baseline_arm_1,episode") else line
             for line in lines]
    # every other row gets one more (empty) cell: undo the extra comma added above
    lines = [line[:-1] if line.endswith(",,") else line for line in lines]
    result = load_redcap(*project("\n".join(lines) + "\n", mapping, dictionary))
    assert result.ok, result.report.to_string()
    given = result.cohort.tables["interventions"]
    assert [(r.patient_id, r.agent, r.start_day, r.end_day) for r in given.itertuples(index=False)] == [
        ("S1", "dexamethasone", 5.0, 5.0), ("S1", "IVIG", 6.5, 6.5)]


# --- damaged exports (adversarial findings): refused with the cause, never loaded with data lost -------------

def without_column(export: str, name: str) -> str:
    lines = [line.split(",") for line in export.strip().split("\n")]
    at = lines[0].index(name)
    return "\n".join(",".join(cells[:at] + cells[at + 1:]) for cells in lines) + "\n"


def test_a_mapped_field_the_export_lacks_is_refused_by_name():
    # an optional column (temperature) would have loaded blank, every value lost, with no word
    result = load_redcap(*project(export=without_column(EXPORT, "temp"), mapping=OBSERVATIONS))
    assert not result.ok
    assert [(p.row, p.column, p.problem) for p in result.errors] == [
        (1, "temp", "The export has no column 'temp' (mapped to observations.temperature_c).")]
    # a required one is named too, besides the empty cells it leaves
    result = load_redcap(*project(export=without_column(EXPORT, "fu")))
    assert (1, "fu", "The export has no column 'fu' (mapped to patients.last_followup_day).") in [
        (p.row, p.column, p.problem) for p in result.errors]


def with_column(export: str, after: str, name: str, value) -> str:
    """The export with a column `name` after `after`, its cell in each row value(row cells)."""
    rows = [line.split(",") for line in export.strip().split("\n")]
    at = rows[0].index(after) + 1
    rows[0].insert(at, name)
    for row in rows[1:]:
        row.insert(at, value(row))
    return "\n".join(",".join(r) for r in rows) + "\n"


def test_a_ticked_checkbox_choice_the_dictionary_does_not_list_is_refused():
    # pressors___9 ticked on S1's second assessment; the dictionary lists choices 1-3: the tick would be lost
    export = with_column(EXPORT, "pressors___3", "pressors___9",
                         lambda row: "1" if row[1] == "daily_arm_1" and row[3] == "2" else "")
    result = load_redcap(*project(export=export, mapping=OBSERVATIONS))
    assert not result.ok
    [problem] = result.errors
    assert (problem.row, problem.column) == (1, "pressors___9")
    assert "a choice of the checkbox 'pressors' that the data dictionary does not list" in problem.problem
    assert "ticked in 1 row(s)" in problem.problem
    # the same column ticked nowhere loses nothing: it loads as before
    unticked = with_column(EXPORT, "pressors___3", "pressors___9", lambda row: "" if row[1] != "daily_arm_1" else "0")
    assert load_redcap(*project(export=unticked, mapping=OBSERVATIONS)).ok


def test_an_event_the_export_does_not_have_is_named_with_the_events_it_has():
    result = load_redcap(*project(mapping=MAPPING.replace('event = "baseline_arm_1"', 'event = "baseline_arm_9"')))
    assert not result.ok
    [problem] = result.errors
    assert problem.problem == ("No row of the export is in the event 'baseline_arm_9', which the mapping reads "
                               "patients from. The export's events: 'baseline_arm_1', 'daily_arm_1'. Correct the "
                               "event's unique name in the mapping.")
    assert (problem.column, problem.value) == ("redcap_event_name", "baseline_arm_9")
    classic = without_column(EXPORT, "redcap_event_name")
    [problem] = load_redcap(*project(export=classic)).errors
    assert "the export has no redcap_event_name column" in problem.problem


def test_a_choice_code_the_dictionary_gives_twice_is_refused():
    # '1, CRS | 2, ICANS | 1, ICANS': the later label won without a word, every CRS episode became ICANS
    dictionary = DICTIONARY.replace('"1, CRS | 2, ICANS"', '"1, CRS | 2, ICANS | 1, ICANS"')
    assert dictionary != DICTIONARY
    result = load_redcap(*project(dictionary=dictionary))
    assert not result.ok
    [problem] = result.errors
    assert problem.source == "dictionary.csv" and problem.value == "1, CRS | 2, ICANS | 1, ICANS"
    assert problem.problem.startswith("The radio field 'episode_kind' gives the choice code '1' more than once "
                                      "('CRS', 'ICANS'): which label a stored code means is undefined.")


def test_a_mapped_column_the_export_gives_twice_is_refused():
    # a second 'icans' column holding 4 on every assessment: only the first was read, the other dropped unseen
    export = with_column(EXPORT, "temp", "icans", lambda row: "4" if row[1] == "daily_arm_1" else "")
    result = load_redcap(*project(export=export))
    assert not result.ok
    [problem] = result.errors
    assert (problem.source, problem.row, problem.column) == ("export.csv", 1, "icans")
    assert problem.problem.startswith("The export's header gives the column 'icans' 2 times: which one holds the "
                                      "values is undefined, so nothing is imported.")
    # by its label in a labels export (the shipped example's), and a checkbox choice's column too
    labels, dictionary, mapping = example("export-labels.csv")
    lines = labels.data.decode("utf-8").splitlines()
    column = lines[0].split(",").index("ASTCT ICANS grade")
    doubled = "\n".join(",".join((cells := line.split(","))[:column + 1] + cells[column:]) for line in lines) + "\n"
    [problem] = load_redcap(Source(labels.name, doubled.encode()), dictionary, mapping).errors
    assert problem.problem.startswith("The export's header gives the column 'icans_grade' 2 times ('ASTCT ICANS "
                                      "grade', 'ASTCT ICANS grade'): which one holds the values is undefined")
    ticks = with_column(EXPORT, "ep_tx___3", "ep_tx___3", lambda row: "")
    assert [p.column for p in load_redcap(*project(export=ticks)).errors] == ["ep_tx___3"]
    # a column the mapping does not read may repeat: it is not imported either way
    assert load_redcap(*project(export=with_column(EXPORT, "note", "note", lambda row: ""))).ok


def test_a_semicolon_separated_export_is_named_as_such():
    export = EXPORT.replace(",", ";")
    [problem] = load_redcap(*project(export=export)).errors
    assert problem.problem == ("The export has no column 'study_id' (the record id). Its cells are separated by "
                               "semicolons: export the data from REDCap again as CSV (comma-separated), or save it "
                               "from the spreadsheet as CSV with commas.")

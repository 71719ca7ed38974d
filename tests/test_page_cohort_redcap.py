"""The Cohort page's REDCap import and derived-grade sections through AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.test_page_cohort import as_shown, assert_no_exception, errors, loaded_line, metric

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "data" / "redcap-example"
DISCREPANCY_COLUMNS = ["patient_id", "day", "syndrome", "recorded_grade", "derived_grade", "driver", "difference"]


@pytest.fixture
def app(monkeypatch) -> AppTest:
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=90)
    at.run()
    at.switch_page("views/cohort.py")
    at.run()
    return at


def files(mapping: bytes | None = None):
    return {"redcap_export": ("export.csv", (EXAMPLE / "export.csv").read_bytes(), "text/csv"),
            "redcap_dictionary": ("dictionary.csv", (EXAMPLE / "dictionary.csv").read_bytes(), "text/csv"),
            "redcap_mapping": ("mapping.toml", mapping or (EXAMPLE / "mapping.toml").read_bytes(), "text/plain")}


def import_redcap(at: AppTest, chosen: dict) -> None:
    if not at.toggle(key="redcap_open").value:
        at.toggle(key="redcap_open").set_value(True)
        at.run()
    for key, file in chosen.items():
        at.file_uploader(key=key).set_value(file)
    at.run()
    button = at.button(key="redcap_load")
    assert not button.disabled
    button.click()
    at.run()
    assert_no_exception(at)


def discrepancy_tables(at: AppTest):
    return [d.value for d in at.dataframe if list(d.value.columns) == DISCREPANCY_COLUMNS]


def test_the_sample_shows_its_discrepancies(app):
    assert_no_exception(app)
    assert not [b for b in app.button if b.key == "redcap_load"]  # the import opens on request
    app.toggle(key="redcap_open").set_value(True)
    app.run()
    assert app.button(key="redcap_load").disabled  # nothing chosen yet
    [table] = discrepancy_tables(app)
    assert set(table["syndrome"]) == {"CRS", "ICANS"}
    assert any("disagree" in w.value for w in app.warning)


def test_importing_the_example_loads_it_and_a_bad_mapping_is_refused(app):
    import_redcap(app, files())
    assert errors(app) == []
    assert metric(app, "Patients") == "40"
    assert "export.csv (REDCap)" in loaded_line(app)
    assert any("Imported export.csv, dictionary.csv, mapping.toml from REDCap" in as_shown(s.value) for s in app.success)
    assert discrepancy_tables(app), "the example's discrepancies are listed"

    bad = (EXAMPLE / "mapping.toml").read_bytes().replace(b'day = "tox_day"', b'day = "tox_date"')
    import_redcap(app, files(bad))
    shown = errors(app)
    assert any("Not imported" in e for e in shown), shown
    reports = [d.value for d in app.dataframe if "problem" in d.value.columns]
    assert any(r["problem"].str.contains("'tox_date' is not a field of the data dictionary").any() for r in reports)
    assert metric(app, "Patients") == "40"  # still the imported cohort


EPISODES_CSV = (
    "patient_id,syndrome,onset_day,peak_grade,resolution_day,treatments\n"
    "P1,CRS,2,2,6,tocilizumab\n"
    "P1,ICANS,5,4,12,dexamethasone; IVIG\n"
    "P2,ICANS,4,3,,\n"
)
PATIENTS_CSV = (
    "patient_id,product,group,disease,age_years,sex,ecog,last_followup_day,death_day,death_cause\n"
    "P1,axi-cel,Steroids + IVIG,DLBCL,61,F,1,100,,\n"
    "P2,Kymriah,Steroids alone,FL,70,M,0,200,,\n"
)


def test_an_episode_form_loads_with_its_limits_stated_on_the_pages(app):
    app.file_uploader(key="upload_files").set_value([("patients.csv", PATIENTS_CSV.encode(), "text/csv"),
                                                     ("toxicity_episodes.csv", EPISODES_CSV.encode(), "text/csv")])
    app.run()
    app.button(key="upload_load").click()
    app.run()
    assert_no_exception(app)
    assert errors(app) == []
    assert metric(app, "Patients") == "2"
    assert metric(app, "Episode forms") == "3"
    assert metric(app, "Toxicity assessments") == "6"  # 2 per resolved episode, 2 for the unresolved one
    notices = [i.value for i in app.info if "episode-level forms" in i.value]
    assert notices and "no daily kinetics of grade" in notices[0]
    sources = [d.value for d in app.dataframe if list(d.value.columns) == ["syndrome", "source", "assessments",
                                                                         "patients"]]
    assert sources and set(sources[0]["source"]) == {"episode form"}
    for page in ("views/swimlanes.py", "views/resolution.py"):
        app.switch_page(page)
        app.run()
        assert_no_exception(app)
        assert any("no daily kinetics of grade" in i.value for i in app.info), page

"""The sidebar's cohort filters through AppTest: URL parameters seed them, every page follows them."""

import csv
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.test_page_cohort import as_shown

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"


def sample_patients() -> list[dict]:
    with open(SAMPLE / "patients.csv", newline="") as f:
        return list(csv.DictReader(f))


def open_app(monkeypatch, **query) -> AppTest:
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def sidebar_text(at: AppTest) -> str:
    """The sidebar's text as the reader sees it (user values are markdown-escaped in the source)."""
    return as_shown("\n".join(m.value for m in at.sidebar.markdown) + "\n"
                    + "\n".join(c.value for c in at.sidebar.caption))


def test_no_filter_selects_everyone(monkeypatch):
    at = open_app(monkeypatch)
    assert f"All {len(sample_patients()):,} patients selected (no filter)." in sidebar_text(at)


def test_url_parameters_seed_the_filters(monkeypatch):
    at = open_app(monkeypatch, product=["axi-cel", "tisa-cel"], sex="F")
    expected = [p for p in sample_patients() if p["product"] in ("axi-cel", "tisa-cel") and p["sex"] == "F"]
    text = sidebar_text(at)
    assert f"**{len(expected):,} of {len(sample_patients()):,} patients selected**" in text
    assert "product: axi-cel, tisa-cel; sex: F" in text
    assert at.multiselect(key="product").value == ["axi-cel", "tisa-cel"]
    # the Overview's key number follows the filter
    patients_metric = next(m for m in at.metric if m.label == "Patients")
    assert patients_metric.value.replace(",", "") == str(len(expected))


def test_per_group_counts_are_shown(monkeypatch):
    at = open_app(monkeypatch, product="axi-cel")
    axi = [p for p in sample_patients() if p["product"] == "axi-cel"]
    ivig = [p for p in sample_patients() if p["group"] == "Steroids + IVIG"]
    ivig_axi = [p for p in axi if p["group"] == "Steroids + IVIG"]
    assert f"Steroids + IVIG: {len(ivig_axi)} of {len(ivig)}" in sidebar_text(at)


def test_changing_a_filter_changes_the_selection(monkeypatch):
    at = open_app(monkeypatch)
    at.multiselect(key="disease").set_value(["MM"]).run()
    myeloma = [p for p in sample_patients() if p["disease"] == "MM"]
    assert f"**{len(myeloma):,} of" in sidebar_text(at)


def test_an_empty_selection_says_how_to_widen_it(monkeypatch):
    at = open_app(monkeypatch, product="ide-cel", costim="CD28")  # ide-cel is 4-1BB: nobody
    assert "**0 of" in sidebar_text(at)
    assert any("No patient matches every filter" in w.value for w in at.sidebar.warning)
    assert any("No patients are selected" in i.value for i in at.info)  # the page says so too


def test_unknown_and_malformed_parameters_are_noted_not_fatal(monkeypatch):
    at = open_app(monkeypatch, bogus="1", product="not-a-product", max_crs="9")
    assert "Ignored link parameter(s) the app does not know: bogus." in sidebar_text(at)
    assert "Ignored link value(s) not found in this cohort: product=not-a-product, max_crs=9" in sidebar_text(at)
    at.run()  # the note stays for the session, after the address has been cleaned
    assert "product=not-a-product" in sidebar_text(at)
    assert at.multiselect(key="product").value == []  # an invalid value falls back to no restriction
    assert f"All {len(sample_patients()):,} patients selected" in sidebar_text(at)


@pytest.mark.parametrize("page", ["views/resolution.py", "views/swimlanes.py", "views/cytokines.py",
                                  "views/treatments.py", "views/expansion.py"])
def test_every_page_runs_on_a_filtered_cohort(monkeypatch, page):
    at = open_app(monkeypatch, product="axi-cel", rx="IVIG")
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def test_a_link_opens_a_given_patient_within_the_filter(monkeypatch):
    chosen = next(p for p in sample_patients() if p["product"] == "axi-cel")["patient_id"]
    at = open_app(monkeypatch, product="axi-cel", patient_id=chosen)
    at.switch_page("views/patient.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="patient_id").value == chosen
    axi = [p for p in sample_patients() if p["product"] == "axi-cel"]
    assert at.selectbox(key="patient_id").options and len(at.selectbox(key="patient_id").options) == len(axi)

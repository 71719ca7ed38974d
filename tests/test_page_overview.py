"""The Overview page through Streamlit's AppTest, on the sample cohort and on a tiny cohort."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from icans_core import store
from icans_core.ingest import load_sources
from tests.cohorts import sources, with_cell
from ui.text import plain, unplain

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "views" / "overview.py"
SAMPLE = ROOT / "data" / "sample"
CONNECTION_KEY = "duckdb_connection"  # where ui/session.py keeps this session's database
KATSIN = "Katsin et al., Front Immunol 2024;15:1380451, Table 1"
MOKHTARI = "Mokhtari et al., Int J Mol Sci 2025;26(8):3904"



@pytest.fixture(scope="module")
def sample() -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(SAMPLE / f"{name}.csv") for name in ("patients", "toxicity")}


@pytest.fixture
def app(monkeypatch) -> AppTest:
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert len(found) == 1, [m.label for m in at.metric]
    return found[0]


def table_1(at: AppTest) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if "characteristic" in d.value.columns]
    assert len(found) == 1
    return found[0]


def comparison(at: AppTest) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if "source" in d.value.columns]
    assert len(found) == 1
    return found[0]


def test_key_numbers_match_the_sample_files(app, sample):
    patients, toxicity = sample["patients"], sample["toxicity"]
    severe = toxicity.loc[toxicity["icans_grade"] >= 3, "patient_id"].nunique()
    deaths = int(patients["death_day"].notna().sum())
    assert metric(app, "Patients") == f"{len(patients):,}"
    assert metric(app, "With severe ICANS") == f"{severe} ({round(100 * severe / len(patients))}%)"
    assert metric(app, "Deaths").startswith(f"{deaths} (")
    assert metric(app, "Median time to resolution").endswith(" days")
    assert [unplain(s.value) for s in app.subheader] == [
        "Patient characteristics per group (Table 1)", "Maximum CRS and ICANS grade per group",
        "This cohort beside published series"]


def test_table_1_has_a_column_per_group_and_names_its_tests(app, sample):
    table = table_1(app)
    sizes = sample["patients"]["group"].value_counts()
    expected = [f"{g} (n={sizes[g]})" for g in sorted(sizes.index)] + [f"All patients (n={sizes.sum()})"]
    assert list(table.columns) == ["characteristic", "level", *expected, "test", "p"]
    tests = set(table["test"]) - {""}
    assert {"Kruskal-Wallis", "Fisher's exact"} <= tests
    assert tests <= {"Kruskal-Wallis", "Fisher's exact", "Fisher's exact (Monte Carlo, 9,999 tables)",
                     "Mann-Whitney U", "not tested (one value only)", "not tested (fewer than 2 groups with data)"}
    sex = table[table["characteristic"] == "Sex"].set_index("level")
    female = sample["patients"].query("group == 'Steroids + IVIG' and sex == 'F'")
    assert sex.loc["F", f"Steroids + IVIG (n={sizes['Steroids + IVIG']})"].startswith(f"{len(female)} (")
    caption = " ".join(unplain(c.value) for c in app.caption)
    assert "Kruskal-Wallis" in caption and "Fisher's exact" in caption


def test_group_by_changes_table_1(app, sample):
    before = list(table_1(app).columns)
    app.session_state["group_by"] = "product"
    app.run()
    assert not app.exception
    after = list(table_1(app).columns)
    assert after != before
    products = sample["patients"]["product"].value_counts()
    assert [c for c in after if c not in ("characteristic", "level", "test", "p")] == [
        f"{p} (n={products[p]})" for p in sorted(products.index)] + [f"All patients (n={products.sum()})"]


def test_grade_chart_and_small_group_warning(app, sample):
    specs = [json.loads(c.proto.spec) for c in app.get("vega_lite_chart")]
    assert [s["title"]["text"] for s in specs] == ["Maximum CRS and ICANS grade per group"]
    small = sample["patients"]["group"].value_counts()
    small = small[small < 10]
    warnings = " ".join(unplain(w.value) for w in app.warning)
    for group, n in small.items():
        assert f"{group} ({n})" in warnings  # group labels are markdown-escaped


def test_comparison_with_published_series_cites_each_source(app, sample):
    table = comparison(app)
    assert {"this cohort", KATSIN, MOKHTARI} == set(table["source"])
    strati = table[table["series"] == "Strati et al. 2020"].iloc[0]
    # columns with blanks (N/R) arrive as the text the reports show
    assert (strati["n"], strati["response_rate"], strati["median_ttr_days"], strati["median_csd_mg"]) == (
        6, "66%", "28.5", "1446.0")
    ours = table[table["source"] == "this cohort"]
    severe = sample["toxicity"].loc[sample["toxicity"]["icans_grade"] >= 3, "patient_id"].unique()
    assert ours["n"].sum() == len(severe)
    text = " ".join(unplain(m.value) for m in app.markdown)
    assert KATSIN in text and MOKHTARI in text


def test_a_cohort_without_severe_icans_says_so(monkeypatch):
    tables = with_cell("toxicity", 3, "icans_grade", "2")  # P1's only grade 3 becomes 2
    result = load_sources(sources(tables))
    assert result.ok, result.report.to_string()
    con = store.connect()
    store.load_cohort(con, result.cohort)
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state[CONNECTION_KEY] = con
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert metric(at, "With severe ICANS") == "0 (0%)"
    assert metric(at, "Median time to resolution") == "n/a"
    assert any("severe-ICANS episode" in unplain(i.value) for i in at.info)
    assert set(comparison(at)["source"]) == {KATSIN, MOKHTARI}

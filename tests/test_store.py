"""The DuckDB store: one private database per connection, cohorts replaced whole or not at all."""

import pandas as pd
import pytest

from icans_core import store
from icans_core.ingest import load_sources
from tests.cohorts import copy_tables, sources


def small_cohort(extra_patient: str | None = None):
    tables = copy_tables()
    if extra_patient:
        tables["patients"].append([extra_patient, "Breyanzi", "", "MM", "", "", "", "10", "", ""])
    result = load_sources(sources(tables), label="small")
    assert result.ok, result.report
    return result.cohort


def test_a_loaded_cohort_is_counted():
    con = store.connect()
    store.load_cohort(con, small_cohort())
    assert store.table_counts(con).to_dict("records") == [
        {"table": "patients", "rows": 2}, {"table": "toxicity", "rows": 4},
        {"table": "interventions", "rows": 2}, {"table": "labs", "rows": 4},
        {"table": "observations", "rows": 0}, {"table": "toxicity_episodes", "rows": 0}]
    assert store.product_counts(con).to_dict("records") == [
        {"product": "axi-cel", "target": "CD19", "costimulatory_domain": "CD28", "patients": 1},
        {"product": "tisa-cel", "target": "CD19", "costimulatory_domain": "4-1BB", "patients": 1}]
    info = store.cohort_info(con)
    assert info["label"] == "small"
    assert list(info["sources"]["name"]) == ["interventions.csv", "labs.csv", "patients.csv", "toxicity.csv"]
    assert all(len(h) == 64 for h in info["sources"]["sha256"])


def test_group_falls_back_to_the_product():
    con = store.connect()
    store.load_cohort(con, small_cohort(extra_patient="P3"))
    groups = dict(store.group_counts(con).itertuples(index=False))
    assert groups == {"Steroids + IVIG": 1, "Steroids alone": 1, "liso-cel": 1}


def test_optional_tables_exist_empty_when_not_uploaded():
    tables = copy_tables()
    del tables["labs"]
    con = store.connect()
    store.load_cohort(con, load_sources(sources(tables)).cohort)
    labs = store.read_table(con, "labs")
    assert len(labs) == 0
    assert "below_lloq" in labs.columns


def test_tables_round_trip_through_duckdb():
    cohort = small_cohort()
    con = store.connect()
    store.load_cohort(con, cohort)
    def values(column):
        return column.astype(object).where(column.notna(), None).tolist()

    for name, frame in cohort.tables.items():
        back = store.read_table(con, name)
        assert list(back.columns) == list(frame.columns)
        for column in frame.columns:
            assert values(back[column]) == values(frame[column]), (name, column)


def test_connections_are_private():
    first, second = store.connect(), store.connect()
    store.load_cohort(first, small_cohort())
    store.load_cohort(second, small_cohort(extra_patient="P3"))
    assert store.table_counts(first).iloc[0]["rows"] == 2
    assert store.table_counts(second).iloc[0]["rows"] == 3


def test_a_new_cohort_replaces_the_old_one_entirely():
    con = store.connect()
    store.load_cohort(con, small_cohort(extra_patient="P3"))
    tables = copy_tables()
    del tables["interventions"]
    store.load_cohort(con, load_sources(sources(tables), label="second").cohort)
    counts = dict(store.table_counts(con).itertuples(index=False))
    assert counts == {"patients": 2, "toxicity": 4, "interventions": 0, "labs": 4, "observations": 0,
                      "toxicity_episodes": 0}
    assert store.cohort_info(con)["label"] == "second"


def test_a_failing_load_leaves_the_previous_cohort_in_place():
    con = store.connect()
    store.load_cohort(con, small_cohort())
    broken = small_cohort(extra_patient="P3")
    broken.tables["labs"] = pd.DataFrame({"nonsense": [1]})  # cannot be inserted
    with pytest.raises(Exception):
        store.load_cohort(con, broken)
    assert store.table_counts(con).iloc[0]["rows"] == 2
    assert store.cohort_info(con)["label"] == "small"


def test_only_schema_identifiers_are_accepted():
    assert store.quote("patients") == '"patients"'
    assert store.quote("group") == '"group"'
    with pytest.raises(ValueError):
        store.quote('patients"; DROP TABLE patients; --')
    with pytest.raises(ValueError):
        store.read_table(store.connect(), "information_schema.tables")


def test_cohort_labels_are_parameters_not_sql():
    hostile = small_cohort()
    hostile.label = "x'); DROP TABLE patients; --"
    con = store.connect()
    store.load_cohort(con, hostile)
    assert store.cohort_info(con)["label"] == hostile.label
    assert store.table_counts(con).iloc[0]["rows"] == 2

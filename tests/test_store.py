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


# --- cohorts shared by reference (issue 11) ------------------------------------------------------

@pytest.fixture
def shared_file(tmp_path):
    path = tmp_path / "shared.duckdb"
    store.save_cohort_file(path, small_cohort(extra_patient="P3"), {"label": "shared"})
    return path


def test_a_shared_file_is_attached_not_copied_and_cannot_be_written(shared_file):
    import duckdb

    con = store.open_shared(shared_file)
    assert store.is_shared(con)
    assert store.table_counts(con).iloc[0]["rows"] == 3
    for statement in ("INSERT INTO shared_cohort.patients (patient_id) VALUES ('X')",
                      "DELETE FROM patients", "DROP TABLE shared_cohort.labs",
                      "CREATE TABLE shared_cohort.main.extra (x INTEGER)"):
        with pytest.raises(duckdb.Error):
            con.execute(statement)
    # while a session has it attached, nobody in this process can open it for writing
    with pytest.raises(duckdb.Error):
        store.connect().execute(f"ATTACH '{shared_file}' AS writable")
    assert store.table_counts(store.open_shared(shared_file)).iloc[0]["rows"] == 3


def test_sessions_on_one_shared_file_keep_their_own_selection(shared_file):
    from icans_core.filters import CohortFilter

    first, second = store.open_shared(shared_file), store.open_shared(shared_file)
    assert store.select_patients(first, CohortFilter(products=("axi-cel",))) == 1
    assert store.select_patients(second, CohortFilter()) == 3
    assert list(store.patients_frame(first)["patient_id"]) == ["P1"]
    assert len(store.patients_frame(second)) == 3
    # the patient-day table was derived once, into the file: both read it, neither copies it
    assert len(store.lab_patient_days(first, ["IL-6"])) < len(store.lab_patient_days(second, ["IL-6"]))
    own = "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND table_name = ?"
    assert first.execute(own, ["derived_lab_days"]).fetchone()[0] == 0
    # what a session derives for its options lives in its own database only
    from icans_core import derived_tables
    derived_tables.episodes(first)
    assert first.execute(own, ["derived_episodes_group_3_1_onset"]).fetchone()[0] == 1
    assert second.execute(own, ["derived_episodes_group_3_1_onset"]).fetchone()[0] == 0


def test_an_upload_replaces_a_shared_cohort_with_private_tables(shared_file):
    con = store.open_shared(shared_file)
    store.lab_patient_days(con, ["IL-6"])
    store.load_cohort(con, small_cohort())
    assert not store.is_shared(con)
    assert store.table_counts(con).iloc[0]["rows"] == 2
    assert con.execute("SELECT count(*) FROM duckdb_databases() WHERE database_name = 'shared_cohort'").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'derived_lab_days'").fetchone()[0] == 0
    assert store.table_counts(store.open_shared(shared_file)).iloc[0]["rows"] == 3  # the file is untouched


def _lab_analytes_by_hand(con) -> list[dict]:
    """What lab_analytes must say, counted by pandas from the selected patients' raw lab rows."""
    selected = set(store.patients_frame(con)["patient_id"])
    labs = store.read_table(con, "labs")
    labs = labs[labs["patient_id"].isin(selected)]
    counted = labs.groupby(["analyte", "unit"], dropna=False).agg(
        patients=("patient_id", "nunique"), measurements=("patient_id", "size")).reset_index()
    return counted.sort_values(["analyte", "unit"]).to_dict("records")


def test_lab_analytes_counts_the_selected_patients_on_a_copy_a_shared_file_and_an_older_file(shared_file, tmp_path):
    import duckdb
    from icans_core.filters import CohortFilter

    older = tmp_path / "older.duckdb"  # a cohort file published before its per-patient counts were derived in
    store.save_cohort_file(older, small_cohort(extra_patient="P3"), {"label": "older"})
    writable = duckdb.connect(str(older))
    writable.execute("DROP TABLE derived_lab_analytes")
    writable.close()
    private = store.connect()
    store.load_cohort(private, small_cohort(extra_patient="P3"))
    for con in (private, store.open_shared(shared_file), store.open_shared(older)):
        for cohort_filter in (CohortFilter(), CohortFilter(products=("tisa-cel",)), CohortFilter(products=("x",))):
            store.select_patients(con, cohort_filter)
            found = store.lab_analytes(con)
            assert list(found.columns) == ["analyte", "unit", "patients", "measurements"]
            assert found.to_dict("records") == _lab_analytes_by_hand(con), cohort_filter
            assert found["measurements"].dtype == "int64" and found["patients"].dtype == "int64"
        store.select_patients(con, CohortFilter())
        assert store.lab_analytes(con)["measurements"].sum() == 4  # the small cohort's four lab rows


def test_the_selection_signature_names_the_cohort_loaded_and_the_patients_selected():
    from icans_core.filters import CohortFilter

    con, other = store.connect(), store.connect()
    store.load_cohort(con, small_cohort(extra_patient="P3"))
    store.load_cohort(other, small_cohort(extra_patient="P3"))
    everyone = store.selection_signature(con)
    assert store.selection_signature(con) == everyone  # asking changes nothing
    store.select_patients(con, CohortFilter(products=("axi-cel",)))
    one = store.selection_signature(con)
    assert one != everyone and one[1] == 1
    store.select_patients(con, CohortFilter(products=("tisa-cel",)))  # another single patient
    assert store.selection_signature(con) != one
    store.select_patients(con, CohortFilter())
    assert store.selection_signature(con) == everyone
    store.load_cohort(con, small_cohort(extra_patient="P3"))  # the same rows again: another cohort loaded
    assert store.selection_signature(con) != everyone

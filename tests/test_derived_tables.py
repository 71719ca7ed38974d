"""Tables derived once per cohort and options equal the analysis run on the selection itself."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from icans_core import derived_tables, expansion, schema, steroids, store, swimlanes
from icans_core.episodes import EpisodeOptions, compute_episodes
from icans_core.filters import CohortFilter, InterventionFilter
from icans_core.ingest import load_paths

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    """The sample cohort as the app opens it: a shared file attached read-only."""
    result = load_paths([SAMPLE])
    assert result.ok
    path = tmp_path_factory.mktemp("shared") / "sample.duckdb"
    store.save_cohort_file(path, result.cohort, {"label": "sample"})
    return store.open_shared(path)


FILTERS = [
    CohortFilter(),
    CohortFilter(products=("axi-cel",)),
    CohortFilter(sexes=("F",), max_icans_grades=(3, 4)),
    CohortFilter(intervention=InterventionFilter(("IVIG",), "any", None, 3)),
    CohortFilter(products=("no such product",)),  # nobody
]


def direct(con, group_by, options):
    patients = store.patients_frame(con, group_by)
    toxicity, interventions = store.toxicity_frame(con), store.interventions_frame(con)
    return {
        "episodes": compute_episodes(toxicity, patients, interventions, options),
        "steroid_exposure": steroids.steroid_exposure(interventions, patients),
        "expansion_metrics": expansion.expansion_metrics(store.lab_values(con, list(schema.CELL_COUNT_ANALYTES))),
        "grade_intervals": swimlanes.grade_intervals(toxicity),
    }


@pytest.mark.parametrize("cohort_filter", FILTERS, ids=lambda f: "; ".join(f.__repr__()[:60].split(",")[:1]))
@pytest.mark.parametrize("group_by,options", [
    ("group", EpisodeOptions()),
    ("product", EpisodeOptions(severe_grade=2, resolved_grade=0, origin="IVIG")),
])
def test_derived_tables_equal_the_analysis_on_the_selection(con, cohort_filter, group_by, options):
    store.select_patients(con, cohort_filter)
    expected = direct(con, group_by, options)
    found = {
        "episodes": derived_tables.episodes(con, group_by, options),
        "steroid_exposure": derived_tables.steroid_exposure(con, group_by),
        "expansion_metrics": derived_tables.expansion_metrics(con),
        "grade_intervals": derived_tables.grade_intervals(con),
    }
    for name, frame in expected.items():
        if frame.empty:
            assert found[name].empty and list(found[name].columns) == list(frame.columns), name
            continue
        pd.testing.assert_frame_equal(found[name].reset_index(drop=True), frame.reset_index(drop=True),
                                      check_exact=True, obj=name)
    store.select_patients(con, CohortFilter())


def test_derived_tables_are_computed_once_and_forgotten_with_the_cohort(con, tmp_path):
    derived_tables.episodes(con)
    tables = set(con.execute("SELECT table_name FROM duckdb_tables() WHERE starts_with(table_name, 'derived_')")
                 .df()["table_name"])
    assert "derived_episodes_group_3_1_onset" in tables
    other = load_paths([SAMPLE]).cohort
    private = store.open_shared(Path(con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = 'shared_cohort'").fetchone()[0]))
    derived_tables.episodes(private)
    derived_tables.steroid_exposure(private)
    assert private.execute("SELECT count(*) FROM duckdb_tables() WHERE starts_with(table_name, 'derived_')"
                           ).fetchone()[0] >= 2
    store.load_cohort(private, other)  # an upload replaces the cohort: what was derived from it goes
    assert private.execute("SELECT count(*) FROM duckdb_tables() WHERE starts_with(table_name, 'derived_')"
                           ).fetchone()[0] == 0


def test_a_derived_key_is_never_sql():
    with pytest.raises(ValueError):
        store.derived_rows(store.connect(), 'x"; DROP TABLE patients; --', lambda: pd.DataFrame())

"""Tables derived once per cohort and options equal the analysis run on the selection itself."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from icans_core import derived_tables, expansion, grading, nca, results, schema, steroids, store, summary, swimlanes
from icans_core.episodes import EpisodeOptions, compute_episodes
from icans_core.filters import CohortFilter, InterventionFilter
from icans_core.ingest import load_paths
from icans_core.options import AnalysisOptions

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


@pytest.fixture(scope="module")
def sample_cohort():
    result = load_paths([SAMPLE])
    assert result.ok
    return result.cohort


@pytest.fixture(scope="module")
def plain_file(tmp_path_factory, sample_cohort) -> Path:
    """The sample as a shared file without derived tables: each session computes its own."""
    path = tmp_path_factory.mktemp("shared") / "sample.duckdb"
    store.save_cohort_file(path, sample_cohort, {"label": "sample"})
    return path


@pytest.fixture(scope="module")
def prederived_file(tmp_path_factory, sample_cohort) -> Path:
    """The sample as the app writes its shared files: the default options' derived tables computed in."""
    path = tmp_path_factory.mktemp("shared") / "sample-prederived.duckdb"
    store.save_cohort_file(path, sample_cohort, {"label": "sample"}, prederive=derived_tables.prederive)
    return path


@pytest.fixture(scope="module", params=["plain_file", "prederived_file"])
def con(request):
    """The sample cohort as the app opens it: a shared file attached read-only, with its derived tables
    computed by the session (plain_file) or read from the file (prederived_file)."""
    return store.open_shared(request.getfixturevalue(request.param))


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
    graded = grading.grade_observations(store.observations_frame(con), store.patients_frame(con),
                                        store.interventions_frame(con))
    expected["derived_grades"] = graded
    expected["grade_discrepancies"] = grading.discrepancies(graded, store.toxicity_sources_frame(con))
    found = {
        "episodes": derived_tables.episodes(con, group_by, options),
        "steroid_exposure": derived_tables.steroid_exposure(con, group_by),
        "expansion_metrics": derived_tables.expansion_metrics(con),
        "grade_intervals": derived_tables.grade_intervals(con),
        "derived_grades": derived_tables.derived_grades(con),
        "grade_discrepancies": derived_tables.grade_discrepancies(con),
    }
    if cohort_filter == CohortFilter():  # the sample's observations and its designed disagreements are there
        assert len(found["derived_grades"]) and len(found["grade_discrepancies"])
    for name, frame in expected.items():
        assert difference(found[name], frame) == "", f"{name}: {difference(found[name], frame)}"
    store.select_patients(con, CohortFilter())


@pytest.mark.parametrize("cohort_filter", FILTERS[:4], ids=["all", "axi-cel", "F, ICANS 3-4", "IVIG"])
def test_the_grade_change_from_derived_episodes_equals_it_computed_on_the_selection(con, cohort_filter):
    # The Swimlanes page's day 0 after onset comes from the episodes derived per cohort with the class as
    # origin; computed on the selection's own frames (episodes=None) it must be the same, class by class.
    from icans_core import grade_change
    from icans_core.content import swimlanes as page

    store.select_patients(con, cohort_filter)
    analysis = AnalysisOptions(episodes=EpisodeOptions(severe_grade=2))
    data = page.read(con, analysis)
    assert data.classes
    for agent_class in data.classes:
        shown = page.change(data, analysis, page.ChangeOptions(agent_class=agent_class)).sections
        daily = grade_change.grade_after_intervention(data.toxicity, data.interventions, data.patients, agent_class,
                                                      options=analysis.episodes)
        [figure] = [s for s in shown if hasattr(s, "chart")] or [None]
        if figure is None:
            assert daily.empty, agent_class
            continue
        assert difference(figure.data, daily) == "", agent_class
    store.select_patients(con, CohortFilter())


def test_derived_tables_are_computed_once_and_forgotten_with_the_cohort(plain_file):
    con = store.open_shared(plain_file)
    derived_tables.episodes(con)
    tables = set(con.execute("SELECT table_name FROM duckdb_tables() WHERE starts_with(table_name, 'derived_')")
                 .df()["table_name"])
    assert "derived_episodes_group_3_1_onset" in tables
    other = load_paths([SAMPLE]).cohort
    private = store.open_shared(plain_file)
    derived_tables.episodes(private)
    derived_tables.steroid_exposure(private)
    assert private.execute("SELECT count(*) FROM duckdb_tables() WHERE starts_with(table_name, 'derived_')"
                           ).fetchone()[0] >= 2
    store.load_cohort(private, other)  # an upload replaces the cohort: what was derived from it goes
    assert private.execute("SELECT count(*) FROM duckdb_tables() WHERE starts_with(table_name, 'derived_')"
                           ).fetchone()[0] == 0


# --- derived tables computed into a shared file (derived_tables.prederive) ---------------------------

def _refuse(*args, **kwargs):
    raise AssertionError("computed, not read from the file")


def refuse_computing(monkeypatch) -> None:
    """Every analysis derived_tables runs now fails: what comes back was read from the file."""
    for module, name in [(derived_tables, "compute_episodes"), (steroids, "steroid_exposure"),
                         (summary, "per_patient"), (swimlanes, "grade_intervals"), (expansion, "expansion_metrics"),
                         (nca, "nca_metrics"), (grading, "grade_observations"), (grading, "discrepancies")]:
        monkeypatch.setattr(module, name, _refuse)


def test_a_session_reads_the_default_options_tables_from_the_file_and_computes_other_options(
        prederived_file, plain_file, monkeypatch):
    computed = store.open_shared(plain_file)
    store.select_patients(computed, CohortFilter(products=("axi-cel",)))
    expected = {"episodes": derived_tables.episodes(computed), "steroids": derived_tables.steroid_exposure(computed),
                "table1": derived_tables.table1_inputs(computed), "lanes": derived_tables.grade_intervals(computed),
                "expansion": derived_tables.expansion_metrics(computed), "nca": derived_tables.nca_metrics(computed),
                "grades": derived_tables.derived_grades(computed),
                "discrepancies": derived_tables.grade_discrepancies(computed)}
    session = store.open_shared(prederived_file)
    store.select_patients(session, CohortFilter(products=("axi-cel",)))
    refuse_computing(monkeypatch)
    found = {"episodes": derived_tables.episodes(session), "steroids": derived_tables.steroid_exposure(session),
             "table1": derived_tables.table1_inputs(session), "lanes": derived_tables.grade_intervals(session),
             "expansion": derived_tables.expansion_metrics(session), "nca": derived_tables.nca_metrics(session),
             "grades": derived_tables.derived_grades(session),
             "discrepancies": derived_tables.grade_discrepancies(session)}
    for name, frame in expected.items():
        assert len(frame), name  # axi-cel patients have rows of each
        assert difference(found[name], frame) == "", f"{name}: {difference(found[name], frame)}"
    # nothing was written into the session's own database: it holds views on the file
    assert session.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                           "AND starts_with(table_name, 'derived_')").fetchone()[0] == 0
    with pytest.raises(AssertionError, match="computed, not read"):  # options the file has no table for
        derived_tables.episodes(session, "product")
    with pytest.raises(AssertionError, match="computed, not read"):
        derived_tables.episodes(session, "group", EpisodeOptions(severe_grade=2))


def test_the_grade_changes_episodes_from_each_class_given_are_read_from_the_file(
        prederived_file, plain_file, monkeypatch):
    # Swimlanes' grade change: day 0 = the first dose of the class at or after onset
    computed, session = store.open_shared(plain_file), store.open_shared(prederived_file)
    given = swimlanes.intervention_classes(store.interventions_frame(computed, everyone=True))
    classes = [c for c in given if c in schema.AGENT_CLASSES]
    assert len(classes) >= 3, given
    expected = {}
    for cohort_filter in (CohortFilter(), CohortFilter(products=("axi-cel",))):
        store.select_patients(computed, cohort_filter)
        expected[cohort_filter] = {c: derived_tables.episodes(computed, "group", EpisodeOptions(origin=c)) for c in classes}
    refuse_computing(monkeypatch)
    for cohort_filter, frames in expected.items():
        store.select_patients(session, cohort_filter)
        for agent_class, frame in frames.items():
            found = derived_tables.episodes(session, "group", EpisodeOptions(origin=agent_class))
            assert len(frame) and difference(found, frame) == "", (cohort_filter, agent_class)


def test_a_file_derived_by_other_code_is_not_served(prederived_file, monkeypatch):
    monkeypatch.setattr(store.versions, "running_version", lambda: "an analysis or a library changed since")
    session = store.open_shared(prederived_file)
    views = set(session.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").df()["view_name"])
    assert "derived_episodes_group_3_1_onset" not in views and "patients" in views
    refuse_computing(monkeypatch)
    with pytest.raises(AssertionError, match="computed, not read"):
        derived_tables.episodes(session)


def test_the_lab_tables_of_a_file_derived_by_other_code_are_not_served(tmp_path, sample_cohort, monkeypatch):
    """A published cohort outlives upgrades: its patient-day table, derived by the version that wrote it,
    must not stand in for this version's. The file's table is altered (as another derivation would have
    it); a session of the writing version reads it as it is, a session of another version derives its own."""
    import duckdb

    path = tmp_path / "published.duckdb"
    store.save_cohort_file(path, sample_cohort, {"label": "sample"})
    writer = duckdb.connect(str(path))
    writer.execute("UPDATE derived_lab_days SET value = value * 1000")  # what other code might have derived
    writer.close()
    analytes = ["IL-6"]
    labs = sample_cohort.tables["labs"]
    recorded = labs[labs["analyte"] == "IL-6"]["value"].max()

    same_version = store.open_shared(path)
    assert store.lab_patient_days(same_version, analytes)["value"].max() > 100 * recorded  # the control: read

    monkeypatch.setattr(store.versions, "running_version", lambda: "an analysis or a library changed since")
    other_version = store.open_shared(path)
    assert "derived_lab_days" not in set(other_version.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal").df()["view_name"])
    days = store.lab_patient_days(other_version, analytes)
    assert len(days) and days["value"].max() == recorded  # the session's own, from the labs as given


def test_a_file_is_written_whole_even_when_its_session_asks_to_stop(tmp_path, sample_cohort):
    """Publishing runs the analyses' checkpoints; a click meanwhile (Streamlit's rerun request, raised
    there) must not leave the cohort unpublished."""
    from icans_core import cancel

    path = tmp_path / "published.duckdb"
    with cancel.cancellable(lambda: True):  # every checkpoint of this thread says stop
        store.save_cohort_file(path, sample_cohort, {"label": "sample"}, prederive=derived_tables.prederive)
        with pytest.raises(cancel.Cancelled):  # the check is still in force outside the file's writing
            cancel.checkpoint()
    session = store.open_shared(path)
    assert session.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal "
                           "AND view_name = 'derived_nca_0_0_0'").fetchone()[0] == 1


def test_an_upload_replaces_the_files_derived_tables(prederived_file, sample_cohort):
    session = store.open_shared(prederived_file)
    assert len(derived_tables.episodes(session))
    one_patient = sample_cohort.tables["patients"]["patient_id"].iloc[0]
    smaller = replace(sample_cohort, tables={name: frame[frame["patient_id"] == one_patient]
                                             for name, frame in sample_cohort.tables.items()})
    store.load_cohort(session, smaller)
    assert session.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal AND "
                           "starts_with(view_name, 'derived_')").fetchone()[0] == 0
    found = derived_tables.steroid_exposure(session)
    assert set(found["patient_id"]) <= {one_patient}
    assert difference(found, steroids.steroid_exposure(store.interventions_frame(session),
                                                       store.patients_frame(session))) == ""


def test_the_first_rows_and_the_count_are_those_of_the_selection(con):
    """A page reads the first rows of a long derived table and its count, not every row (the Cohort page's
    derived grades: 1.7 million rows at 100,000 patients, 1,000 shown)."""
    store.select_patients(con, CohortFilter(products=("axi-cel",)))
    try:
        every = derived_tables.derived_grades(con)
        axi_cel = set(store.patients_frame(con)["patient_id"])
        assert len(every) > 10 and set(every["patient_id"]) <= axi_cel  # the selection's rows only
        assert derived_tables.derived_grade_count(con) == len(every)
        first = derived_tables.derived_grades(con, limit=10)
        pd.testing.assert_frame_equal(first, every.head(10))
        assert derived_tables.derived_grades(con, limit=0).empty
        assert list(derived_tables.derived_grades(con, limit=0).columns) == list(every.columns)
    finally:
        store.select_patients(con, CohortFilter())


def test_a_derived_key_is_never_sql():
    with pytest.raises(ValueError):
        store.derived_rows(store.connect(), 'x"; DROP TABLE patients; --', lambda: pd.DataFrame())


# --- random filters: every per-patient table and the whole export, derived vs from the selection ---

def random_filters(con, count: int, seed: int) -> list[CohortFilter]:
    """Filters drawn at random (fixed seed) from the cohort's own choices, one to three fields each."""
    import random
    rng = random.Random(seed)
    choices = store.filter_choices(con)
    products = choices["products"]
    fields = {
        "products": lambda: tuple(rng.sample(products, rng.randint(1, len(products)))),
        "sexes": lambda: tuple(rng.sample(["F", "M"], 1)),
        "max_icans_grades": lambda: tuple(rng.sample(range(5), rng.randint(1, 3))),
        "max_crs_grades": lambda: tuple(rng.sample(range(5), rng.randint(1, 3))),
        "ecog": lambda: tuple(rng.sample(range(3), rng.randint(1, 2))),
        "age_range": lambda: tuple(float(a) for a in sorted(rng.sample(range(20, 85), 2))),
        "intervention": lambda: InterventionFilter((rng.choice(schema.AGENT_CLASSES),), rng.choice(["any", "none"])),
    }
    assert len(products) > 1
    out = []
    for _ in range(count):
        chosen = rng.sample(sorted(fields), rng.randint(1, 3))
        out.append(CohortFilter(**{name: fields[name]() for name in chosen}))
    return out


def difference(found: pd.DataFrame, expected: pd.DataFrame) -> str:
    """"" when the frames are equal cell for cell, dtype for dtype and column for column; else what differs."""
    if expected.empty:
        if found.empty and list(found.columns) == list(expected.columns):
            return ""
        return f"expected no rows with columns {list(expected.columns)}, found {len(found)} with {list(found.columns)}"
    try:
        pd.testing.assert_frame_equal(found.reset_index(drop=True), expected.reset_index(drop=True),
                                      check_exact=True)
    except AssertionError as error:
        return str(error)
    return ""


RANDOM_CASES = [("group", EpisodeOptions(), nca.NcaOptions()),
                ("product", EpisodeOptions(severe_grade=2, resolved_grade=0, origin="IVIG"),
                 nca.NcaOptions(method=nca.LIN_UP_LOG_DOWN, window=nca.INTERPOLATED, blq=nca.BLQ_PKNCA))]


@pytest.mark.parametrize("case", range(len(RANDOM_CASES)))
def test_random_filters_derived_then_restricted_equal_computed_from_the_selection(con, case):
    group_by, options, nca_options = RANDOM_CASES[case]
    analysis = AnalysisOptions(group_by=group_by, episodes=options)
    selections, episode_rows = [], []
    for cohort_filter in random_filters(con, 8, seed=11 + case):
        n = store.select_patients(con, cohort_filter)
        selections.append(n)
        patients = store.patients_frame(con, group_by)
        toxicity, interventions = store.toxicity_frame(con), store.interventions_frame(con)
        episodes = compute_episodes(toxicity, patients, interventions, options)
        exposure = steroids.steroid_exposure(interventions, patients)
        cell_counts = store.lab_values(con, list(schema.CELL_COUNT_ANALYTES))
        where = f"{cohort_filter} ({n} patients)"
        # (what the derived tables give, what the analysis computes from the selection's own rows, which)
        pairs = [
            (derived_tables.episodes(con, group_by, options), episodes, "episodes"),
            (derived_tables.steroid_exposure(con, group_by), exposure, "steroid exposure"),
            (derived_tables.nca_metrics(con, nca_options), nca.nca_metrics(cell_counts, nca_options), "nca"),
            (derived_tables.table1_inputs(con, group_by, options),
             summary.per_patient(patients, toxicity, interventions, exposure, episodes), "table 1 inputs"),
        ]
        if n:
            pairs += [
                (summary.summary_from_per_patient(derived_tables.table1_inputs(con, group_by, options)),
                 summary.cohort_summary(patients, toxicity, interventions, exposure, episodes), "table 1"),
                (summary.grade_distribution(patients, store.max_grades(con)),
                 summary.grade_distribution(patients, toxicity), "grade distribution"),
            ]
        # the whole export: derived tables against every frame computed from the selection's rows
        exported = results.compute_results(con, analysis, nca_options=nca_options)
        direct_more = results.compute_more_results(con, analysis, patients=patients, toxicity=toxicity,
                                                   interventions=interventions, nca_options=nca_options)
        pairs += [(exported[name], frame, name) for name, frame in direct_more.items()]
        for name, frame in direct(con, group_by, options).items():
            stem = {"expansion_metrics": "expansion", "grade_intervals": "swimlanes"}.get(name, name)
            pairs.append((exported[stem], frame.reindex(columns=results.RESULT_COLUMNS[stem]), stem))
        for found, expected, name in pairs:
            assert difference(found, expected) == "", f"{name}, {where}: {difference(found, expected)}"
        episode_rows.append(len(exported["episodes"]))
    store.select_patients(con, CohortFilter())
    # the random filters selected some patients, not all of them, and not none every time
    total = store.select_patients(con, CohortFilter())
    assert any(0 < n < total for n in selections), selections
    assert any(episode_rows), episode_rows  # the comparisons saw real rows, not only empty frames

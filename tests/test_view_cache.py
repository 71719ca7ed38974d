"""A page's view is kept for reruns that change nothing it shows, and for nothing else (ui/view_cache.py)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from icans_core import store
from icans_core.content import overview
from icans_core.ingest import load_paths
from icans_core.options import AnalysisOptions
from ui import view_cache

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def builds(monkeypatch) -> list:
    """Each call of the Overview's build, with the patients it saw; the dashboard runs in this process."""
    calls, real = [], overview.build

    def counted(con, analysis):
        view = real(con, analysis)
        calls.append(con.execute("SELECT count(*) FROM selected_patients").fetchone()[0])
        return view
    counted.__module__, counted.__qualname__ = real.__module__, real.__qualname__
    monkeypatch.setattr(overview, "build", counted)
    return calls


def open_dashboard(monkeypatch) -> AppTest:
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def patients_shown(at: AppTest) -> str:
    return next(m for m in at.metric if m.label == "Patients").value.replace(",", "")


def test_a_rerun_shows_the_kept_view_and_a_changed_filter_or_option_builds_a_new_one(monkeypatch, builds):
    at = open_dashboard(monkeypatch)
    everyone = patients_shown(at)
    assert builds == [int(everyone)]
    at.run()  # a rerun that changes nothing (a click elsewhere, coming back to the page)
    assert builds == [int(everyone)] and patients_shown(at) == everyone
    at.multiselect(key="product").select("axi-cel").run()
    assert len(builds) == 2 and 0 < builds[1] < builds[0]
    assert patients_shown(at) == str(builds[1])  # the new selection's numbers, not the kept ones
    at.multiselect(key="product").unselect("axi-cel").run()  # back to everyone: that view was kept
    assert len(builds) == 2 and patients_shown(at) == everyone
    at.selectbox(key="severe_grade").select(2).run()  # an analysis option is part of what a view is kept under
    assert len(builds) == 3


def test_a_new_cohort_starts_with_nothing_kept(monkeypatch, builds):
    at = open_dashboard(monkeypatch)
    kept = at.session_state["view_cache"]
    assert len(kept["views"]) == 1
    # the same filter and options on another database (an upload, a published cohort) is another view
    state = {"cohort_filter_applied": at.session_state["cohort_filter_applied"], "view_cache": kept}
    monkeypatch.setattr(view_cache.st, "session_state", state)
    other = store.connect()
    store.load_cohort(other, load_paths([ROOT / "data" / "sample"]).cohort)
    view_cache.cached_view(overview.build, other, AnalysisOptions())
    assert len(builds) == 2 and state["view_cache"]["con"] is other and len(state["view_cache"]["views"]) == 1
    view_cache.forget()  # what ui/session.py does when it replaces the session's database
    assert "view_cache" not in state


def test_a_selection_or_cohort_changed_behind_the_filters_back_is_another_view(monkeypatch, builds):
    """The key is the database's own signature of its selection and cohort, not only what the sidebar applied:
    a selection set elsewhere, or a cohort loaded again into the same database (same label, same second)."""
    from icans_core.filters import CohortFilter

    at = open_dashboard(monkeypatch)
    state = {"cohort_filter_applied": at.session_state["cohort_filter_applied"]}
    monkeypatch.setattr(view_cache.st, "session_state", state)
    con = store.connect()
    cohort = load_paths([ROOT / "data" / "sample"]).cohort
    store.load_cohort(con, cohort)
    first = view_cache.cached_view(overview.build, con, AnalysisOptions())
    assert view_cache.cached_view(overview.build, con, AnalysisOptions()) is first and len(builds) == 2
    store.select_patients(con, CohortFilter(products=("axi-cel",)))  # not through ui/filters.py
    assert view_cache.cached_view(overview.build, con, AnalysisOptions()) is not first and len(builds) == 3
    store.select_patients(con, CohortFilter())
    assert view_cache.cached_view(overview.build, con, AnalysisOptions()) is first  # that selection again
    store.load_cohort(con, cohort)  # the same cohort loaded again: nothing derived from the last one is shown
    assert view_cache.cached_view(overview.build, con, AnalysisOptions()) is not first and len(builds) == 4


def test_a_shared_cohorts_view_is_kept_for_the_next_session_with_the_same_selection_and_options(monkeypatch, builds):
    """The sample is a shared file: a second session (a collaborator opening the link) is shown the view the
    first one built for the same selection and options, and builds its own for another selection."""
    first = open_dashboard(monkeypatch)
    everyone = patients_shown(first)
    assert builds == [int(everyone)]
    second = open_dashboard(monkeypatch)  # another session: its own state, its own connection
    assert builds == [int(everyone)] and patients_shown(second) == everyone
    second.multiselect(key="product").select("axi-cel").run()
    assert len(builds) == 2 and patients_shown(second) == str(builds[1])
    third = open_dashboard(monkeypatch)
    third.multiselect(key="product").select("axi-cel").run()  # the second session's selection: its view
    assert len(builds) == 2 and patients_shown(third) == str(builds[1])
    third.selectbox(key="severe_grade").select(2).run()  # another analysis option: another view
    assert len(builds) == 3


def test_a_sessions_own_cohort_never_reads_or_adds_a_server_wide_view(monkeypatch, builds):
    """An upload with the same rows, selection and options as a shared cohort's kept view is its own: built
    from its own database, and not offered to anyone."""
    at = open_dashboard(monkeypatch)
    assert len(builds) == 1 and len(view_cache._shared_views) == 1
    state = {"cohort_filter_applied": at.session_state["cohort_filter_applied"]}
    monkeypatch.setattr(view_cache.st, "session_state", state)
    own = store.connect()
    store.load_cohort(own, load_paths([ROOT / "data" / "sample"]).cohort)  # the sample's very rows, uploaded
    view_cache.cached_view(overview.build, own, AnalysisOptions())
    assert len(builds) == 2 and len(view_cache._shared_views) == 1
    assert store.shared_file(own) is None


def test_a_file_written_again_at_the_same_path_is_another_cohort(tmp_path, monkeypatch, builds):
    """The key names the file itself, as the session attached it, not only its path: a cohort file replaced
    under the same name (the same patients, other treatments) is not shown the views of the one before, even
    those a session still attached to the old file builds after the replacement."""
    import os

    cohort = load_paths([ROOT / "data" / "sample"]).cohort
    path = tmp_path / "published.duckdb"
    monkeypatch.setattr(view_cache.st, "session_state", {"cohort_filter_applied": ("everyone", "loaded")})
    store.save_cohort_file(path, cohort, {"label": "first"})
    old = store.open_shared(path)
    view_cache.cached_view(overview.build, old, AnalysisOptions())
    view_cache.st.session_state.pop("view_cache")  # a new session on the same file: the kept view
    view_cache.cached_view(overview.build, store.open_shared(path), AnalysisOptions())
    assert len(builds) == 1
    view_cache.forget_shared()
    other = load_paths([ROOT / "data" / "sample"]).cohort
    other.tables = {**other.tables, "interventions": other.tables["interventions"].iloc[1:]}
    store.save_cohort_file(tmp_path / "next.duckdb", other, {"label": "first"})
    os.replace(tmp_path / "next.duckdb", path)  # replaced while a session still has the old file attached
    view_cache.st.session_state.pop("view_cache")
    view_cache.cached_view(overview.build, old, AnalysisOptions())  # built from the old file, after the swap
    assert len(builds) == 2
    view_cache.st.session_state.pop("view_cache")
    view_cache.cached_view(overview.build, store.open_shared(path), AnalysisOptions())  # the new file's own
    assert len(builds) == 3 and builds[2] == builds[0]


def test_two_filters_whose_selections_hash_alike_are_two_views(monkeypatch, builds):
    """The selection's signature is a count and an XOR of id hashes, which ids chosen on purpose can make
    collide; the server-wide key also holds the filter applied, so colliding selections are not confused."""
    monkeypatch.setattr(view_cache.store, "selection_signature", lambda con: (0, 42, 7))  # every selection alike
    first = open_dashboard(monkeypatch)
    first.multiselect(key="product").select("axi-cel").run()
    second = open_dashboard(monkeypatch)
    second.multiselect(key="product").select("tisa-cel").run()
    assert patients_shown(second) == str(builds[-1]) != patients_shown(first)


def test_a_view_larger_than_the_server_wide_budget_is_kept_by_its_session_only(monkeypatch, builds):
    open_dashboard(monkeypatch)
    ((_, size),) = view_cache._shared_views.values()
    assert 0 < size < view_cache.MAX_SHARED_BYTES
    view_cache.forget_shared()
    monkeypatch.setattr(view_cache, "MAX_SHARED_BYTES", size - 1)
    open_dashboard(monkeypatch)  # the same view, now over the budget
    assert len(builds) == 2 and len(view_cache._shared_views) == 0
    open_dashboard(monkeypatch)
    assert len(builds) == 3

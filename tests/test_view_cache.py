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

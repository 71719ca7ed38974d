"""Cooperative cancellation in the core (icans_core/cancel.py): long loops stop at their next checkpoint."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from icans_core import cancel, report, store, survival
from icans_core.filters import CohortFilter
from icans_core.ingest import load_sources
from icans_core.options import AnalysisOptions
from icans_core.readers import Source


def many_groups(k: int = 60) -> pd.DataFrame:
    """k groups of 3 episodes each, every group with a resolution (all pairwise tests computable)."""
    from icans_core.episodes import RESOLVED

    rows = [{"patient_id": f"P{g:03d}{i}", "group": f"arm {g:03d}", "time_to_resolution": float(1 + (g + i) % 9),
             "outcome": RESOLVED if i < 2 else "censored"} for g in range(k) for i in range(3)]
    return pd.DataFrame(rows)


class CountingCheck:
    """True from its `stop_at`-th call on; counts its calls."""

    def __init__(self, stop_at: int) -> None:
        self.stop_at, self.calls = stop_at, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls >= self.stop_at


def test_no_check_no_effect():
    cancel.checkpoint()  # nothing happens outside cancellable()
    with cancel.cancellable(lambda: False):
        cancel.checkpoint()
    cancel.checkpoint()


def test_pairwise_tests_stop_at_the_next_pair(monkeypatch):
    episodes = many_groups(60)  # 1,770 pairs when the bound is lifted
    tests_run = []
    real = survival.survdiff
    monkeypatch.setattr(survival, "survdiff", lambda *a: tests_run.append(1) or real(*a))
    check = CountingCheck(stop_at=5)
    with cancel.cancellable(check), pytest.raises(cancel.Cancelled):
        survival.logrank(episodes, max_pairwise_groups=60)
    assert check.calls == 5
    assert len(tests_run) == 1 + 4  # the overall test and the 4 pairs before the check said stop
    # the same work without a check runs to its end: every pair
    tests_run.clear()
    assert len(survival.logrank(episodes, max_pairwise_groups=60)) == 1 + 60 * 59 // 2
    assert len(tests_run) == 1 + 60 * 59 // 2


def test_event_set_from_another_thread_stops_the_work():
    """The app's case: the session's Event is set by the thread that sees the browser leave."""
    episodes = many_groups(120)  # 7,140 pairs: seconds of work
    left = threading.Event()
    started = threading.Event()
    calls = {"n": 0}

    def check() -> bool:
        calls["n"] += 1
        started.set()
        return left.is_set()

    def leave() -> None:
        started.wait(30)
        left.set()

    threading.Thread(target=leave).start()
    with cancel.cancellable(check), pytest.raises(cancel.Cancelled):
        survival.logrank(episodes, max_pairwise_groups=120)
    assert calls["n"] < 120 * 119 // 2  # stopped before the last pair


def test_a_check_may_raise_its_own_stop_and_it_passes_through():
    class Stop(BaseException):  # as Streamlit's StopException / RerunException
        pass

    def check() -> bool:
        raise Stop()

    with cancel.cancellable(check), pytest.raises(Stop):
        survival.logrank(many_groups(5))


def test_cancelled_is_not_swallowed_by_except_exception():
    def analysis() -> str:
        try:
            cancel.checkpoint()
        except Exception:
            return "swallowed"
        return "went on"

    with cancel.cancellable(lambda: True), pytest.raises(cancel.Cancelled):
        analysis()


def test_a_check_belongs_to_its_thread():
    """One session's check never stops another session's work (another thread)."""
    results = {}

    def other_session() -> None:
        results["pairs"] = len(survival.logrank(many_groups(6), max_pairwise_groups=6))

    with cancel.cancellable(lambda: True):
        worker = threading.Thread(target=other_session)
        worker.start()
        worker.join()
        with pytest.raises(cancel.Cancelled):
            cancel.checkpoint()
    assert results["pairs"] == 1 + 15


def test_the_check_is_restored_after_the_block():
    with cancel.cancellable(lambda: True):
        with cancel.cancellable(lambda: False):
            cancel.checkpoint()  # the inner check
        with pytest.raises(cancel.Cancelled):
            cancel.checkpoint()  # the outer one again
    cancel.checkpoint()


def test_validation_stops(tmp_path):
    from icans_core.sample import generate_cohort, write_cohort

    write_cohort(generate_cohort(30, 1), tmp_path)
    sources = [Source(p.name, p.read_bytes()) for p in sorted(tmp_path.glob("*.csv"))]
    check = CountingCheck(stop_at=3)
    with cancel.cancellable(check), pytest.raises(cancel.Cancelled):
        load_sources(sources)
    assert check.calls == 3
    assert load_sources(sources).ok  # and without a check it loads


def test_report_stops_between_figures(monkeypatch, sample_result):
    con = store.connect()
    store.load_cohort(con, sample_result.cohort)
    store.select_patients(con, CohortFilter())
    drawn = []
    real = report.vlc.vegalite_to_svg
    monkeypatch.setattr(report.vlc, "vegalite_to_svg", lambda spec: drawn.append(1) or real(spec))
    figures = {"n": 0}

    def check() -> bool:  # stop once two figures are drawn
        return len(drawn) >= 2

    with cancel.cancellable(check), pytest.raises(cancel.Cancelled):
        report.build_report(con, AnalysisOptions(), [], "test")
    assert len(drawn) == 2
    figures["n"] = len(drawn)
    drawn.clear()
    report.build_report(con, AnalysisOptions(), [], "test")
    assert len(drawn) > 2 * figures["n"]  # the whole report draws many more


@pytest.fixture(scope="module")
def sample_result():
    from pathlib import Path

    from icans_core.ingest import load_paths

    result = load_paths([Path(__file__).resolve().parent.parent / "data" / "sample"])
    assert result.ok
    return result


def test_many_groups_helper_is_what_it_says():
    episodes = many_groups(4)
    assert episodes.groupby("group").size().tolist() == [3, 3, 3, 3]
    assert np.all(episodes.assign(r=episodes["outcome"] == "resolved").groupby("group")["r"].sum() == 2)

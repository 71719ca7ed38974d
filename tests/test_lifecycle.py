"""A session's Life (ui/lifecycle.py): what ends it, and that a run keeps the Life it started with.

Streamlit releases a session's resources when its websocket closes (then the browser has left) and
also when every cache is cleared (then nobody has left). Both are driven here as Streamlit drives
them, through `clear_session_resource_cache` and on an event loop, without a browser; the browser
side is tests/test_browser_lifecycle.py.
"""

from __future__ import annotations

import asyncio

import pytest
from streamlit.testing.v1 import AppTest

from ui import lifecycle

TIMEOUT = 30


def browser_leaves_during_a_run():
    """An app whose run sees its browser leave (Streamlit releases the session's resources meanwhile)."""
    import streamlit as st
    from streamlit.runtime import caching
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    from ui import lifecycle

    with lifecycle.script_run():
        life = lifecycle.current()
        session_id = get_script_run_ctx().session_id
        caching.clear_session_resource_cache(session_id)  # what disconnect_session does
        try:
            lifecycle.raise_if_ended(RuntimeError("INTERRUPT Error: Interrupted!"))
            raised = None
        except BaseException as stop:  # noqa: B036 (Cancelled is what is looked for, whatever its base)
            raised = type(stop).__name__
        st.session_state["seen"] = {
            "same_life": lifecycle.current() is life,
            "ended": lifecycle.ended(),
            "departed": lifecycle._reaper.departed(session_id),
            "session_id": session_id,
            "raised": raised,
        }


def test_a_run_whose_browser_leaves_sees_its_own_life_ended_and_the_session_waits_to_be_ended(monkeypatch):
    # AppTest's runtime is a stand-in that calls every session active; on a server the session has left
    # the active sessions by the time its release is acted on (the event-loop tests below)
    monkeypatch.setattr(lifecycle, "_session_active", lambda session_id: False)
    app = AppTest.from_function(browser_leaves_during_a_run, default_timeout=TIMEOUT).run()
    seen = app.session_state["seen"]
    try:
        assert not app.exception
        # the run keeps its Life: asking the emptied cache would have made a new one that never ended
        assert seen["same_life"] and seen["ended"]
        assert seen["departed"]  # the reaper will end the session (a fresh Life would have cancelled that)
        # a query interrupted by the leaving is the stop, not an error to report
        assert seen["raised"] == "Cancelled"
    finally:
        lifecycle._reaper._departures.pop(seen["session_id"], None)


@pytest.mark.parametrize("active", [True, False])
def test_a_release_on_the_event_loop_ends_the_life_only_once_the_session_has_left(monkeypatch, active):
    # On a websocket's close Streamlit releases the resources while the session is still active, and
    # removes it from the active sessions in the same step of the loop; a cache clear leaves it there.
    life = lifecycle.Life("a-session")
    departed = []
    monkeypatch.setattr(lifecycle._reaper, "depart", lambda life, loop: departed.append(life))
    state = {"active": True}
    monkeypatch.setattr(lifecycle, "_session_active", lambda session_id: state["active"])

    async def release_then_step():
        lifecycle._released(life)
        state["active"] = active  # what disconnect_session does right after the release (or not)
        ended_at_release = life.ended.is_set()
        await asyncio.sleep(0)  # the loop's next step
        await asyncio.sleep(0)
        return ended_at_release

    assert asyncio.run(release_then_step()) is False
    assert life.ended.is_set() is (not active)
    assert departed == ([] if active else [life])


def test_a_release_outside_the_loop_with_the_session_active_is_a_cache_clear(monkeypatch):
    life = lifecycle.Life("a-session")
    monkeypatch.setattr(lifecycle, "_session_active", lambda session_id: True)
    lifecycle._released(life)  # st.cache_resource.clear() from a script run
    assert not life.ended.is_set() and not lifecycle._reaper.departed("a-session")


def test_outside_a_script_run_nothing_has_ended():
    assert lifecycle.ended() is False
    assert lifecycle.current().session_id == ""

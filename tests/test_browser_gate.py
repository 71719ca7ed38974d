"""serve.py's gate (ui/browser_gate.py) and the owned downloads (ui/downloads.py), rule by rule.

The end-to-end checks, with Chromium and raw clients against a running server, are in
tests/test_browser_session_binding.py and tests/test_browser_downloads_owned.py.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string

from ui import browser_gate, downloads, errors

ROOT = Path(__file__).resolve().parent.parent


def cookie_for(token: bytes) -> str:
    return generate_xsrf_token_string(token)  # a fresh mask each time, as Streamlit sets it


def handshake(session_id: str | None, cookie: str | None) -> dict:
    protocols = ", ".join(["streamlit", "tok", *([session_id] if session_id else [])])
    headers = [(b"host", b"x"), (b"sec-websocket-protocol", protocols.encode())]
    if cookie:
        headers.append((b"cookie", f"a=b; _streamlit_xsrf={cookie}".encode()))
    return {"type": "websocket", "path": "/_stcore/stream", "headers": headers}


def presented_id(scope: dict) -> str | None:
    [value] = [v for k, v in scope["headers"] if k == b"sec-websocket-protocol"]
    entries = [e.strip() for e in value.decode().split(",")]
    return entries[2] if len(entries) > 2 else None


def test_a_cookie_is_recognised_whatever_its_mask():
    token = b"\x01" * 16
    assert browser_gate.fingerprint_of_cookie(cookie_for(token)) == browser_gate.fingerprint_of_cookie(cookie_for(token))
    assert browser_gate.fingerprint_of_cookie(cookie_for(token)) != browser_gate.fingerprint_of_cookie(cookie_for(b"\x02" * 16))
    assert browser_gate.fingerprint_of_cookie(None) is None and browser_gate.fingerprint_of_cookie("junk") is None


def test_the_gate_takes_out_only_a_session_id_bound_to_another_browser(caplog):
    alice, mallory = b"a" * 16, b"m" * 16
    session = str(uuid.uuid4())
    browser_gate.remember_session(session, browser_gate.fingerprint(alice))
    try:
        caplog.set_level(logging.WARNING, "icans.browser_gate")
        # her own browser (another mask of the same cookie) reconnects to her session
        assert presented_id(browser_gate._without_foreign_session_id(handshake(session, cookie_for(alice)))) == session
        # another browser, or no cookie at all, gets a new session
        for cookie in (cookie_for(mallory), None):
            scope = browser_gate._without_foreign_session_id(handshake(session, cookie))
            assert presented_id(scope) is None
            assert [v for k, v in scope["headers"] if k == b"sec-websocket-protocol"] == [b"streamlit, tok"]
        assert session not in caplog.text and "belongs to another browser" in caplog.text
        # an id the gate does not know is left to Streamlit (and to ui/access.py's check)
        unknown = str(uuid.uuid4())
        assert presented_id(browser_gate._without_foreign_session_id(handshake(unknown, None))) == unknown
    finally:
        browser_gate.forget_session(session)


def test_a_media_request_without_a_running_server_is_refused():
    async def app(scope, receive, send):  # what would serve the file
        raise AssertionError("the request got through")

    sent = []

    async def send(message):
        sent.append(message)
    scope = {"type": "http", "method": "GET", "path": "/media/abc.csv", "headers": []}
    asyncio.run(browser_gate.BrowserGate(app)(scope, None, send))
    assert sent[0]["status"] == 404


def test_a_download_is_registered_for_the_browser_of_its_session(monkeypatch):
    monkeypatch.setattr(downloads.access, "this_browser", lambda: "fp-alice")
    registered = []
    monkeypatch.setattr(browser_gate, "register_download", lambda content, browser: registered.append((content, browser)))
    make = downloads.owned(lambda: "patient_id\nP1\n", "the table")
    assert make() == "patient_id\nP1\n"  # as built: Streamlit stores a str as its UTF-8 bytes...
    assert registered == [(b"patient_id\nP1\n", "fp-alice")]  # ...which is what the gate knows it by


def test_a_failing_download_is_logged_with_a_reference_and_told_at_the_next_run(monkeypatch, caplog):
    session_id = str(uuid.uuid4())
    monkeypatch.setattr(downloads, "get_script_run_ctx", lambda: type("Ctx", (), {"session_id": session_id})())

    def broken():
        raise ValueError("cannot build")
    make = downloads.owned(broken, "the report")
    with pytest.raises(ValueError):  # Streamlit's button then says the download failed, at once
        make()
    [(what, reference)] = downloads.pending_failures(session_id)
    assert what == "the report" and len(reference) == 8
    assert f"unexpected error in the report (reference {reference})" in caplog.text
    assert "cannot build" in caplog.text  # the traceback, for the operator
    assert downloads.pending_failures(session_id) == []  # told once


def test_the_page_shows_a_failed_download_with_its_reference():
    script = '''
import streamlit as st
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx
from ui import downloads, errors
if st.button("fail"):
    with downloads._lock:
        downloads._failures.setdefault(get_script_run_ctx().session_id, []).append(("the report", "ab12cd34"))
with errors.reported("this page"):
    st.write("page body")
'''
    at = AppTest.from_string(script, default_timeout=30)
    at.run()
    assert not at.error
    at.button[0].click().run()  # recorded before the page's error boundary, so this very run tells it
    assert [e.value for e in at.error] == [errors.download_failed_message("the report", "ab12cd34")]
    assert "ab12cd34" in at.error[0].value and "Traceback" not in at.error[0].value
    at.run()
    assert not at.error  # once


def test_an_upload_into_a_session_is_accepted_only_from_its_browser():
    alice, session = b"a" * 16, str(uuid.uuid4())
    browser_gate.remember_session(session, browser_gate.fingerprint(alice))
    passed, sent = [], []

    async def app(scope, receive, send):
        passed.append(scope["path"])

    async def send(message):
        sent.append(message)

    def put(cookie):
        headers = [(b"cookie", f"_streamlit_xsrf={cookie}".encode())] if cookie else []
        scope = {"type": "http", "method": "PUT", "path": f"/_stcore/upload_file/{session}/f1", "headers": headers}
        asyncio.run(browser_gate.BrowserGate(app)(scope, None, send))
    try:
        put(cookie_for(alice))
        assert passed == [f"/_stcore/upload_file/{session}/f1"]
        put(cookie_for(b"m" * 16))
        put(None)
        assert len(passed) == 1 and [m["status"] for m in sent if "status" in m] == [404, 404]
    finally:
        browser_gate.forget_session(session)


def test_only_the_media_route_is_gated_not_streamlits_fonts_and_icons(monkeypatch):
    # Streamlit's assets are at static/media/: a gate on any ".../media/<file>" answered 404 to its fonts, and
    # every icon of the sidebar showed as its name ("dashboardOverview")
    passed = []

    async def app(scope, receive, send):
        passed.append(scope["path"])

    async def send(message):
        raise AssertionError(f"the gate answered {message}")

    for path in ("/static/media/MaterialSymbols-Rounded.nEdyypZU.woff2", "/static/media/SourceSansVF-Upright.ttf.woff2"):
        asyncio.run(browser_gate.BrowserGate(app)({"type": "http", "method": "GET", "path": path, "headers": []},
                                                  None, send))
    assert len(passed) == 2
    assert browser_gate.media_file("/media/abc.csv") == "abc.csv"
    assert browser_gate.media_file("/static/media/font.woff2") is None
    assert browser_gate.media_file("/media/a/b.csv") is None
    monkeypatch.setattr(browser_gate.config, "get_option",
                        lambda name: "icans/" if name == "server.baseUrlPath" else None)
    assert browser_gate.media_file("/icans/media/abc.csv") == "abc.csv"
    assert browser_gate.media_file("/icans/static/media/font.woff2") is None
    assert browser_gate.media_file("/media/abc.csv") is None

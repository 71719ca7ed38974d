"""A session belongs to the browser that opened it: its id alone gets nothing (team-password mode).

Alice signs in with the team password in Chromium and uploads a cohort; her Streamlit session id
leaks as anyone can learn it (it is in every upload's URL, `PUT /_stcore/upload_file/<id>/...`).
A raw websocket client then speaks Streamlit's protocol with only that id, as the frontend does
when it reconnects, and must get none of her data, while her own browser still shows all of it.

Two layers are checked apart: serve.py's gate (what deployments run) takes a foreign browser's
session id out of the websocket handshake, so the client gets a new, empty session; without the
gate (`streamlit run dashboard.py`) Streamlit does hand the client her very session, and the
app's own check on the first rerun refuses it and ends the session.

The controls show the tests can fail: with the binding switched off (from outside the app), the
raw client with only the id gets "Signed in as Alice" and her patients, as the issue reported;
and the same raw client, given Alice's browser cookie as well, does get her session. Streamlit itself hands a session to any client
with its id and the same identity, and with a team password every client's identity is the same
(empty), so without the binding the id alone would be enough.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.browser import (ROOT, SERVER_START_TIMEOUT, free_port, password_deployment, resume_session, stop,
                           team_password_secrets,
                           wait_healthy, wait_until_idle)
from tests.test_browser_access import expect_sign_in_only, patient_options, sign_in, upload
from tests.test_browser_cohort import PATIENTS_CSV, TOXICITY_CSV

pytestmark = pytest.mark.browser
PASSWORD = "binding team password"
FIRST_LOAD_TIMEOUT = 60_000
ALICE = "Alice Quartermain"
# Patient ids nothing else on the page contains, so finding them in the raw bytes means a leak.
ALICE_IDS = (b"QZKX-A1", b"QZKX-B2")
ALICE_PATIENTS = PATIENTS_CSV.replace(b"P1,", ALICE_IDS[0] + b",").replace(b"P2,", ALICE_IDS[1] + b",")
ALICE_TOXICITY = TOXICITY_CSV.replace(b"P1,", ALICE_IDS[0] + b",").replace(b"P2,", ALICE_IDS[1] + b",")
UPLOAD_URL = re.compile(r"/_stcore/upload_file/([0-9a-f-]{36})/")


def deployment(tmp_path_factory, script: str):
    return password_deployment(tmp_path_factory.mktemp("binding"), PASSWORD, script)


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    """What deployments run: serve.py, with its gate in front of Streamlit."""
    with deployment(tmp_path_factory, "serve.py") as server:
        yield server


@pytest.fixture(scope="module")
def ungated_server(tmp_path_factory):
    """dashboard.py on its own (no gate): only the app's own check on every rerun stands in the way."""
    with deployment(tmp_path_factory, "dashboard.py") as server:
        yield server


def alice_signed_in_with_her_upload(chromium, app_url):
    """Alice's browser, signed in, with her cohort loaded: (context, page, session id, her XSRF cookie)."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1800})
    page = context.new_page()
    page.set_default_timeout(20_000)
    session_ids: list[str] = []
    page.on("request", lambda request: session_ids.extend(UPLOAD_URL.findall(request.url)))
    page.goto(app_url)
    expect_sign_in_only(page)
    sign_in(page, ALICE, PASSWORD)
    expect(page.get_by_test_id("stSidebar").get_by_text(f"Signed in as {ALICE}")).to_be_visible(
        timeout=FIRST_LOAD_TIMEOUT)
    upload(page, {"patients.csv": ALICE_PATIENTS, "toxicity.csv": ALICE_TOXICITY}, 2)
    # Her data really is there, in her own browser.
    ids = patient_options(page)
    assert all(i.decode() in ids for i in ALICE_IDS), ids
    wait_until_idle(page)
    assert len(set(session_ids)) == 1, session_ids  # every upload named the same session
    [cookie] = [c["value"] for c in context.cookies() if c["name"] == "_streamlit_xsrf"]
    return context, page, session_ids[0], cookie


def leaks(received: bytes) -> list[bytes]:
    return [s for s in (ALICE.encode(), *ALICE_IDS, b"patients.csv", b"2 patients") if s in received]


def test_a_session_id_alone_gets_a_new_empty_session_and_the_owner_keeps_hers(chromium, app_url, app_server):
    context, page, session_id, _ = alice_signed_in_with_her_upload(chromium, app_url)
    try:
        for page_name in ("", "patient"):  # the default page and the one that lists patient ids
            given, received = resume_session(app_url, session_id, page_name=page_name)
            # The gate took the id out of the handshake: Streamlit made a new session for this client.
            assert given and given != session_id
            assert leaks(received) == [], leaks(received)
        log = app_server[1].read_text()
        assert "presented the id of a session that belongs to another browser" in log
        assert session_id not in log  # the server log does not record the id either
        # Alice's session was never touched: her own browser still has all of it.
        ids = patient_options(page)
        assert all(i.decode() in ids for i in ALICE_IDS), ids
        expect(page.get_by_test_id("stSidebar").get_by_text(f"Signed in as {ALICE}")).to_be_visible()
    finally:
        context.close()


def test_without_the_gate_the_app_refuses_the_session_on_its_first_rerun(chromium, ungated_server):
    # `streamlit run dashboard.py`: Streamlit does hand the client Alice's very session (the
    # identity check passes, both are empty), and ui/access.py's check on the rerun refuses it.
    app_url, log_path = ungated_server
    context, page, session_id, cookie = alice_signed_in_with_her_upload(chromium, app_url)
    # Her browser leaves first (the id was read from a log later): with it still open, its own reconnect
    # races the raw client for the session, a window that only serve.py's gate closes (docs/deployment.md).
    context.close()
    try:
        for page_name in ("", "patient"):
            given, received = resume_session(app_url, session_id, page_name=page_name)
            assert given == session_id
            assert leaks(received) == [], leaks(received)
            assert b"belongs to another browser" in received
            assert b"Team password" not in received  # no sign-in into her session either
        log = log_path.read_text()
        assert "belongs to another browser; the session is ended" in log
        assert session_id not in log
        # The session is ended for good: even Alice's own cookie cannot bring its data back.
        _, received = resume_session(app_url, session_id, xsrf_cookie=cookie, page_name="patient")
        assert leaks(received) == [] and b"belongs to another browser" in received
    finally:
        context.close()


def test_control_the_same_client_with_the_browsers_cookie_does_get_the_session(chromium, app_url):
    # Without the binding the session id alone would be enough: Streamlit's identity for a
    # team-password session is empty for every client, so it resumes the session for anyone.
    # What the binding checks is the browser's cookie: given it, the raw client gets everything.
    context, page, session_id, cookie = alice_signed_in_with_her_upload(chromium, app_url)
    # Her browser leaves first: while it is open, its own reconnect races the raw client for the session.
    context.close()
    try:
        # Her second patient: her browser showed the first, and Streamlit sends an element the session
        # already sent as a reference to its message cache, not again; a new one comes whole.
        given, received = resume_session(app_url, session_id, xsrf_cookie=cookie, page_name="patient",
                                         query_string=f"patient_id={ALICE_IDS[1].decode()}")
        assert given == session_id
        # Her session, not a new one: her data comes, and neither the refusal nor a sign-in form does.
        assert ALICE_IDS[1] in received and set(leaks(received)) & {ALICE.encode(), ALICE_IDS[0]}, leaks(received)
        assert b"belongs to another browser" not in received
        assert b"Team password" not in received
    finally:
        context.close()


def test_a_new_client_gets_a_new_session_and_signs_in_only_with_a_cookie(app_url):
    # Streamlit's health check hands any client its own XSRF cookie, as it does the frontend.
    with urllib.request.urlopen(f"{app_url}/_stcore/health") as response:
        cookie = re.search(r"_streamlit_xsrf=([^;]+)", response.headers["Set-Cookie"]).group(1)
    given, received = resume_session(app_url, "", xsrf_cookie=cookie)
    assert given and b"Team password" in received and leaks(received) == []
    # Without any cookie a session cannot be bound to a browser, so it cannot be signed in to.
    given, received = resume_session(app_url, "")
    assert given and b"Team password" not in received and b"did not send this site's session cookie" in received


# The binding switched off from outside the product (no switch in the app): the server process
# replaces access.session_check before Streamlit runs dashboard.py, which then imports that module.
UNBOUND = ("import sys; from ui import access; access.session_check = lambda: access.BOUND; "
           "from streamlit.web.cli import main; sys.argv = ['streamlit', *sys.argv[1:]]; main()")


@pytest.fixture(scope="module")
def unbound_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unbound")
    secrets = team_password_secrets(folder, PASSWORD)
    port = free_port()
    url, log_path = f"http://127.0.0.1:{port}", folder / "server.log"
    command = [sys.executable, "-c", UNBOUND, "run", "dashboard.py", "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false", "--secrets.files", str(secrets)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, "ICANS_LIBRARY_DIR": str(folder / "library")})
    try:
        wait_healthy(url, process, log_path, SERVER_START_TIMEOUT)
        yield url
    finally:
        stop(process)


def test_negative_control_with_the_binding_switched_off_the_id_alone_gets_her_session(chromium, unbound_server):
    # What the issue reported, reproduced: without the binding (and without serve.py's gate), a
    # client with nothing but her session id gets "Signed in as Alice" and her patients.
    context, page, session_id, _ = alice_signed_in_with_her_upload(chromium, unbound_server)
    context.close()  # as in the control above: no race with her browser's reconnect, and her second patient
    try:
        given, received = resume_session(unbound_server, session_id, page_name="patient",
                                         query_string=f"patient_id={ALICE_IDS[1].decode()}")
        assert given == session_id
        # Her data reaches the raw client. (Which elements: Streamlit sends an element the session already
        # sent as a reference to its cache, not again, so her unchanged name may come as a reference only.)
        assert set(leaks(received)) & {ALICE.encode(), *ALICE_IDS}, leaks(received)
    finally:
        context.close()

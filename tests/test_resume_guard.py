"""A client that takes over a session while its owner's run is drawing gets nothing of that run (ui/resume_guard.py).

Raw websocket clients only (no browser), on `streamlit run dashboard.py` with no gate in front and no
sign-in: the owner's client binds the session (it has Streamlit's XSRF cookie), asks for the
Cytokines page and, while that run is drawing, a second client with only the session id takes the
session over. Everything the second client
receives must be its own run's, refused by ui/access.py: its first message is its own `new_session`,
and none of the owner's page reaches it.

Both ways a client comes: the owner's socket closed mid-run a moment before (Streamlit's stored-session
path), or still open (its "already connected! Reconnecting" path).

The control is the same server with the guard switched off from outside the product: there the
second client receives the end of the owner's run before its own (the test can fail).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.browser import (ROOT, SERVER_START_TIMEOUT, free_port, raw_connect, raw_drain, raw_messages,
                           raw_rerun, running_app, stop, wait_healthy)

pytestmark = pytest.mark.browser  # a real server; no browser is started
ATTEMPTS = 4
# In the owner's Cytokines run and in no refused run (whose page is only the title, the refusal and the
# navigation's page names): the sample's IL-6 chart and the median table's heading.
OWNER_ONLY = (b"IL-6", b"Medians per group and day")
UNGUARDED = ("import sys; from ui import resume_guard; resume_guard.install = lambda: None; "
             "from streamlit.web.cli import main; sys.argv = ['streamlit', *sys.argv[1:]]; main()")


def take_over_while_drawing(app_url: str, owner_leaves_first: bool) -> list[tuple[bytes, object]]:
    """The owner draws Cytokines; mid-run, another client presents the session id: what that client receives.

    `owner_leaves_first`: the owner's socket closes mid-run and the other client comes a moment later
    (Streamlit's stored-session path); else it takes the session over with the owner's socket open."""
    with urllib.request.urlopen(f"{app_url}/_stcore/health") as response:
        cookie = re.search(r"_streamlit_xsrf=([^;]+)", response.headers["Set-Cookie"]).group(1)
    owner = raw_connect(app_url, cookie=cookie)
    try:
        raw_rerun(owner, "")
        session_id = ""
        for _, message in raw_messages(owner, until_finished=True):  # the first run binds the session
            if message.WhichOneof("type") == "new_session":
                session_id = message.new_session.initialize.session_id
        raw_rerun(owner, "cytokines")
        for frame, message in raw_messages(owner, until_finished=False):
            if message.WhichOneof("type") == "delta" and b"IL-6" in frame:
                break  # the owner's Cytokines run is drawing its charts
        if owner_leaves_first:
            owner.close()
            time.sleep(0.5)
        with raw_connect(app_url, session_id) as other:
            raw_rerun(other, "")
            return list(raw_messages(other, until_finished=True))
    finally:
        owner.close()


@pytest.fixture(scope="module")
def open_ungated(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("resume"), script="dashboard.py") as (url, _):
        yield url


@pytest.fixture(scope="module")
def open_unguarded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unguarded")
    port = free_port()
    url, log_path = f"http://127.0.0.1:{port}", folder / "server.log"
    command = [sys.executable, "-c", UNGUARDED, "run", "dashboard.py", "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=dict(os.environ))
    try:
        wait_healthy(url, process, log_path, SERVER_START_TIMEOUT)
        yield url
    finally:
        stop(process)


@pytest.mark.parametrize("owner_leaves_first", [True, False], ids=["owner-left", "owner-still-open"])
def test_a_client_taking_over_a_drawing_session_gets_only_its_own_refused_run(open_ungated, owner_leaves_first):
    for _ in range(ATTEMPTS):
        received = take_over_while_drawing(open_ungated, owner_leaves_first)
        kinds = [m.WhichOneof("type") for _, m in received]
        assert kinds[0] == "new_session", kinds[:5]  # nothing before its own run
        everything = b"".join(frame for frame, _ in received)
        assert not [m for m in OWNER_ONLY if m in everything]
        assert b"belongs to another browser" in everything


def test_control_without_the_guard_the_owners_run_reaches_the_other_client(open_unguarded):
    # When the owner's socket closed mid-run, the end of her run (its script_finished, and whatever
    # else it had not yet sent) waits in the session's queue and reaches whoever resumes it.
    for _ in range(ATTEMPTS // 2):
        received = take_over_while_drawing(open_unguarded, owner_leaves_first=True)
        kinds = [m.WhichOneof("type") for _, m in received]
        assert kinds[0] != "new_session", kinds[:5]
        assert kinds.index("new_session") > 0


def download_asked_then_taken_over(app_url: str) -> tuple[list, list]:
    """The owner draws Cytokines and asks for its first deferred download; at once another client presents
    the session id and sends nothing. (What that client receives, what it receives after asking for its own
    upload URLs.)"""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    with urllib.request.urlopen(f"{app_url}/_stcore/health") as response:
        cookie = re.search(r"_streamlit_xsrf=([^;]+)", response.headers["Set-Cookie"]).group(1)
    with raw_connect(app_url, cookie=cookie) as owner:
        raw_rerun(owner, "")
        session_id = next(m.new_session.initialize.session_id for _, m in raw_messages(owner, until_finished=True)
                          if m.WhichOneof("type") == "new_session")
        raw_rerun(owner, "cytokines")
        deferred = [m.delta.new_element.download_button.deferred_file_id
                    for _, m in raw_messages(owner, until_finished=True)
                    if m.WhichOneof("type") == "delta" and m.delta.new_element.WhichOneof("type") == "download_button"
                    and m.delta.new_element.download_button.deferred_file_id]
        assert deferred
        ask = BackMsg()
        ask.backend_operation_request.request_id = "owner-download"
        ask.backend_operation_request.session_id = session_id
        ask.backend_operation_request.deferred_file.file_id = deferred[0]
        owner.send(ask.SerializeToString())
        with raw_connect(app_url, session_id) as other:
            before = raw_drain(other, 6)
            own = BackMsg()
            own.file_urls_request.request_id = "its-own"
            own.file_urls_request.session_id = session_id
            own.file_urls_request.file_names.append("patients.csv")
            other.send(own.SerializeToString())
            return before, raw_drain(other, 3)


def test_the_owners_download_answer_is_not_handed_to_the_client_that_took_over(open_ungated):
    # Found by an adversarial pass: the guard passed every answer while muted, and the owner's download
    # answer names a /media URL that fetches her file without serve.py. Only answers to the new client's
    # own requests pass (its upload URLs here).
    before, after = download_asked_then_taken_over(open_ungated)
    assert [m.WhichOneof("type") for m in before] == []
    assert [m.file_urls_response.response_id for m in after if m.WhichOneof("type") == "file_urls_response"] \
        == ["its-own"]


def test_control_without_the_guard_the_owners_download_answer_reaches_the_other_client(open_unguarded):
    before, _ = download_asked_then_taken_over(open_unguarded)
    answers = [m.backend_operation_response for m in before if m.WhichOneof("type") == "backend_operation_response"]
    assert answers and answers[0].request_id == "owner-download" and answers[0].deferred_file.url, \
        [m.WhichOneof("type") for m in before]

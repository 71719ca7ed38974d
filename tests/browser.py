"""Shared fixtures for browser tests: a running dashboard and a headless Chromium page.

    @pytest.mark.browser
    def test_something(app_url, page):
        page.goto(app_url)
        expect(page.get_by_text("Cohort")).to_be_visible()

`app_url` starts `streamlit run serve.py` (what deployments run) once per test module on a free port and
stops it afterwards; `page` is a fresh browser context per test, sharing one Chromium
per module. A failing test leaves a screenshot and the server's log under pytest's
tmp dir (the path is printed in the failure report).

Playwright cannot download its own browser here; it drives Debian's chromium. The
extra flags keep chromium from stalling on background network calls in a closed network.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SERVER_START_TIMEOUT = 60  # seconds until /_stcore/health answers "ok"
EXPECT_TIMEOUT = 20_000  # ms for actions and `expect` (Streamlit re-renders asynchronously)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with status {process.returncode} before it was "
                               f"healthy:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"streamlit was not healthy after {timeout:.0f} s:\n"
                       f"{log_path.read_text(errors='replace')[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_until_idle(page, timeout: float = EXPECT_TIMEOUT) -> None:
    """Wait until the app's script run has finished (Streamlit renders while the script runs).

    Call it after seeing something the run you waited for displays; right after a click the
    old run's "notRunning" may still be showing.
    """
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stApp")).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=timeout)


def settled(read, quiet: float = 1.5, timeout: float = EXPECT_TIMEOUT / 1000):
    """`read()` once it has returned the same value for `quiet` seconds.

    The data grid's screen-reader table (and a download button's file) can lag the run that drew them by a few
    frames on a loaded runner: reading once right after `wait_until_idle` has caught the previous run's numbers.
    """
    deadline = time.monotonic() + timeout
    value, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        again = read()
        if again != value:
            value, since = again, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return value
    raise AssertionError(f"still changing after {timeout:.0f} s; last read: {value!r}")


def read_until(read, expected, timeout: float = EXPECT_TIMEOUT / 1000):
    """`read()` until it returns `expected` or `timeout` passes; returns the last value (assert on it).

    For what a run started by a link shows once the rerun that applies the link's options has drawn it.
    """
    deadline = time.monotonic() + timeout
    value = read()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.5)
        value = read()
    return value


def team_password_secrets(folder: Path, password: str) -> Path:
    """A secrets.toml in `folder` for a deployment signed in with one team password (hashed, as shipped)."""
    from icans_core import passwords

    secrets = Path(folder) / "secrets.toml"
    secrets.write_text(f'[access]\npassword_hash = "{passwords.hash_password(password)}"\n')
    return secrets


@contextmanager
def password_deployment(folder: Path, password: str, script: str = "serve.py", library: Path | None = None):
    """`running_app` with a team password and a library folder (default: `folder`/library)."""
    with running_app(folder, ("--secrets.files", str(team_password_secrets(folder, password))),
                     env={"ICANS_LIBRARY_DIR": str(library or Path(folder) / "library")}, script=script) as server:
        yield server


@contextmanager
def running_app(log_dir: Path, extra_args: tuple[str, ...] = (), env: dict | None = None,
                port: int | None = None, script: str = "serve.py"):
    """`streamlit run serve.py` (what deployments run) on a free loopback port: yields (url, log path), then stops it.

    `extra_args` go to streamlit (e.g. ("--secrets.files", path) for a deployment with sign-in);
    `env` adds to the server's environment (e.g. ICANS_LIBRARY_DIR); `port` is for a caller that
    must name the address in advance (an OIDC redirect URI); `script` = "dashboard.py" runs the
    dashboard without serve.py's browser gate. The server's process id is written to log_dir/server.pid."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = Path(log_dir) / "server.log"
    command = [
        sys.executable, "-m", "streamlit", "run", script,
        "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
        "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false", *extra_args,
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    (Path(log_dir) / "server.pid").write_text(str(process.pid))  # for a test that watches the server's CPU time
    try:
        wait_healthy(url, process, log_path, SERVER_START_TIMEOUT)
        yield url, log_path
    finally:
        stop(process)


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    """The dashboard running in its own process: yields (url, log path); stopped after the module."""
    with running_app(tmp_path_factory.mktemp("streamlit")) as server:
        yield server


@pytest.fixture(scope="module")
def app_url(app_server) -> str:
    """Base URL of the running dashboard (one server per test module)."""
    return app_server[0]


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium per test module."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no chromium at {CHROMIUM} (run `make chromium`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium, app_server, request, tmp_path):
    """A fresh browser context and page; on failure, a screenshot and the server log are kept."""
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT)
    context = chromium.new_context(viewport={"width": 1400, "height": 1800})
    context.set_default_timeout(EXPECT_TIMEOUT)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
    try:
        yield page
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            shot = tmp_path / "failure.png"
            try:
                page.screenshot(path=str(shot), full_page=True)
                (tmp_path / "console.log").write_text("\n".join(console))
                (tmp_path / "server.log").write_bytes(app_server[1].read_bytes())
                report.sections.append(("browser", f"screenshot, console and server log in {tmp_path}"))
            except Exception as exc:  # a dead page must not hide the real failure
                report.sections.append(("browser", f"no screenshot: {exc}"))
        context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Let fixtures see whether the test itself failed (for the failure screenshot)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


# --- raw websocket clients (no browser): what the frontend sends, and what a client is sent -------------

def raw_messages(ws, until_finished: bool, timeout: float = 60):
    """(frame, ForwardMsg) as a raw client receives them; with `until_finished`, up to the end of a run it
    saw start (its own new_session first)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    deadline, started = time.monotonic() + timeout, False
    while time.monotonic() < deadline:
        frame = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        message = ForwardMsg()
        message.ParseFromString(frame)
        yield frame, message
        started = started or message.WhichOneof("type") == "new_session"
        # the end of a run this client saw start (a run under way when it came may end first)
        if until_finished and started and message.WhichOneof("type") == "script_finished" \
                and message.script_finished != ForwardMsg.ScriptFinishedStatus.FINISHED_EARLY_FOR_RERUN:
            return


def raw_connect(app_url: str, session_id: str = "", cookie: str | None = None, timeout: float = 60):
    """A websocket to Streamlit as its frontend opens one: presenting `session_id` (to resume it) and Streamlit's
    XSRF cookie if given."""
    from websockets.sync.client import connect

    headers = {"Cookie": f"_streamlit_xsrf={cookie}"} if cookie else {}
    protocols = ["streamlit", cookie or "no-token", *([session_id] if session_id else [])]
    return connect(app_url.replace("http://", "ws://", 1) + "/_stcore/stream", subprotocols=protocols,
                   additional_headers=headers, open_timeout=timeout, max_size=None)


def raw_rerun(ws, page_name: str, query_string: str = "") -> None:
    """Ask for a script run of `page_name` ("" for the default page), as the frontend does."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    rerun = BackMsg()
    rerun.rerun_script.query_string = query_string
    rerun.rerun_script.page_name = page_name
    ws.send(rerun.SerializeToString())


def raw_drain(ws, seconds: float) -> list:
    """Every ForwardMsg received within `seconds`."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    out, end = [], time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            frame = ws.recv(timeout=left)
        except TimeoutError:
            break
        message = ForwardMsg()
        message.ParseFromString(frame)
        out.append(message)
    return out


def resume_session(app_url: str, session_id: str, xsrf_cookie: str | None = None, page_name: str = "",
                   timeout: float = 60, query_string: str = "") -> tuple[str, bytes]:
    """Speak Streamlit's websocket protocol as a raw client that presents `session_id`, as the frontend does.

    The frontend reconnects by sending `Sec-WebSocket-Protocol: streamlit, <xsrf token>, <session id>`
    and then a rerun BackMsg; this does the same, with Streamlit's XSRF cookie only if given (a
    browser's cookie copied over, for a control) and the page's `query_string` if given. Returns (the session id the server gave this
    client, every byte it was sent until the script run finished)."""
    given, received, finished = "", bytearray(), False
    # The second protocol entry is the XSRF token the frontend copies from the cookie; without the cookie,
    # any value (the server only compares it with the cookie, to read a sign-in cookie).
    with raw_connect(app_url, session_id, xsrf_cookie, timeout) as ws:
        raw_rerun(ws, page_name, query_string)
        # Only the run this client asked for counts, to its end: a run already under way when it took the
        # session over may finish first, and a run the app reruns continues in the next.
        for frame, message in raw_messages(ws, until_finished=True, timeout=timeout):
            received += frame
            if message.WhichOneof("type") == "new_session":
                given = message.new_session.initialize.session_id
            finished = message.WhichOneof("type") == "script_finished"
        if given and finished:
            return given, bytes(received)
    raise TimeoutError(f"the script run did not finish within {timeout:.0f} s")


def upload_cohort(page, app_url: str, files: dict[str, bytes], patients: int | None = None,
                  timeout: float = 60_000) -> None:
    """Upload `files` (name -> CSV bytes) on the Cohort page as a user does, and wait until it is loaded
    (the "Loaded" confirmation, and the patient count when `patients` is given)."""
    from playwright.sync_api import expect

    page.goto(f"{app_url}/cohort")
    expect(page.get_by_text("Loaded:")).to_be_visible(timeout=timeout)
    uploader = page.get_by_test_id("stFileUploader")
    uploader.locator("input[type=file]").set_input_files(
        [{"name": name, "mimeType": "text/csv", "buffer": data} for name, data in files.items()])
    expect(uploader.get_by_test_id("stFileChip")).to_have_count(len(files))
    expect(uploader.get_by_test_id("stFileChipIconSpinner")).to_have_count(0)
    page.get_by_role("button", name="Validate and load").click()
    expect(page.get_by_test_id("stAlertContentSuccess").filter(has_text="Loaded")).to_be_visible(timeout=timeout)
    if patients is not None:
        # the metric's value exactly (2 is not the 2 of 12 or 120), as views/cohort.py writes it
        metric = page.get_by_test_id("stMetric").filter(has_text="Patients").first
        expect(metric.get_by_test_id("stMetricValue")).to_have_text(f"{patients:,}", timeout=timeout)
    wait_until_idle(page)

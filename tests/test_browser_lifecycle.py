"""Work stops when its session ends, and an ended session's database is closed (issue 10, part 4).

Seen from the server's side: a tab that closes while its upload is being validated (seconds of
pure-Python work that makes no Streamlit call) stops that work within a bound, which the server's
CPU time shows (it goes idle) as well as its log; the session, kept a few seconds for its browser to
come back (`server.disconnectedSessionTTL`, short here), then ends and its database is closed.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, resume_session, running_app

pytestmark = pytest.mark.browser

PATIENTS = 5000  # validation takes well over STOP_BOUND seconds on the development machine
STOP_BOUND = 15.0  # seconds from the tab closing to the run stopping (4.8 s measured at load average 21)
TTL = 6  # server.disconnectedSessionTTL for this server
BUSY_WINDOW = 2.0  # seconds over which the server's CPU use while validating is measured
SETTLE = 2.0
IDLE_WINDOW = 4.0  # ... and, SETTLE seconds after the run stopped, over this many seconds,
IDLE_SHARE = 0.3  # when it must be under this share of the first
UPLOAD_URL = re.compile(r"/_stcore/upload_file/([0-9a-f-]{36})/")


def cohort_zip(tmp_path: Path) -> Path:
    from icans_core.sample import generate_cohort, write_cohort

    folder = tmp_path / "cohort"
    write_cohort(generate_cohort(PATIENTS, 21), folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.glob("*.csv")):
            archive.write(path, path.name)
    path = tmp_path / "big-cohort.zip"
    path.write_bytes(buffer.getvalue())
    return path


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks (100 per second)


def wait_for_line(log_path: Path, pattern: str, timeout: float) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, log_path.read_text(errors="replace"))
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"no line matching {pattern!r} in the server log within {timeout:.0f} s:\n"
                         + log_path.read_text(errors="replace")[-4000:])


@pytest.mark.timeout(900)  # a 5,000-patient cohort is generated, uploaded and validated on a shared machine
def test_closing_the_tab_stops_the_validation_and_ends_the_session(tmp_path):
    import os

    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no chromium at {CHROMIUM}")
    from playwright.sync_api import expect, sync_playwright

    from tests.browser import CHROMIUM_ARGS

    upload = cohort_zip(tmp_path)
    with running_app(tmp_path, ("--server.disconnectedSessionTTL", str(TTL))) as (url, log_path), \
            sync_playwright() as playwright:
        pid = int((tmp_path / "server.pid").read_text())
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1800})
            context.set_default_timeout(120_000)
            page = context.new_page()
            session_ids: list[str] = []  # the session's id is in every upload's URL
            page.on("request", lambda request: session_ids.extend(UPLOAD_URL.findall(request.url)))
            page.goto(f"{url}/cohort")
            expect(page.get_by_text("Loaded:")).to_be_visible(timeout=60_000)
            uploader = page.get_by_test_id("stFileUploader")
            uploader.locator("input[type=file]").set_input_files(str(upload))
            expect(uploader.get_by_test_id("stFileChip")).to_have_count(1, timeout=60_000)
            expect(uploader.get_by_test_id("stFileChipIconSpinner")).to_have_count(0, timeout=60_000)
            page.get_by_role("button", name="Validate and load").click()
            # the validation is under way (the step after reading the files) ...
            expect(page.get_by_text(re.compile(r"Validating [\d,]+ rows"))).to_be_visible(timeout=60_000)
            time.sleep(1.0)
            busy_from = cpu_seconds(pid)
            time.sleep(BUSY_WINDOW)
            busy = (cpu_seconds(pid) - busy_from) / BUSY_WINDOW  # CPU seconds per second (the machine is shared)
            assert busy > 0.05, "the server was not busy validating"
            [session_id] = set(session_ids)
            [cookie] = [c["value"] for c in context.cookies() if c["name"] == "_streamlit_xsrf"]
            # ... when the tab closes
            context.close()
        finally:
            browser.close()
        closed_at = time.monotonic()

        left = wait_for_line(log_path, r"a session's browser left during a script run", STOP_BOUND)
        assert left
        stopped = wait_for_line(log_path, r"a script run stopped ([\d.]+) s after its session's browser left",
                                STOP_BOUND)
        assert float(stopped.group(1)) < STOP_BOUND
        assert time.monotonic() - closed_at < STOP_BOUND + 1
        # independent of the log: the server is idle again (the validation would go on for many seconds)
        time.sleep(SETTLE)  # the stopped run's tables are freed
        idle_from = cpu_seconds(pid)
        time.sleep(IDLE_WINDOW)
        idle = (cpu_seconds(pid) - idle_from) / IDLE_WINDOW
        assert idle < IDLE_SHARE * busy, f"the server used {idle:.2f} CPU s/s after the run stopped, {busy:.2f} while validating"

        ended = wait_for_line(log_path, r"a session ended (\d+) s after its browser left: its databases were closed",
                              TTL + 20)
        assert int(ended.group(1)) <= TTL + 2
        # independent of the log: the session is gone. A client presenting its id and its browser's cookie
        # (which would be handed a live session, tests/test_browser_session_binding.py) gets a new one.
        given, _ = resume_session(url, session_id, xsrf_cookie=cookie)
        assert given and given != session_id
        text = log_path.read_text(errors="replace")
        assert "upload failed unexpectedly" not in text and "Traceback" not in text

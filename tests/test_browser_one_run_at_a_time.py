"""One session runs one script run at a time, so two runs never share its DuckDB connection.

Streamlit's `runner.fastReruns` (on by default) answers a rerun request, such as a click while a page
computes, by starting a new script thread at once and asking the old one to stop at its next
Streamlit call. A run inside a query of seconds (registry scale) makes no Streamlit call until the
query returns, so for that time two threads of one session use its one connection, and DuckDB refuses
the second ("connection is busy with another call"): a page showed an error after a quick click.
The app's `lifecycle.script_run()` makes the new run wait until the old one has stopped. A raw client
(tests/browser.py's protocol) asks for a rerun while the first run's query holds the connection; the
control, the same page without the wait, shows the test can fail.
"""

from __future__ import annotations

import time

import pytest

from tests.browser import running_app

pytestmark = pytest.mark.browser


def two_quick_runs(app_url: str, timeout: float = 90) -> str:
    """Ask for a run, then for another 0.5 s later (inside the first's query); the text every run wrote."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    written: list[str] = []
    with connect(app_url.replace("http://", "ws://", 1) + "/_stcore/stream", subprotocols=["streamlit", "x"],
                 open_timeout=timeout, max_size=None) as ws:
        rerun = BackMsg()
        rerun.rerun_script.query_string = ""
        ws.send(rerun.SerializeToString())
        asked_again = False
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if not asked_again and time.monotonic() - started > 0.5:
                ws.send(rerun.SerializeToString())
                asked_again = True
            try:
                frame = ws.recv(timeout=0.1)
            except TimeoutError:
                continue
            message = ForwardMsg()
            message.ParseFromString(frame)
            kind = message.WhichOneof("type")
            if kind == "delta" and message.delta.new_element.WhichOneof("type") == "markdown":
                written.append(message.delta.new_element.markdown.body)
            elif kind == "script_finished" and asked_again and "run 2" in " ".join(written) \
                    and message.script_finished != ForwardMsg.ScriptFinishedStatus.FINISHED_EARLY_FOR_RERUN:
                return "\n".join(written)
    raise TimeoutError(f"the second run did not finish within {timeout:.0f} s; written: {written}")


def test_a_rerun_during_a_query_waits_for_it_instead_of_sharing_the_connection(tmp_path):
    with running_app(tmp_path, script="tests/apps/slow_query.py") as (url, _log):
        written = two_quick_runs(url)
    assert "failed" not in written, written
    assert "run 2 counted" in written, written


def test_control_without_the_wait_the_second_run_finds_the_connection_busy(tmp_path):
    with running_app(tmp_path, env={"ICANS_TEST_WITHOUT_RUN_LOCK": "1"},
                     script="tests/apps/slow_query.py") as (url, _log):
        written = two_quick_runs(url)
    assert "run 2 failed" in written and "busy" in written, written

"""A download that fails while it is made shows the same short message with a reference as a page does.

Streamlit makes a deferred download in a worker thread, outside the script, where nothing can be
shown; ui.downloads.owned logs the failure with a reference and reruns the session, and the page's
error boundary then shows the message. Run on a one-page app whose download always raises.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import running_app, wait_until_idle

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("failing"), script="tests/apps/failing_download.py") as server:
        yield server


def test_a_failing_download_shows_a_message_with_a_reference(page, app_url, app_server):
    page.goto(app_url)
    expect(page.get_by_text("A page with a download that fails.")).to_be_visible(timeout=60_000)
    wait_until_idle(page)
    page.get_by_role("button", name="Download the file").click()
    message = page.get_by_text(re.compile(r"Something went wrong on the server while making the test file, so it "
                                          r"was not downloaded\..* this reference: ([0-9a-f]{8})\."))
    expect(message).to_be_visible(timeout=30_000)
    reference = re.search(r"reference: ([0-9a-f]{8})", message.inner_text()).group(1)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    assert "the builder broke" not in page.content()  # the cause stays on the server...
    log = app_server[1].read_text()
    assert f"unexpected error in the test file (reference {reference})" in log  # ...with the same reference
    assert "RuntimeError: the builder broke" in log
    expect(page.get_by_role("button", name="Download the file")).to_be_enabled()  # and it can be tried again

"""The owner's own browser loses its connection and gets it back: the page goes on working (ui/resume_guard.py).

The guard drops what a resumed session sends until a run its new connection asked for starts. The
user this must not hurt is the owner: her tab's websocket drops (a network blip, a laptop lid) and
the frontend reconnects with the same session id. Chromium here, on a filtered Cytokines page, both
behind serve.py's gate and without it:
- the socket drops while the page is idle: the frontend keeps the page; her next filter change
  draws, as before the drop;
- the socket drops while a filter change is drawing: the frontend asks for a rerun on reconnecting,
  and the page is drawn to its end for the new selection.
The socket is closed from the page itself (the frontend's own WebSocket, kept by an init script),
which is what the frontend sees when the network drops it.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import running_app, wait_until_idle
from tests.test_browser_links import choose_in_multiselect, no_error_box, open_filters, open_page, selection_line

pytestmark = pytest.mark.browser

KEEP_SOCKETS = """
window.__sockets = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) { super(...args); window.__sockets.push(this); }
};
"""
OPEN_SOCKETS = "window.__sockets.filter(s => s.readyState === WebSocket.OPEN).length"
DROP = "window.__sockets.filter(s => s.readyState === WebSocket.OPEN).forEach(s => s.close())"


@pytest.fixture(scope="module", params=["serve.py", "dashboard.py"])
def server_url(request, tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("reconnect"), script=request.param) as (url, _):
        yield url


@pytest.fixture
def tab(chromium, server_url):
    context = chromium.new_context(viewport={"width": 1400, "height": 1800})
    context.add_init_script(KEEP_SOCKETS)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        open_page(page, f"{server_url}/cytokines?product=axi-cel", "Cytokine kinetics")
        open_filters(page)
        yield page
    finally:
        context.close()


def reconnected(page, sockets_before: int) -> None:
    page.wait_for_function(f"window.__sockets.length > {sockets_before} && {OPEN_SOCKETS} === 1", timeout=30_000)


def test_a_drop_while_idle_keeps_the_page_and_the_next_change_draws(tab):
    before = selection_line(tab)
    assert re.search(r"\d", before), before
    sockets = tab.evaluate("window.__sockets.length")
    tab.evaluate(DROP)
    reconnected(tab, sockets)
    expect(tab.get_by_role("heading", name="Medians per group and day")).to_be_visible()  # her page is still there
    choose_in_multiselect(tab, "Product", "tisa-cel")
    expect(tab.get_by_test_id("stSidebar").get_by_text(re.compile(r"patients selected")).first).not_to_have_text(before)
    expect(tab.get_by_role("heading", name="Medians per group and day")).to_be_visible()
    no_error_box(tab)


def test_a_drop_mid_run_redraws_the_page_for_the_new_selection(tab):
    before = selection_line(tab)
    sockets = tab.evaluate("window.__sockets.length")
    box = tab.get_by_test_id("stSidebar").get_by_test_id("stMultiSelect").filter(has_text="Product")
    box.locator("input").click()
    tab.get_by_role("option", name="tisa-cel", exact=True).first.click()
    tab.keyboard.press("Escape")
    expect(tab.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "running")
    tab.evaluate(DROP)  # the filter change is drawing
    reconnected(tab, sockets)
    wait_until_idle(tab)
    expect(tab.get_by_test_id("stSidebar").get_by_text(re.compile(r"patients selected")).first).not_to_have_text(before)
    expect(tab.get_by_role("heading", name="Medians per group and day")).to_be_visible()
    no_error_box(tab)

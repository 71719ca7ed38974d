"""A signed-in session's downloads are served to its own browser only (serve.py's gate, ui/browser_gate.py).

Alice signs in with the team password and uploads a cohort, then downloads the report and the
upload template in Chromium. Their URLs (/media/<id>.html, /media/<id>.xlsx) then go to clients
without her cookie, a cookie-less HTTP client and Bob's signed-in browser, while she is still
signed in: they get 404. With her browser's cookie the same request gets the file, with her
files' SHA-256 in it (so the refusals are not a file that was gone anyway). The control runs the same
requests against the dashboard without the gate (`streamlit run dashboard.py`): there the
cookie-less client gets her report, which is what the gate prevents.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.browser import password_deployment, wait_until_idle
from tests.test_browser_access import sign_in, upload
from tests.test_browser_session_binding import ALICE, ALICE_PATIENTS, ALICE_TOXICITY

pytestmark = pytest.mark.browser
PASSWORD = "download team password"
FIRST_LOAD_TIMEOUT = 60_000


def deployment(tmp_path_factory, script: str):
    return password_deployment(tmp_path_factory.mktemp("downloads"), PASSWORD, script)


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    with deployment(tmp_path_factory, "serve.py") as server:
        yield server


def her_data_in(report: bytes) -> bool:
    """The report's provenance names each source file by its SHA-256: hers, not anyone else's."""
    return all(hashlib.sha256(data).hexdigest().encode() in report for data in (ALICE_PATIENTS, ALICE_TOXICITY))


def fetch(url: str, cookie: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Cookie": f"_streamlit_xsrf={cookie}"} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def signed_in(chromium, app_url: str, name: str):
    context = chromium.new_context(viewport={"width": 1400, "height": 1800}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(app_url)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
    sign_in(page, name, PASSWORD)
    expect(page.get_by_test_id("stSidebar").get_by_text(f"Signed in as {name}")).to_be_visible(
        timeout=FIRST_LOAD_TIMEOUT)
    cookie = next(c["value"] for c in context.cookies() if c["name"] == "_streamlit_xsrf")
    return context, page, cookie


def alices_downloads(chromium, app_url: str, check=lambda url, cookie: None):
    """Alice signed in with her upload downloads the template and the report; `check(url, her cookie)`
    runs right after each.
    Returns (her context, her cookie, the report's URL, the report)."""
    context, page, cookie = signed_in(chromium, app_url, ALICE)
    upload(page, {"patients.csv": ALICE_PATIENTS, "toxicity.csv": ALICE_TOXICITY}, 2)
    with page.expect_download() as template:  # on the Cohort page
        page.get_by_role("button", name="Download the .xlsx template").click()
    check(template.value.url, cookie)
    page.get_by_test_id("stSidebarNav").get_by_text("Report").click()
    button = page.get_by_role("button", name="Download the report (HTML)")
    expect(button).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
    wait_until_idle(page)
    with page.expect_download(timeout=120_000) as report:  # deferred: made when clicked
        button.click()
    html = report.value.path().read_bytes()
    assert her_data_in(html), "the report does not hold her data"
    check(report.value.url, cookie)
    return context, cookie, report.value.url, html


def test_a_signed_in_users_downloads_are_refused_to_other_clients(chromium, app_url):
    bob, _, bobs_cookie = signed_in(chromium, app_url, "Bob")
    checked = []

    def only_hers(url: str, cookie: str) -> None:
        # Streamlit drops a made download two script runs (of any session) later: nobody reruns
        # between these requests, and her cookie gets the file before and after the refusals.
        assert "/media/" in url, url
        assert fetch(url, cookie)[0] == 200
        assert fetch(url)[0] == 404  # no cookie
        assert fetch(url, bobs_cookie)[0] == 404  # another signed-in browser
        assert fetch(url, "2|00000000|" + "00" * 16 + "|1700000000")[0] == 404  # a forged cookie
        assert fetch(url, cookie)[0] == 200
        checked.append(url)
    try:
        context, cookie, report_url, html = alices_downloads(chromium, app_url, only_hers)
        assert len(checked) == 2 and checked[1].endswith(".html"), checked
        status, body = fetch(report_url, cookie)
        assert status == 200 and body == html  # the very file, her data in it
        context.close()
    finally:
        bob.close()


def test_control_without_the_gate_a_cookieless_client_gets_the_report(chromium, tmp_path_factory):
    with deployment(tmp_path_factory, "dashboard.py") as (url, _):
        context, _, report_url, html = alices_downloads(chromium, url)
        try:
            status, body = fetch(report_url)
            assert status == 200 and her_data_in(body)
        finally:
            context.close()

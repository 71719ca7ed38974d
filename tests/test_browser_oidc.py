"""Signing in with OpenID Connect (st.login) against a real OpenID provider running on loopback.

oidc-provider-mock is a complete OpenID provider (discovery, authorization-code flow, signed ID
tokens) whose login form takes any user name; the app is started with an [auth] section that
points at it, exactly as a deployment points at Entra ID, Google or Keycloak.
"""

from __future__ import annotations

import re
import secrets

import pytest
from oidc_provider_mock import run_server_in_thread
from playwright.sync_api import expect

from tests.browser import free_port, running_app, wait_until_idle
from tests.test_browser_access import BOB_PATIENTS, BOB_TOXICITY, patient_options, upload
from tests.test_browser_cohort import PATIENTS_CSV, TOXICITY_CSV

pytestmark = pytest.mark.browser
FIRST_LOAD_TIMEOUT = 60_000


@pytest.fixture(scope="module")
def provider():
    with run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def app_server(tmp_path_factory, provider):
    folder = tmp_path_factory.mktemp("oidc")
    port = free_port()
    secrets_file = folder / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_urlsafe(48)}"\n'
        'client_id = "icans-cohorts"\n'
        'client_secret = "test-client-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n')
    with running_app(folder, ("--secrets.files", str(secrets_file)),
                     env={"ICANS_LIBRARY_DIR": str(folder / "library")}, port=port) as server:
        yield server


def sign_in_with_provider(page, app_url: str, user: str) -> None:
    page.goto(f"{app_url}/resolution")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
    wait_until_idle(page)
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)
    assert "patients" not in page.get_by_test_id("stMain").inner_text()
    page.get_by_role("button", name="Sign in").click()
    # the provider's own login page, on its own origin
    page.locator("input[name=sub]").fill(user)
    page.get_by_role("button", name="Authorize").click()
    expect(page).to_have_url(re.compile(re.escape(app_url)), timeout=FIRST_LOAD_TIMEOUT)
    expect(page.get_by_test_id("stSidebar").get_by_text(f"Signed in as {user}")).to_be_visible(
        timeout=FIRST_LOAD_TIMEOUT)
    wait_until_idle(page, timeout=FIRST_LOAD_TIMEOUT)


def test_two_users_sign_in_with_the_provider_and_see_only_their_own_uploads(chromium, app_url):
    contexts = [chromium.new_context(viewport={"width": 1400, "height": 1800}) for _ in range(2)]
    try:
        alice, bob = (c.new_page() for c in contexts)
        for page, user in ((alice, "alice@example.org"), (bob, "bob@example.org")):
            page.set_default_timeout(20_000)
            sign_in_with_provider(page, app_url, user)
        upload(alice, {"patients.csv": PATIENTS_CSV, "toxicity.csv": TOXICITY_CSV}, 2)
        upload(bob, {"patients.csv": BOB_PATIENTS, "toxicity.csv": BOB_TOXICITY}, 3)
        alice_ids, bob_ids = patient_options(alice), patient_options(bob)
        assert "P1" in alice_ids and "B1" not in alice_ids, alice_ids
        assert "B1" in bob_ids and "P1" not in bob_ids, bob_ids

        # Signing out ends the session: the next visit asks to sign in again and holds no upload.
        alice.get_by_role("button", name="Sign out").click()
        alice.get_by_role("button", name="End session").click()  # the provider ends its session too
        expect(alice.get_by_role("button", name="Sign in")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
        expect(alice.get_by_test_id("stSidebar")).to_have_count(0)
        for page in (alice, bob):
            expect(page.get_by_test_id("stException")).to_have_count(0)
    finally:
        for context in contexts:
            context.close()


def test_an_anonymous_browser_is_not_let_in_by_a_forged_cookie(chromium, app_url):
    context = chromium.new_context()
    try:
        context.add_cookies([{"name": "_streamlit_user", "value": '{"email": "eve@example.org", '
                              '"is_logged_in": true}', "url": app_url}])
        page = context.new_page()
        page.goto(app_url)
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
        wait_until_idle(page)
        expect(page.get_by_test_id("stSidebar")).to_have_count(0)
    finally:
        context.close()

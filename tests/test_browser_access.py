"""Sign-in as a new user meets it: a deployment started with a team password, in headless Chromium.

An anonymous browser gets nothing (no page, no sidebar, no published cohort, whatever the link);
two people who sign in and upload different cohorts each see only their own. The OIDC flow, with
a real OpenID provider, is in tests/test_browser_oidc.py.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from icans_core import library
from icans_core.ingest import load_sources
from icans_core.readers import Source
from tests.browser import password_deployment, wait_until_idle
from tests.test_browser_cohort import PATIENTS_CSV, TOXICITY_CSV, choose_files

pytestmark = pytest.mark.browser
PASSWORD = "browser team password"
FIRST_LOAD_TIMEOUT = 60_000
# Bob's cohort: three patients whose ids Alice's cohort does not have.
BOB_PATIENTS = (b"patient_id,product,group,disease,age_years,sex,ecog,last_followup_day,death_day,death_cause\n"
                b"B1,Breyanzi,Arm B,DLBCL,55,M,1,90,,\n"
                b"B2,Breyanzi,Arm B,DLBCL,66,F,0,120,,\n"
                b"B3,Yescarta,Arm B,DLBCL,47,F,1,150,,\n")
BOB_TOXICITY = b"patient_id,day,crs_grade,icans_grade,ice_score\nB1,1,1,0,10\nB2,2,2,2,6\nB3,1,0,0,10\n"


@pytest.fixture(scope="module")
def published_id(tmp_path_factory):
    """A cohort already published on this deployment, to try to reach without signing in."""
    folder = tmp_path_factory.mktemp("library")
    result = load_sources([Source("patients.csv", PATIENTS_CSV.replace(b"P1", b"Z1")),
                           Source("toxicity.csv", TOXICITY_CSV.replace(b"P1", b"Z1"))], label="secret-cohort")
    assert result.ok, result.errors
    return folder, library.publish(result.cohort, folder, publisher="Carol")


@pytest.fixture(scope="module")
def app_server(tmp_path_factory, published_id):
    """This module's deployment: a team password and a library holding one published cohort."""
    with password_deployment(tmp_path_factory.mktemp("access"), PASSWORD, library=published_id[0]) as server:
        yield server


def expect_sign_in_only(page) -> None:
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
    wait_until_idle(page)
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    body = page.get_by_test_id("stMain").inner_text()
    for leak in ("patients", "Z1", "P1", "Carol", "secret-cohort", "Download", "Sample cohort"):
        assert leak not in body, (leak, body)


def sign_in(page, name: str, password: str = PASSWORD) -> None:
    page.get_by_role("textbox", name="Your name").fill(name)
    page.get_by_role("textbox", name="Team password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_an_anonymous_browser_gets_nothing(page, app_url, published_id):
    links = ["/", "/resolution?product=axi-cel", "/report", "/patient?patient_id=Z1",
             f"/cohort?cohort={published_id[1]}", f"/?cohort={published_id[1]}"]
    for link in links:
        page.goto(app_url + link)
        expect_sign_in_only(page)
    sign_in(page, "Mallory", "not the password")
    expect(page.get_by_text("That password is not right.")).to_be_visible()
    expect_sign_in_only(page)


def test_a_shared_link_opens_after_signing_in(page, app_url, published_id):
    page.goto(f"{app_url}/cohort?cohort={published_id[1]}")
    expect_sign_in_only(page)
    sign_in(page, "Dave")
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("Signed in as Dave")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
    expect(sidebar.get_by_text("secret-cohort")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Opened published cohort .* by Carol\."))).to_be_visible()


def upload(page, files: dict[str, bytes], patients: int) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text("Cohort").click()
    expect(page.get_by_text("Loaded:")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
    choose_files(page, files)
    page.get_by_role("button", name="Validate and load").click()
    expect(page.get_by_test_id("stSidebar").get_by_text(f"{patients} patients ·")).to_be_visible(timeout=30_000)
    wait_until_idle(page)


def patient_options(page) -> str:
    """The patient ids the Patient page offers, read by opening its selector."""
    page.get_by_test_id("stSidebarNav").get_by_text("Patient").click()
    selector = page.get_by_test_id("stMain").get_by_test_id("stSelectbox").first
    expect(selector).to_be_visible(timeout=30_000)
    wait_until_idle(page)
    selector.click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible()
    text = " ".join(options.all_inner_texts())
    page.keyboard.press("Escape")
    return text


def test_two_signed_in_users_each_see_only_their_own_upload(chromium, app_url):
    contexts = [chromium.new_context(viewport={"width": 1400, "height": 1800}) for _ in range(2)]
    try:
        alice, bob = (c.new_page() for c in contexts)
        for page, name in ((alice, "Alice"), (bob, "Bob")):
            page.set_default_timeout(20_000)
            page.goto(app_url)
            expect_sign_in_only(page)
            sign_in(page, name)
            expect(page.get_by_test_id("stSidebar").get_by_text(f"Signed in as {name}")).to_be_visible(
                timeout=FIRST_LOAD_TIMEOUT)
        upload(alice, {"patients.csv": PATIENTS_CSV, "toxicity.csv": TOXICITY_CSV}, 2)
        upload(bob, {"patients.csv": BOB_PATIENTS, "toxicity.csv": BOB_TOXICITY}, 3)
        # Each, after the other's upload, still sees only their own cohort, everywhere.
        alice.reload()  # a reload is a new session: the upload was the old session's alone
        expect(alice.get_by_role("button", name="Sign in")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
        sign_in(alice, "Alice")
        # the address still names her upload: the app says it is gone, and shows no other cohort for it
        expect(alice.get_by_text("The cohort of this link cannot be shown")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT)
        alice.get_by_role("button", name=re.compile("instead")).click()
        expect(alice.get_by_test_id("stSidebar").get_by_text("Sample cohort (synthetic)")).to_be_visible(
            timeout=FIRST_LOAD_TIMEOUT)
        upload(alice, {"patients.csv": PATIENTS_CSV, "toxicity.csv": TOXICITY_CSV}, 2)
        alice_ids, bob_ids = patient_options(alice), patient_options(bob)
        assert "P1" in alice_ids and "P2" in alice_ids and "B1" not in alice_ids, alice_ids
        assert "B1" in bob_ids and "B3" in bob_ids and "P1" not in bob_ids, bob_ids
        expect(bob.get_by_test_id("stSidebar").get_by_text("3 patients ·")).to_be_visible()
        expect(alice.get_by_test_id("stSidebar").get_by_text("2 patients ·")).to_be_visible()
        for page in (alice, bob):
            expect(page.get_by_test_id("stException")).to_have_count(0)
    finally:
        for context in contexts:
            context.close()

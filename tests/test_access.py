"""Sign-in: the access mode read from secrets, and the gate in front of every page (AppTest).

The real flows (an OIDC provider's login form, two people signing in) run in a browser in
tests/test_browser_access.py; here each rule is checked on its own, quickly.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from icans_core import library, passwords
from ui import access
from ui.sign_in_limit import AttemptLimit
from ui.text import plain
from tests.test_page_cohort import PATIENTS_CSV, TOXICITY_CSV, csv_file
from tests.test_page_cohort import upload as upload_files

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / ".streamlit" / "secrets.example.toml"
PASSWORD = "team password 1"
HASH = passwords.hash_password(PASSWORD)
OIDC = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
        "client_id": "icans", "client_secret": "s", "server_metadata_url": "http://localhost:9/.well-known/x"}


# --- the mode, from secrets --------------------------------------------------------------------

def test_no_secrets_means_an_open_deployment():
    assert access.configuration({}).mode == access.OPEN
    assert access.configuration({"something_else": {"a": 1}}).mode == access.OPEN


def test_one_oidc_provider_in_auth():
    config = access.configuration({"auth": OIDC})
    assert config.mode == access.OIDC and config.providers == (None,)


def test_named_oidc_providers_get_one_button_each():
    auth = {"redirect_uri": OIDC["redirect_uri"], "cookie_secret": OIDC["cookie_secret"],
            "hospital": {**{k: OIDC[k] for k in ("client_id", "client_secret", "server_metadata_url")},
                         "label": "Hospital account"},
            "google": {k: OIDC[k] for k in ("client_id", "client_secret", "server_metadata_url")}}
    config = access.configuration({"auth": auth})
    assert config.mode == access.OIDC and set(config.providers) == {"hospital", "google"}
    assert config.provider_labels == {"hospital": "Hospital account", "google": "google"}


def test_a_password_hash_in_access():
    config = access.configuration({"access": {"password_hash": HASH}})
    assert config.mode == access.PASSWORD and config.password_hash == HASH


@pytest.mark.parametrize("secrets, problem", [
    ({"auth": OIDC, "access": {"password_hash": HASH}}, "both [auth] and [access]"),
    ({"auth": {"redirect_uri": "x", "cookie_secret": "y"}}, "no provider"),
    ({"auth": {**OIDC, "client_secret": ""}}, "no provider"),
    ({"auth": {k: v for k, v in OIDC.items() if k != "cookie_secret"}}, "cookie_secret"),
    ({"auth": "yes"}, "not a table"),
    ({"access": {}}, "not a scrypt hash"),
    ({"access": {"password": PASSWORD}}, "not a scrypt hash"),  # a plain password is not accepted
    ({"access": {"password_hash": "scrypt$16384$8$1$c2FsdA$aGFzaA"}}, "out-of-range"),
])
def test_a_configuration_that_cannot_be_trusted_is_broken(secrets, problem):
    config = access.configuration(secrets)
    assert config.mode == access.BROKEN and problem in config.problem


def test_the_example_secrets_file_configures_either_mode():
    text = EXAMPLE.read_text()
    assert access.configuration(tomllib.loads(text)).mode == access.OIDC
    # The commented password block, on its own, is a working configuration for "change-me-now".
    password_block = "\n".join(line.removeprefix("# ") for line in text.splitlines()
                               if line.startswith(("# [access]", "# password_hash")))
    config = access.configuration(tomllib.loads(password_block))
    assert config.mode == access.PASSWORD and passwords.verify("change-me-now", config.password_hash)


# --- the gate, through the whole app -----------------------------------------------------------

@pytest.fixture(autouse=True)
def server(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("ICANS_LIBRARY_DIR", str(tmp_path / "library"))
    monkeypatch.delenv("ICANS_COHORT", raising=False)
    monkeypatch.setattr(access, "FAILED_SIGN_IN_DELAY", 0)
    # the server-wide attempt limit has its own tests; here every test starts with a full bucket
    monkeypatch.setattr(access, "password_attempts", AttemptLimit(burst=100, per_second=1))
    return tmp_path / "library"


def app(secrets: dict, user: dict | None = None, **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.secrets.update(secrets)
    if user is not None:
        at.user = user
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def shows_nothing_but_sign_in(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["CAR-T toxicity cohorts"]
    assert not at.sidebar.children or not list(at.sidebar)  # no badge, filters, options or share link
    assert not at.get("download_button") and not at.get("dataframe") and not at.get("arrow_vega_lite_chart")
    assert not at.metric and not at.get("plotly_chart")
    assert "duckdb_connection" not in at.session_state  # no cohort was opened, not even the sample


def sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input[0].input(name)
    at.text_input[1].input(password)
    at.button[0].click()
    return at.run()


def signed_in_as(at: AppTest) -> list[str]:
    return [c.value for c in at.sidebar.caption if c.value.startswith("Signed in as")]


def test_password_mode_shows_only_the_sign_in_form_to_an_anonymous_visitor():
    at = app({"access": {"password_hash": HASH}})
    shows_nothing_but_sign_in(at)
    assert [t.label for t in at.text_input] == ["Your name", "Team password"]


def test_a_published_cohort_link_opens_nothing_before_sign_in(server):
    published = library.publish(_tiny_cohort(), server, publisher="Alice")
    at = app({"access": {"password_hash": HASH}}, cohort=published)
    shows_nothing_but_sign_in(at)
    at = sign_in(at, "Bob", PASSWORD)
    assert not at.exception
    assert f"**{plain('patients.csv, toxicity.csv')}**" in "\n".join(m.value for m in at.sidebar.markdown)


def test_a_wrong_password_or_a_missing_name_is_refused_and_says_so():
    at = app({"access": {"password_hash": HASH}})
    at = sign_in(at, "Alice", PASSWORD + "x")
    assert any("password is not right" in e.value for e in at.error)
    shows_nothing_but_sign_in(at)
    at = sign_in(at, "   ", PASSWORD)
    assert any("Enter your name" in e.value for e in at.error)
    shows_nothing_but_sign_in(at)


def test_the_right_password_opens_the_app_and_sign_out_drops_the_session():
    at = sign_in(app({"access": {"password_hash": HASH}}), "  Alice   Smith ", PASSWORD)
    assert not at.exception, [e.value for e in at.exception]
    assert signed_in_as(at) == ["Signed in as Alice Smith"]
    assert "duckdb_connection" in at.session_state and at.metric  # the Overview page ran
    at.button(key="sign_out").click().run()
    shows_nothing_but_sign_in(at)


def test_what_a_signed_in_user_publishes_carries_their_name(server):
    at = sign_in(app({"access": {"password_hash": HASH}}), "Alice", PASSWORD)
    at.switch_page("views/cohort.py")
    at.run()
    upload_files(at, csv_file("patients.csv", PATIENTS_CSV), csv_file("toxicity.csv", TOXICITY_CSV))
    at.checkbox(key="publish_confirm").check().run()
    at.button(key="publish").click().run()
    [link] = [c.value for c in at.code if c.value.startswith("?cohort=")]
    cohort_id = link.removeprefix("?cohort=")
    assert library.published_metadata(cohort_id, server)["publisher"] == "Alice"

    other = sign_in(app({"access": {"password_hash": HASH}}, cohort=cohort_id), "Bob", PASSWORD)
    other.switch_page("views/cohort.py")
    other.run()
    assert any(i.value.startswith("Opened published cohort") and i.value.endswith("by Alice.")
               for i in other.info), [i.value for i in other.info]


def test_oidc_mode_offers_the_providers_sign_in_to_an_anonymous_visitor():
    at = app({"auth": OIDC}, user={"is_logged_in": False})
    shows_nothing_but_sign_in(at)
    assert [b.label for b in at.button] == ["Sign in"]


def test_oidc_mode_lets_a_signed_in_user_in_under_their_email():
    at = app({"auth": OIDC}, user={"is_logged_in": True, "email": "alice@example.org", "sub": "a1"})
    assert not at.exception, [e.value for e in at.exception]
    assert signed_in_as(at) == [r"Signed in as alice\@example\.org"]  # markdown-escaped
    assert at.metric


def test_a_broken_configuration_lets_nobody_in_and_logs_why(caplog):
    at = app({"auth": OIDC, "access": {"password_hash": HASH}}, user={"is_logged_in": True, "email": "a@b.c"})
    shows_nothing_but_sign_in(at)
    assert any("misconfigured" in e.value for e in at.error)
    assert "both [auth] and [access]" in caplog.text


def _tiny_cohort():
    from icans_core.ingest import load_sources
    from icans_core.readers import Source
    result = load_sources([Source("patients.csv", PATIENTS_CSV.encode()),
                           Source("toxicity.csv", TOXICITY_CSV.encode())])
    assert result.ok, result.errors
    return result.cohort

"""Who may use this deployment: open (no secrets), OIDC sign-in (st.login), or a shared team password.

The mode comes from the deployment's secrets (`.streamlit/secrets.toml`, see
`.streamlit/secrets.example.toml`):
- an `[auth]` section: Streamlit's OpenID Connect login, either one provider (client_id,
  client_secret and server_metadata_url directly in `[auth]`) or named ones (`[auth.<name>]`);
- an `[access]` section with `password_hash`: one password for a small team, plus each user's
  name, which is recorded on what they publish;
- neither: open, as `make run` is on a laptop.

`require_sign_in()` runs in dashboard.py before navigation, the sidebar or any cohort is opened,
so without signing in no page runs, no download button exists and no published cohort is read.
A configuration that cannot be trusted (both sections, a damaged hash, an [auth] without a
provider) fails closed: nobody gets in, and the operator is told why in the server log.

Every session is also bound to the browser that opened it (`session_check()`, in every mode):
Streamlit hands a session to any client that presents its id with the same identity, and with a
team password (or no sign-in) every client has the same empty identity, so the id alone would do.
The secret that ties a session to its browser is the random token of Streamlit's own XSRF cookie
(`_streamlit_xsrf`, 16 random bytes set by the server, sent with the websocket handshake, never
in a URL); its hash is kept in the session at its first run and compared on every rerun. A client
that presents the session's id from another browser is refused and the session is ended, so its
data cannot be reached through that id again (docs/deployment.md, "Sessions bound to their browser").
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Mapping

import streamlit as st
from streamlit import runtime
from streamlit.runtime.app_session import AppSession
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx
from streamlit.web.server.starlette.starlette_server_config import XSRF_COOKIE_NAME

from icans_core import passwords
from ui import browser_gate, resume_guard
from ui.sign_in_limit import password_attempts
from ui.text import plain

log = logging.getLogger("icans.access")

OPEN, OIDC, PASSWORD, BROKEN = "open", "oidc", "password", "broken"
_SIGNED_IN = "access_signed_in_as"  # password mode: the name this session signed in with
_BROWSER = "access_browser"  # hash of the browser secret this session belongs to (bound at its first run)
_ENDED = "access_session_ended"  # set when another browser presented this session's id
BOUND, NO_CLIENT, FOREIGN, NO_SECRET = "bound", "no client", "foreign", "no secret"
_OIDC_KEYS = ("client_id", "client_secret", "server_metadata_url")
MAX_NAME = 80
FAILED_SIGN_IN_DELAY = 1.0  # seconds; with scrypt's cost, makes guessing through the form slow


_SESSION_ID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
# Streamlit's loggers that write session ids (warnings on reconnects; the others at debug level).
_STREAMLIT_LOGGERS_WITH_SESSION_IDS = (
    "streamlit.runtime.websocket_session_manager", "streamlit.runtime.runtime", "streamlit.runtime.app_session",
    "streamlit.runtime.media_file_manager", "streamlit.web.server.starlette.starlette_websocket",
    "streamlit.web.server.starlette.starlette_routes")


class _RedactSessionIds(logging.Filter):
    """A session id is a key to that session: the server log records "<session id>" instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _SESSION_ID.search(message):
            record.msg, record.args = _SESSION_ID.sub("<session id>", message), ()
        return True


def _redact_session_ids_in_streamlit_logs() -> None:
    for name in _STREAMLIT_LOGGERS_WITH_SESSION_IDS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactSessionIds) for f in logger.filters):
            logger.addFilter(_RedactSessionIds())


_redact_session_ids_in_streamlit_logs()
# A session resumed by another connection sends it nothing of its previous run (ui/resume_guard.py).
resume_guard.install()


@dataclass(frozen=True)
class AccessConfig:
    mode: str
    providers: tuple[str | None, ...] = ()  # OIDC: None is the provider configured directly in [auth]
    password_hash: str = ""
    problem: str = ""  # BROKEN: what the operator must fix (logged, never shown to users)
    provider_labels: dict = field(default_factory=dict)


def configuration(secrets: Mapping) -> AccessConfig:
    """The access mode these secrets ask for (pure: takes any mapping, reads nothing else)."""
    auth, access = secrets.get("auth"), secrets.get("access")
    if auth is not None and access is not None:
        return AccessConfig(BROKEN, problem="secrets have both [auth] and [access]: configure one way to sign in")
    if auth is not None:
        if not isinstance(auth, Mapping):
            return AccessConfig(BROKEN, problem="[auth] in secrets is not a table")
        providers: list[str | None] = []
        labels = {}
        if all(auth.get(k) for k in _OIDC_KEYS):
            providers.append(None)
        for name, section in auth.items():
            if isinstance(section, Mapping) and all(section.get(k) for k in _OIDC_KEYS):
                providers.append(str(name))
                labels[str(name)] = str(section.get("label", name)).strip() or str(name)
        if not providers:
            return AccessConfig(BROKEN, problem="[auth] names no provider with client_id, client_secret and "
                                                "server_metadata_url")
        if not auth.get("redirect_uri") or not auth.get("cookie_secret"):
            return AccessConfig(BROKEN, problem="[auth] needs redirect_uri and cookie_secret")
        return AccessConfig(OIDC, providers=tuple(providers), provider_labels=labels)
    if access is not None:
        stored = access.get("password_hash", "") if isinstance(access, Mapping) else ""
        try:
            passwords.parse(stored)
        except passwords.PasswordHashError as exc:
            return AccessConfig(BROKEN, problem=f"[access] {exc}")
        return AccessConfig(PASSWORD, password_hash=stored)
    return AccessConfig(OPEN)


def current_config() -> AccessConfig:
    # load_if_toml_exists never raises: no secrets file (or an unreadable one) means open,
    # unless Streamlit found and parsed one, whose sections then decide.
    if not st.secrets.load_if_toml_exists():
        return AccessConfig(OPEN)
    return configuration(st.secrets.to_dict())


def current_user() -> str | None:
    """The signed-in user's name or e-mail, or None when the deployment is open (or nobody signed in)."""
    config = current_config()
    if config.mode == PASSWORD:
        return st.session_state.get(_SIGNED_IN)
    if config.mode == OIDC and st.user.is_logged_in:
        for claim in ("email", "name", "preferred_username", "sub"):
            value = st.user.get(claim)
            if value:
                return str(value)
    return None


def browser_fingerprint() -> str | None:
    """The hash of the XSRF token that the browser on the current websocket sent (None without one).

    Streamlit re-masks the cookie's value on every health check; the token inside, and so this
    hash, stays the same for the browser's whole visit."""
    return browser_gate.fingerprint_of_cookie(st.context.cookies.get(XSRF_COOKIE_NAME))


def _served_to_a_browser() -> tuple[bool, bool]:
    """(this run belongs to a server session, that session has a connected client right now)."""
    ctx = get_script_run_ctx()
    if ctx is None or not runtime.exists():
        return False, False
    instance = runtime.get_instance()
    session = instance.get_app_session(ctx.session_id)
    if session is None:
        return True, False  # a real server whose session is no longer connected
    if not isinstance(session, AppSession):
        return False, False  # AppTest's stand-in runtime: no websocket, nobody to take over
    return True, instance.get_client(ctx.session_id) is not None


def session_check() -> str:
    """Whether this rerun comes from the browser this session belongs to: BOUND, FOREIGN, NO_SECRET or NO_CLIENT.

    The first run of a session binds it to its browser's secret. A rerun from another browser
    (a client that learnt the session id) ends the session: its state is dropped and every later
    run is refused, so nothing the owner held can be reached through that id."""
    if st.session_state.get(_ENDED):
        return FOREIGN
    served, connected = _served_to_a_browser()
    if not served:
        return BOUND  # AppTest or `python dashboard.py`: no websocket, no other browser
    if not connected:
        return NO_CLIENT  # the tab went away mid-run: nobody to show anything to
    current = browser_fingerprint()
    bound = st.session_state.get(_BROWSER)
    if bound is None:
        if current is None:
            return NO_SECRET
        bound = st.session_state[_BROWSER] = current
        browser_gate.remember_session(get_script_run_ctx().session_id, bound)
        return BOUND
    if current is not None and hmac.compare_digest(bound, current):
        # serve.py's gate refuses other browsers this session's id and downloads before Streamlit sees them
        browser_gate.remember_session(get_script_run_ctx().session_id, bound)
        return BOUND
    log.warning("a client presented the id of a session that belongs to another browser; the session is ended")
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    st.session_state[_ENDED] = True
    return FOREIGN


def this_browser() -> str | None:
    """The fingerprint of the browser this session is bound to (None before binding, or in AppTest)."""
    return st.session_state.get(_BROWSER)


def is_allowed() -> bool:
    """Whether this session may see the app: its own browser, on an open deployment or signed in."""
    check = session_check()
    if check == NO_SECRET:
        # Without Streamlit's XSRF cookie (server.enableXsrfProtection off, or a client that keeps
        # no cookies) a session cannot be bound: an open deployment still runs, sign-in does not.
        return current_config().mode == OPEN
    return check == BOUND and (current_config().mode == OPEN or current_user() is not None)


def require_sign_in() -> None:
    """Let the script go on only for a signed-in user (or on an open deployment); else show the sign-in and stop."""
    if is_allowed():
        return
    check = session_check()
    if check == NO_CLIENT:
        st.stop()
    st.title("CAR-T toxicity cohorts")
    if check == FOREIGN:
        st.error("This page's session belongs to another browser, so it has been closed. Reload the page "
                 "to start a session of your own.", icon=":material/block:")
        st.stop()
    config = current_config()
    if check == NO_SECRET and config.mode != OPEN:
        log.error("a browser without Streamlit's XSRF cookie cannot sign in: keep server.enableXsrfProtection on")
        st.error("Your browser did not send this site's session cookie, so signing in is not possible. Allow "
                 "cookies for this site and reload the page.")
        st.stop()
    if config.mode == BROKEN:
        log.error("sign-in is misconfigured, so nobody can sign in: %s", config.problem)
        st.error("Sign-in for this deployment is misconfigured, so nobody can get in. Its administrator "
                 "will find the reason in the server log.")
    elif config.mode == OIDC:
        _oidc_sign_in(config)
    else:
        _password_sign_in(config)
    st.stop()


def _oidc_sign_in(config: AccessConfig) -> None:
    st.markdown("This deployment is private. Sign in with your organisation's account to continue.")
    st.caption("After signing in you arrive on the Overview page; open a shared link again to reach its view.")
    for provider in config.providers:
        label = "Sign in" if provider is None else f"Sign in with {config.provider_labels[provider]}"
        if st.button(label, key=f"sign_in_{provider or 'default'}", type="primary", icon=":material/login:"):
            st.login(provider) if provider else st.login()


def _password_sign_in(config: AccessConfig) -> None:
    st.markdown("This deployment is private. Sign in with your name and the team password.")
    with st.form("sign_in", enter_to_submit=True):
        name = st.text_input("Your name", max_chars=MAX_NAME,
                             help="Recorded on any cohort you publish, so colleagues know whose it is.")
        password = st.text_input("Team password", type="password")
        submitted = st.form_submit_button("Sign in", type="primary", icon=":material/login:")
    if not submitted:
        return
    name = " ".join(name.split())
    if not name:
        st.error("Enter your name: it is recorded on any cohort you publish.")
        return
    wait = password_attempts.try_take()
    if wait:
        log.warning("a password sign-in was refused: too many attempts on this server")
        seconds = max(1, round(wait))
        st.error(f"Too many sign-in attempts on this server just now. Wait {seconds} second"
                 f"{'' if seconds == 1 else 's'} and try again.", icon=":material/timer:")
        return
    if not passwords.verify(password, config.password_hash):
        log.warning("a password sign-in failed")
        time.sleep(FAILED_SIGN_IN_DELAY)
        st.error("That password is not right. Ask the person who runs this deployment for the team password.")
        return
    password_attempts.give_back()
    log.info("a user signed in with the team password")
    st.session_state[_SIGNED_IN] = name
    st.rerun()


def show_account() -> None:
    """Sidebar: who is signed in, and the way out (nothing on an open deployment)."""
    user = current_user()
    if user is None:
        return
    mode = current_config().mode
    with st.sidebar:
        st.caption(f"Signed in as {plain(user)}")
        if st.button("Sign out", key="sign_out", icon=":material/logout:"):
            if mode == OIDC:
                st.logout()
            else:
                # Drop everything this session holds, the uploaded cohort included.
                for key in list(st.session_state.keys()):
                    del st.session_state[key]
                st.rerun()

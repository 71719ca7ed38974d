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
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Mapping

import streamlit as st

from icans_core import passwords
from ui.text import plain

log = logging.getLogger("icans.access")

OPEN, OIDC, PASSWORD, BROKEN = "open", "oidc", "password", "broken"
_SIGNED_IN = "access_signed_in_as"  # password mode: the name this session signed in with
_OIDC_KEYS = ("client_id", "client_secret", "server_metadata_url")
MAX_NAME = 80
FAILED_SIGN_IN_DELAY = 1.0  # seconds; with scrypt's cost, makes guessing through the form slow


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


def is_allowed() -> bool:
    """Whether this session may see the app: an open deployment, or a signed-in user."""
    return current_config().mode == OPEN or current_user() is not None


def require_sign_in() -> None:
    """Let the script go on only for a signed-in user (or on an open deployment); else show the sign-in and stop."""
    if is_allowed():
        return
    config = current_config()
    st.title("CAR-T toxicity cohorts")
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
    if not passwords.verify(password, config.password_hash):
        log.warning("a password sign-in failed")
        time.sleep(FAILED_SIGN_IN_DELAY)
        st.error("That password is not right. Ask the person who runs this deployment for the team password.")
        return
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

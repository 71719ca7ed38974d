"""In front of Streamlit (serve.py): a session's websocket and its downloads only for the browser it belongs to.

Streamlit serves two things by an id alone: the session (`/_stcore/stream` resumes whichever
session id a client presents, if the identities match, and with a team password or no sign-in
every identity is the same) and the files of `st.download_button` (`GET /media/<id>.csv` answers
anyone with the URL). This ASGI middleware runs before Streamlit's routes and checks both against
the browser secret that ui/access.py binds each session to (the token of Streamlit's XSRF cookie):

- a websocket that presents a session id bound to another browser has the id removed from its
  handshake, so Streamlit gives it a new, empty session and leaves the owner's session (and the
  owner's connection to it) alone;
- an upload into a session (`PUT`/`DELETE /_stcore/upload_file/<session id>/...`) is accepted
  only from that session's browser;
- a download is served only to the browser of a session it belongs to: a file made by a
  deferred download (`ui.downloads.owned`) to the browser that clicked, any other file (an eager
  download) to the browsers of the sessions showing it. Anything else gets 404.

The two registries are module-level, one per server process: they hold session ids and hashes
of browser secrets and of file contents, never user data.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time

from starlette.requests import cookie_parser
from streamlit import config, runtime
from streamlit.web.server.starlette.starlette_app_utils import decode_xsrf_token_string
from streamlit.web.server.starlette.starlette_server_config import XSRF_COOKIE_NAME

log = logging.getLogger("icans.browser_gate")

SESSION_TTL = 24 * 3600  # seconds a session's binding is remembered after its last rerun
DOWNLOAD_TTL = 10 * 60  # seconds a deferred download stays fetchable (the browser fetches it at once)
_MEDIA_FILE = re.compile(r"[^/]+")
_UPLOAD = re.compile(r"(?:^|/)_stcore/upload_file/([^/]+)/")

_lock = threading.Lock()
_session_browsers: dict[str, tuple[str, float]] = {}  # session id -> (browser fingerprint, last seen)
_downloads: dict[str, tuple[str, float]] = {}  # sha256 of a file's bytes -> (browser fingerprint, made at)


def fingerprint(secret: bytes) -> str:
    """The hash a session keeps of its browser's secret (never the secret itself)."""
    return hashlib.sha256(b"icans-session-browser\0" + secret).hexdigest()


def fingerprint_of_cookie(raw: str | None) -> str | None:
    """The fingerprint of the browser that sent this `_streamlit_xsrf` cookie value (None without a valid one)."""
    token, _ = decode_xsrf_token_string(raw) if raw else (None, None)
    return fingerprint(token) if token else None


def remember_session(session_id: str, browser: str) -> None:
    """Record which browser a session belongs to (called on every rerun the session's browser makes)."""
    now = time.monotonic()
    with _lock:
        _session_browsers[session_id] = (browser, now)
        if len(_session_browsers) % 256 == 0:
            for key in [k for k, (_, seen) in _session_browsers.items() if now - seen > SESSION_TTL]:
                del _session_browsers[key]


def forget_session(session_id: str) -> None:
    with _lock:
        _session_browsers.pop(session_id, None)


def register_download(content: bytes, browser: str | None) -> None:
    """Let only `browser` fetch the file with these bytes, for DOWNLOAD_TTL seconds."""
    if browser is None:
        return
    now = time.monotonic()
    with _lock:
        _downloads[hashlib.sha256(content).hexdigest()] = (browser, now)
        for key in [k for k, (_, made) in _downloads.items() if now - made > DOWNLOAD_TTL]:
            del _downloads[key]


def _session_browser(session_id: str) -> str | None:
    with _lock:
        entry = _session_browsers.get(session_id)
    return entry[0] if entry else None


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def _browser(scope) -> str | None:
    return fingerprint_of_cookie(cookie_parser(_header(scope, b"cookie") or "").get(XSRF_COOKIE_NAME))


def _without_foreign_session_id(scope):
    """The websocket handshake, minus a session id that belongs to another browser."""
    protocols = _header(scope, b"sec-websocket-protocol")
    entries = [p.strip() for p in protocols.split(",")] if protocols else []
    if len(entries) < 3 or not entries[2]:
        return scope
    owner = _session_browser(entries[2])
    if owner is None or owner == _browser(scope):
        return scope  # not bound yet (ui/access.py still checks it on its first rerun), or its own browser
    log.warning("a websocket presented the id of a session that belongs to another browser; it gets a new session")
    headers = [(k, v) for k, v in scope["headers"] if k != b"sec-websocket-protocol"]
    headers.append((b"sec-websocket-protocol", ", ".join(entries[:2]).encode("latin-1")))
    return {**scope, "headers": headers}


def may_fetch(file_name: str, browser: str | None) -> bool:
    """Whether `browser` may download /media/<file_name>: made for it, or shown in one of its sessions."""
    if browser is None or not runtime.exists():
        return False
    manager = runtime.get_instance().media_file_mgr
    file = manager.read_file(file_name)
    if file is None:
        return False
    now = time.monotonic()
    with _lock:
        made = _downloads.get(hashlib.sha256(file.content).hexdigest())
    if made is not None and made[0] == browser and now - made[1] <= DOWNLOAD_TTL:
        return True
    file_id = file_name.rsplit(".", 1)[0]
    # An eager download (or an image) belongs to the sessions whose page shows it. Streamlit keeps
    # that map privately; if it ever moves, nothing is served (fail closed), not everything.
    with manager._lock:
        sessions = [session for session, files in getattr(manager, "_files_by_session_and_coord", {}).items()
                    if file_id in files.values()]
    return any(_session_browser(session) == browser for session in sessions)


async def _not_found(send) -> None:
    await send({"type": "http.response.start", "status": 404,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": b"File not found"})


def media_file(path: str) -> str | None:
    """The file name when `path` is Streamlit's media route (`<server.baseUrlPath>/media/<file>`: downloads and
    images made by the app), else None. Only that route: Streamlit's own assets live under `static/media/`
    (its fonts, the sidebar's icons), and a pattern matching any `.../media/<file>` refused them."""
    base = str(config.get_option("server.baseUrlPath") or "").strip("/")
    prefix = f"/{base}/media/" if base else "/media/"
    name = path[len(prefix):] if path.startswith(prefix) else None
    return name if name is not None and _MEDIA_FILE.fullmatch(name) else None


class BrowserGate:
    """ASGI middleware: see the module docstring."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "websocket" and scope["path"].endswith("_stcore/stream"):
            scope = _without_foreign_session_id(scope)
        elif scope["type"] == "http" and _UPLOAD.search(scope["path"]):
            owner = _session_browser(_UPLOAD.search(scope["path"]).group(1))
            if owner is not None and owner != _browser(scope):
                log.warning("an upload into a session from another browser was refused")
                await _not_found(send)
                return
        elif scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            media = media_file(scope["path"])
            if media:
                try:
                    allowed = may_fetch(media, _browser(scope))
                except Exception:  # a check that cannot run refuses
                    log.exception("the download check failed; the file is not served")
                    allowed = False
                if not allowed:
                    await _not_found(send)
                    return
        await self.app(scope, receive, send)

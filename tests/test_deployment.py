"""The deployment files agree with the app and with Streamlit (docs/deployment.md).

Nothing is started: the Dockerfile, .dockerignore, deploy/nginx.conf and .streamlit/config.toml
are read and checked against the installed Streamlit's own constants and the app's code.
"""

from __future__ import annotations

import ast
import re
import shlex
import tomllib
from pathlib import Path, PurePosixPath

import pytest
from streamlit import config as st_config
from streamlit.web.server.starlette import starlette_routes, starlette_websocket

from icans_core import limits

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
NGINX = ROOT / "deploy" / "nginx.conf"
CONFIG = ROOT / ".streamlit" / "config.toml"
DOCS = ROOT / "docs" / "deployment.md"

# Read at run time besides the imported code: the sample cohort (ui/session.py), the app version
# (icans_core/report.py reads pyproject.toml) and Streamlit's settings.
RUNTIME_PATHS = ["serve.py", "dashboard.py", "views", "ui", "icans_core", "data", ".streamlit/config.toml",
                 "pyproject.toml"]


# --- Dockerfile --------------------------------------------------------------------------------

def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    lines = [line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def arguments(instruction: str) -> list[list[str]]:
    return [shlex.split(rest) for keyword, rest in instructions() if keyword == instruction]


def exec_form(text: str) -> list[str]:
    """The JSON-array form of CMD / ENTRYPOINT / HEALTHCHECK CMD."""
    match = re.search(r"\[.*\]", text)
    assert match, f"not in exec form: {text}"
    return ast.literal_eval(match.group(0))


def copied_paths() -> dict[str, str]:
    """Each COPY source (relative to the build context) -> where it lands, relative to WORKDIR."""
    workdirs = arguments("WORKDIR")
    assert workdirs and workdirs[-1] == ["/app"], workdirs
    copied = {}
    for args in arguments("COPY"):
        args = [a for a in args if not a.startswith("--")]
        *sources, destination = args
        for source in sources:
            if destination.endswith("/") or len(sources) > 1:
                landed = PurePosixPath(destination) / PurePosixPath(source).name
            else:
                landed = PurePosixPath(destination)
            copied[str(PurePosixPath(source))] = str(PurePosixPath(str(landed).removeprefix("/app/")))
    return copied


def test_the_health_check_asks_the_path_streamlit_serves():
    healthcheck = [rest for keyword, rest in instructions() if keyword == "HEALTHCHECK"]
    assert len(healthcheck) == 1, healthcheck
    command = " ".join(exec_form(healthcheck[0]))
    urls = re.findall(r"http://[^'\"\s]+", command)
    assert len(urls) == 1, command
    url = urls[0]
    assert url.endswith("/" + starlette_routes.ROUTE_HEALTH), (url, starlette_routes.ROUTE_HEALTH)
    port = re.match(r"http://localhost:(\d+)/", url).group(1)
    entrypoint = exec_form([rest for keyword, rest in instructions() if keyword == "ENTRYPOINT"][-1])
    # serve.py: dashboard.py behind the browser gate (ui/browser_gate.py)
    assert entrypoint[:3] == ["streamlit", "run", "serve.py"], entrypoint
    assert f"--server.port={port}" in entrypoint and "--server.address=0.0.0.0" in entrypoint, entrypoint
    assert [port] in arguments("EXPOSE")
    assert "curl" not in command and "urllib" in command  # python:3.11-slim has no curl


def local_top_level_imports() -> set[str]:
    """Top-level names imported by the app's code that are files or folders of this repository."""
    files = [ROOT / "dashboard.py", ROOT / "serve.py", *(ROOT / "views").glob("*.py"), *(ROOT / "ui").glob("*.py"),
             *(ROOT / "icans_core").rglob("*.py")]
    names = set()
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {name for name in names if (ROOT / name).is_dir() or (ROOT / f"{name}.py").is_file()}


def test_the_image_has_every_file_the_app_reads_at_run_time():
    copied = copied_paths()
    needed = set(RUNTIME_PATHS) | {name if (ROOT / name).is_dir() else f"{name}.py"
                                   for name in local_top_level_imports()}
    assert {"ui", "icans_core"} <= needed  # the import scan found the app's own packages
    for path in sorted(needed):
        assert (ROOT / path).exists(), path
        assert copied.get(path) == path, f"{path} is not copied to /app/{path}: {copied}"


def test_the_image_runs_unprivileged_with_the_library_on_a_volume_and_no_secrets():
    users = arguments("USER")
    assert users and users[-1][0] not in ("root", "0"), users
    keywords = [keyword for keyword, _ in instructions()]
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")
    env = " ".join(rest for keyword, rest in instructions() if keyword == "ENV")
    assert "ICANS_LIBRARY_DIR=/data/library" in env.split()
    assert any("/data/library" in rest for keyword, rest in instructions() if keyword == "VOLUME")
    assert re.search(r"pip install --no-cache-dir -r requirements\.txt", DOCKERFILE.read_text())
    assert [["PYTHON_IMAGE=python:3.11-slim"]] == arguments("ARG")
    for source in copied_paths():
        assert source not in (".", "./") and "secrets" not in source, source


# --- .dockerignore -----------------------------------------------------------------------------

def ignore_regex(pattern: str) -> re.Pattern:
    """Docker's pattern syntax: `*` and `?` stay within one path segment, `**` spans any number."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def ignored(path: str) -> bool:
    """Whether the build context leaves `path` out (a pattern matching a folder leaves out its files)."""
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.strip().startswith("#")]
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = ignore_regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            result = not negate
    return result


@pytest.mark.parametrize("path", [
    ".streamlit/secrets.toml", "secrets.toml", "deploy/secrets.toml", ".venv/bin/python", ".git/HEAD",
    ".library-data/abc.duckdb", "icans_core/__pycache__/store.cpython-311.pyc", ".pytest_cache/v/x",
    ".hypothesis/examples/x", "tests/test_store.py", "benchmarks/bench_ingest.py"])
def test_the_build_context_leaves_out(path):
    assert ignored(path)


@pytest.mark.parametrize("path", [*RUNTIME_PATHS, "requirements.txt", "data/sample/patients.csv",
                                  "icans_core/charts/style.py", "views/overview.py"])
def test_the_build_context_keeps(path):
    assert not ignored(path)


# --- deploy/nginx.conf -------------------------------------------------------------------------

def nginx_blocks(text: str) -> list:
    """nginx.conf as nested lists: a directive is (words, None), a block is (words, [children])."""
    text = re.sub(r"#[^\n]*", "", text)
    tokens = re.findall(r'"[^"]*"|\'[^\']*\'|[{};]|[^\s{};]+', text)
    stack, current, words = [], [], []
    for token in tokens:
        if token == "{":
            block = (words, [])
            current.append(block)
            stack.append(current)
            current, words = block[1], []
        elif token == "}":
            assert not words, words
            current = stack.pop()
        elif token == ";":
            current.append((words, None))
            words = []
        else:
            words.append(token.strip("\"'"))
    assert not stack and not words, "unbalanced nginx.conf"
    return current


def find(blocks: list, *path: str) -> list:
    """Blocks whose words start with each of `path` in turn, e.g. find(conf, "http", "server")."""
    found = [blocks]
    for name in path:
        found = [children for tree in found for words, children in tree
                 if children is not None and words[0] == name]
    return found


def directives(block: list, name: str) -> list[list[str]]:
    return [words[1:] for words, children in block if children is None and words[0] == name]


def http_block() -> list:
    return find(nginx_blocks(NGINX.read_text()), "http")[0]


def app_server() -> list:
    """The server block that proxies to the app (the others only redirect or refuse)."""
    servers = [s for s in find(nginx_blocks(NGINX.read_text()), "http", "server")
               if any(words[0] == "location" for words, children in s if children is not None)]
    assert len(servers) == 1, "expected one server block with locations (the app's)"
    return servers[0]


def map_values(variable: str) -> tuple[str, list[list[str]]]:
    """(source, [[key, value], ...]) of the `map <source> <variable> {...}` that defines `variable`."""
    maps = [(words[1], [w for w, _ in children]) for words, children in http_block()
            if children is not None and words[0] == "map" and words[2] == variable]
    assert len(maps) == 1, f"{variable} is not defined by one map"
    return maps[0]


def location(server: list, *words: str) -> list:
    matches = [children for w, children in server if children is not None and w[1:] == list(words)]
    assert len(matches) == 1, words
    return matches[0]


def seconds(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", value).groups()
    return int(number) * {"ms": 0, "s": 1, None: 1, "m": 60, "h": 3600, "d": 86400}[unit]


def test_the_proxy_upgrades_the_websocket_streamlit_serves():
    stream = location(app_server(), "=", "/" + starlette_websocket._ROUTE_WEBSOCKET_STREAM)
    assert ["1.1"] in directives(stream, "proxy_http_version")
    headers = {words[0]: words[1] for words in directives(stream, "proxy_set_header")}
    assert headers["Upgrade"] == "$http_upgrade"
    connection = headers["Connection"]
    if connection.startswith("$"):  # a map: a browser asking for an upgrade must get "upgrade"
        source, values = map_values(connection)
        assert source == "$http_upgrade" and ["default", "upgrade"] in values, (source, values)
    else:
        assert connection.lower() == "upgrade"
    assert headers["Host"] == "$http_host"  # Streamlit compares the browser's Origin with it
    for forwarded in ("X-Forwarded-For", "X-Forwarded-Proto"):
        assert forwarded in headers
    assert min(seconds(v[0]) for v in directives(stream, "proxy_read_timeout")) >= 3600


def test_the_proxy_keeps_each_browser_on_one_replica():
    upstreams = find(nginx_blocks(NGINX.read_text()), "http", "upstream")
    assert len(upstreams) == 1
    upstream = upstreams[0]
    assert len(directives(upstream, "server")) >= 2
    sticky = directives(upstream, "ip_hash") + directives(upstream, "hash") + directives(upstream, "sticky")
    assert len(sticky) == 1, "exactly one sticky-session directive in the upstream"
    for words in directives(upstream, "hash"):
        # a hash on a route cookie, directly or through a map that gives new browsers a key
        key = words[0] if words[0].startswith("$cookie_") else map_values(words[0])[0]
        cookie = re.fullmatch(r"\$cookie_(\w+)", key)
        assert cookie, f"hash on {words[0]}: not a cookie"
        # ...which the proxy must hand out to a browser that has none
        set_cookie = [w[1] for w in directives(app_server(), "add_header") if w[0] == "Set-Cookie"]
        assert len(set_cookie) == 1, "the route cookie is never set"
        handed_out = [v for _, v in map_values(set_cookie[0])[1]] if set_cookie[0].startswith("$") else set_cookie
        assert any(v.startswith(f"{cookie.group(1)}=") for v in handed_out), handed_out


def test_response_headers_are_not_lost_in_a_location():
    # nginx drops every inherited add_header in a block that has one of its own, the route cookie included
    for words, children in app_server():
        if children is not None:
            assert directives(children, "add_header") == [], words


def test_the_upload_limits_agree():
    settings = tomllib.loads(CONFIG.read_text())
    max_upload = settings["server"]["maxUploadSize"]
    assert max_upload == limits.DEFAULT_MAX_UPLOAD_MB == 200
    body = directives(app_server(), "client_max_body_size")
    assert body == [[f"{max_upload}m"]], body  # nginx's m and Streamlit's megabytes are both MiB


# --- .streamlit/config.toml --------------------------------------------------------------------

def test_the_streamlit_settings_are_hardened():
    settings = tomllib.loads(CONFIG.read_text())
    assert settings["server"]["enableXsrfProtection"] is True
    assert isinstance(settings["server"]["maxUploadSize"], int)
    assert settings["client"]["toolbarMode"] == "viewer"
    assert settings["client"]["showErrorDetails"] == "none"
    assert settings["browser"]["gatherUsageStats"] is False
    assert settings["server"].get("enableCORS", True) is True
    assert settings["server"]["fileWatcherType"] == "none"  # no module reloads under live sessions
    assert "cookieSecret" not in settings["server"]  # a committed file: the secret goes in the environment


def test_every_streamlit_setting_exists_in_the_installed_streamlit():
    # Streamlit only warns about an unknown key, so a misspelt hardening option would silently do nothing
    settings = tomllib.loads(CONFIG.read_text())
    keys = {f"{section}.{name}" for section, options in settings.items() for name in options}
    unknown = keys - set(st_config._config_options_template)
    assert not unknown, unknown


# --- docs/deployment.md ------------------------------------------------------------------------

def test_the_deployment_guide_links_to_files_that_exist():
    text = DOCS.read_text()
    links = re.findall(r"\]\((?!https?://|#)([^)#]+)", text)
    assert "../deploy/nginx.conf" in links and "../Dockerfile" in links
    for link in links:
        assert (DOCS.parent / link).exists(), link
    assert "\n## Access control\n" in text


# Variables whose value can carry a secret: the request line and query (a session id in an
# upload's URL, a download's id, ?cohort=<id>, a sign-in code), cookies, and the headers that
# carry Streamlit's session id and XSRF token (Sec-WebSocket-Protocol, X-Xsrftoken) or a URL (Referer).
SECRET_BEARING = re.compile(r"\$(request|request_uri|args|query_string|is_args|arg_\w+|cookie_\w+|http_cookie"
                            r"|http_referer|http_sec_websocket_protocol|http_x_xsrftoken|request_body"
                            r"|sent_http_set_cookie|icans_route)\b")


def access_logs() -> list[tuple[list, list[str]]]:
    """Every access_log directive anywhere in the config: (its block, its words)."""
    found = []

    def walk(block):
        for words, children in block:
            if children is None and words[0] == "access_log":
                found.append((block, words[1:]))
            elif children is not None:
                walk(children)
    walk(nginx_blocks(NGINX.read_text()))
    return found


def test_the_access_log_never_records_a_secret_from_a_url_or_a_header():
    formats = {words[0]: " ".join(words[1:]) for words in directives(http_block(), "log_format")}
    logs = access_logs()
    assert logs, "no access_log: nginx would write its default format, which has the whole $request"
    for _, words in logs:
        if words[0] == "off":
            continue
        assert len(words) >= 2 and words[1] in formats, f"access_log {words} uses nginx's default format"
        fmt = formats[words[1]]
        assert not SECRET_BEARING.search(fmt), (words[1], SECRET_BEARING.search(fmt).group(0))
        paths = re.findall(r"\$(uri|document_uri|\w*path\w*)\b", fmt)
        assert paths == ["icans_logged_path"], f"the path is logged only through the redacting map: {fmt}"


def redacted(path: str) -> str:
    """What the log records for a path, by the config's own map (its regexes, in order)."""
    source, entries = map_values("$icans_logged_path")
    assert source == "$uri"  # the path without its query string
    for key, value in entries:
        if key.startswith("~") and re.search(key[1:], path):
            return value
    return dict(entries)["default"].replace("$uri", path)


@pytest.mark.parametrize("path, logged", [
    ("/_stcore/upload_file/0f0e2a4c-54b3-4c8e-9d43-8b7d1f0c9a11/5b7d", "/_stcore/upload_file/-"),
    ("/media/3f1c0a9e8b7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817.csv", "/media/-"),
    ("/media/ab12.html", "/media/-"),
    ("/resolution", "/resolution"),
    ("/_stcore/stream", "/_stcore/stream"),
])
def test_upload_and_download_urls_are_logged_by_their_prefix_only(path, logged):
    assert redacted(path) == logged


# --- serve.py ----------------------------------------------------------------------------------

def test_deployments_run_the_dashboard_behind_the_browser_gate():
    # `streamlit run serve.py` finds its st.App (app_discovery) and serves dashboard.py through it
    from streamlit.web.server.app_discovery import discover_asgi_app

    serve = ROOT / "serve.py"
    assert discover_asgi_app(serve).is_asgi_app
    tree = ast.parse(serve.read_text())
    [call] = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
              and getattr(node.func, "attr", getattr(node.func, "id", "")) == "App"]
    assert [a.value for a in call.args] == ["dashboard.py"]
    middleware = next(k.value for k in call.keywords if k.arg == "middleware")
    assert [e.args[0].id for e in middleware.elts] == ["BrowserGate"]
    assert "streamlit run serve.py" in (ROOT / "Makefile").read_text()

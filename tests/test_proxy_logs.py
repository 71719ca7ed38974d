"""The shipped proxy config, run for real: nginx on loopback in front of the app, then its access log is read.

deploy/nginx.conf is used as shipped, with only what a test machine must change: its ports, its
file paths, a throw-away certificate and the one replica's address. Requests that carry secrets in
their URL (an upload naming its session, a download, a published cohort's link, a sign-in code)
go through it, and the access log must hold none of those secrets, only the paths' prefixes.
"""

from __future__ import annotations

import http.client
import re
import shutil
import socket
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.browser import free_port, running_app, stop

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HOST = "icans.example.org"

pytestmark = pytest.mark.skipif(not Path(NGINX).exists() or not shutil.which("openssl"),
                                reason="nginx and openssl are needed (apt-get install nginx)")


def config_for_this_machine(app_port: int, https_port: int, http_port: int, folder: Path) -> str:
    """deploy/nginx.conf with this machine's ports, paths, certificate and replica (nothing else changed)."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    replacements = [
        (r"^user www-data;\n", ""),
        (r"pid /run/nginx.pid;", f"pid {folder}/nginx.pid;"),
        (r"/var/log/nginx/", f"{folder}/"),
        (r"listen 80( default_server)?;", rf"listen 127.0.0.1:{http_port}\1;"),
        (r"listen 443 ssl( default_server)?;", rf"listen 127.0.0.1:{https_port} ssl\1;"),
        (r"/etc/nginx/tls/icans.example.org/", f"{folder}/"),
        (r"server 127\.0\.0\.1:8501 ", f"server 127.0.0.1:{app_port} "),
        (r"\n\s*server 127\.0\.0\.1:8502 [^\n]*", ""),
    ]
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        assert count, f"deploy/nginx.conf no longer has {pattern!r}: update this test"
    # nginx's temporary folders default to /var/lib/nginx, which a test need not own
    text = text.replace("http {", "http {\n" + "".join(
        f"    {kind}_temp_path {folder}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")), 1)
    return text


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    """(https port, access log) of nginx running deploy/nginx.conf in front of the dashboard."""
    folder = tmp_path_factory.mktemp("nginx")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", f"/CN={HOST}", "-keyout", str(folder / "privkey.pem"),
                    "-out", str(folder / "fullchain.pem")], check=True, capture_output=True)
    with running_app(folder) as (url, _):
        https_port, http_port = free_port(), free_port()
        config = folder / "nginx.conf"
        config.write_text(config_for_this_machine(int(url.rsplit(":", 1)[1]), https_port, http_port, folder))
        checked = subprocess.run([NGINX, "-t", "-c", str(config)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        process = subprocess.Popen([NGINX, "-c", str(config), "-g", "daemon off;"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not (folder / "nginx.pid").exists():
                time.sleep(0.1)
            yield https_port, folder / "access.log"
        finally:
            stop(process)


def request(port: int, method: str, path: str, body: bytes | None = None) -> int:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    # TLS with the public name (SNI): the default server refuses handshakes for any other name
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    connection.sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20),
                                          server_hostname=HOST)
    try:
        connection.request(method, path, body=body, headers={"Host": HOST})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_the_access_log_holds_no_session_id_download_id_or_secret_from_a_url(proxy):
    port, access_log = proxy
    session_id, file_id, media_id = str(uuid.uuid4()), uuid.uuid4().hex, uuid.uuid4().hex
    cohort_id, code = "c0h0rtsecret" + uuid.uuid4().hex[:8], "signincode" + uuid.uuid4().hex[:8]
    assert request(port, "GET", "/_stcore/health") == 200  # the proxy really reaches the app
    statuses = [
        request(port, "PUT", f"/_stcore/upload_file/{session_id}/{file_id}", b"x"),
        request(port, "GET", f"/media/{media_id}.csv"),
        request(port, "GET", f"/media/{media_id}.html?title=x"),
        request(port, "GET", f"/resolution?cohort={cohort_id}&product=axi-cel"),
        request(port, "GET", f"/oauth2callback?code={code}&state=s"),
    ]
    assert statuses[1] == statuses[2] == 404, statuses  # Streamlit answered: no such file
    time.sleep(0.5)  # nginx writes a request's log line when the request ends
    log = access_log.read_text()
    lines = log.splitlines()
    assert len(lines) >= 6, log
    for secret in (session_id, file_id, media_id, cohort_id, code, "axi-cel", "title=x"):
        assert secret not in log, (secret, log)
    # ...while the operator still sees what happened, and where
    assert re.search(r'"PUT /_stcore/upload_file/- HTTP/1\.1" \d{3} ', log), log
    assert len(re.findall(r'"GET /media/- HTTP/1\.1" 404 ', log)) == 2, log
    assert '"GET /resolution HTTP/1.1" ' in log and '"GET /oauth2callback HTTP/1.1" ' in log, log
    assert all("upstream=127.0.0.1:" in line for line in lines), log

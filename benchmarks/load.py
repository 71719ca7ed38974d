"""Load test: N concurrent browser sessions against a dashboard this script starts on loopback.

Run: `.venv/bin/python benchmarks/load.py --sessions 20 --duration 300 [--password] [--json out.json]`
(`--help` lists the rest: think time, ramp, timeout, --nice-browser). Not a pytest test:
tests/test_load_smoke.py runs `run()` with 2 sessions.

What it does, in order:
1. makes one small synthetic cohort per session (icans_core.sample, a different seed and size each:
   30 + 3*i patients; patient ids prefixed per session, `S07-P0001`, since every seed numbers its
   patients P0001...), as a .zip of the four CSVs, the form the Cohort page's uploader accepts;
2. starts `streamlit run dashboard.py` on 127.0.0.1 in its own process group (a free port,
   ICANS_LIBRARY_DIR in a temp dir; with --password, a secrets file with `[access] password_hash`,
   passed as --secrets.files), waits for /_stcore/health, and every second samples the server's RSS
   (process and children, /proc/<pid>/status) and the CPU time of the server, of the load generator
   (Chromium, Playwright's driver, this script) and of the whole machine;
3. baseline: one session alone opens the app, signs in if asked, uploads its cohort and does a
   fixed number of interactions;
4. the concurrent phase: N sessions - browser contexts of one headless Chromium, all driven from
   one asyncio loop (one Playwright driver) - start evenly over --ramp seconds; each opens the app,
   signs in, uploads its own cohort through the Cohort page and then, until the deadline, does
   random interactions with a think time between them: change a sidebar filter (product, sex,
   disease, ECOG, ...), switch page, change "Compare by", clear a filter.
The server is stopped (its process group killed) at the end, whatever happened.

Latency of an interaction: from the click that changes something to the app being idle again -
a script run has finished since the click (counted on the app's websocket in the page), the app
shows "notRunning" and no element is stale (tests/browser.py `wait_until_idle`, made safe against
reading the previous run's "notRunning"). Its server share: from the rerun request leaving the
browser to "script finished" arriving (websocket frames as Playwright reports them).

Errors: a Streamlit exception element, any st.error box, a console error or uncaught page error
from the app's own origin, a crashed page, a lost connection, or a step over --timeout seconds
(default 60). Each is put down to a cause: the app, the app too slow (the request had reached it),
or the load generator (the browser did not act in time - Chromium starved of CPU). Console errors
for resources outside loopback (the page icon Streamlit fetches from fonts.gstatic.com) are counted
apart, not as errors.

Leaks: after every interaction a session checks that what it sees is its own: the sidebar badge
(its file name, "M patients · your upload ..."), the selection line ("N of M patients selected" /
"All M patients selected", M its own count), "Signed in as <its own name>", the Patient page's
selector and every patient id in the page text (its own prefix only, no unprefixed sample ids),
and the Cohort page's "Loaded:" line. Each view that passes is also judged as another session's,
which must fail (the detector self-test, counted in the report), so a check that cannot fire is
noticed.

Exit status: 0 if no errors and no leaks, 1 otherwise, 2 for a refused target or bad options.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import ipaddress
import json
import os
import platform
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# tests/browser.py's flags (no stalls on background network calls in a closed network), plus: every
# context is a visible window, so none may be throttled as a background tab.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-renderer-backgrounding", "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
]
# Tall, as in tests/browser.py: an option list that does not fit is scrolled into view, and a scroll
# closes the list (react-aria) before the click lands.
VIEWPORT = {"width": 1400, "height": 1800}
SERVER_START_TIMEOUT = 60.0
UPLOAD_KIND = "your upload (private to this session)"
# Nav label -> URL paths the page may show (the default page is served at "/").
PAGES = {
    "Overview": ("/", "/overview"), "Swimlanes": ("/swimlanes",), "Cytokines": ("/cytokines",),
    "Resolution": ("/resolution",), "Treatments": ("/treatments",), "Expansion": ("/expansion",),
    "Patient": ("/patient",), "Report": ("/report",), "Cohort": ("/cohort",),
}
FILTERS = ("Product", "Sex", "Disease", "ECOG", "Group (study arm)", "Maximum CRS grade", "Maximum ICANS grade")
COMPARE_BY = "Compare by"
# st.error texts that are part of normal use (none today: an empty selection is st.info / st.warning).
EXPECTED_ERROR_BOXES: tuple[re.Pattern, ...] = ()
MAX_CONSECUTIVE_FAILURES = 3
MAX_SCREENSHOTS = 8
MAX_DETAILS = 200

# Counts, in the page, the script runs that ended - every ForwardMsg carrying `script_finished`
# (field 6) other than FINISHED_EARLY_FOR_RERUN (2) - and the rerun requests sent - every BackMsg
# carrying `rerun_script` (field 11). A wait then never mistakes the previous run's "notRunning" for
# the end of the run it waits for, however quickly a run goes by, and an action that never reached
# the app (no rerun request) is told apart from a slow app.
RUN_COUNTER_JS = """
(() => {
  window.__loadRunsEnded = 0;
  window.__loadRerunsSent = 0;
  const varintField = (buffer, wanted) => {  // value of top-level field `wanted`: -1 absent, -2 not a varint
    const b = new Uint8Array(buffer);
    let i = 0;
    const varint = () => { let r = 0, s = 0, x; do { x = b[i++]; r += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80 && i < b.length); return r; };
    while (i < b.length) {
      const tag = varint(), fieldNumber = Math.floor(tag / 8), wire = tag & 7;
      if (wire === 0) { const v = varint(); if (fieldNumber === wanted) return v; }
      else if (wire === 2) { const length = varint(); if (fieldNumber === wanted) return -2; i += length; }  // not `i += varint()`: i is read first
      else if (wire === 1) { i += 8; } else if (wire === 5) { i += 4; } else { return -1; }
    }
    return -1;
  };
  const received = buffer => { const status = varintField(buffer, 6); if (status >= 0 && status !== 2) window.__loadRunsEnded++; };
  const Native = window.WebSocket;
  class Counting extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', event => {
        if (event.data instanceof ArrayBuffer) received(event.data);
        else if (event.data instanceof Blob) event.data.arrayBuffer().then(received);
      });
    }
    send(data) {
      try {
        const buffer = data instanceof ArrayBuffer ? data : ArrayBuffer.isView(data)
          ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) : null;
        if (buffer && varintField(buffer, 11) === -2) window.__loadRerunsSent++;
      } catch (e) {}
      return super.send(data);
    }
  }
  window.WebSocket = Counting;
})();
"""
# Resolves "idle" once the app is idle after a run that ended past `ended` (RUN_COUNTER_JS):
# woken by the script-state and stale attributes changing, with a 250 ms check as a safety net for
# removed nodes (cheaper than polling on 20 pages at once). After `timeoutMs`: "slow" if a rerun
# request had left the browser since `sent`, else "undelivered".
WAIT_IDLE_JS = """
([ended, sent, needSidebar, timeoutMs]) => new Promise(resolve => {
  const idle = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    return !!app && (window.__loadRunsEnded || 0) > ended
      && app.dataset.testScriptState === 'notRunning'
      && !document.querySelector('[data-stale="true"]')
      && (!needSidebar || !!document.querySelector('[data-testid="stSidebar"]'));
  };
  if (idle()) { resolve('idle'); return; }
  let timer = null, limit = null;
  const observer = new MutationObserver(() => { if (idle()) finish('idle'); });
  const finish = result => { observer.disconnect(); clearInterval(timer); clearTimeout(limit); resolve(result); };
  limit = setTimeout(() => finish((window.__loadRerunsSent || 0) > sent ? 'slow' : 'undelivered'), timeoutMs);
  observer.observe(document, {subtree: true, attributes: true,
                              attributeFilter: ['data-test-script-state', 'data-stale']});
  timer = setInterval(() => { if (idle()) finish('idle'); }, 250);
})
"""
# Whether the sidebar dropdown labelled `label` now holds `choice` (a multiselect's tag, a selectbox's value).
CHOSEN_JS = """
([label, choice]) => {
  const input = document.querySelector(`[data-testid="stSidebar"] input[aria-label="${CSS.escape(label)}"]`);
  const widget = input && input.closest('[data-testid="stMultiSelect"], [data-testid="stSelectbox"]');
  if (!widget) return false;
  if (widget.dataset.testid === 'stSelectbox') return input.value === choice;
  return Array.from(widget.querySelectorAll('[data-tag]')).some(tag => tag.getAttribute('aria-label') === choice);
}
"""
DIAGNOSE_JS = """
() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return `state ${app ? app.dataset.testScriptState : 'no app'}, connection ${app ? app.dataset.testConnectionState : '-'}, `
    + `runs ended ${window.__loadRunsEnded}, stale ${document.querySelectorAll('[data-stale="true"]').length}, `
    + `open lists ${document.querySelectorAll('[role="listbox"]').length}, path ${location.pathname}`;
}
"""
SNAPSHOT_JS = """
() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const sidebar = document.querySelector('[data-testid="stSidebar"]');
  const main = document.querySelector('[data-testid="stMain"]');
  const texts = selector => Array.from(document.querySelectorAll(selector)).map(e => e.innerText.trim());
  let patient = null;
  for (const input of document.querySelectorAll('[data-testid="stMain"] [data-testid="stSelectbox"] input')) {
    if ((input.getAttribute('aria-label') || '').startsWith('Patient (')) patient = input.value;
  }
  let loaded = null;
  for (const p of document.querySelectorAll('[data-testid="stMain"] [data-testid="stMarkdownContainer"] p')) {
    if (p.innerText.startsWith('Loaded:')) loaded = p.innerText;
  }
  return {
    state: app ? app.dataset.testScriptState : null,
    connection: app ? app.dataset.testConnectionState : null,
    path: location.pathname,
    sidebar: sidebar ? sidebar.innerText : null,
    main: main ? main.innerText : '',
    exceptions: texts('[data-testid="stException"]'),
    errors: texts('[data-testid="stAlertContentError"]'),
    patient, loaded,
  };
}
"""


# --- Cohorts ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Identity:
    """What one session must see: its own cohort, file and (in password mode) name."""

    name: str  # "S07", "B00" for the baseline session
    prefix: str  # "S07-", on every patient id of its cohort
    patients: int
    file_name: str
    data: bytes = field(repr=False, default=b"")
    user: str | None = None
    path: Path | None = None  # the .zip on disk: uploading by path spares a starved renderer the bytes


def cohort_zip(n_patients: int, seed: int, prefix: str) -> bytes:
    """A synthetic cohort (icans_core.sample) with prefixed patient ids, as a .zip of the four CSVs."""
    from icans_core.sample import FLOAT_FORMAT, INTEGER_COLUMNS, TABLE_NAMES, convert_integer_columns, generate_cohort

    tables = generate_cohort(n_patients, seed=seed)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in TABLE_NAMES:
            frame = tables[name].copy()
            frame["patient_id"] = prefix + frame["patient_id"].astype(str)  # the generator's ids repeat per seed
            frame = convert_integer_columns(frame, INTEGER_COLUMNS.get(name, ()))
            archive.writestr(f"{name}.csv", frame.to_csv(index=False, float_format=FLOAT_FORMAT,
                                                         lineterminator="\n", na_rep=""))
    return buffer.getvalue()


def session_sizes(sessions: int) -> list[int]:
    return [30 + 3 * i for i in range(sessions)]


def baseline_size(sizes: list[int]) -> int:
    """A size near the sessions' median that no session has, so the baseline cohort is unmistakable."""
    size = sorted(sizes)[len(sizes) // 2] - 1
    while size in sizes:
        size += 1
    return size


def make_identities(sessions: int, seed: int, out_dir: Path, password: bool) -> tuple[Identity, list[Identity]]:
    """(baseline identity, one identity per concurrent session), each with its cohort written to out_dir."""
    sizes = session_sizes(sessions)
    specs = [("B00", baseline_size(sizes), seed + 999)] + [
        (f"S{i:02d}", n, seed + i) for i, n in enumerate(sizes)]
    identities = []
    for name, n, cohort_seed in specs:
        data = cohort_zip(n, cohort_seed, f"{name}-")
        file_name = f"{name.lower()}-cohort.zip"
        (out_dir / file_name).write_bytes(data)
        identities.append(Identity(name, f"{name}-", n, file_name, data,
                                   user=f"load {name}" if password else None, path=out_dir / file_name))
    return identities[0], identities[1:]


# --- What a session sees: the leak and error checks (pure, unit-tested) --------------------------

_BADGE = re.compile(r"^([\d,]+) patients · (.+)$", re.MULTILINE)
_SELECTED = re.compile(r"(?:All ([\d,]+) patients selected|([\d,]+) of ([\d,]+) patients selected)")
_SIGNED_IN = re.compile(r"Signed in as (.+)")
_PREFIXED_ID = re.compile(r"\b([A-Z]\d{2}-)P\d{4,}\b")
_BARE_ID = re.compile(r"(?<![\w-])P\d{4,}\b")


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def check_view(view: dict, me: Identity) -> list[str]:
    """Every way `view` (SNAPSHOT_JS) shows a cohort, file, user or patient that is not `me`'s.

    Empty when the session sees only its own data; each string names one mismatch (a leak)."""
    problems = []
    sidebar = view.get("sidebar")
    if sidebar is None:
        return ["no sidebar to read the cohort from"]
    lines = [line.strip() for line in sidebar.splitlines() if line.strip()]
    badge = _BADGE.search(sidebar)
    if badge is None:
        problems.append("no cohort badge ('M patients · ...') in the sidebar")
    else:
        if _number(badge.group(1)) != me.patients:
            problems.append(f"sidebar badge shows {badge.group(1)} patients, own cohort has {me.patients}")
        if badge.group(2).strip() != UPLOAD_KIND:
            problems.append(f"sidebar badge says the cohort is {badge.group(2).strip()!r}, not {UPLOAD_KIND!r}")
        index = lines.index(badge.group(0).strip()) if badge.group(0).strip() in lines else -1
        label = lines[index - 1] if index > 0 else None
        if label != me.file_name:
            problems.append(f"sidebar badge names cohort {label!r}, own file is {me.file_name!r}")
    selected = _SELECTED.search(sidebar)
    if selected is None:
        problems.append("no 'patients selected' line in the sidebar")
    else:
        total = _number(selected.group(1) or selected.group(3))
        if total != me.patients:
            problems.append(f"sidebar selection line {selected.group(0)!r}: total {total}, "
                            f"own cohort has {me.patients}")
        if selected.group(2) and _number(selected.group(2)) > total:
            problems.append(f"sidebar selection line {selected.group(0)!r} selects more than the total")
    if me.user is not None:
        signed = _SIGNED_IN.search(sidebar)
        if signed is None or signed.group(1).strip() != me.user:
            seen = signed.group(0) if signed else "no 'Signed in as'"
            problems.append(f"sidebar says {seen!r}, own user is {me.user!r}")
    if view.get("patient") and not view["patient"].startswith(me.prefix):
        problems.append(f"Patient page selector shows {view['patient']!r}, not an id with prefix {me.prefix}")
    if view.get("loaded") and me.file_name not in view["loaded"]:
        problems.append(f"Cohort page says {view['loaded']!r}, own file is {me.file_name}")
    text = (view.get("main") or "") + "\n" + sidebar
    foreign = sorted({m.group(0) for m in _PREFIXED_ID.finditer(text) if m.group(1) != me.prefix})
    if foreign:
        problems.append(f"page shows other sessions' patient ids: {', '.join(foreign[:5])}")
    bare = sorted(set(_BARE_ID.findall(text)))
    if bare:
        problems.append(f"page shows unprefixed (sample) patient ids: {', '.join(bare[:5])}")
    return problems


def patient_ids_seen(view: dict, me: Identity) -> int:
    """How many of `me`'s patient ids the view shows (so the report can say the id check ran)."""
    text = (view.get("main") or "") + "\n" + (view.get("sidebar") or "")
    return len({m.group(0) for m in _PREFIXED_ID.finditer(text) if m.group(1) == me.prefix})


def view_errors(view: dict) -> list[str]:
    """App errors visible in the view: exceptions, error boxes, a lost connection."""
    found = [f"exception on {view.get('path')}: {text[:300]}" for text in view.get("exceptions", [])]
    found += [f"st.error on {view.get('path')}: {text[:300]}" for text in view.get("errors", [])
              if not any(p.search(text) for p in EXPECTED_ERROR_BOXES)]
    if view.get("connection") not in (None, "CONNECTED"):
        found.append(f"connection state {view.get('connection')} on {view.get('path')}")
    return found


def decoy(me: Identity, others: list[Identity]) -> Identity:
    """Another identity to run the checks against: they must fail for it (detector self-test)."""
    for other in others:
        if other.name != me.name:
            return other
    return Identity("X99", "X99-", me.patients + 1, "x99-cohort.zip", user=None if me.user is None else "load X99")


# --- Server and its memory ------------------------------------------------------------------------

def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class AppServer:
    """`streamlit run dashboard.py` on loopback in its own process group; stop() kills the group."""

    def __init__(self, host: str, work_dir: Path, log_path: Path, secrets_file: Path | None):
        if not is_loopback(host):
            raise ValueError(f"refusing a non-loopback address: {host}")
        self.host, self.port, self.log_path = host, free_port(host), log_path
        url_host = f"[{host}]" if ":" in host else host
        self.url = f"http://{url_host}:{self.port}"
        streamlit = ROOT / ".venv" / "bin" / "streamlit"
        command = [str(streamlit)] if streamlit.exists() else [sys.executable, "-m", "streamlit"]
        command += ["run", "dashboard.py", "--server.address", host, "--server.port", str(self.port),
                    "--server.headless", "true", "--server.fileWatcherType", "none",
                    "--browser.gatherUsageStats", "false"]
        if secrets_file is not None:
            command += ["--secrets.files", str(secrets_file)]
        library = work_dir / "library"
        library.mkdir()
        env = {k: v for k, v in os.environ.items() if k != "ICANS_COHORT"}  # sessions open on the sample
        env["ICANS_LIBRARY_DIR"] = str(library)
        self.command = command
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        self.pid = self.process.pid

    def wait_healthy(self, timeout: float = SERVER_START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with status {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"streamlit was not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.pid, sig)  # the group this script created: streamlit and its children only
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


def _process_table() -> dict[int, int]:
    """pid -> parent pid, from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
    return parents


def _tree(root: int, parents: dict[int, int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in found or (pid != root and pid not in parents):
            continue
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _system_busy_seconds() -> float:
    """CPU seconds all processes on this machine have used (every core), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _role(pid: int) -> str:
    """What a process of the load generator is, from its command line."""
    if pid == os.getpid():
        return "load script (python)"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = [a for a in f.read().decode(errors="replace").split("\0") if a]
    except OSError:
        return "other"
    if len(args) == 1:  # Chromium's children rewrite their command line as one string
        args = args[0].split()
    program = os.path.basename(args[0]) if args else ""
    if program.startswith("node"):
        return "playwright driver (node)"
    if "chrom" in program:  # chromium, chrome_crashpad_handler
        kind = next((a.split("=", 1)[1] for a in args if a.startswith("--type=")), "browser")
        return f"chromium {kind}"
    return program or "other"


class Sampler(threading.Thread):
    """Every second: the server's RSS (process + children) and CPU time, the load generator's CPU
    time (this process and its other children: Playwright's driver and Chromium) and the whole
    machine's busy CPU time. CPU is kept per process, so processes that end (a closed context's
    renderer) still count; mark() and freeze() bound the phase the breakdown covers."""

    def __init__(self, server_pid: int, interval: float = 1.0, nice_browser: int = 0):
        super().__init__(daemon=True)
        self.server_pid, self.interval, self.nice_browser = server_pid, interval, nice_browser
        # (monotonic, server RSS KiB, server CPU s, load generator CPU s, whole machine's busy CPU s)
        self.samples: list[tuple[float, int, float, float, float]] = []
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._at_mark: dict[int, float] | None = None  # pid -> CPU s when the phase started
        self._latest: dict[int, tuple[str, float]] = {}  # pid -> (role, CPU s), during the phase
        self._frozen = False

    def sample(self) -> tuple[float, int, float, float, float]:
        parents = _process_table()
        server = _tree(self.server_pid, parents)
        client = _tree(os.getpid(), parents) - server
        cpu = {pid: _cpu_seconds(pid) for pid in server | client}
        row = (time.monotonic(), sum(_rss_kib(p) for p in server), sum(cpu[p] for p in server),
               sum(cpu[p] for p in client), _system_busy_seconds())
        if self.nice_browser:
            self._renice(client)
        with self._lock:
            self.samples.append(row)
            if self._at_mark is not None and not self._frozen:
                for pid, seconds in cpu.items():
                    role = self._latest[pid][0] if pid in self._latest else (
                        "app server (streamlit)" if pid in server else _role(pid))
                    self._latest[pid] = (role, seconds)
        return row

    def _renice(self, pids: set[int]) -> None:
        """Every thread of our Chromium processes at the asked niceness. Chromium sets its threads'
        priorities itself (some to -8), so a niced launch does not hold: this runs every second."""
        for pid in pids:
            if pid == os.getpid() or not _role(pid).startswith("chromium"):
                continue
            try:
                threads = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
            except OSError:
                continue
            for tid in threads:
                try:
                    if os.getpriority(os.PRIO_PROCESS, tid) != self.nice_browser:
                        os.setpriority(os.PRIO_PROCESS, tid, self.nice_browser)
                except OSError:
                    pass

    def mark(self) -> None:
        """Start the per-process CPU accounting (the concurrent phase begins)."""
        parents = _process_table()
        pids = _tree(os.getpid(), parents) | _tree(self.server_pid, parents)
        with self._lock:
            self._at_mark = {pid: _cpu_seconds(pid) for pid in pids}
        self.sample()

    def freeze(self) -> None:
        """End the per-process CPU accounting."""
        self.sample()
        with self._lock:
            self._frozen = True

    def breakdown(self) -> dict[str, dict]:
        """CPU seconds per role since mark(), and how many processes had that role."""
        with self._lock:
            roles: dict[str, dict] = {}
            for pid, (role, seconds) in self._latest.items():
                entry = roles.setdefault(role, {"cpu_s": 0.0, "processes": 0})
                entry["cpu_s"] += seconds - (self._at_mark or {}).get(pid, 0.0)
                entry["processes"] += 1
        return {role: {"cpu_s": round(v["cpu_s"], 1), "processes": v["processes"]}
                for role, v in sorted(roles.items(), key=lambda kv: -kv[1]["cpu_s"])}

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)

    def between(self, start: float, end: float) -> list[tuple[float, int, float, float, float]]:
        with self._lock:
            return [s for s in self.samples if start <= s[0] <= end]


# --- Sessions ---------------------------------------------------------------------------------------

class InteractionFailed(Exception):
    pass


class NotChosen(Exception):
    """A click on an option did not select it (the list closed or changed under the pointer)."""


class NotSettled(Exception):
    """The app did not become idle in time after an action; `delivered` says whether the action's
    rerun request had left the browser (a slow app) or not (the browser never acted on it)."""

    def __init__(self, message: str, delivered: bool):
        super().__init__(message)
        self.delivered = delivered


# What an error is put down to, in the report.
APP, APP_TIMEOUT, DRIVER = "app", "app too slow (> timeout after the request reached it)", \
    "load generator (the browser did not act in time)"


@dataclass
class Stats:
    """Everything the sessions record; one per run, shared by the sessions of the asyncio loop."""

    started: float = field(default_factory=time.monotonic)
    latencies: dict = field(default_factory=dict)  # phase -> kind -> [seconds, click to idle]
    server: dict = field(default_factory=dict)  # phase -> kind -> [seconds, rerun request to script finished]
    uploads: dict = field(default_factory=dict)  # phase -> step -> [seconds]
    opens: dict = field(default_factory=dict)  # phase -> [seconds] (first page, or sign-in form, until idle)
    signins: dict = field(default_factory=dict)  # phase -> [seconds] (Sign in clicked until the app is idle)
    errors: list = field(default_factory=list)
    leaks: list = field(default_factory=list)
    ignored_console: dict = field(default_factory=dict)
    checks: dict = field(default_factory=lambda: {"views_checked": 0, "patient_id_views": 0,
                                                  "detector_selftests": 0, "detector_selftest_failures": 0})
    sessions_aborted: list = field(default_factory=list)
    sessions_ready: dict = field(default_factory=dict)  # phase -> sessions that uploaded
    sign_in_forms: int = 0
    screenshots: int = 0

    def add(self, bucket: dict, phase: str, kind: str, seconds: float | None) -> None:
        if seconds is not None:
            bucket.setdefault(phase, {}).setdefault(kind, []).append(seconds)

    def record(self, bucket: list, phase: str, session: str, kind: str, message: str, cause: str | None = None) -> None:
        entry = {"t_s": round(time.monotonic() - self.started, 1), "phase": phase, "session": session,
                 "during": kind, "message": message}
        if cause:
            entry["cause"] = cause
        bucket.append(entry)


def varint_field(payload: bytes, wanted: int) -> int:
    """The value of top-level protobuf field `wanted` if it is a varint; -2 if it is length-delimited;
    -1 if absent (the same walk as RUN_COUNTER_JS, for the frames Playwright reports)."""
    i, n = 0, len(payload)

    def varint() -> int:
        nonlocal i
        result = shift = 0
        while i < n:
            byte = payload[i]
            i += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        return result

    while i < n:
        tag = varint()
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value = varint()
            if number == wanted:
                return value
        elif wire == 2:
            length = varint()
            if number == wanted:
                return -2
            i += length
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            return -1
    return -1


class Session:
    """One browser context: open, sign in, upload its cohort, then interact until told to stop."""

    def __init__(self, browser, url: str, me: Identity, others: list[Identity], phase: str, stats: Stats,
                 rng: random.Random, timeout: float, think: tuple[float, float], password: str | None,
                 artifacts: Path):
        self.browser, self.url, self.me, self.phase, self.stats, self.rng = browser, url, me, phase, stats, rng
        self.other = decoy(me, others)
        self.timeout, self.think, self.password, self.artifacts = timeout, think, password, artifacts
        self.context = self.page = None
        self.doing = "open"
        self.crashed = False
        self.path = "/"
        self.filtered = False  # whether a filter is set, as the last view showed
        # when rerun requests left the browser and "script finished" messages arrived (monotonic s),
        # from the websocket frames Playwright reports: the server's share of an interaction
        self.sends: list[float] = []
        self.finishes: list[float] = []

    # errors and leaks
    def error(self, message: str, cause: str = APP) -> None:
        self.stats.record(self.stats.errors, self.phase, self.me.name, self.doing, message, cause)

    def leak(self, message: str) -> None:
        self.stats.record(self.stats.leaks, self.phase, self.me.name, self.doing, message)

    async def screenshot(self, what: str) -> None:
        if self.stats.screenshots >= MAX_SCREENSHOTS or self.page is None or self.crashed:
            return
        self.stats.screenshots += 1
        name = re.sub(r"[^A-Za-z0-9]+", "-", what)[:40].strip("-")
        path = self.artifacts / f"{self.stats.screenshots:02d}-{self.me.name}-{name}.png"
        try:
            await asyncio.wait_for(self.page.screenshot(path=str(path), full_page=True), 20)
        except Exception:
            pass

    def _on_console(self, message) -> None:
        if message.type != "error":
            return
        location = (message.location or {}).get("url", "") or ""
        host = re.sub(r"^[a-z]+://(\[[^\]]+\]|[^/:]+).*$", r"\1", location).strip("[]")
        if location and host and not is_loopback(host):
            key = f"{message.text[:120]} ({host})"
            self.stats.ignored_console[key] = self.stats.ignored_console.get(key, 0) + 1
            return
        if "status of 404" in message.text and re.search(r"/[^/]+/_stcore/(health|host-config)$", location):
            key = "404 on <page>/_stcore/health|host-config (Streamlit probing its base path on a deep link)"
            self.stats.ignored_console[key] = self.stats.ignored_console.get(key, 0) + 1
            return
        self.error(f"console error: {message.text[:300]} {location}".strip())

    def _on_page_error(self, exc) -> None:
        self.error(f"uncaught page error on {self.path}: {str(exc)[:300]}")
        asyncio.ensure_future(self.screenshot("page-error"))  # what the user sees after it

    def _on_crash(self, _page) -> None:
        self.crashed = True
        self.error("page crashed", cause=DRIVER)

    def _on_websocket(self, websocket) -> None:
        def sent(payload) -> None:
            if isinstance(payload, bytes) and varint_field(payload, 11) == -2:  # BackMsg.rerun_script
                self.sends.append(time.monotonic())

        def received(payload) -> None:
            if isinstance(payload, bytes):
                status = varint_field(payload, 6)  # ForwardMsg.script_finished
                if status >= 0 and status != 2:  # 2: finished early for a rerun
                    self.finishes.append(time.monotonic())

        websocket.on("framesent", sent)
        websocket.on("framereceived", received)

    # waiting
    async def counts(self) -> list[int]:
        """[script runs ended, rerun requests sent] so far, as the page counted them."""
        return await self.page.evaluate("[window.__loadRunsEnded || 0, window.__loadRerunsSent || 0]")

    async def settle(self, before: list[int], need_sidebar: bool = True) -> None:
        """Wait until the app is idle after a run that ended since `before` (see WAIT_IDLE_JS)."""
        limit = self.timeout * 1000
        state = await asyncio.wait_for(self.page.evaluate(WAIT_IDLE_JS, [*before, need_sidebar, limit]),
                                       self.timeout + 10)
        if state != "idle":
            delivered = state == "slow"
            raise NotSettled(f"not idle {self.timeout:.0f} s after the action ("
                             + ("the rerun request had reached the app" if delivered else
                                "no rerun request left the browser") + ")", delivered)

    def server_seconds(self, since: float) -> float | None:
        """From the first rerun request sent after `since` to the last "script finished" received."""
        first = next((t for t in self.sends if t >= since), None)
        last = next((t for t in reversed(self.finishes) if first is not None and t >= first), None)
        return None if first is None or last is None else last - first

    async def act(self, trigger, need_sidebar: bool = True) -> tuple[float, float | None]:
        """Run `trigger` (the click that changes something) and wait for the app: (seconds from
        the click to idle, seconds from the rerun request to the script finishing)."""
        before = await self.counts()
        start = time.monotonic()
        await trigger()
        await self.settle(before, need_sidebar)
        seconds, server = time.monotonic() - start, self.server_seconds(start)
        self.over_limit(seconds, server)
        return seconds, server

    def over_limit(self, seconds: float, server: float | None) -> None:
        """A step the user waited on for longer than the timeout is an error, even if it finished;
        put down to the app if the server had the larger share of the wait, else to the browser."""
        if seconds <= self.timeout:
            return
        share = "server share unknown" if server is None else f"server share {server:.1f} s"
        cause = APP_TIMEOUT if server is not None and server >= seconds / 2 else DRIVER
        self.error(f"took {seconds:.1f} s, over the {self.timeout:.0f} s limit ({share})", cause)

    async def view(self) -> dict:
        return await self.page.evaluate(SNAPSHOT_JS)

    async def check(self) -> dict:
        """Read the view; record app errors and anything not this session's own (leaks)."""
        view = await self.view()
        self.path = view["path"]
        errors = view_errors(view)
        for message in errors:
            self.error(message)
        problems = check_view(view, self.me)
        for message in problems:
            self.leak(message)
        self.stats.checks["views_checked"] += 1
        if patient_ids_seen(view, self.me) or view.get("patient"):
            self.stats.checks["patient_id_views"] += 1
        if not problems:  # the same view, judged as another session's, must not pass
            self.stats.checks["detector_selftests"] += 1
            if not check_view(view, self.other):
                self.stats.checks["detector_selftest_failures"] += 1
                self.error(f"leak detector self-test: the view passed as session {self.other.name}'s too")
        selected = _SELECTED.search(view.get("sidebar") or "")
        self.filtered = bool(selected and selected.group(2))
        if problems or errors:
            await self.screenshot("leak" if problems else "error")
        return view

    # setup
    async def open(self) -> None:
        self.context = await self.browser.new_context(viewport=VIEWPORT)
        self.context.set_default_timeout(self.timeout * 1000)
        await self.context.add_init_script(RUN_COUNTER_JS)
        self.page = await self.context.new_page()
        self.page.on("console", self._on_console)
        self.page.on("pageerror", self._on_page_error)
        self.page.on("crash", self._on_crash)
        self.page.on("websocket", self._on_websocket)
        start = time.monotonic()
        self.doing = "open: first page"
        await self.page.goto(self.url, wait_until="domcontentloaded")
        await self.settle([0, 0], need_sidebar=False)
        seconds = time.monotonic() - start
        self.over_limit(seconds, self.server_seconds(start))
        self.stats.opens.setdefault(self.phase, []).append(seconds)
        if self.password is not None:
            await self.sign_in()
        elif await self.page.locator('input[aria-label="Team password"]').count():
            raise InteractionFailed("the app asks for a password; run with --password")
        else:
            await self.page.get_by_test_id("stSidebar").wait_for(state="visible")

    async def sign_in(self) -> None:
        self.doing = "sign-in"
        form = self.page.locator('input[aria-label="Team password"]')
        sidebar_or_form = self.page.locator('[data-testid="stSidebar"], input[aria-label="Team password"]')
        await sidebar_or_form.first.wait_for(state="visible")
        if not await form.count():
            raise InteractionFailed("password mode, but the app showed no sign-in form (is the gate in ui/access.py?)")
        self.stats.sign_in_forms += 1
        if await self.page.get_by_test_id("stSidebar").count():
            self.error("sign-in gate: the sidebar is there before signing in")
        if self.me.user is None:
            raise InteractionFailed("password mode needs a user name")
        await self.page.locator('input[aria-label="Your name"]').fill(self.me.user)
        await form.fill(self.password)
        seconds, _ = await self.act(self.page.get_by_role("button", name="Sign in").click)
        self.stats.signins.setdefault(self.phase, []).append(seconds)

    async def upload(self) -> None:
        self.doing = "upload: open the Cohort page"
        await self.go_to("Cohort")
        start = time.monotonic()
        self.doing = "upload: choose the file"
        uploader = self.page.get_by_test_id("stFileUploader")

        async def choose() -> None:
            files = str(self.me.path) if self.me.path else \
                [{"name": self.me.file_name, "mimeType": "application/zip", "buffer": self.me.data}]
            await uploader.locator("input[type=file]").set_input_files(files)

        _, choose_server = await self.act(choose)
        await uploader.get_by_test_id("stFileChip").wait_for(state="visible")
        chosen = time.monotonic()
        self.doing = "upload: validate and load"
        _, server = await self.act(self.page.get_by_role("button", name="Validate and load").click)
        success = self.page.get_by_test_id("stAlertContentSuccess").filter(has_text=f"Loaded {self.me.file_name}.")
        await success.wait_for(state="visible")
        done = time.monotonic()
        for step, seconds in (("total", done - start), ("choose", chosen - start), ("choose_server", choose_server),
                              ("validate_and_load", done - chosen), ("validate_and_load_server", server)):
            self.stats.add(self.stats.uploads, self.phase, step, seconds)
        self.doing = "upload: check"

    # interactions: each returns (seconds from its triggering action to idle, the server's share)
    async def go_to(self, label: str) -> tuple[float, float | None]:
        link = self.page.get_by_test_id("stSidebarNavLink").filter(has=self.page.get_by_text(label, exact=True))
        kind, self.doing = self.doing, f"{self.doing}: go to {label}"
        result = await self.act(link.click)
        self.doing = kind
        path = await self.page.evaluate("location.pathname")
        if path not in PAGES[label]:
            raise InteractionFailed(f"clicked {label} in the navigation, the address is {path}")
        self.path = path
        return result

    async def switch_page(self) -> tuple[float, float | None]:
        current = next((label for label, paths in PAGES.items() if self.path in paths), None)
        return await self.go_to(self.rng.choice([label for label in PAGES if label != current]))

    async def open_filters(self) -> None:
        probe = self.page.get_by_test_id("stSidebar").locator('input[aria-label="Product"]')
        if not await probe.is_visible():
            await self.page.get_by_test_id("stSidebar").get_by_text("Cohort filters").click()
            await probe.wait_for(state="visible")

    async def pick(self, label: str, keep=lambda option, current: True) -> tuple[float, float | None] | None:
        """Open the sidebar dropdown labelled `label` and click a random option; None if none fits."""
        kind = self.doing
        field_ = self.page.get_by_test_id("stSidebar").locator(f'input[aria-label="{label}"]')
        listbox = self.page.get_by_role("listbox", name=label)
        choice = None
        for attempt in range(3):  # the list can close under us (react-aria closes it when the page scrolls)
            self.doing = f"{kind}: open {label!r}"
            current = await field_.input_value()
            await self.open_list(field_, listbox)
            options = [o.strip() for o in await listbox.get_by_role("option").all_inner_texts()]
            options = [o for o in options if o and o not in ("Select all", "No results")  # not options: the
                       and not o.startswith("You can only select") and keep(o, current)]  # list's own notes
            if not options:
                await self.page.keyboard.press("Escape")
                self.doing = kind
                return None
            if choice not in options:
                choice = self.rng.choice(options)
            self.doing = f"{kind}: {label} = {choice!r}"
            option = listbox.get_by_role("option", name=choice, exact=True)

            async def click() -> None:
                await option.click(timeout=None if attempt == 2 else 5_000)
                await self.page.keyboard.press("Escape")
                await field_.evaluate("element => element.blur()")
                try:  # a click can land on a list that is closing: then nothing was chosen
                    await self.page.wait_for_function(CHOSEN_JS, arg=[label, choice], polling=200,
                                                      timeout=(self.timeout if attempt == 2 else 10) * 1000)
                except Exception:
                    raise NotChosen(f"clicked {choice!r} in {label!r}, but it was not chosen") from None

            try:
                result = await self.act(click)
            except Exception as exc:
                from playwright.async_api import TimeoutError as ActionTimeout

                if attempt < 2 and isinstance(exc, (ActionTimeout, NotChosen)):
                    continue  # the option click did not land: nothing changed, try again
                raise
            self.doing = kind
            return result
        return None

    async def open_list(self, field_, listbox) -> None:
        await field_.evaluate("element => element.scrollIntoView({block: 'center'})")
        for attempt in range(4):  # a click sometimes only focuses the input (e.g. right after the panel opened)
            if await listbox.is_visible():
                return
            if attempt % 2 == 0:
                await field_.evaluate("element => element.blur()")
                await field_.click()
            else:
                await field_.focus()
                await self.page.keyboard.press("ArrowDown")
            try:
                await listbox.wait_for(state="visible", timeout=3_000)
            except Exception:
                pass
        await listbox.wait_for(state="visible")

    async def change_filter(self) -> tuple[float, float | None] | None:
        await self.open_filters()
        for label in self.rng.sample(FILTERS, len(FILTERS)):
            result = await self.pick(label)
            if result is not None:
                return result
        return None

    async def change_compare_by(self) -> tuple[float, float | None] | None:
        return await self.pick(COMPARE_BY, keep=lambda option, current: option != current)

    async def clear_filter(self) -> tuple[float, float | None] | None:
        await self.open_filters()
        chosen = self.page.get_by_test_id("stSidebar").get_by_test_id("stMultiSelect").filter(
            has=self.page.locator("[data-tag]"))
        count = await chosen.count()
        if not count:
            return None
        button = chosen.nth(self.rng.randrange(count)).get_by_role("button", name="Clear all")
        return await self.act(button.click)

    def choose_kind(self) -> str:
        if self.filtered and self.rng.random() < 0.25:
            return "clear"
        r = self.rng.random()
        return "page" if r < 0.45 else "filter" if r < 0.80 else "compare"

    async def interact(self) -> tuple[str, float, float | None]:
        kind = self.choose_kind()
        actions = {"page": self.switch_page, "filter": self.change_filter, "compare": self.change_compare_by,
                   "clear": self.clear_filter}
        self.doing = kind
        result = await actions[kind]()
        if result is None:  # nothing to clear, no option left: switch page instead
            self.doing = kind = "page"
            result = await self.switch_page()
        return (kind, *result)

    async def run(self, deadline: float | None = None, count: int | None = None) -> None:
        """Open, upload, then interact until `deadline` (monotonic) or for `count` interactions."""
        try:
            try:
                await asyncio.wait_for(self.open(), self.timeout * 3)
                await asyncio.wait_for(self.upload(), self.timeout * 4)
                await self.check()
            except Exception as exc:
                self.error(f"setup failed during {self.doing}: {_describe(exc, self.timeout)}; "
                           f"{await self.diagnose()}", _cause(exc))
                await self.screenshot(f"setup {self.doing}")
                self.stats.sessions_aborted.append(self.me.name)
                return
            self.stats.sessions_ready[self.phase] = self.stats.sessions_ready.get(self.phase, 0) + 1
            failures = done = 0
            while not self.crashed:
                if (deadline is not None and time.monotonic() >= deadline) or (count is not None and done >= count):
                    break
                await asyncio.sleep(self.rng.uniform(*self.think))
                if deadline is not None and time.monotonic() >= deadline:
                    break
                try:
                    kind, seconds, server = await asyncio.wait_for(self.interact(), self.timeout * 3)
                    self.stats.add(self.stats.latencies, self.phase, kind, seconds)
                    self.stats.add(self.stats.server, self.phase, kind, server)
                    await asyncio.wait_for(self.check(), self.timeout)
                    failures = 0
                except Exception as exc:
                    failures += 1
                    self.error(f"{self.doing} failed: {_describe(exc, self.timeout)}; {await self.diagnose()}",
                               _cause(exc))
                    await self.screenshot(self.doing)
                    await self.recover()
                done += 1
                if failures >= MAX_CONSECUTIVE_FAILURES:
                    self.error(f"session stopped after {failures} failures in a row", DRIVER)
                    self.stats.sessions_aborted.append(self.me.name)
                    break
        finally:
            if self.context is not None:
                try:
                    await asyncio.wait_for(self.context.close(), 30)
                except Exception:
                    pass

    async def diagnose(self) -> str:
        """The app's state when something failed, for the error message."""
        if self.page is None or self.crashed:
            return "no page"
        try:
            return await asyncio.wait_for(self.page.evaluate(DIAGNOSE_JS), 10)
        except Exception as exc:
            return f"state unreadable ({type(exc).__name__})"

    async def recover(self) -> None:
        """After a failure: close any open dropdown and wait (bounded) for the app to settle."""
        if self.crashed:
            return
        try:
            await self.page.keyboard.press("Escape")
            await self.page.wait_for_function(
                "() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
                " return a && a.dataset.testScriptState === 'notRunning'; }", polling=250,
                timeout=self.timeout * 1000)
            await self.check()
        except Exception:
            pass


def _cause(exc: BaseException) -> str:
    """What a failed step is put down to: the app (slow or failing) or the load generator."""
    if isinstance(exc, NotSettled):
        return APP_TIMEOUT if exc.delivered else DRIVER
    if isinstance(exc, InteractionFailed):
        return APP
    return DRIVER  # a Playwright action or wait that did not complete: the browser was too slow


def _describe(exc: BaseException, timeout: float | None = None) -> str:
    if isinstance(exc, NotSettled):
        return str(exc)
    if isinstance(exc, asyncio.TimeoutError) or type(exc).__name__ == "TimeoutError":
        text = str(exc).strip().splitlines()
        return f"timed out (> {timeout or '?'} s)" + (f": {text[0][:200]}" if text else "")
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


# --- The run ------------------------------------------------------------------------------------

@dataclass
class Options:
    sessions: int = 20
    duration: float = 300.0
    baseline_interactions: int = 40
    ramp: float = 30.0
    think: tuple[float, float] = (3.0, 8.0)
    timeout: float = 60.0
    password: str | None = None  # a team password: run against a deployment with sign-in
    host: str = "127.0.0.1"
    seed: int = 7
    json_path: Path | None = None
    artifacts: Path | None = None
    nice_browser: int = 0  # keep Chromium's threads at this niceness, so the app server gets the CPU first
    linger: float = 5.0  # seconds to watch the server's RSS after the sessions closed
    quiet: bool = False


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _summary(values: list[float]) -> dict:
    return {"n": len(values), "p50_s": _round(percentile(values, 0.5)), "p95_s": _round(percentile(values, 0.95)),
            "max_s": _round(max(values) if values else None)}


def _round(x, digits: int = 3):
    return None if x is None else round(x, digits)


def _ratio(a, b):
    return None if a is None or not b else round(a / b, 2)


def _secrets_file(work: Path, password: str) -> Path:
    from icans_core.passwords import hash_password

    path = work / "secrets.toml"
    path.write_text(f'[access]\npassword_hash = "{hash_password(password)}"\n')
    return path


async def _progress(stats: Stats, sampler: "Sampler", say, every: float = 30.0) -> None:
    while True:
        await asyncio.sleep(every)
        done = sum(len(v) for v in stats.latencies.get("concurrent", {}).values())
        last = sampler.samples[-1] if sampler.samples else (0, 0, 0, 0, 0)
        say(f"  t={time.monotonic() - stats.started:6.0f} s: {stats.sessions_ready.get('concurrent', 0)} sessions "
            f"ready, {done} interactions, {len(stats.errors)} errors, {len(stats.leaks)} leaks, "
            f"server RSS {last[1] / 1024:.0f} MiB")


async def _drive(options: Options, url: str, baseline: Identity, identities: list[Identity], stats: Stats,
                 marks: dict, sampler: "Sampler", say) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        marks["chromium"] = browser.version
        try:
            # baseline: one session alone
            marks["baseline_start"] = time.monotonic()
            alone = Session(browser, url, baseline, identities, "baseline", stats, random.Random(options.seed),
                            options.timeout, options.think, options.password, options.artifacts)
            say(f"baseline: 1 session, {options.baseline_interactions} interactions")
            await alone.run(count=options.baseline_interactions)
            marks["baseline_end"] = time.monotonic()
            await asyncio.sleep(2)
            say(f"concurrent: {options.sessions} sessions for {options.duration:.0f} s")
            reporter = asyncio.ensure_future(_progress(stats, sampler, say))
            # the concurrent phase
            sampler.mark()
            start = marks["concurrent_start"] = time.monotonic()
            deadline = marks["deadline"] = start + options.duration

            async def later(delay: float, session: Session) -> None:
                await asyncio.sleep(delay)
                await session.run(deadline=deadline)

            step = options.ramp / max(options.sessions, 1)
            sessions = [Session(browser, url, me, identities, "concurrent", stats,
                                random.Random(options.seed * 1000 + i), options.timeout, options.think,
                                options.password, options.artifacts)
                        for i, me in enumerate(identities)]
            await asyncio.gather(*(later(i * step, s) for i, s in enumerate(sessions)))
            marks["concurrent_end"] = time.monotonic()
            sampler.freeze()
            reporter.cancel()
        finally:
            await browser.close()


def run(options: Options) -> dict:
    """Start the app, run the baseline and the concurrent phase, stop the app; returns the report."""
    if not is_loopback(options.host):
        raise ValueError(f"refusing to load-test a non-loopback address: {options.host}")
    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError(f"no chromium at {CHROMIUM}")
    artifacts = options.artifacts = Path(options.artifacts or tempfile.mkdtemp(prefix="icans-load-"))
    artifacts.mkdir(parents=True, exist_ok=True)
    say = (lambda *a: None) if options.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    stats = Stats()
    marks: dict = {}
    with tempfile.TemporaryDirectory(prefix="icans-load-work-") as tmp:
        work = Path(tmp)
        cohorts = work / "cohorts"
        cohorts.mkdir()
        t = time.monotonic()
        baseline, identities = make_identities(options.sessions, options.seed, cohorts, options.password is not None)
        say(f"made {len(identities) + 1} cohorts in {time.monotonic() - t:.1f} s ({cohorts})")
        secrets_file = _secrets_file(work, options.password) if options.password is not None else None
        server = AppServer(options.host, work, artifacts / "server.log", secrets_file)
        sampler = None
        try:
            server.wait_healthy()
            say(f"app at {server.url} (pid {server.pid}); artifacts in {artifacts}")
            sampler = Sampler(server.pid, nice_browser=options.nice_browser)
            first = sampler.sample()
            sampler.start()
            asyncio.run(_drive(options, server.url, baseline, identities, stats, marks, sampler, say))
            end_sample = sampler.sample()
            time.sleep(options.linger)  # sessions closed: what the server keeps afterwards
            after_close = sampler.sample()
        finally:
            try:
                if sampler is not None:
                    sampler.stop()
            finally:
                server.stop()
    concurrent = sampler.between(marks.get("concurrent_start", 0), marks.get("concurrent_end", float("inf")))
    report = _report(options, stats, marks, sampler, first, end_sample, after_close, concurrent, identities, baseline)
    report["artifacts"] = str(artifacts)
    if options.json_path:
        Path(options.json_path).write_text(json.dumps(report, indent=2) + "\n")
    return report


def _latency_block(bucket: dict) -> dict:
    """p50/p95 for the baseline and the concurrent phase, their ratios, and per kind of interaction."""
    every = {phase: [x for values in kinds.values() for x in values] for phase, kinds in bucket.items()}
    base, conc = _summary(every.get("baseline", [])), _summary(every.get("concurrent", []))
    return {"baseline": base, "concurrent": conc,
            "ratio_p50": _ratio(conc["p50_s"], base["p50_s"]), "ratio_p95": _ratio(conc["p95_s"], base["p95_s"]),
            "by_kind": {phase: {kind: _summary(v) for kind, v in sorted(kinds.items())}
                        for phase, kinds in bucket.items()}}


def _report(options, stats, marks, sampler, first, end_sample, after_close, concurrent, identities, baseline) -> dict:
    samples = sampler.samples

    def mib(kib):
        return round(kib / 1024, 1)

    latency = _latency_block(stats.latencies)
    cpu = {}
    if len(concurrent) >= 2:
        wall = concurrent[-1][0] - concurrent[0][0]
        breakdown = sampler.breakdown()
        server_cpu = sum(v["cpu_s"] for k, v in breakdown.items() if k.startswith("app server"))
        client_cpu = sum(v["cpu_s"] for k, v in breakdown.items() if not k.startswith("app server"))
        machine = concurrent[-1][4] - concurrent[0][4]
        cpu = {"wall_s": round(wall, 1), "server_cpu_s": round(server_cpu, 1),
               "load_generator_cpu_s": round(client_cpu, 1),
               "other_processes_cpu_s": round(max(machine - server_cpu - client_cpu, 0.0), 1),
               "machine_busy_cpu_s": round(machine, 1), "by_process": breakdown}
        for name in ("server", "load_generator", "other_processes", "machine_busy"):
            cpu[f"{name}_cores"] = round(cpu[f"{name}_cpu_s"] / wall, 2) if wall else None
        cpu["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        # the server is one Python process: pure-Python work of all sessions shares one core (the GIL)
        busy = sorted((b[2] - a[2]) / (b[0] - a[0]) for a, b in zip(concurrent, concurrent[1:]) if b[0] > a[0])
        cpu["server_cores_per_second"] = {"p50": _round(percentile(busy, 0.5), 2),
                                          "p95": _round(percentile(busy, 0.95), 2), "max": _round(busy[-1], 2)} \
            if busy else {}
    try:
        import streamlit
        streamlit_version = streamlit.__version__
    except Exception:
        streamlit_version = None
    causes: dict[str, int] = {}
    for entry in stats.errors:
        causes[entry.get("cause", APP)] = causes.get(entry.get("cause", APP), 0) + 1
    uploads = {phase: {step: _summary(v) for step, v in steps.items()} for phase, steps in stats.uploads.items()}
    return {
        "sessions": options.sessions,
        "sessions_ready": stats.sessions_ready.get("concurrent", 0),
        "baseline_ready": bool(stats.sessions_ready.get("baseline")),
        "sessions_aborted": sorted(set(stats.sessions_aborted)),
        "duration_s": options.duration,
        "password_mode": options.password is not None,
        "sign_in_forms_seen": stats.sign_in_forms,
        "think_s": list(options.think),
        "nice_browser": options.nice_browser,
        "ramp_s": options.ramp,
        "timeout_s": options.timeout,
        "interactions": latency["concurrent"]["n"],
        "interactions_by_kind": {k: len(v) for k, v in sorted(stats.latencies.get("concurrent", {}).items())},
        "baseline_interactions": latency["baseline"]["n"],
        "errors": {"count": len(stats.errors), "by_cause": causes, "first": [_line(e) for e in stats.errors[:10]],
                   "details": stats.errors[:MAX_DETAILS]},
        "leaks": {"count": len(stats.leaks), "first": [_line(e) for e in stats.leaks[:10]],
                  "details": stats.leaks[:MAX_DETAILS]},
        "checks": stats.checks,
        "latency": latency,
        # the server's share: from the rerun request leaving the browser to "script finished" arriving
        "server_latency": _latency_block(stats.server),
        "uploads": {
            "baseline_s": _round((stats.uploads.get("baseline", {}).get("total") or [None])[0]),
            "concurrent": uploads.get("concurrent", {}).get("total", _summary([])),
            "steps": uploads,
            "concurrent_all_s": [round(x, 2) for x in stats.uploads.get("concurrent", {}).get("total", [])],
            "cohort_patients": [i.patients for i in identities], "baseline_patients": baseline.patients,
            "cohort_zip_kib": round(sum(len(i.data) for i in identities) / len(identities) / 1024, 1)
            if identities else None,
        },
        "first_open_s": {phase: _summary(v) for phase, v in stats.opens.items()},
        "sign_in_s": {phase: _summary(v) for phase, v in stats.signins.items()},
        "server_rss_mib": {
            "start": mib(first[1]),
            "before_concurrent": mib(min((s for s in samples if s[0] >= marks.get("concurrent_start", 0)),
                                         key=lambda s: s[0], default=first)[1]),
            "peak": mib(max(s[1] for s in samples)),
            "peak_concurrent": mib(max((s[1] for s in concurrent), default=0)),
            "end": mib(min(samples, key=lambda x: abs(x[0] - marks.get("deadline", end_sample[0])))[1]),
            "after_sessions_closed": mib(end_sample[1]), "after_linger": mib(after_close[1]),
            "linger_s": options.linger,
            "samples": len(samples),
        },
        "phases_s": {"baseline": _round(marks.get("baseline_end", 0) - marks.get("baseline_start", 0), 1),
                     "concurrent": _round(marks.get("concurrent_end", 0) - marks.get("concurrent_start", 0), 1)},
        "cpu": cpu,
        "ignored_console_errors": stats.ignored_console,
        "environment": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "streamlit": streamlit_version, "chromium": marks.get("chromium"),
                        "driver": "one Chromium, one browser context per session, one asyncio loop"},
    }


def _line(entry: dict) -> str:
    cause = f" ({entry['cause']})" if entry.get("cause") and entry["cause"] != APP else ""
    return f"[{entry['t_s']:>6.1f}s {entry['phase']} {entry['session']} {entry['during']}] {entry['message']}{cause}"


def format_report(r: dict) -> str:
    lat, srv, up, rss = r["latency"], r["server_latency"], r["uploads"], r["server_rss_mib"]

    def s(x):
        return "-" if x is None else f"{x:.2f}"

    def row(title, v):
        return f"  {title:<24}{v['n']:>6}{s(v['p50_s']):>8}{s(v['p95_s']):>8}{s(v['max_s']):>8}"

    causes = ", ".join(f"{n} {cause}" for cause, n in r["errors"]["by_cause"].items())
    rows = [
        f"Load test: {r['sessions']} sessions for {r['duration_s']:.0f} s "
        f"({'password sign-in' if r['password_mode'] else 'open app'}; think {r['think_s'][0]:g}-{r['think_s'][1]:g} s, "
        f"ramp {r['ramp_s']:.0f} s, timeout {r['timeout_s']:.0f} s"
        + (f", Chromium at nice {r['nice_browser']}" if r.get("nice_browser") else "") + ")",
        f"  sessions ready            {r['sessions_ready']} of {r['sessions']}"
        + (f" (aborted: {', '.join(r['sessions_aborted'])})" if r["sessions_aborted"] else ""),
        f"  interactions              {r['interactions']} concurrent "
        f"({', '.join(f'{k} {v}' for k, v in r['interactions_by_kind'].items())}); {r['baseline_interactions']} baseline",
        f"  errors                    {r['errors']['count']}" + (f" ({causes})" if causes else ""),
        f"  leaks                     {r['leaks']['count']} "
        f"({r['checks']['views_checked']} views checked, {r['checks']['patient_id_views']} with patient ids; "
        f"detector self-tests {r['checks']['detector_selftests']}, failed {r['checks']['detector_selftest_failures']})",
        "",
        f"  {'latency (s)':<24}{'n':>6}{'p50':>8}{'p95':>8}{'max':>8}",
        row("baseline (1 session)", lat["baseline"]),
        row("concurrent", lat["concurrent"]),
        f"  {'ratio to baseline':<24}{'':>6}{s(lat['ratio_p50']):>8}{s(lat['ratio_p95']):>8}",
    ]
    for kind, v in lat["by_kind"].get("concurrent", {}).items():
        b = lat["by_kind"].get("baseline", {}).get(kind, {})
        rows.append(row(f"  {kind}", v) + f"   baseline p50 {s(b.get('p50_s'))} p95 {s(b.get('p95_s'))}")
    rows += [
        f"  {'server share (s)':<24}   request sent -> script finished received",
        row("baseline (1 session)", srv["baseline"]),
        row("concurrent", srv["concurrent"]),
        f"  {'ratio to baseline':<24}{'':>6}{s(srv['ratio_p50']):>8}{s(srv['ratio_p95']):>8}",
        "",
    ]
    conc_steps = up["steps"].get("concurrent", {})
    rows += [
        f"  upload (s)                baseline {s(up['baseline_s'])}; concurrent p50 {s(up['concurrent']['p50_s'])} "
        f"p95 {s(up['concurrent']['p95_s'])} max {s(up['concurrent']['max_s'])} (n {up['concurrent']['n']}, "
        f"{min(up['cohort_patients'], default=0)}-{max(up['cohort_patients'], default=0)} patients, "
        f"~{up['cohort_zip_kib']} KiB zip each)",
        f"    concurrent steps: choose the file p50 {s(conc_steps.get('choose', {}).get('p50_s'))} "
        f"(server share p50 {s(conc_steps.get('choose_server', {}).get('p50_s'))}), "
        f"validate and load p50 {s(conc_steps.get('validate_and_load', {}).get('p50_s'))} "
        f"(server share p50 {s(conc_steps.get('validate_and_load_server', {}).get('p50_s'))})",
        "  first page, open to idle  " + "; ".join(
            f"{phase} p50 {s(v['p50_s'])} max {s(v['max_s'])}" for phase, v in r["first_open_s"].items()),
        *(["  sign-in, click to idle    " + "; ".join(
            f"{phase} p50 {s(v['p50_s'])} max {s(v['max_s'])}" for phase, v in r["sign_in_s"].items())]
          if r.get("sign_in_s") else []),
        f"  server RSS (MiB)          start {rss['start']}, before concurrent {rss['before_concurrent']}, "
        f"peak {rss['peak']}, end (at the deadline) {rss['end']}, {rss['linger_s']:g} s after the sessions closed "
        f"{rss['after_linger']}",
    ]
    if r["cpu"]:
        c = r["cpu"]
        rows.append(f"  CPU, concurrent phase     server {c['server_cpu_s']} s ({c['server_cores']} cores), "
                    f"browser+driver {c['load_generator_cpu_s']} s ({c['load_generator_cores']} cores), "
                    f"other processes on the machine {c['other_processes_cpu_s']} s ({c['other_processes_cores']} "
                    f"cores) over {c['wall_s']} s on {r['environment']['cpus']} CPUs; load average "
                    f"{' '.join(c['loadavg_end'])}")
        if c.get("server_cores_per_second"):
            rows.append(f"    server cores busy per second: p50 {c['server_cores_per_second']['p50']}, "
                        f"p95 {c['server_cores_per_second']['p95']}, max {c['server_cores_per_second']['max']}")
        rows.append("    by process: " + ", ".join(f"{k} {v['cpu_s']} s ({v['processes']})"
                                                  for k, v in c["by_process"].items()))
    if r["ignored_console_errors"]:
        rows.append("  console errors not counted: " + "; ".join(
            f"{k} x{v}" for k, v in r["ignored_console_errors"].items()))
    for title, key in (("errors", "errors"), ("leaks", "leaks")):
        if r[key]["first"]:
            rows.append(f"  first {title}:")
            rows += [f"    {line}" for line in r[key]["first"]]
    rows.append(f"  artifacts (server log, screenshots): {r['artifacts']}")
    return "\n".join(rows)


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20, help="concurrent browser sessions (default 20)")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of the concurrent phase (default 300)")
    parser.add_argument("--baseline-interactions", type=int, default=40,
                        help="interactions of the single-session baseline (default 40)")
    parser.add_argument("--ramp", type=float, default=30.0,
                        help="seconds over which the sessions start, evenly spaced (default 30)")
    parser.add_argument("--think", type=float, nargs=2, default=(3.0, 8.0), metavar=("MIN", "MAX"),
                        help="seconds a session waits between interactions, uniform (default 3 8: a user "
                             "glancing at the result; 0 0 is a stress test)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="an interaction slower than this is an error (default 60 s)")
    parser.add_argument("--password", nargs="?", const="", default=None, metavar="PASSWORD",
                        help="run against a deployment with the shared-password sign-in (a random password "
                             "unless one is given)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to serve on (default 127.0.0.1)")
    parser.add_argument("--nice-browser", type=int, default=0, metavar="N",
                        help="keep every Chromium thread at niceness N (e.g. 19) so the app server gets the "
                             "CPU first: on one machine the browsers otherwise take most of it (default 0: off)")
    parser.add_argument("--linger", type=float, default=5.0, metavar="SECONDS",
                        help="watch the server's RSS this long after the sessions closed (default 5; Streamlit "
                             "keeps a disconnected session 120 s, so 150 shows whether their memory returns)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", dest="json_path", type=Path, help="write the report as JSON here")
    parser.add_argument("--artifacts", type=Path,
                        help="folder for the server log and screenshots (default: a temp dir)")
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.duration <= 0 or args.timeout <= 0 or args.think[0] > args.think[1]:
        parser.error("--sessions, --duration and --timeout must be positive and --think MIN <= MAX")
    if not is_loopback(args.host):
        parser.exit(2, f"refusing to load-test a non-loopback address: {args.host}\n")
    password = args.password
    if password == "":
        password = secrets.token_urlsafe(12)
    return Options(sessions=args.sessions, duration=args.duration, baseline_interactions=args.baseline_interactions,
                   ramp=args.ramp, think=tuple(args.think), timeout=args.timeout, password=password,
                   host=args.host, seed=args.seed, json_path=args.json_path, artifacts=args.artifacts,
                   nice_browser=args.nice_browser, linger=args.linger)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    report = run(options)
    print(format_report(report))
    return 1 if report["errors"]["count"] or report["leaks"]["count"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""Memory of ended sessions (issue 10, part 4): what N sessions on uploads hold, and what their end returns.

Run: .venv/bin/python benchmarks/bench_session_memory.py [--sessions 4] [--patients 1000] [--skip-server]

Two measurements, figures printed (MiB of resident memory, /proc/<pid>/status VmRSS):

1. The server (`streamlit run serve.py` on loopback, `server.disconnectedSessionTTL` 10 s): one
   warm-up session uploads a cohort and closes (so imports and caches that stay for the process's
   life are in the baseline), then RSS *before*; N headless-Chromium sessions each upload their own
   synthetic cohort of P patients through the Cohort page (tests/browser.upload_cohort): RSS *open*;
   the N tabs close, and once the server has logged N "a session ended" lines (ui/lifecycle.py), RSS
   *after*. The share returned is (open - after) / (open - before).
2. In this process, the same work without Streamlit (read + validate each upload, load it into its
   own DuckDB, compute every export table), to separate the allocators' part: RSS added with the N
   databases open, after closing them, and after ui.lifecycle.release_memory (gc, Arrow's memory
   pool, glibc malloc_trim) - the baseline of the same run is "closed, nothing released".
"""

from __future__ import annotations

import argparse
import gc
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from icans_core import store  # noqa: E402
from icans_core.filters import CohortFilter  # noqa: E402
from icans_core.ingest import load_sources  # noqa: E402
from icans_core.readers import Source  # noqa: E402
from icans_core.results import compute_results  # noqa: E402
from icans_core.sample import generate_cohort, write_cohort  # noqa: E402
from ui.lifecycle import release_memory, rss_mib  # noqa: E402

TTL = 10


def cohort_files(patients: int, seed: int, folder: Path) -> dict[str, bytes]:
    """One synthetic cohort as the Cohort page's CSV files, patient ids prefixed per session."""
    tables = generate_cohort(patients, seed)
    for frame in tables.values():
        if "patient_id" in frame.columns:
            frame["patient_id"] = f"S{seed:02d}-" + frame["patient_id"].astype(str)
    write_cohort(tables, folder)
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.csv"))}


def ended_sessions(log_path: Path) -> int:
    return len(re.findall(r"a session ended \d+ s after its browser left", log_path.read_text(errors="replace")))


def wait_ended(log_path: Path, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while ended_sessions(log_path) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {ended_sessions(log_path)} of {count} sessions ended within {timeout:.0f} s")
        time.sleep(0.5)


def measure_server(sessions: int, patients: int, tmp: Path) -> dict:
    from playwright.sync_api import expect, sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS, running_app, upload_cohort

    uploads = [cohort_files(patients, 40 + i, tmp / f"cohort{i}") for i in range(sessions + 1)]
    with running_app(tmp, ("--server.disconnectedSessionTTL", str(TTL))) as (url, log_path), \
            sync_playwright() as playwright:
        pid = int((tmp / "server.pid").read_text())
        expect.set_options(timeout=300_000)  # a loaded machine: every wait of upload_cohort may be long
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            def open_session(files):
                context = browser.new_context(viewport={"width": 1400, "height": 1800})
                context.set_default_timeout(300_000)
                upload_cohort(context.new_page(), url, files, timeout=600_000)
                return context

            start = rss_mib(pid)
            open_session(uploads[0]).close()  # warm-up
            wait_ended(log_path, 1, TTL + 120)
            before = rss_mib(pid)
            contexts = [open_session(files) for files in uploads[1:]]
            held = rss_mib(pid)
            for context in contexts:
                context.close()
            wait_ended(log_path, 1 + sessions, TTL + 180)
            time.sleep(1)
            after = rss_mib(pid)
        finally:
            browser.close()
    return {"start": start, "before": before, "open": held, "after": after}


def measure_in_process(sessions: int, patients: int, tmp: Path) -> dict:
    folder = tmp / "in-process"
    write_cohort(generate_cohort(patients, 3), folder)
    sources = [Source(p.name, p.read_bytes()) for p in sorted(folder.glob("*.csv"))]

    def session():
        result = load_sources(sources)
        assert result.ok
        con = store.connect()
        store.load_cohort(con, result.cohort)
        store.select_patients(con, CohortFilter())
        compute_results(con)
        return con

    session().close()  # warm-up: imports and caches that stay
    release_memory()
    before = rss_mib()
    cons = [session() for _ in range(sessions)]
    gc.collect()
    held = rss_mib()
    for con in cons:
        con.close()
    del cons
    gc.collect()
    closed = rss_mib()
    release_memory()
    return {"before": before, "open": held, "closed": closed, "released": rss_mib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--skip-server", action="store_true", help="only the in-process measurement")
    args = parser.parse_args()
    n, p = args.sessions, args.patients
    with tempfile.TemporaryDirectory() as tmp:
        inside = measure_in_process(n, p, Path(tmp))
        added = inside["open"] - inside["before"]
        print(f"in process, {n} sessions x {p} patients: +{added:.0f} MiB open; after closing their databases "
              f"+{inside['closed'] - inside['before']:.0f} MiB (baseline: nothing released); after release_memory "
              f"+{inside['released'] - inside['before']:.0f} MiB "
              f"({(inside['open'] - inside['released']) / max(added, 1e-9):.0%} of the added memory returned)")
        if not args.skip_server:
            server = measure_server(n, p, Path(tmp) / "server")
            held = server["open"] - server["before"]
            print(f"server: {server['start']:.0f} MiB at start, {server['before']:.0f} MiB after a warm-up session "
                  f"ended; {server['open']:.0f} MiB with {n} sessions on uploads of {p} patients (+{held:.0f}); "
                  f"{server['after']:.0f} MiB once they ended (+{server['after'] - server['before']:.0f}: "
                  f"{(server['open'] - server['after']) / max(held, 1e-9):.0%} of it returned)")


if __name__ == "__main__":
    main()

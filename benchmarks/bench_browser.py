"""Browser benchmark (issue 11): the app on a registry as ICANS_COHORT, driven by headless Chromium.

Run: .venv/bin/python benchmarks/bench_browser.py --cohort /tmp/reg10k [--json out.json]
(write the registry first: `python -m icans_core sample --patients 10000 --seed 7 --out /tmp/reg10k`).
Not a test: nothing here asserts a time.

Starts `streamlit run dashboard.py` on a free loopback port (tests/browser.py) and measures, from
navigation to the page's heading shown and the script run finished ("notRunning"):
- the first session, opened as soon as the server answers: it waits for what is left of preparing the
  deployment cohort, which serve.py starts at server start (icans_core/shared_cache.py), or opens the
  file kept from an earlier start when the files and the code are unchanged ($ICANS_CACHE_DIR; give
  `--cache DIR` twice in a row to measure both: the first run cold, the second a restart);
- each page opened from a link in a new session (a fresh browser context: a new Streamlit
  session, which attaches the shared file), then once more in another new session (a colleague
  opening the same link: the view the first one built is kept server-wide, ui/view_cache.py);
- each page reached in-app from the sidebar navigation of one session;
- the Cytokines page after a filter change (product = axi-cel through the link).
Error boxes and exceptions shown are counted per page (they should be 0).

The baseline, measured in the same run with the same browser: a bare Streamlit page (a title and a
line of text) opened in a fresh browser context, the median of five. It is what loading Streamlit's
frontend and one script run cost on this machine, which no page of the app can go below.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM, CHROMIUM_ARGS, running_app  # noqa: E402

# url path -> (heading, sidebar label)
PAGES = {
    "overview": ("Overview", "Overview"),
    "swimlanes": ("Toxicity swimlanes", "Swimlanes"),
    "cytokines": ("Cytokine kinetics", "Cytokines"),
    "resolution": ("Resolution of severe ICANS", "Resolution"),
    "treatments": ("Treatments", "Treatments"),
    "expansion": ("CAR-T expansion", "Expansion"),
    "patient": ("Patient", "Patient"),
    "report": ("Report", "Report"),
    "cohort": ("Cohort", "Cohort"),
}


def settle(page, heading: str, timeout_ms: float) -> float:
    """Seconds until `heading` is shown and the script run has finished."""
    from playwright.sync_api import expect

    start = time.perf_counter()
    expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible(timeout=timeout_ms)
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning",
                                                           timeout=timeout_ms)
    return time.perf_counter() - start


def errors_shown(page) -> int:
    return page.get_by_test_id("stException").count() + page.get_by_test_id("stAlertContentError").count()


def error_texts(page) -> list[str]:
    """The start of each error box's text (what went wrong, for the report)."""
    boxes = [*page.get_by_test_id("stException").all(), *page.get_by_test_id("stAlertContentError").all()]
    return [box.inner_text()[:300] for box in boxes]


def measure(url: str, timeout_ms: float, pages: dict = PAGES, in_app: bool = True, first_only: bool = False) -> dict:
    from playwright.sync_api import sync_playwright

    out: dict = {"link": {}, "link_again": {}, "in_app": {}, "errors": {}, "error_texts": {}}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            start = time.perf_counter()
            page.goto(url)
            settle(page, "Overview", timeout_ms)
            out["first_session_s"] = time.perf_counter() - start
            out["errors"]["first session"] = errors_shown(page)
            context.close()
            if first_only:
                return out
            # each page from a link, in a new session; then again in another (a colleague opening the link:
            # a view of the shared cohort that an earlier session built is kept server-wide)
            for again, times in ((False, out["link"]), (True, out["link_again"])):
                for path, (heading, _) in pages.items():
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    page = context.new_page()
                    start = time.perf_counter()
                    page.goto(f"{url}/{path}")
                    settle(page, heading, timeout_ms)
                    times[path] = time.perf_counter() - start
                    where = f"{path} (again)" if again else path
                    out["errors"][where] = errors_shown(page)
                    if out["errors"][where]:
                        out["error_texts"][where] = error_texts(page)
                    context.close()
            if not in_app:
                return out
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.goto(url)
            settle(page, "Overview", timeout_ms)
            for path, (heading, label) in [item for item in pages.items() if item[0] != "overview"]:
                start = time.perf_counter()
                page.get_by_test_id("stSidebarNav").get_by_text(label, exact=True).click()
                settle(page, heading, timeout_ms)
                out["in_app"][path] = time.perf_counter() - start
            context.close()
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            start = time.perf_counter()
            page.goto(f"{url}/cytokines?product=axi-cel")
            settle(page, "Cytokine kinetics", timeout_ms)
            out["cytokines_filtered_link_s"] = time.perf_counter() - start
            out["errors"]["cytokines?product=axi-cel"] = errors_shown(page)
            context.close()
        finally:
            browser.close()
    return out


BARE_PAGE = 'import streamlit as st\nst.title("Baseline")\nst.write("A bare Streamlit page.")\n'


def baseline(folder: Path, timeout_ms: float, tries: int = 5) -> float:
    """Median seconds for a bare Streamlit page to show in a fresh browser context (see the docstring)."""
    from playwright.sync_api import sync_playwright

    script = folder / "bare_page.py"
    script.write_text(BARE_PAGE)
    times = []
    with running_app(folder, script=str(script)) as (url, _log), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(tries):
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                start = time.perf_counter()
                page.goto(url)
                settle(page, "Baseline", timeout_ms)
                times.append(time.perf_counter() - start)
                context.close()
        finally:
            browser.close()
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cohort", type=Path, required=True, help="the registry folder, as ICANS_COHORT")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per page")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--cache", type=Path, help="ICANS_CACHE_DIR (default: a new, empty folder: a cold start)")
    parser.add_argument("--first-session-only", action="store_true", help="measure the first session and stop")
    parser.add_argument("--pages", nargs="+", choices=list(PAGES), help="only these pages (default: every page)")
    parser.add_argument("--links-only", action="store_true",
                        help="only the first session and each page from a link (no in-app navigation, no filter)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp) / "cache"
        warm = cache.is_dir() and any(cache.glob("*.json"))
        env = {"ICANS_COHORT": str(args.cohort.resolve()), "ICANS_LIBRARY_DIR": str(Path(tmp) / "library"),
               "ICANS_CACHE_DIR": str(cache)}
        with running_app(Path(tmp), env=env) as (url, _log):
            figures = measure(url, args.timeout * 1000,
                              {k: v for k, v in PAGES.items() if not args.pages or k in args.pages},
                              not args.links_only, args.first_session_only)
        bare = Path(tmp) / "baseline"
        bare.mkdir()
        figures["baseline_bare_page_s"] = baseline(bare, args.timeout * 1000)
    figures["cache"] = "kept from an earlier start" if warm else "empty (cold start)"
    floor = figures["baseline_bare_page_s"]
    print(f"baseline: a bare Streamlit page in a fresh browser context, median of 5: {floor:.2f} s")
    print(f"first session, cache {figures['cache']}: {figures['first_session_s']:.1f} s")
    if args.first_session_only:
        print("error boxes shown: " + "; ".join(f"{k} {v}" for k, v in figures["errors"].items()))
        return
    print("page from a link (new session): " + "; ".join(f"{k} {v:.1f} s ({v / floor:.1f}x)"
                                                          for k, v in figures["link"].items()))
    if figures.get("link_again"):
        print("page from a link again (another new session, the view kept server-wide): "
              + "; ".join(f"{k} {v:.1f} s ({v / floor:.1f}x)" for k, v in figures["link_again"].items()))
    print("page in-app: " + "; ".join(f"{k} {v:.1f} s" for k, v in figures["in_app"].items()))
    if "cytokines_filtered_link_s" in figures:
        print(f"cytokines from a link with product=axi-cel: {figures['cytokines_filtered_link_s']:.1f} s")
    print("error boxes shown: " + "; ".join(f"{k} {v}" for k, v in figures["errors"].items()))
    for path, texts in figures["error_texts"].items():
        print(f"  {path}: " + " | ".join(t.replace(chr(10), " ") for t in texts))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

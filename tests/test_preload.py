"""ui/preload.py: serve.py imports the pages' libraries at start and freezes them out of the collection
Streamlit makes after every script run, so that collection walks only what sessions made."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ui import preload

ROOT = Path(__file__).resolve().parent.parent

CHECK = """
import gc, json, sys
import serve  # what `streamlit run serve.py` imports before any session
from ui import preload
modules, _ = preload.page_imports()
print(json.dumps({"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects()),
                  "missing": [m for m in modules if m not in sys.modules]}))
"""


def test_the_pages_imports_are_found_in_the_entry_script_and_every_page():
    modules, maybe = preload.page_imports()
    # one import of each page and of dashboard.py (views/swimlanes.py, views/report.py, dashboard.py)
    assert {"icans_core.grade_change", "icans_core.report_pdf", "ui.sidebar"} <= set(modules) | set(maybe)
    assert {"icans_core.charts.swimlanes", "streamlit", "altair"} <= set(modules)
    assert "ui.text.plain" in maybe  # a function, tried as a module and skipped


def test_serve_freezes_the_imported_libraries_before_any_session(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ICANS_COHORT": "", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["missing"] == []
    # pandas, SciPy, Altair, Streamlit and the core: a few hundred thousand objects, none left to walk
    # but what was made after the freeze (this check's own few)
    assert found["frozen"] > 100_000
    assert found["tracked"] < found["frozen"] / 20

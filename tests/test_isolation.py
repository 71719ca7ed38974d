"""Two sessions of one server process never see each other's data: not through Streamlit's
caches, not through module state, not through the report or the CSV downloads.

AppTest runs every session in this one process, so anything kept outside a session (a module
global, a global cache keyed without the session) would show up here as a leak.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from tests.test_page_cohort import PATIENTS_CSV, TOXICITY_CSV, as_shown, csv_file
from tests.test_page_cohort import upload as upload_files

ROOT = Path(__file__).resolve().parent.parent
UI_FILES = [ROOT / "dashboard.py", *sorted((ROOT / "ui").glob("*.py")), *sorted((ROOT / "views").glob("*.py"))]
# The only globally cached data: identical for every user of a deployment, never an upload. (The
# deployment cohort's shared file is prepared once per server by icans_core/shared_cache.py, keyed on
# its path and its files' SHA-256.)
# Server-wide state that must span sessions and holds no user data: which browser (a hash of its
# XSRF token) owns which session id and which download (a hash of the file), and a session's
# failed downloads, reported on its own next run (ui/browser_gate.py, ui/downloads.py).
SERVER_STATE = {("browser_gate.py", "_session_browsers"), ("browser_gate.py", "_downloads"),
                ("downloads.py", "_failures"),
                ("lifecycle.py", "_run_locks"),  # a lock per session id (whose turn to run), no data
                # views of shared files (sample, deployment, published: the same for every session), under a
                # key only a connection attached to that very file can form (tests/test_view_cache.py)
                ("view_cache.py", "_shared_views")}
SHARED_CACHES = {"sample_cohort",
                 "_published_fingerprint"}  # a published cohort's fingerprint: anyone with its id opens it


def cohort_of(prefix: str) -> list[tuple[str, bytes, str]]:
    return [csv_file("patients.csv", PATIENTS_CSV.replace("P1", f"{prefix}-01").replace("P2", f"{prefix}-02")),
            csv_file("toxicity.csv", TOXICITY_CSV.replace("P1", f"{prefix}-01").replace("P2", f"{prefix}-02"))]


@pytest.fixture
def deferred(monkeypatch) -> list[dict]:
    """Every deferred download registered (report, figure data, tables), to run as a click would."""
    registered: list[dict] = []
    original = MediaFileManager.add_deferred

    def record(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        registered.append({"callable": data_callable, "file_name": file_name})
        return original(self, data_callable, mimetype, coordinates, file_name=file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return registered


@pytest.fixture(autouse=True)
def server(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("ICANS_LIBRARY_DIR", str(tmp_path / "library"))
    monkeypatch.delenv("ICANS_COHORT", raising=False)


def session_with(prefix: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
    at.switch_page("views/cohort.py")
    at.run()
    return upload_files(at, *cohort_of(prefix))


def visit(at: AppTest, page: str) -> AppTest:
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def downloads_text(registered: list[dict]) -> str:
    out = []
    for item in registered:
        data = item["callable"]()
        out.append(data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data))
    return "\n".join(out)


def test_two_sessions_see_only_their_own_upload_on_every_page_and_download(deferred):
    alice, bobby = session_with("ALICE"), session_with("BOBBY")
    for page in ("views/swimlanes.py", "views/patient.py", "views/report.py", "views/overview.py"):
        for at, own, other in ((alice, "ALICE", "BOBBY"), (bobby, "BOBBY", "ALICE")):
            deferred.clear()
            visit(at, page)
            shown = repr(at.main) + repr(at.sidebar)
            assert other not in shown, (page, other)
            text = downloads_text(deferred)
            assert other not in text, (page, other)
            if page in ("views/swimlanes.py", "views/report.py"):
                assert f"{own}-01" in text, (page, own)  # the downloads do carry the session's own ids
    patient_choices = [visit(at, "views/patient.py").selectbox[0].options for at in (alice, bobby)]
    assert [sorted(o.split(" · ")[0] for o in c) for c in patient_choices] == [["ALICE-01", "ALICE-02"], ["BOBBY-01", "BOBBY-02"]]


def test_a_new_session_beside_an_upload_opens_on_the_sample():
    session_with("ALICE")
    newcomer = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
    assert "Sample cohort (synthetic)" in as_shown("\n".join(m.value for m in newcomer.sidebar.markdown))
    assert "ALICE" not in repr(newcomer.main) + repr(newcomer.sidebar)


def _cached_functions(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                per_session = isinstance(decorator, ast.Call) and any(
                    k.arg == "scope" and isinstance(k.value, ast.Constant) and k.value.value == "session"
                    for k in decorator.keywords)  # Streamlit keeps one value per session: nothing crosses
                if not per_session and ast.unparse(target) in {"st.cache_data", "st.cache_resource", "functools.cache",
                                                               "functools.lru_cache", "cache", "lru_cache"}:
                    names.add(node.name)
    return names


def test_only_data_identical_for_every_user_is_cached_across_sessions():
    cached = set().union(*(_cached_functions(path) for path in UI_FILES))
    assert cached == SHARED_CACHES


_MUTATORS = {"append", "extend", "add", "update", "setdefault", "insert", "pop", "popitem", "clear",
             "remove", "discard"}


def test_ui_modules_change_no_module_level_state():
    """An imported module's state is shared by every session of the server: ui/ may keep constants
    there (label tables) but must never write to them, nor rebind a global. (dashboard.py and the
    pages in views/ are executed afresh on every run, so their top-level names are per run.)"""
    found = []
    for path in sorted((ROOT / "ui").glob("*.py")):
        tree = ast.parse(path.read_text())
        module_names = {target.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                        if isinstance(target, ast.Name)}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Global, ast.Nonlocal)):
                found.append(f"{path.name}:{node.lineno} rebinds {node.names}")
            elif isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                for target in targets:
                    if isinstance(target, (ast.Subscript, ast.Attribute)) and isinstance(target.value, ast.Name) \
                            and target.value.id in module_names:
                        found.append(f"{path.name}:{node.lineno} writes into {target.value.id}")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in _MUTATORS and isinstance(node.func.value, ast.Name) \
                    and node.func.value.id in module_names:
                found.append(f"{path.name}:{node.lineno} calls {node.func.value.id}.{node.func.attr}")
    # the allowed server-wide state (SERVER_STATE) and nothing else
    found = [f for f in found if not any(f.startswith(f"{file}:") and (f.endswith(f" {name}") or f" {name}." in f)
                                         for file, name in SERVER_STATE)]
    assert found == [], found

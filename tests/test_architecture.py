"""The house rules, read from the code: dependencies point one way, SQL lives in the store only."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "icans_core"
ANALYSES = ["episodes", "survival", "swimlanes", "grade_change", "kinetics", "expansion", "steroids",
            "summary", "published", "results", "competing_risks", "cox", "nca"]


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_never_imports_streamlit(path):
    assert not {m for m in imports(path) if m.split(".")[0] == "streamlit"}


@pytest.mark.parametrize("name", ANALYSES)
def test_analyses_never_draw(name):
    found = imports(CORE / f"{name}.py")
    assert not {m for m in found if m.split(".")[0] == "altair" or m.startswith("icans_core.charts")}


@pytest.mark.parametrize("path", sorted((CORE / "charts").glob("*.py")), ids=lambda p: p.name)
def test_charts_never_compute_statistics(path):
    found = imports(path)
    assert not {m for m in found if m.split(".")[0] in ("scipy", "lifelines", "duckdb")}


@pytest.mark.parametrize("path", sorted([*(ROOT / "views").glob("*.py"), *(ROOT / "ui").glob("*.py"),
                                         ROOT / "dashboard.py"]), ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_hold_no_sql(path):
    text = path.read_text()
    strings = [n.value for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert not [s for s in strings if any(w in s.upper() for w in ("SELECT ", "INSERT INTO", "CREATE TABLE"))]


def test_sql_lives_only_in_the_store():
    holders = []
    for path in CORE.rglob("*.py"):
        strings = [n.value for n in ast.walk(ast.parse(path.read_text()))
                   if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        if any("SELECT " in s.upper() and " FROM " in s.upper() for s in strings):
            holders.append(path.name)
    assert holders == ["store.py"]


def test_every_download_is_owned_by_its_browser():
    """serve.py's gate serves a download only to the browser it was made for, and only files made
    through ui.downloads.owned are known to it: a plain `data=` would be refused to its own user."""
    plain = []
    for path in [ROOT / "dashboard.py", *sorted((ROOT / "ui").glob("*.py")), *sorted((ROOT / "views").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "download_button":
                data = node.args[1] if len(node.args) > 1 else next(
                    (k.value for k in node.keywords if k.arg == "data"), None)
                if not (isinstance(data, ast.Call) and getattr(data.func, "id", None) == "owned"):
                    plain.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert plain == [], plain

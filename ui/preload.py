"""Import what the pages use at server start, then freeze it out of the garbage collector's walk.

Streamlit runs a full gc.collect() after every script run (runner.postScriptGC). Most of what that
collection walks is the imported libraries (pandas, SciPy, Altair, DuckDB, Streamlit, the core):
about 240,000 objects, 0.16 s on every rerun of every session, for objects that live as long as the
process. serve.py calls freeze_imports() once, before the first session: the modules every page
imports are loaded, garbage is collected, and what is left is moved to the permanent generation
(gc.freeze). After that, the collection after a run walks only what sessions made since, which is
what it is for; objects of sessions are never frozen, because no session exists yet.
"""

from __future__ import annotations

import ast
import gc
import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def page_imports(root: Path = ROOT) -> tuple[list[str], list[str]]:
    """(modules, maybe modules): every module the entry script (dashboard.py) and the pages (views/)
    import, and every name they import from a module, which may be a submodule or just a function."""
    names: set[str] = set()
    maybe: set[str] = set()
    files = [root / "dashboard.py", *sorted((root / "views").glob("*.py"))]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
                # `from icans_core import store`: store is a module of its own (its import is what counts)
                maybe.update(f"{node.module}.{alias.name}" for alias in node.names)
    return sorted(names), sorted(maybe - names)


def freeze_imports(root: Path = ROOT) -> int:
    """Import the modules of page_imports(), collect, then gc.freeze(); returns how many objects are now frozen."""
    modules, maybe = page_imports(root)
    for name in modules:
        importlib.import_module(name)
    for name in maybe:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:  # `from x import some_function`: not a module; x is imported above
            pass
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()

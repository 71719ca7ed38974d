"""Which version of this code computed something kept on disk.

A file kept across runs (the deployment cohort's cache entry, a cohort file's derived tables) is
only as good as the code that wrote it: an analysis fixed since must not be served from a file
computed before the fix. The version is a hash of every source file of the core, so any edit
gives another one; the libraries the analyses compute with (a new pandas may type or round
differently) are named beside it.
"""

from __future__ import annotations

import hashlib
import platform
from importlib import metadata
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
LIBRARIES = ("duckdb", "numpy", "pandas", "pyarrow", "scipy", "lifelines", "openpyxl", "pandera")


def code_version(package_dir: Path = PACKAGE_DIR) -> str:
    """SHA-256 over every source file of icans_core (its rules, readers, analyses and the store's layout),
    as the files are now."""
    digest = hashlib.sha256()
    for source in sorted(package_dir.rglob("*.py")):
        digest.update(source.relative_to(package_dir).as_posix().encode() + b"\0")
        digest.update(source.read_bytes() + b"\0")
    return digest.hexdigest()


def libraries() -> str:
    """Python's version and those of the libraries the core computes with, one text."""
    found = []
    for name in LIBRARIES:
        try:
            found.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name}=absent")
    return " ".join([f"python={platform.python_version()}", *found])


def running_version() -> str:
    """The version of the code this process runs: its sources as they were when it imported the core, and its
    libraries. Files written by this process are stamped with it, and a file is served only to a process of
    the same version; a source edited under a running process does not change it (the process still
    computes with what it imported)."""
    return _RUNNING


_RUNNING = hashlib.sha256(f"{code_version()}\n{libraries()}".encode()).hexdigest()  # at import, once

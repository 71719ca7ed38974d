"""Which version of this code computed something kept on disk.

A file kept across runs (the deployment cohort's cache entry, a cohort file's derived tables) is
only as good as the code that wrote it: an analysis fixed since must not be served from a file
computed before the fix. The version is a hash of every source file of the core, so any edit
gives another one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def code_version(package_dir: Path = PACKAGE_DIR) -> str:
    """SHA-256 over every source file of icans_core (its rules, readers, analyses and the store's layout)."""
    digest = hashlib.sha256()
    for source in sorted(package_dir.rglob("*.py")):
        digest.update(source.relative_to(package_dir).as_posix().encode() + b"\0")
        digest.update(source.read_bytes() + b"\0")
    return digest.hexdigest()

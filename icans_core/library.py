"""Published cohorts: copies of a cohort kept on the server, each under an unguessable id.

    cohort_id = publish(cohort, library_dir())        # -> "<43 url-safe characters>"
    cohort = open_published(cohort_id, library_dir())  # for whoever has the link

One DuckDB file per cohort, `<library_dir>/<id>.duckdb`, holding the four tables, the source
files and a metadata table (label, loaded_at, published_at in UTC, publisher). Files are written
once (to a temporary name, then renamed) and only ever opened read-only afterwards. The id is
the only secret: anyone who has it can open the cohort. An id is checked against the token
alphabet and length before any path is built from it. Nothing here deletes a cohort: that is
the server administrator's job (delete the file).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from icans_core import derived_tables, store
from icans_core.ingest import Cohort

ID_BYTES = 32  # 256 bits of randomness
ID_LENGTH = len(secrets.token_urlsafe(ID_BYTES))  # 43 characters
_ID = re.compile(rf"[A-Za-z0-9_-]{{{ID_LENGTH}}}")
SUFFIX = ".duckdb"
DEFAULT_LIBRARY_DIR = Path(__file__).resolve().parent.parent / ".library-data"
FINGERPRINT_LENGTH = 10  # hex digits: 40 bits, so two versions of a cohort practically never share one


def library_dir() -> Path:
    """Where published cohorts live: $ICANS_LIBRARY_DIR, else `<repo>/.library-data`."""
    configured = os.environ.get("ICANS_LIBRARY_DIR", "").strip()
    return Path(configured) if configured else DEFAULT_LIBRARY_DIR


def is_valid_id(cohort_id: object) -> bool:
    """Whether `cohort_id` has the shape of an id `publish` hands out (nothing about whether it exists)."""
    return isinstance(cohort_id, str) and _ID.fullmatch(cohort_id) is not None


def publish(cohort: Cohort, library_dir: str | Path, publisher: str | None = None) -> str:
    """Store a copy of `cohort` in `library_dir` and return its new id."""
    folder = Path(library_dir)
    folder.mkdir(parents=True, exist_ok=True)
    metadata = {"label": cohort.label, "loaded_at": cohort.loaded_at,
                "published_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "publisher": publisher}
    while True:
        cohort_id = secrets.token_urlsafe(ID_BYTES)
        target = folder / f"{cohort_id}{SUFFIX}"
        if not target.exists():  # 256 random bits: a clash is practically impossible, but never overwrite
            break
    partial = folder / f".{cohort_id}.partial{SUFFIX}"  # never matches an id, so never opened half-written
    try:
        store.save_cohort_file(partial, cohort, metadata, prederive=derived_tables.prederive)
        os.replace(partial, target)
    finally:
        for leftover in (partial, Path(f"{partial}.wal")):
            leftover.unlink(missing_ok=True)
    return cohort_id


def published_path(cohort_id: str, library_dir: str | Path) -> Path:
    """The file of a published cohort; LookupError if the id is malformed or unknown."""
    if not is_valid_id(cohort_id):
        raise LookupError("This link's cohort id is not valid: check that the whole link was copied.")
    folder = Path(library_dir).resolve()
    path = folder / f"{cohort_id}{SUFFIX}"
    if path.parent != folder or not path.is_file():  # the first test is belt and braces: ids have no "/"
        raise LookupError("No published cohort has this link's id on this server: it may have been "
                          "deleted, or the link belongs to another deployment.")
    return path


def open_published(cohort_id: str, library_dir: str | Path) -> Cohort:
    """The published cohort with this id, read from its file opened READ-ONLY.

    Raises LookupError (with a message for the user) for a malformed or unknown id. The
    publication metadata (label, loaded_at, published_at, publisher) is in `published_metadata`.
    """
    return published_with_metadata(cohort_id, library_dir)[0]


def published_with_metadata(cohort_id: str, library_dir: str | Path) -> tuple[Cohort, dict]:
    """(cohort, metadata) of a published cohort; see `open_published`."""
    path = published_path(cohort_id, library_dir)
    tables, sources, metadata = store.read_cohort_file(path)
    cohort = Cohort(tables=tables, sources=sources, loaded_at=metadata["loaded_at"], label=metadata["label"])
    return cohort, metadata


def published_metadata(cohort_id: str, library_dir: str | Path) -> dict:
    """Label, loaded_at, published_at (UTC, ISO) and publisher of a published cohort."""
    return published_with_metadata(cohort_id, library_dir)[1]


def fingerprint(tables: dict[str, pd.DataFrame]) -> str:
    """A short content fingerprint (first 10 hex digits of a SHA-256) of a cohort's tables.

    Covers every table's name, columns, row count and values in row order, so any changed cell,
    row or column changes it; the same tables always give the same fingerprint (pandas' row
    hashes use a fixed key). A link carries it so that a link opened on different data says so.
    """
    digest = hashlib.sha256()
    for name in sorted(tables):
        frame = tables[name]
        header = "\x1f".join([name, str(len(frame)), *map(str, frame.columns)])
        digest.update(header.encode("utf-8") + b"\x1e")
        if len(frame):
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:FINGERPRINT_LENGTH]

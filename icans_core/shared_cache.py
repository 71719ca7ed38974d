"""The deployment cohort's validated, read-only DuckDB file, kept across server restarts.

Validating a 10,000-patient registry takes minutes on a small server; the result depends only on
the input files' content and on this code. So the file every session attaches (store.open_shared)
is written once into a cache folder, named by a key over both, and a restart with the same files
and the same code opens it at once:

    key = SHA-256(format version, DuckDB version, SHA-256 of every icans_core source file,
                  the versions of Python and the libraries the core computes with (versions.libraries),
                  name + size + SHA-256 of every input file)

A changed input byte, a changed rule (any edit of icans_core) or another DuckDB, pandas, ... version gives
another key, so a stale file is never used. Only cohorts that validate are kept (a cohort
with errors is validated again at the next start, and its report shown). Each entry is
`<key>.duckdb` (store.save_cohort_file) and `<key>.json` (label, warnings, fingerprint), written
under temporary names and renamed into place, so a crash mid-write leaves nothing half-made.

The folder holds the deployment's patient data (de-identified, as every input): $ICANS_CACHE_DIR,
default `.cache-data/` beside the code; it is created readable by the server's user only.
Never used for uploads.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import duckdb

from icans_core import derived_tables, library, store, versions
from icans_core.ingest import LoadResult, load_paths
from icans_core.problems import Problem

CACHE_ENV = "ICANS_CACHE_DIR"
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_CACHE_DIR = PACKAGE_DIR.parent / ".cache-data"
FORMAT_VERSION = "1"
log = logging.getLogger("icans")


@dataclass(frozen=True)
class Prepared:
    """A deployment cohort ready for sessions: its read-only file, or (path None) why it is refused."""

    path: Path | None
    label: str
    warnings: tuple[Problem, ...] = ()
    fingerprint: str = ""
    result: LoadResult | None = None  # the refused validation's result (its errors); None when ready
    from_cache: bool = False


def cache_dir() -> Path:
    """Where prepared cohorts are kept: $ICANS_CACHE_DIR, else `<repo>/.cache-data`."""
    configured = os.environ.get(CACHE_ENV, "").strip()
    return Path(configured) if configured else DEFAULT_CACHE_DIR


def file_stamps(path: Path) -> tuple:
    """(name, size, SHA-256) of the file, or of every file directly in the folder: a replaced file is
    seen even when a copy kept its size and modification time (cp -p, rsync -a). () if unreadable."""
    try:
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        return tuple((f.name, f.stat().st_size, _sha256(f)) for f in files)
    except OSError:
        return ()


# path -> (its stat stamp, its SHA-256): every new session stamps the deployment files (0.1 s for a
# 10,000-patient registry's 85 MB), and they seldom change. Paths and hashes only, never contents.
_hashes: dict[str, tuple[tuple, str]] = {}
SETTLED_NS = 2_000_000_000  # a file unchanged this long before it was hashed has its hash remembered


def _sha256(path: Path) -> str:
    """The file's SHA-256, read again only when its stat changed. Any write or replacement changes the
    status-change time (ctime), which no copy tool can set back (cp -p and rsync -a keep the size and
    modification time); a file written less than SETTLED_NS before it is read is hashed again next
    time, because a write within the file system's timestamp granularity could leave every field equal."""
    info = path.stat()
    stamp = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    known = _hashes.get(str(path))
    if known is not None and known[0] == stamp:
        return known[1]
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    if time.time_ns() - info.st_ctime_ns > SETTLED_NS:
        _hashes[str(path)] = (stamp, digest.hexdigest())
    return digest.hexdigest()


def code_version() -> str:
    """SHA-256 over every source file of icans_core (the rules, the readers, the store's layout)."""
    return versions.code_version(PACKAGE_DIR)


def cache_key(stamps: tuple, label: str) -> str:
    """The cache entry's name for these input files (file_stamps) under this code and DuckDB version."""
    parts = [FORMAT_VERSION, duckdb.__version__, code_version(), versions.libraries(), label,
             *("\0".join(map(str, s)) for s in stamps)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def prepare(path: str | Path, on_step: Callable[[str, float], None] | None = None,
            folder: Path | None = None, stamps: tuple | None = None) -> Prepared:
    """The deployment cohort at `path` as a read-only file: from the cache when its key is there, else
    validated (ingest.load_paths, every rule) and written to the cache. `on_step(message, fraction)`."""
    step = on_step or (lambda message, fraction: None)
    path = Path(path)
    label = path.name or str(path)
    step("Checking the cohort's files", 0.01)
    stamps = file_stamps(path) if stamps is None else stamps
    folder = cache_dir() if folder is None else Path(folder)
    if stamps:
        key = cache_key(stamps, label)
        found = _read_entry(folder, key)
        if found is not None:
            step("Opened the prepared cohort", 1.0)
            return found
    result = load_paths([path], label=label, on_step=lambda m, f: step(m, 0.05 + 0.8 * f))
    if not result.ok:
        return Prepared(None, "", result=result)
    step("Writing the shared cohort file", 0.9)
    fingerprint = library.fingerprint(result.cohort.tables)
    warnings = tuple(result.cohort.warnings)
    target = None
    if stamps:
        try:
            target = _write_entry(folder, key, result, fingerprint)
        except (OSError, duckdb.Error) as exc:  # a read-only or full disk: this process still serves the cohort
            log.warning("cannot keep the prepared cohort in %s (%s): it is prepared again at the next start",
                        folder, exc)
    if target is None:  # no key (unreadable stamps) or no writable cache: a private temporary file
        temporary = Path(tempfile.mkdtemp(prefix="icans-deployment-"))
        atexit.register(shutil.rmtree, temporary, ignore_errors=True)
        target = temporary / "cohort.duckdb"
        _save(target, result)
    step("Ready", 1.0)
    # not the validated tables: they are in the file now, and kept here they would stay in memory for
    # as long as the server runs
    return Prepared(target, result.cohort.label, warnings, fingerprint)


def _save(target: Path, result: LoadResult) -> None:
    store.save_cohort_file(target, result.cohort, {"label": result.cohort.label,
                                                   "loaded_at": result.cohort.loaded_at},
                           prederive=derived_tables.prederive)


def _read_entry(folder: Path, key: str) -> Prepared | None:
    data, meta = folder / f"{key}.duckdb", folder / f"{key}.json"
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
        if not data.is_file() or info.get("key") != key:
            return None
        warnings = tuple(Problem(**p) for p in info["warnings"])
        return Prepared(data, info["label"], warnings, info["fingerprint"], from_cache=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or damaged: validate again (and overwrite it)


def _write_entry(folder: Path, key: str, result: LoadResult, fingerprint: str) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    data, meta = folder / f"{key}.duckdb", folder / f"{key}.json"
    # temporary names in the same folder, then renames: another process (a second replica) sees the
    # entry complete or not at all; the .json, renamed last, is what marks it complete
    handle, temporary = tempfile.mkstemp(prefix=f".{key}.", suffix=".duckdb", dir=folder)
    os.close(handle)
    os.unlink(temporary)  # DuckDB creates the file itself
    try:
        _save(Path(temporary), result)
        os.chmod(temporary, 0o600)
        os.replace(temporary, data)
        info = {"key": key, "label": result.cohort.label, "fingerprint": fingerprint,
                "warnings": [asdict(p) for p in result.cohort.warnings]}
        handle, temporary_meta = tempfile.mkstemp(prefix=f".{key}.", suffix=".json", dir=folder)
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(info, file)
        os.replace(temporary_meta, meta)
    finally:
        for leftover in folder.glob(f".{key}.*"):
            leftover.unlink(missing_ok=True)
    _prune(folder, keep=KEEP_ENTRIES)
    return data


KEEP_ENTRIES = 3  # the newest entries kept: each code change or new export of the files makes one


def _prune(folder: Path, keep: int) -> None:
    # only this cache's own entries (named by their 64-hex key): the folder may hold other files
    entries = sorted((p for p in folder.glob("*.json") if re.fullmatch(r"[0-9a-f]{64}", p.stem)),
                     key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for meta in entries[keep:]:
        meta.unlink(missing_ok=True)
        meta.with_suffix(".duckdb").unlink(missing_ok=True)


# --- preparing in the background (the server starts it; sessions wait for it, showing progress) ---

class Preparation:
    """`prepare` running in its own thread, with its latest step for a progress bar."""

    def __init__(self, path: str, stamps: tuple, folder: Path | None = None):
        self.path, self.stamps, self.folder = path, stamps, folder
        self.message, self.fraction = "Waiting to start", 0.0
        self.prepared: Prepared | None = None
        self.failure: BaseException | None = None
        self.failed_at: float | None = None  # time.monotonic() of the failure
        self._done = threading.Event()
        threading.Thread(target=self._run, name="icans-prepare-cohort", daemon=True).start()

    def _step(self, message: str, fraction: float) -> None:
        self.message, self.fraction = message, min(max(fraction, 0.0), 1.0)

    def _run(self) -> None:
        try:
            self.prepared = prepare(self.path, self._step, self.folder, self.stamps)
        except BaseException as exc:  # handed to the waiting sessions, which report it (ui/errors.py)
            log.exception("preparing the deployment cohort %s failed", self.path)
            self.failure, self.failed_at = exc, time.monotonic()
        finally:
            self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Whether it has finished (waiting up to `timeout` seconds)."""
        return self._done.wait(timeout)

    def result(self) -> Prepared:
        """The prepared cohort (waits for it); re-raises what went wrong unexpectedly."""
        self._done.wait()
        if self.failure is not None:
            raise RuntimeError(f"preparing the deployment cohort failed: {self.failure}") from self.failure
        return self.prepared


# Server-wide on purpose, like a cache of the deployment's own files: keyed on the path and the files'
# content hashes, it holds the deployment cohort only (never an upload: uploads never come here).
_PREPARATIONS: dict[tuple, Preparation] = {}
_LOCK = threading.Lock()
_MAX_PREPARATIONS = 4
RETRY_SECONDS = 30.0  # an unexpected failure is tried again after this long (not at once: each try costs a validation)


def preparation(path: str, stamps: tuple, folder: Path | None = None) -> Preparation:
    """The preparation of the deployment cohort at `path` with these files (file_stamps), started if new."""
    key = (str(path), stamps, None if folder is None else str(folder))
    with _LOCK:
        found = _PREPARATIONS.get(key)
        if found is not None and found.failed_at is not None and time.monotonic() - found.failed_at > RETRY_SECONDS:
            found = None  # it failed unexpectedly (not a refusal): a later session tries again
        if found is None:
            for old in [k for k, p in _PREPARATIONS.items() if p.wait(0)][:max(0, len(_PREPARATIONS) - _MAX_PREPARATIONS + 1)]:
                del _PREPARATIONS[old]
            found = _PREPARATIONS[key] = Preparation(str(path), stamps, folder)
        return found


def start_preparing(path: str | None) -> threading.Thread | None:
    """At server start: prepare the deployment cohort (if one is configured) before any session asks."""
    if not path:
        return None
    thread = threading.Thread(target=lambda: preparation(path, file_stamps(Path(path))),
                              name="icans-hash-cohort", daemon=True)
    thread.start()
    return thread

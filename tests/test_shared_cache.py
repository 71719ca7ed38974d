"""The deployment cohort's prepared file, kept across restarts (icans_core/shared_cache.py): reused only
for the same file content and the same code, never when either changed; never for a cohort with errors."""

from __future__ import annotations

import json
import os
import time

import pandas as pd
import pytest

from icans_core import shared_cache, store
from icans_core.ingest import load_paths
from tests import cohorts


def write_cohort(folder, tables):
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        (folder / f"{name}.csv").write_text(cohorts.csv_text(rows))
    return folder


# a warning (unknown product) that must survive the cache
WITH_WARNING = cohorts.with_cell("patients", 3, "product", "novel-cel")


def file_tables(path) -> dict[str, pd.DataFrame]:
    tables, _, _ = store.read_cohort_file(path)
    return tables


def test_a_restart_with_the_same_files_and_code_reuses_the_prepared_file(tmp_path):
    folder = write_cohort(tmp_path / "centre", WITH_WARNING)
    cache = tmp_path / "cache"
    first = shared_cache.prepare(folder, folder=cache)
    assert first.path is not None and not first.from_cache
    again = shared_cache.prepare(folder, folder=cache)  # what the next server process does
    assert again.from_cache and again.path == first.path
    assert (again.label, again.warnings, again.fingerprint) == (first.label, first.warnings, first.fingerprint)
    assert any("Unknown product" in w.problem and w.row == 3 and w.value == "novel-cel" for w in again.warnings)
    # the file holds exactly what validating the files gives
    validated = load_paths([folder], label="centre").cohort
    fresh = tmp_path / "fresh.duckdb"
    store.save_cohort_file(fresh, validated, {"label": "centre", "loaded_at": validated.loaded_at})
    cached, expected = file_tables(again.path), file_tables(fresh)
    assert set(cached) == set(expected) >= {"patients", "toxicity", "labs"}
    for name, frame in cached.items():
        pd.testing.assert_frame_equal(frame, expected[name])


def test_one_changed_byte_is_validated_again(tmp_path):
    folder = write_cohort(tmp_path / "centre", cohorts.VALID)
    cache = tmp_path / "cache"
    first = shared_cache.prepare(folder, folder=cache)
    # the same size: P2's age 70 -> 71
    write_cohort(folder, cohorts.with_cell("patients", 3, "age_years", "71"))
    second = shared_cache.prepare(folder, folder=cache)
    assert not second.from_cache and second.path != first.path
    assert list(file_tables(second.path)["patients"]["age_years"]) == [61, 71]


def test_another_code_version_is_validated_again(tmp_path, monkeypatch):
    folder = write_cohort(tmp_path / "centre", cohorts.VALID)
    cache = tmp_path / "cache"
    shared_cache.prepare(folder, folder=cache)
    monkeypatch.setattr(shared_cache, "code_version", lambda: "a changed rule")
    assert not shared_cache.prepare(folder, folder=cache).from_cache


def test_the_code_version_covers_every_source_file_of_the_core(tmp_path, monkeypatch):
    package = tmp_path / "icans_core"
    package.mkdir()
    (package / "validation.py").write_text("RULE = 1\n")
    monkeypatch.setattr(shared_cache, "PACKAGE_DIR", package)
    before = shared_cache.code_version()
    (package / "validation.py").write_text("RULE = 2\n")
    assert shared_cache.code_version() != before


def test_a_cohort_with_errors_is_refused_and_not_kept(tmp_path):
    folder = write_cohort(tmp_path / "centre", cohorts.with_cell("toxicity", 3, "icans_grade", "7"))
    cache = tmp_path / "cache"
    for _ in range(2):
        prepared = shared_cache.prepare(folder, folder=cache)
        assert prepared.path is None and not prepared.from_cache
        assert "icans_grade" in set(prepared.result.report["column"])
    assert not cache.exists() or not list(cache.iterdir())


def test_a_damaged_entry_is_validated_again(tmp_path):
    folder = write_cohort(tmp_path / "centre", cohorts.VALID)
    cache = tmp_path / "cache"
    first = shared_cache.prepare(folder, folder=cache)
    first.path.with_suffix(".json").write_text("{not json")
    again = shared_cache.prepare(folder, folder=cache)
    assert not again.from_cache and json.loads(first.path.with_suffix(".json").read_text())["key"]
    assert shared_cache.prepare(folder, folder=cache).from_cache


def test_the_cache_folder_is_private_to_the_server_user(tmp_path):
    folder = write_cohort(tmp_path / "centre", cohorts.VALID)
    cache = tmp_path / "cache"
    prepared = shared_cache.prepare(folder, folder=cache)
    assert cache.stat().st_mode & 0o077 == 0 and prepared.path.stat().st_mode & 0o077 == 0
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_a_background_preparation_reports_progress_and_its_result(tmp_path):
    folder = write_cohort(tmp_path / "centre", cohorts.VALID)
    stamps = shared_cache.file_stamps(folder)
    job = shared_cache.preparation(str(folder), stamps, tmp_path / "cache")
    assert shared_cache.preparation(str(folder), stamps, tmp_path / "cache") is job  # one per files
    assert job.wait(60) and job.fraction == 1.0
    assert job.result().path is not None
    changed = write_cohort(folder, cohorts.with_cell("patients", 3, "age_years", "71"))
    assert shared_cache.preparation(str(changed), shared_cache.file_stamps(changed), tmp_path / "cache") is not job


def test_a_cache_folder_that_cannot_be_written_still_serves_the_cohort(tmp_path):
    folder = write_cohort(tmp_path / "centre", cohorts.VALID)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    prepared = shared_cache.prepare(folder, folder=blocked)
    assert prepared.path is not None and prepared.path.is_file() and not prepared.from_cache
    assert len(file_tables(prepared.path)["patients"]) == 2


def test_a_ready_cohort_keeps_no_tables_in_memory(tmp_path):
    folder = write_cohort(tmp_path / "centre", cohorts.VALID)
    prepared = shared_cache.prepare(folder, folder=tmp_path / "cache")
    assert prepared.path is not None and prepared.result is None  # the tables are in the file only


def test_a_database_error_while_writing_the_cache_still_serves_the_cohort(tmp_path, monkeypatch):
    import duckdb

    folder = write_cohort(tmp_path / "centre", cohorts.VALID)
    real_save = shared_cache._save

    def full_disk(target, result):
        if str(target).startswith(str(tmp_path / "cache")):
            raise duckdb.IOException("IO Error: No space left on device")
        real_save(target, result)

    monkeypatch.setattr(shared_cache, "_save", full_disk)
    prepared = shared_cache.prepare(folder, folder=tmp_path / "cache")
    assert prepared.path is not None and not str(prepared.path).startswith(str(tmp_path / "cache"))
    assert len(file_tables(prepared.path)["patients"]) == 2


def test_an_unexpected_failure_is_tried_again_later_but_not_at_once(tmp_path, monkeypatch):
    folder = write_cohort(tmp_path / "centre", cohorts.VALID)
    stamps = shared_cache.file_stamps(folder)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        raise MemoryError("out of memory while validating")

    monkeypatch.setattr(shared_cache, "prepare", failing)
    job = shared_cache.preparation(str(folder), stamps, tmp_path / "cache")
    assert job.wait(30)
    with pytest.raises(RuntimeError, match="out of memory"):
        job.result()
    assert shared_cache.preparation(str(folder), stamps, tmp_path / "cache") is job  # not at once
    job.failed_at -= shared_cache.RETRY_SECONDS + 1
    again = shared_cache.preparation(str(folder), stamps, tmp_path / "cache")
    assert again is not job and again.wait(30) and len(calls) == 2


def test_pruning_leaves_other_files_in_the_cache_folder(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "settings.json").write_text("{}")  # someone else's file in a shared folder
    for seed in range(shared_cache.KEEP_ENTRIES + 1):
        folder = write_cohort(tmp_path / f"centre{seed}", cohorts.with_cell("patients", 3, "age_years", str(60 + seed)))
        shared_cache.prepare(folder, folder=cache)
    assert (cache / "settings.json").is_file()
    assert len([p for p in cache.glob("*.json") if p.name != "settings.json"]) == shared_cache.KEEP_ENTRIES


def test_a_file_replaced_in_place_with_its_size_and_modification_time_kept_is_hashed_again(tmp_path, monkeypatch):
    # what `cp -p` over the old file does; stamps are remembered between sessions (the file is settled)
    folder = write_cohort(tmp_path / "centre", cohorts.VALID)
    monkeypatch.setattr(shared_cache, "SETTLED_NS", -10**12)  # remember even a file written just now
    before = shared_cache.file_stamps(folder)
    patients = folder / "patients.csv"
    info = patients.stat()
    time.sleep(0.05)  # past the file system's timestamp granularity
    write_cohort(folder, cohorts.with_cell("patients", 3, "age_years", "71"))  # the same size
    os.utime(patients, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert patients.stat().st_size == info.st_size and patients.stat().st_mtime_ns == info.st_mtime_ns
    after = shared_cache.file_stamps(folder)
    changed = [old[0] for old, new in zip(before, after) if old != new]
    assert changed == ["patients.csv"]


def test_an_unchanged_file_is_not_read_again_for_each_new_session(tmp_path, monkeypatch):
    folder = write_cohort(tmp_path / "centre", cohorts.VALID)
    reads = []
    real_open = type(folder).open
    monkeypatch.setattr(type(folder), "open", lambda self, *a, **k: reads.append(self.name) or real_open(self, *a, **k))
    monkeypatch.setattr(shared_cache, "SETTLED_NS", -10**12)
    first = shared_cache.file_stamps(folder)
    assert shared_cache.file_stamps(folder) == first
    assert sorted(reads) == sorted(p.name for p in folder.iterdir())  # each file read once, not twice
    # a file written moments before it was hashed is not trusted to its stat: it is read again
    monkeypatch.setattr(shared_cache, "SETTLED_NS", 10**15)
    other = write_cohort(tmp_path / "other", cohorts.VALID)
    reads.clear()
    shared_cache.file_stamps(other), shared_cache.file_stamps(other)
    assert len(reads) == 2 * len(list(other.iterdir()))

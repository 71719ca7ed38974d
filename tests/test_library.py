"""Published cohorts (icans_core.library): a faithful copy, opened read-only, under an id that is checked."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from icans_core import library, schema, store
from icans_core.ingest import load_sources
from tests import cohorts


@pytest.fixture
def cohort():
    result = load_sources(cohorts.sources(), label="Centre A, 2024")
    assert result.ok, result.report.to_string()
    return result.cohort


def as_loaded(cohort) -> dict[str, pd.DataFrame]:
    """The tables as a session database holds them (what publishing copies)."""
    con = store.connect()
    store.load_cohort(con, cohort)
    return {name: store.read_table(con, name) for name in schema.TABLES}


def snapshot(folder) -> dict:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*")}


def test_publish_then_open_gives_the_same_cohort(tmp_path, cohort):
    library_dir = tmp_path / "library"
    cohort_id = library.publish(cohort, library_dir, publisher="dr.who")
    assert library.is_valid_id(cohort_id) and len(cohort_id) == library.ID_LENGTH
    assert sorted(p.name for p in library_dir.iterdir()) == [f"{cohort_id}.duckdb"]  # nothing half-written left

    opened, metadata = library.published_with_metadata(cohort_id, library_dir)
    expected = as_loaded(cohort)
    assert set(opened.tables) == set(schema.TABLES)
    for name in schema.TABLES:
        assert_frame_equal(opened.tables[name], expected[name], obj=name)
    for name, frame in cohort.tables.items():  # and the validated frames themselves, value for value
        assert_frame_equal(opened.tables[name].reset_index(drop=True), frame.reset_index(drop=True),
                           check_dtype=False, obj=name)
    assert opened.sources == cohort.sources
    assert opened.label == "Centre A, 2024" and opened.loaded_at == cohort.loaded_at
    assert metadata["label"] == cohort.label and metadata["loaded_at"] == cohort.loaded_at
    assert metadata["publisher"] == "dr.who"
    assert pd.Timestamp(metadata["published_at"]).utcoffset() == pd.Timedelta(0)  # UTC
    assert library.open_published(cohort_id, library_dir).label == cohort.label
    assert library.published_metadata(cohort_id, library_dir) == metadata


def test_every_publication_gets_its_own_id_and_file(tmp_path, cohort):
    ids = {library.publish(cohort, tmp_path) for _ in range(3)}
    assert len(ids) == 3
    assert {p.name for p in tmp_path.iterdir()} == {f"{i}.duckdb" for i in ids}
    assert library.published_metadata(ids.pop(), tmp_path)["publisher"] is None


@pytest.mark.parametrize("bad_id", ["../etc/passwd", "x", "a" * 200, "", "a" * 42 + "/", "a" * 42 + ".",
                                    "../" + "a" * 40, None, 42])
def test_a_malformed_id_is_refused_before_any_file_is_touched(tmp_path, cohort, monkeypatch, bad_id):
    library_dir = tmp_path / "library"
    library.publish(cohort, library_dir)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("root:x:0:0")
    before = snapshot(tmp_path)
    opened = []
    monkeypatch.setattr(store.duckdb, "connect", lambda *a, **k: opened.append(a) or pytest.fail("opened"))
    with pytest.raises(LookupError, match="not valid"):
        library.open_published(bad_id, library_dir)
    assert opened == []
    assert snapshot(tmp_path) == before


def test_an_unknown_well_formed_id_is_a_lookup_error(tmp_path, cohort):
    library_dir = tmp_path / "library"
    library.publish(cohort, library_dir)
    before = snapshot(tmp_path)
    unknown = "A" * library.ID_LENGTH
    with pytest.raises(LookupError, match="No published cohort"):
        library.open_published(unknown, library_dir)
    with pytest.raises(LookupError, match="No published cohort"):  # nor does opening create the library
        library.open_published(unknown, tmp_path / "never-created")
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "never-created").exists()


def test_the_published_file_is_opened_read_only(tmp_path, cohort, monkeypatch):
    cohort_id = library.publish(cohort, tmp_path)
    path = tmp_path / f"{cohort_id}.duckdb"
    before = snapshot(tmp_path)

    calls, real_connect = [], duckdb.connect

    def spy(database, *args, **kwargs):
        calls.append((database, kwargs.get("read_only", False)))
        return real_connect(database, *args, **kwargs)

    monkeypatch.setattr(store.duckdb, "connect", spy)
    library.open_published(cohort_id, tmp_path)
    assert calls == [(str(path), True)]
    assert snapshot(tmp_path) == before  # nothing written, no WAL

    con = store.open_cohort_file(path)  # the connection open_published reads through
    try:
        with pytest.raises(duckdb.Error):
            con.execute("DELETE FROM patients")
        with pytest.raises(duckdb.Error):
            con.execute("CREATE TABLE intruder (x INTEGER)")
    finally:
        con.close()


def test_the_library_folder_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ICANS_LIBRARY_DIR", str(tmp_path))
    assert library.library_dir() == tmp_path
    monkeypatch.delenv("ICANS_LIBRARY_DIR")
    assert library.library_dir() == library.DEFAULT_LIBRARY_DIR
    assert library.DEFAULT_LIBRARY_DIR.name == ".library-data"

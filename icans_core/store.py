"""DuckDB: hold one validated cohort per connection, and answer questions about it.

The only home of SQL. Every session of the app opens its own in-memory database
with `connect()`; a second thread must use `con.cursor()`. Values always travel
as parameters; identifiers come only from `schema.TABLES` and are quoted.
"""

from __future__ import annotations

import os
import re
import weakref

import duckdb
import numpy as np
import pandas as pd

from icans_core import cancel, versions
from icans_core import schema as S
from icans_core.ingest import Cohort
from icans_core.validation import DERIVED_COLUMNS

_SQL_TYPES = {"text": "VARCHAR", "number": "DOUBLE", "integer": "INTEGER", "boolean": "BOOLEAN"}
_DERIVED_TYPES = {"value_as_given": "DOUBLE"}  # every other derived column is text


def connect() -> duckdb.DuckDBPyConnection:
    """A new, private in-memory database."""
    return duckdb.connect(":memory:")


def quote(identifier: str) -> str:
    """Quote a table or column name that comes from the schema (never from user input)."""
    known = set(S.TABLES) | {c.name for t in S.TABLES.values() for c in t.columns} | {
        c for cols in DERIVED_COLUMNS.values() for c in cols} | {"source_row"}
    if identifier not in known:
        raise ValueError(f"not a schema identifier: {identifier!r}")
    return '"' + identifier + '"'


def _columns(spec: S.TableSpec) -> list[tuple[str, str]]:
    columns = [("source_row", "INTEGER")]
    columns += [(c.name, _SQL_TYPES[c.kind]) for c in spec.columns]
    columns += [(c, _DERIVED_TYPES.get(c, "VARCHAR")) for c in DERIVED_COLUMNS[spec.name]]
    return columns


def load_cohort(con: duckdb.DuckDBPyConnection, cohort: Cohort) -> None:
    """Replace whatever cohort the database holds with this one, in one transaction."""
    shared = _shared_views(con)
    con.begin()
    try:
        for name in shared:  # a cohort opened by reference (open_shared): its views give way
            con.execute(f"DROP VIEW {name}")
        for spec in S.TABLES.values():
            columns = _columns(spec)
            ddl = ", ".join(f"{quote(name)} {sql_type}" for name, sql_type in columns)
            con.execute(f"CREATE OR REPLACE TABLE {quote(spec.name)} ({ddl})")
            frame = cohort.tables.get(spec.name)
            if frame is not None and len(frame):
                names = ", ".join(quote(name) for name, _ in columns)
                con.register("incoming_rows", frame)
                con.execute(f"INSERT INTO {quote(spec.name)} SELECT {names} FROM incoming_rows")
                con.unregister("incoming_rows")
        drop_derived(con)  # derived from the previous cohort
        # The patients the analyses look at; cohort filters replace its rows (all by default).
        con.execute("CREATE OR REPLACE TABLE selected_patients AS SELECT patient_id FROM patients")
        con.execute("CREATE OR REPLACE TABLE cohort_sources (name VARCHAR, size_bytes BIGINT, sha256 VARCHAR)")
        con.executemany("INSERT INTO cohort_sources VALUES (?, ?, ?)",
                        [(s.name, s.size_bytes, s.sha256) for s in cohort.sources])
        con.execute("CREATE OR REPLACE TABLE cohort_info (label VARCHAR, loaded_at VARCHAR)")
        con.execute("INSERT INTO cohort_info VALUES (?, ?)", [cohort.label, cohort.loaded_at])
        con.commit()
    except Exception:
        con.rollback()
        raise
    if shared:
        con.execute(f"DETACH {SHARED_CATALOG}")
    _LOADS[con] = _LOADS.get(con, 0) + 1


# connection -> how many cohorts load_cohort has put into it (a weak key: a closed connection's count goes)
_LOADS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def selection_signature(con: duckdb.DuckDBPyConnection) -> tuple:
    """What names the cohort and the selection this connection's analyses see now: the cohort loaded (a
    count of load_cohort calls on it) and the selected patients (their number and a hash of their ids,
    however the selection was set). Equal signatures on one connection: the same rows for every analysis."""
    count, digest = con.execute("SELECT count(*), bit_xor(hash(patient_id)) FROM selected_patients").fetchone()
    return _LOADS.get(con, 0), count, digest


# --- Cohorts shared by reference (issue 11) -------------------------------------------------------
#
# The sample, the deployment cohort and published cohorts are the same for every session, so each
# lives in one DuckDB file that sessions ATTACH read-only instead of copying it into their own
# database. A session's database keeps only its own rows: the selection, derived tables, or an
# upload (load_cohort replaces the views with private tables). READ_ONLY is DuckDB's: no statement
# can write to the attached file, and while any session has it attached, no connection of the
# process can attach it for writing ("unique file handle conflict").

SHARED_CATALOG = "shared_cohort"
_SHARED_NAMES = (*S.TABLES, "cohort_sources", "cohort_info")


def open_shared(path) -> duckdb.DuckDBPyConnection:
    """A new private in-memory database whose cohort is the file at `path`, attached READ-ONLY.

    The cohort tables are views on the file; `selected_patients` (all patients) and anything
    derived are private to this connection. The file must come from `save_cohort_file`.
    """
    con = connect()
    literal = "'" + str(path).replace("'", "''") + "'"  # a server-side path (never user input)
    before = _file_identity(path)
    con.execute(f"ATTACH {literal} AS {SHARED_CATALOG} (READ_ONLY)")
    if before is not None and _file_identity(path) == before:  # the very file attached (not replaced meanwhile)
        _ATTACHED[con] = (str(path), *before)
    con.begin()
    in_file = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [SHARED_CATALOG]).fetchall()}
    for name in (*_SHARED_NAMES, *_prederived(con, in_file)):
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM {SHARED_CATALOG}.main.{name}")
    con.execute("CREATE TABLE selected_patients AS SELECT patient_id FROM patients")
    con.commit()
    return con


def _prederived(con: duckdb.DuckDBPyConnection, in_file: set[str]) -> list[str]:
    """The file's derived tables (the lab tables of DERIVED_TABLES, and derived_rows' derived_<key> and
    derived_<key>_types), when this very code computed them: a file written before an analysis changed
    (a published cohort kept across an upgrade) is served none, and its sessions compute their own."""
    if _PREDERIVED_BY not in in_file:
        return []  # written before files were stamped: nothing derived in it is known to be this code's
    written_by = con.execute(f"SELECT code_version FROM {SHARED_CATALOG}.main.{_PREDERIVED_BY}").fetchone()
    if written_by is None or written_by[0] != versions.running_version():
        return []
    return sorted(name for name in in_file if _DERIVED_TABLE.fullmatch(name))


def _shared_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute("SELECT view_name FROM duckdb_views() WHERE database_name = current_database() "
                       "AND NOT internal AND (list_contains(?, view_name) OR starts_with(view_name, 'derived_'))",
                       [[*_SHARED_NAMES, *DERIVED_TABLES]]).fetchall()
    return [r[0] for r in rows]


def is_shared(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether this connection's cohort is a shared file attached read-only (not a private copy)."""
    return bool(_shared_views(con))


def shared_file(con: duckdb.DuckDBPyConnection) -> tuple | None:
    """Which file this connection's cohort is, when it is a shared file attached by open_shared: its path and
    its identity on disk (device, inode, size, modification time) as they were when this connection attached
    it, so a file later replaced at that path is another file. None when the cohort is the connection's own
    (an upload, which detaches the file) or the file's identity could not be told."""
    attached = _ATTACHED.get(con)
    return attached if attached is not None and is_shared(con) else None  # load_cohort drops the file's views


def _file_identity(path) -> tuple | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns


# connection -> (path, device, inode, size, mtime) of the shared file it attached (a weak key, as _LOADS)
_ATTACHED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cohort_file_metadata(path) -> dict:
    """label, loaded_at, published_at and publisher of a cohort file, without reading its tables."""
    con = open_cohort_file(path)
    try:
        row = con.execute("SELECT label, loaded_at, published_at, publisher FROM cohort_metadata").fetchone()
    finally:
        con.close()
    return dict(zip(_METADATA_COLUMNS, row))


def has_cohort(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a cohort has been loaded into this database."""
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'cohort_info'").fetchone()
    return bool(found and found[0])


def cohort_info(con: duckdb.DuckDBPyConnection) -> dict:
    """Label and load time of the cohort, with its source files (name, size_bytes, sha256)."""
    label, loaded_at = con.execute("SELECT label, loaded_at FROM cohort_info").fetchone()
    sources = con.execute("SELECT name, size_bytes, sha256 FROM cohort_sources ORDER BY name").df()
    return {"label": label, "loaded_at": loaded_at, "sources": sources}


def table_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Rows per contract table. Columns: table, rows."""
    parts = " UNION ALL ".join(
        f"SELECT ? AS \"table\", count(*) AS rows, {i} AS ord FROM {quote(name)}"
        for i, name in enumerate(S.TABLES))
    return con.execute(f"SELECT \"table\", rows FROM ({parts}) ORDER BY ord", list(S.TABLES)).df()


def product_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Patients per product. Columns: product, target, costimulatory_domain, patients."""
    return con.execute("""
        SELECT product, target, costimulatory_domain, count(*) AS patients
        FROM patients GROUP BY ALL ORDER BY patients DESC, product
    """).df()


def group_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Patients per comparison group (the patient's group where given, else the product).

    Columns: group, patients.
    """
    return con.execute("""
        SELECT coalesce("group", product) AS "group", count(*) AS patients
        FROM patients GROUP BY ALL ORDER BY patients DESC, "group"
    """).df()


def read_table(con: duckdb.DuckDBPyConnection, name: str) -> pd.DataFrame:
    """One contract table as loaded, in source order (for export and round-trip checks)."""
    return con.execute(f"SELECT * FROM {quote(name)} ORDER BY source_row").df()


# --- Analysis queries: every one reads only the selected patients -----------------------------

# How patients are grouped for comparison. The contract's default: the patient's group
# where given, else the product.
GROUPINGS: dict[str, str] = {
    "group": 'coalesce(p."group", p.product)',
    "product": "p.product",
    "costimulatory_domain": "coalesce(p.costimulatory_domain, 'unknown')",
    "target": "coalesce(p.target, 'unknown')",
    "disease": "coalesce(p.disease, 'unknown')",
}


GROUPING_LABELS: dict[str, str] = {
    "group": "Group (study arm, else product)",
    "product": "Product",
    "costimulatory_domain": "Costimulatory domain",
    "target": "Target antigen",
    "disease": "Disease",
}


def _grouping(group_by: str) -> str:
    if group_by not in GROUPINGS:
        raise ValueError(f"unknown grouping {group_by!r}; one of {', '.join(GROUPINGS)}")
    return GROUPINGS[group_by]


def _chosen(everyone: bool) -> str:
    """The patients a query reads: the selection, or (for tables derived once per cohort) all."""
    return "(SELECT patient_id FROM patients) AS everyone" if everyone else "selected_patients"


def patients_frame(con: duckdb.DuckDBPyConnection, group_by: str = "group", everyone: bool = False) -> pd.DataFrame:
    """Selected patients (every patient with `everyone`). Columns: patient_id, group, product, target,
    costimulatory_domain, disease, age_years, sex, ecog, last_followup_day, death_day, death_cause."""
    return con.execute(f"""
        SELECT p.patient_id, {_grouping(group_by)} AS "group", p.product, p.target, p.costimulatory_domain,
               p.disease, p.age_years, p.sex, p.ecog, p.last_followup_day, p.death_day, p.death_cause
        FROM patients p JOIN {_chosen(everyone)} USING (patient_id)
        ORDER BY p.source_row
    """).df()


def toxicity_frame(con: duckdb.DuckDBPyConnection, everyone: bool = False,
                   patient_id: str | None = None) -> pd.DataFrame:
    """Assessments of the selected patients (every patient with `everyone`; only `patient_id`'s if given),
    by patient and day.
    Columns: patient_id, day, crs_grade, icans_grade, ice_score (grades nullable: blank = not assessed)."""
    return con.execute(f"""
        SELECT t.patient_id, t.day, t.crs_grade, t.icans_grade, t.ice_score
        FROM toxicity t JOIN {_chosen(everyone)} USING (patient_id)
        WHERE $patient IS NULL OR t.patient_id = $patient
        ORDER BY t.patient_id, t.day, t.source_row
    """, {"patient": patient_id}).df()


def interventions_frame(con: duckdb.DuckDBPyConnection, everyone: bool = False,
                        patient_id: str | None = None) -> pd.DataFrame:
    """Treatments of the selected patients (every patient with `everyone`; only `patient_id`'s if given).
    Columns: patient_id, agent, agent_class, start_day, end_day (blank filled with start_day), daily_dose,
    dose_unit, route."""
    return con.execute(f"""
        SELECT i.patient_id, i.agent, i.agent_class, i.start_day, i.end_day, i.daily_dose,
               i.dose_unit, i.route
        FROM interventions i JOIN {_chosen(everyone)} USING (patient_id)
        WHERE $patient IS NULL OR i.patient_id = $patient
        ORDER BY i.patient_id, i.start_day, i.source_row
    """, {"patient": patient_id}).df()


def lab_analytes(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Analytes measured in the selected patients. Columns: analyte, unit, patients, measurements.

    Summed from the cohort's per-patient counts (derived once: a filter change reads 10,000 patients'
    rows of them, not 2 million lab rows)."""
    _ensure_lab_analytes(con)
    return con.execute(f"""
        SELECT a.analyte, a.unit, count(DISTINCT a.patient_id) AS patients,
               CAST(sum(a.measurements) AS BIGINT) AS measurements
        FROM {_LAB_ANALYTES} a JOIN selected_patients USING (patient_id)
        GROUP BY ALL ORDER BY a.analyte, a.unit
    """).df()


def lab_values(con: duckdb.DuckDBPyConnection, analytes: list[str], everyone: bool = False) -> pd.DataFrame:
    """Every measurement of the given analytes in the selected patients (every patient with `everyone`).
    Columns: patient_id, analyte, day, value, unit, below_lloq."""
    return con.execute(f"""
        SELECT l.patient_id, l.analyte, l.day, l.value, l.unit, l.below_lloq
        FROM labs l JOIN {_chosen(everyone)} USING (patient_id)
        WHERE list_contains(?, l.analyte)
        ORDER BY l.patient_id, l.analyte, l.day, l.source_row
    """, [list(analytes)]).df()


def lab_patient_days(con: duckdb.DuckDBPyConnection, analytes: list[str], group_by: str = "group",
                     origins: pd.DataFrame | None = None, patient_id: str | None = None) -> pd.DataFrame:
    """One value per patient, analyte and whole day: the patient's median that day (only `patient_id`'s
    days if given).

    Days are floor(day - origin): origin 0 (infusion) unless `origins` (patient_id, origin_day)
    is given, in which case patients without an origin are left out. Aggregated in DuckDB
    so only one row per patient-day leaves the database; at infusion, read from the cohort's
    derived patient-day table (computed once per connection and cohort).
    Columns: patient_id, group, analyte, unit, day (integer), value, below_lloq (any sample that day).
    """
    # one patient: a plain equality, which DuckDB pushes into the scan ("$patient IS NULL OR ..." it does not:
    # it read every selected patient's days to keep one patient's, 0.25 s on a 100,000-patient registry)
    one = patient_id is not None
    with _Origins(con, origins) as shifted:
        return con.execute(f"""SELECT * FROM ({_patient_days_sql(group_by, shifted)})
                               {"WHERE patient_id = $patient" if one else ""}
                               ORDER BY "group", analyte, day, patient_id""",
                           {"analytes": list(analytes), **({"patient": patient_id} if one else {})}).df()


# --- Cohort filters ----------------------------------------------------------------------------

def filter_choices(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    """The values each filter can take in the loaded cohort (all patients, not only the selected)."""
    def distinct(column: str) -> list:
        rows = con.execute(f"SELECT DISTINCT {quote(column)} FROM patients WHERE {quote(column)} IS NOT NULL "
                           f"ORDER BY 1").fetchall()
        return [r[0] for r in rows]

    ages = con.execute("SELECT min(age_years), max(age_years) FROM patients").fetchone()
    agents = con.execute("SELECT DISTINCT agent FROM interventions ORDER BY 1").fetchall()
    return {
        "products": distinct("product"), "costimulatory_domains": distinct("costimulatory_domain"),
        "targets": distinct("target"), "diseases": distinct("disease"), "groups": distinct("group"),
        "sexes": distinct("sex"), "ecog": distinct("ecog"),
        "age_range": None if ages[0] is None else (float(ages[0]), float(ages[1])),
        "agents": [a[0] for a in agents],
    }


def select_patients(con: duckdb.DuckDBPyConnection, cohort_filter) -> int:
    """Make `cohort_filter` (a filters.CohortFilter) the selection every analysis sees; returns its size."""
    conditions, params = _filter_sql(cohort_filter)
    where = " AND ".join(conditions) or "TRUE"
    con.begin()
    try:
        con.execute("DELETE FROM selected_patients")
        con.execute(f"INSERT INTO selected_patients SELECT p.patient_id FROM patients p WHERE {where}", params)
        con.commit()
    except Exception:
        con.rollback()
        raise
    return con.execute("SELECT count(*) FROM selected_patients").fetchone()[0]


def selection_counts(con: duckdb.DuckDBPyConnection, group_by: str = "group") -> pd.DataFrame:
    """Selected and total patients per group. Columns: group, selected, total."""
    return con.execute(f"""
        SELECT {_grouping(group_by)} AS "group",
               count(s.patient_id) AS selected, count(*) AS total
        FROM patients p LEFT JOIN selected_patients s USING (patient_id)
        GROUP BY ALL ORDER BY "group"
    """).df()


# Patient-level columns a filter can restrict to a list of values.
_LIST_FILTERS = {"products": "product", "costimulatory_domains": "costimulatory_domain", "targets": "target",
                 "diseases": "disease", "groups": "group", "sexes": "sex", "ecog": "ecog"}


def _filter_sql(cohort_filter) -> tuple[list[str], list]:
    conditions, params = [], []
    for attribute, column in _LIST_FILTERS.items():
        values = list(getattr(cohort_filter, attribute))
        if values:
            conditions.append(f"list_contains(?, p.{quote(column)})")
            params.append(values)
    if cohort_filter.age_range is not None:
        conditions.append("p.age_years BETWEEN ? AND ?")
        params += list(cohort_filter.age_range)
    for attribute, column in (("max_crs_grades", "crs_grade"), ("max_icans_grades", "icans_grade")):
        grades = list(getattr(cohort_filter, attribute))
        if grades:
            conditions.append(f"""p.patient_id IN (SELECT patient_id FROM toxicity GROUP BY patient_id
                                  HAVING list_contains(?, max({quote(column)})))""")
            params.append(grades)
    rx = cohort_filter.intervention
    if rx.names:
        # A dose matches by class or by agent, and, with a window, when it starts between the
        # patient's severe-ICANS onset and that many days after it.
        match = "(i.agent_class = n.name OR i.agent = n.name)"
        window_params: list = []
        if rx.within_days_of_onset is not None:
            match += """ AND i.start_day BETWEEN o.onset_day AND o.onset_day + ?"""
            window_params = [rx.within_days_of_onset]
        onset = """(SELECT patient_id, min(day) AS onset_day FROM toxicity WHERE icans_grade >= ?
                    GROUP BY patient_id)"""
        received = f"""(SELECT count(DISTINCT n.name) FROM unnest(?) AS n(name)
                        WHERE EXISTS (SELECT 1 FROM interventions i LEFT JOIN {onset} o USING (patient_id)
                                      WHERE i.patient_id = p.patient_id AND {match}))"""
        needed = {"any": "> 0", "all": "= ?", "none": "= 0"}[rx.mode]
        conditions.append(f"{received} {needed}")
        params += [list(rx.names), rx.severe_grade, *window_params]
        if rx.mode == "all":
            params.append(len(set(rx.names)))
    return conditions, params


def group_names(con: duckdb.DuckDBPyConnection, group_by: str = "group") -> list[str]:
    """Every group of the whole cohort (not only the selection), sorted: one stable colour per group."""
    rows = con.execute(f"SELECT DISTINCT {_grouping(group_by)} FROM patients p ORDER BY 1").fetchall()
    return [r[0] for r in rows if r[0] is not None]


# --- Published cohorts: one DuckDB file per cohort (icans_core/library.py decides where) ------

_METADATA_COLUMNS = ("label", "loaded_at", "published_at", "publisher")


def save_cohort_file(path, cohort: Cohort, metadata: dict, prederive=None) -> None:
    """Write a cohort (its four tables, its sources) and `metadata` into a NEW DuckDB file at `path`.

    `metadata` holds label, loaded_at, published_at and publisher (text or None). `prederive(con)`,
    if given, computes derived tables (derived_rows) into the file, for every session that attaches it
    (derived_tables.prederive: those of the default options); they and the lab tables (DERIVED_TABLES) are
    stamped with the code's version, and sessions of another version compute their own. The file is
    checkpointed and closed before returning, so it is complete once this returns.
    """
    con = duckdb.connect(str(path))
    try:
        load_cohort(con, cohort)
        # derived once for every session that will attach the file (open_shared)
        _ensure_lab_days(con)
        _lab_days_are_distinct(con)
        _ensure_lab_analytes(con)
        if prederive is not None:
            # A file is written whole or not at all: a rerun or stop request of the writing session (a
            # click during Publish) must not cut it short at one of the analyses' checkpoints.
            with cancel.cancellable(lambda: False):
                prederive(con)
        # what this version derived into the file (the lab tables, and prederive's): served to it alone
        con.execute(f"CREATE TABLE {_PREDERIVED_BY} AS SELECT ? AS code_version", [versions.running_version()])
        con.execute("CREATE TABLE cohort_metadata (label VARCHAR, loaded_at VARCHAR, published_at VARCHAR, "
                    "publisher VARCHAR)")
        con.execute("INSERT INTO cohort_metadata VALUES (?, ?, ?, ?)",
                    [metadata.get(name) for name in _METADATA_COLUMNS])
        con.execute("CHECKPOINT")
    finally:
        con.close()


def open_cohort_file(path) -> duckdb.DuckDBPyConnection:
    """A READ-ONLY connection to a cohort file written by `save_cohort_file`."""
    return duckdb.connect(str(path), read_only=True)


def read_cohort_file(path) -> tuple[dict[str, pd.DataFrame], list, dict]:
    """(tables by name, sources as SourceFile, metadata dict) from a cohort file, opened read-only."""
    from icans_core.ingest import SourceFile

    con = open_cohort_file(path)
    try:
        tables = {name: read_table(con, name) for name in S.TABLES}
        sources = [SourceFile(name, int(size), sha) for name, size, sha in con.execute(
            "SELECT name, size_bytes, sha256 FROM cohort_sources ORDER BY rowid").fetchall()]
        row = con.execute("SELECT label, loaded_at, published_at, publisher FROM cohort_metadata").fetchone()
    finally:
        con.close()
    return tables, sources, dict(zip(_METADATA_COLUMNS, row))


# --- Issue 13: grades derived from observations and episode forms --------------------------------

def observations_frame(con: duckdb.DuckDBPyConnection, everyone: bool = False) -> pd.DataFrame:
    """Bedside observations of the selected patients (every patient with `everyone`): the observations
    table's contract columns and source_row, by patient and day."""
    columns = ", ".join(f"o.{quote(c)}" for c in ["source_row", *S.TABLES["observations"].column_names])
    return con.execute(f"""
        SELECT {columns} FROM observations o JOIN {_chosen(everyone)} USING (patient_id)
        ORDER BY o.patient_id, o.day, o.source_row
    """).df()


def has_observations(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the cohort (not only the selection) has any bedside observation row."""
    return bool(con.execute("SELECT EXISTS (SELECT 1 FROM observations)").fetchone()[0])


def toxicity_sources_frame(con: duckdb.DuckDBPyConnection, everyone: bool = False) -> pd.DataFrame:
    """Assessments of the selected patients (every patient with `everyone`) with where each grade came
    from. Columns: patient_id, day, crs_grade, icans_grade, crs_grade_source, icans_grade_source."""
    return con.execute(f"""
        SELECT t.patient_id, t.day, t.crs_grade, t.icans_grade, t.crs_grade_source, t.icans_grade_source
        FROM toxicity t JOIN {_chosen(everyone)} USING (patient_id)
        ORDER BY t.patient_id, t.day, t.source_row
    """).df()


def grade_source_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Grades of the whole cohort by syndrome and source (recorded, episode form, observations).
    Columns: syndrome, source, assessments, patients."""
    return con.execute("""
        SELECT 'CRS' AS syndrome, crs_grade_source AS source, count(*) AS assessments,
               count(DISTINCT patient_id) AS patients
        FROM toxicity WHERE crs_grade IS NOT NULL GROUP BY ALL
        UNION ALL
        SELECT 'ICANS', icans_grade_source, count(*), count(DISTINCT patient_id)
        FROM toxicity WHERE icans_grade IS NOT NULL GROUP BY ALL
        ORDER BY syndrome, source
    """).df()


def toxicity_episodes_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Episode-level form rows of the selected patients. Columns: patient_id, syndrome, onset_day,
    peak_grade, resolution_day, treatments, treatment_start_days, treatment_end_days (blank in a cohort
    published before those columns existed)."""
    rows = con.execute("""
        SELECT e.* FROM toxicity_episodes e JOIN selected_patients USING (patient_id)
        ORDER BY e.patient_id, e.onset_day, e.source_row
    """).df()
    columns = ["patient_id", "syndrome", "onset_day", "peak_grade", "resolution_day", "treatments",
               "treatment_start_days", "treatment_end_days"]
    return rows.reindex(columns=columns).astype({"treatment_start_days": object, "treatment_end_days": object})


# --- Derived tables and aggregates computed where the data is (issue 11) -------------------------
#
# The patient-day values of the whole cohort (one per patient, analyte, unit and whole day since
# infusion, the patient's median that day) are computed once per connection and cohort, in the
# connection's own database (so they can only ever serve this connection's cohort; load_cohort
# drops them); a filter change then only joins the selection to them. Medians, quartiles and the
# rank sums of the per-day tests are aggregated in DuckDB, so only one row per group and day (not
# per patient-day) reaches pandas.

_LAB_DAYS = "derived_lab_days"
_LAB_DAYS_DISTINCT = "derived_lab_days_distinct"
_LAB_ANALYTES = "derived_lab_analytes"  # measurements per patient, analyte and unit
# Derived into every cohort file (save_cohort_file); a file written before one of them existed lacks
# it, or one written by another version of the code is not served it (_prederived), and a session
# attaching it derives that one into its own database (CREATE TABLE IF NOT EXISTS).
DERIVED_TABLES = (_LAB_DAYS, _LAB_DAYS_DISTINCT, _LAB_ANALYTES)


def drop_derived(con: duckdb.DuckDBPyConnection) -> None:
    """Forget every derived table of this connection (the cohort changed)."""
    found = con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                        "AND starts_with(table_name, 'derived_')").fetchall()
    for (name,) in found:  # names from the catalog: only ever ones this module created
        con.execute(f'DROP TABLE IF EXISTS "{name}"')


_DERIVED_KEY = re.compile(r"[a-z0-9_]{1,100}")
_DERIVED_TABLE = re.compile(r"derived_[a-z0-9_]{1,100}")  # a derived_rows table, or its _types
_PREDERIVED_BY = "prederived_by"  # in a cohort file: the code version its derived_ tables come from


def derived_rows(con: duckdb.DuckDBPyConnection, key: str, compute, everyone: bool = False,
                 limit: int | None = None) -> pd.DataFrame:
    """The selected patients' rows (every patient's with `everyone`) of a per-patient frame derived from
    the whole cohort; only the first `limit` of them if given (a page showing the first rows of a long table).

    `compute()` returns the frame for every patient (one computed from each patient's own rows
    only, so restricting it afterwards equals computing it on the selection) with a patient_id
    column; it is run once per connection, cohort and `key` (the options it depends on: a name of
    [a-z0-9_] only) and kept in this connection's own database, which load_cohort empties: it can
    never serve another session or another cohort. Rows come back in the computed order, with
    the computed column types.
    Columns: those of compute().
    """
    table = _derived_table(con, key, compute)
    first = "" if limit is None else " LIMIT $limit"
    rows = con.execute(f'SELECT * EXCLUDE (derived_row) FROM "{table}" WHERE patient_id IN '
                       f"(SELECT patient_id FROM {_chosen(everyone)}) ORDER BY derived_row{first}",
                       {} if limit is None else {"limit": max(int(limit), 0)}).df()
    dtypes = dict(con.execute(f'SELECT name, dtype FROM "{table}_types"').fetchall())
    return rows.astype({c: t for c, t in dtypes.items() if str(rows[c].dtype) != t})


def derived_row_count(con: duckdb.DuckDBPyConnection, key: str, compute, everyone: bool = False) -> int:
    """How many rows derived_rows gives (without reading them)."""
    table = _derived_table(con, key, compute)
    return int(con.execute(f'SELECT count(*) FROM "{table}" WHERE patient_id IN '
                           f"(SELECT patient_id FROM {_chosen(everyone)})").fetchone()[0])


def _derived_table(con: duckdb.DuckDBPyConnection, key: str, compute) -> str:
    """The name of derived_rows' table for `key`, computed and kept first if this connection has none."""
    if not _DERIVED_KEY.fullmatch(key):
        raise ValueError(f"not a derived-table key: {key!r}")
    table = f"derived_{key}"
    # a table of this connection's, or a view on one computed into a shared file (open_shared)
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
                         "AND table_name = ?", [table]).fetchone()[0]
    if not exists:
        frame = compute()
        dtypes = {c: str(t) for c, t in frame.dtypes.items()}
        con.register("derived_incoming", frame.assign(derived_row=np.arange(len(frame))))
        # both tables or neither: a query interrupted between them (its session ended, ui/lifecycle.py)
        # must not leave a table without its types for the session's next run
        con.begin()
        try:
            con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM derived_incoming')
            con.execute(f'CREATE TABLE "{table}_types" AS SELECT unnest(?) AS name, unnest(?) AS dtype',
                        [list(dtypes), list(dtypes.values())])
            con.commit()
        except BaseException:
            con.rollback()
            raise
        finally:
            con.unregister("derived_incoming")
    return table


def _ensure_lab_days(con: duckdb.DuckDBPyConnection) -> None:
    # day_order: the value's place among every patient's values of that analyte and day (missing
    # values last), so a selection's values come out in rank order without a sort (patient_day_ordered).
    # Equal values by patient: -0 and 0 are equal but print differently, and a median falls on the one
    # pandas would take (its stable sort of the patient-day rows, which are in patient order)
    con.execute(f"""
        CREATE TABLE IF NOT EXISTS {_LAB_DAYS} AS
        SELECT *, row_number() OVER (PARTITION BY analyte, day ORDER BY value NULLS LAST, patient_id) AS day_order
        FROM (SELECT patient_id, analyte, unit, CAST(floor(day) AS INTEGER) AS day,
                     median(value) AS value, bool_or(below_lloq) AS below_lloq
              FROM labs GROUP BY ALL)
    """)


def _ensure_lab_analytes(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"""CREATE TABLE IF NOT EXISTS {_LAB_ANALYTES} AS
                    SELECT patient_id, analyte, unit, count(*) AS measurements FROM labs GROUP BY ALL""")


def _lab_days_are_distinct(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the derived table has one row per patient, analyte and day (its unit never both
    given and blank), decided once per cohort."""
    con.execute(f"""CREATE TABLE IF NOT EXISTS {_LAB_DAYS_DISTINCT} AS
                    SELECT count(*) = count(DISTINCT (patient_id, analyte, day)) AS distinct_days
                    FROM {_LAB_DAYS}""")
    return bool(con.execute(f"SELECT distinct_days FROM {_LAB_DAYS_DISTINCT}").fetchone()[0])


def _patient_days_sql(group_by: str, with_origins: bool) -> str:
    """The relation of lab_patient_days (before ordering): from the derived table at infusion,
    else from the labs shifted by each patient's origin (view analysis_origins)."""
    if not with_origins:
        return f"""
            SELECT d.patient_id, {_grouping(group_by)} AS "group", d.analyte, d.unit, d.day, d.value,
                   d.below_lloq
            FROM {_LAB_DAYS} d JOIN selected_patients USING (patient_id) JOIN patients p USING (patient_id)
            WHERE list_contains($analytes, d.analyte)"""
    return f"""
        SELECT l.patient_id, {_grouping(group_by)} AS "group", l.analyte, l.unit,
               CAST(floor(l.day - o.origin_day) AS INTEGER) AS day,
               median(l.value) AS value, bool_or(l.below_lloq) AS below_lloq
        FROM labs l JOIN selected_patients USING (patient_id)
             JOIN patients p USING (patient_id) JOIN analysis_origins o USING (patient_id)
        WHERE list_contains($analytes, l.analyte)
        GROUP BY ALL"""


class _Origins:
    """Registers per-patient origins (patient_id, origin_day) for the length of a query."""

    def __init__(self, con, origins: pd.DataFrame | None):
        self.con, self.origins = con, origins

    def __enter__(self) -> bool:
        if self.origins is None:
            _ensure_lab_days(self.con)
            return False
        self.con.register("analysis_origins", self.origins[["patient_id", "origin_day"]])
        return True

    def __exit__(self, *exc) -> None:
        if self.origins is not None:
            self.con.unregister("analysis_origins")


def patient_day_cells(con: duckdb.DuckDBPyConnection, analytes: list[str], group_by: str = "group",
                      origins: pd.DataFrame | None = None, halve_below_lloq: bool = False,
                      day_range: tuple[float, float] | None = None) -> pd.DataFrame:
    """What kinetics.summarise_days computes from lab_patient_days, aggregated in DuckDB: per group,
    analyte and day, median and quartiles by quantile_cont (linear, like R type 7).

    Columns: group, analyte, day, n, median, q1, q3, unit, n_below_lloq, n_patients (patients of
    the group with a value of the analyte in the day range). Sorted by analyte, group, day.
    """
    first, last = (None, None) if day_range is None else (None if d is None else float(d) for d in day_range)
    with _Origins(con, origins) as shifted:
        return con.execute(f"""
            WITH pd AS MATERIALIZED (
                SELECT patient_id, "group", analyte, unit, day,
                       CASE WHEN $halve AND coalesce(below_lloq, false) THEN value / 2 ELSE value END AS value,
                       coalesce(below_lloq, false) AS below_lloq
                FROM ({_patient_days_sql(group_by, shifted)})
                WHERE ($first IS NULL OR day >= $first) AND ($last IS NULL OR day <= $last)),
            summary AS (
                -- one row per patient and day unless a patient has the analyte with and without a
                -- unit that day (validation allows one unit per analyte, or none): count(*) is then
                -- the number of patients, and min(unit) the unit (the first one given, as pandas')
                SELECT "group", analyte, day,
                       CASE WHEN $distinct_days THEN count(*) ELSE count(DISTINCT patient_id) END AS n,
                       quantile_cont(value, [0.5, 0.25, 0.75]) AS quartiles, min(unit) AS unit,
                       CAST(sum(CAST(below_lloq AS INTEGER)) AS BIGINT) AS n_below_lloq
                FROM pd GROUP BY ALL),
            per_group AS (SELECT "group", analyte, count(DISTINCT patient_id) AS n_patients FROM pd GROUP BY ALL)
            SELECT s."group", s.analyte, s.day, s.n, s.quartiles[1] AS median, s.quartiles[2] AS q1,
                   s.quartiles[3] AS q3, s.unit, s.n_below_lloq, g.n_patients
            FROM summary s JOIN per_group g USING ("group", analyte)
            ORDER BY s.analyte, s."group", s.day
        """, {"analytes": list(analytes), "halve": bool(halve_below_lloq), "first": first,
              "last": last, "distinct_days": shifted is False and _lab_days_are_distinct(con)}).df()


def patient_day_values(con: duckdb.DuckDBPyConnection, analytes: list[str], group_by: str = "group",
                       origins: pd.DataFrame | None = None, day_range: tuple[float, float] | None = None):
    """The non-missing patient-day values as recorded, for rank statistics, as an Arrow table
    (no pandas objects per row). Columns: analyte, day, group, value."""
    first, last = (None, None) if day_range is None else (None if d is None else float(d) for d in day_range)
    with _Origins(con, origins) as shifted:
        return con.sql(f"""
            SELECT analyte, day, "group", value FROM ({_patient_days_sql(group_by, shifted)})
            WHERE value IS NOT NULL AND ($first IS NULL OR day >= $first) AND ($last IS NULL OR day <= $last)
        """, params={"analytes": list(analytes), "first": first, "last": last}).to_arrow_table()


def patient_day_ordered(con: duckdb.DuckDBPyConnection, analytes: list[str], group_by: str = "group",
                        day_range: tuple[float, float] | None = None) -> dict | None:
    """The selected patients' patient-day rows at infusion (those patient_day_cells and patient_day_values
    read), for day_cells: text as positions in sorted lists, patients numbered, and each value's
    day_order (its place among every patient's values of the analyte that day), so no row is sorted
    or decoded outside DuckDB.

    Returns None when a patient has an analyte with and without a unit on one day (the derived table
    then has two rows for that patient-day), else {"analytes", "groups", "units": the names, sorted;
    "patients": how many patients are selected; "rows": an Arrow table with patient (0 to patients -
    1), group, analyte, unit (1-based positions in those lists, unit 0 when blank, group missing when
    blank), day, day_order, value (missing kept), below_lloq (blank is false)}.
    """
    first, last = (None, None) if day_range is None else (None if d is None else float(d) for d in day_range)
    _ensure_lab_days(con)
    if not _lab_days_are_distinct(con):
        return None
    _ensure_lab_analytes(con)
    names = {"analytes": sorted(set(analytes)), "groups": group_names(con, group_by),
             "units": sorted(r[0] for r in con.execute(
                 f"SELECT DISTINCT unit FROM {_LAB_ANALYTES} WHERE unit IS NOT NULL").fetchall())}
    # patients and their groups numbered once (a few thousand rows), not per patient-day
    rows = con.sql(f"""
        WITH chosen AS (
            SELECT patient_id, CAST(row_number() OVER () - 1 AS INTEGER) AS patient,
                   CAST(list_position($group_names, {_grouping(group_by)}) AS INTEGER) AS "group"
            FROM patients p JOIN selected_patients USING (patient_id))
        SELECT c.patient, c."group", CAST(list_position($analyte_names, d.analyte) AS INTEGER) AS analyte,
               CAST(coalesce(list_position($unit_names, d.unit), 0) AS INTEGER) AS unit,
               d.day, CAST(d.day_order AS BIGINT) AS day_order, d.value,
               coalesce(d.below_lloq, false) AS below_lloq
        FROM {_LAB_DAYS} d JOIN chosen c USING (patient_id)
        WHERE list_contains($analytes, d.analyte) AND ($first IS NULL OR d.day >= $first)
              AND ($last IS NULL OR d.day <= $last)
    """, params={"analytes": list(analytes), "first": first, "last": last, "analyte_names": names["analytes"],
                 "group_names": names["groups"], "unit_names": names["units"]}).to_arrow_table()
    selected = con.execute("SELECT count(*) FROM selected_patients").fetchone()[0]
    return {**names, "patients": int(selected), "rows": rows}


def max_grades(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Each selected patient's maximum recorded CRS and ICANS grade (missing if never assessed
    for it). Columns: patient_id, crs_grade, icans_grade: the toxicity rows
    summary.grade_distribution needs (one per patient assessed for either syndrome)."""
    return con.execute("""
        SELECT patient_id, max(crs_grade) AS crs_grade, max(icans_grade) AS icans_grade
        FROM toxicity JOIN selected_patients USING (patient_id)
        WHERE crs_grade IS NOT NULL OR icans_grade IS NOT NULL
        GROUP BY patient_id ORDER BY patient_id
    """).df()

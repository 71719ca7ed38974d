"""DuckDB: hold one validated cohort per connection, and answer questions about it.

The only home of SQL. Every session of the app opens its own in-memory database
with `connect()`; a second thread must use `con.cursor()`. Values always travel
as parameters; identifiers come only from `schema.TABLES` and are quoted.
"""

from __future__ import annotations

import duckdb
import pandas as pd

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
    con.begin()
    try:
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
        con.execute("CREATE OR REPLACE TABLE cohort_sources (name VARCHAR, size_bytes BIGINT, sha256 VARCHAR)")
        con.executemany("INSERT INTO cohort_sources VALUES (?, ?, ?)",
                        [(s.name, s.size_bytes, s.sha256) for s in cohort.sources])
        con.execute("CREATE OR REPLACE TABLE cohort_info (label VARCHAR, loaded_at VARCHAR)")
        con.execute("INSERT INTO cohort_info VALUES (?, ?)", [cohort.label, cohort.loaded_at])
        con.commit()
    except Exception:
        con.rollback()
        raise


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

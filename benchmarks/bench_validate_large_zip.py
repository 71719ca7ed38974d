"""Validating the largest upload the limits admit: a zip of two 2,500,000-row tables (issue 10, "A 22 MB zip
with two 2.5M-row tables, within every limit, took 71 s and 3.5 GiB to validate").

Run: `.venv/bin/python benchmarks/bench_validate_large_zip.py [--rows N] [--code DIR]`.
Builds the zip (10,000 patients; toxicity and labs of N rows each, default the row limit), then times
`ingest.load_sources` on it in a fresh process, with that process's peak memory (max RSS). Baselines in the
same run: pandas.read_csv and DuckDB's own read_csv of the same two tables (reading with no checks at all).
`--code DIR` validates with the icans_core found in DIR (e.g. an older commit's, from `git archive`), for
before/after figures. Not a test: nothing here asserts a time.

Measured on the 2-core development machine (shared with other jobs, so CPU seconds are the figure to
compare; wall time varied 2-7x with the load), 2,500,000 rows in each of toxicity and labs, 21.1 MiB zip:

| code | validate CPU | peak RSS | pandas.read_csv of the same tables (CPU, same run) |
|---|---|---|---|
| main at 9ebb277 | 34.5 s | 2.32 GiB | 1.6 s |
| issue 10 (Arrow CSV reader for plain CSV, pandera in place, and the new cross-row rules) | 19.3 s | 2.12 GiB | 1.6 s |

The rest is mostly the typed tables themselves (Python string objects for every text cell) and pandera's
checks; a columnar validation is a later issue.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PATIENTS = 10_000


def cohort_zip(rows: int, seed: int = 11) -> bytes:
    """A valid cohort zip: every toxicity and labs row distinct (no duplicates, no same-day conflicts)."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"P{i:05d}" for i in range(PATIENTS)])
    per = rows // PATIENTS
    patient = np.repeat(ids, per)[:rows]
    step = np.tile(np.arange(per), PATIENTS)[:rows]
    day = np.round(step * (60 / per), 3)  # ascending within each patient, 0 to 60
    patients = "patient_id,product,group,age_years,sex,last_followup_day\n" + "".join(
        f"{p},axi-cel,arm {i % 3},{50 + i % 40},{'FM'[i % 2]},365\n" for i, p in enumerate(ids))
    grades = rng.integers(0, 4, size=rows)
    toxicity = "patient_id,day,crs_grade,icans_grade\n" + "\n".join(
        f"{p},{d:g},{g},{(g + 1) % 4}" for p, d, g in zip(patient, day, grades)) + "\n"
    values = np.round(rng.lognormal(3, 1.5, size=rows), 2)
    analytes = np.array(["IL-6", "CRP", "ferritin", "IFN-gamma"])[step % 4]
    units = np.array(["pg/mL", "mg/L", "ng/mL", "pg/mL"])[step % 4]
    labs = "patient_id,day,analyte,value,unit\n" + "\n".join(
        f"{p},{d:g},{a},{v:g},{u}" for p, d, a, v, u in zip(patient, day, analytes, values, units)) + "\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("patients.csv", patients), ("toxicity.csv", toxicity), ("labs.csv", labs)):
            archive.writestr(name, text)
    return buffer.getvalue()


def child(zip_path: str, code: str | None) -> None:
    """Validate once in this process; print seconds, peak RSS and the outcome as JSON."""
    if code:
        sys.path.insert(0, code)
    else:
        sys.path.insert(0, str(ROOT))
    from icans_core.ingest import load_sources
    from icans_core.readers import Source

    data = Path(zip_path).read_bytes()
    start, cpu = time.perf_counter(), time.process_time()
    result = load_sources([Source("cohort.zip", data)])
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "cpu_s": cpu, "peak_gib": peak / 2**30, "ok": result.ok,
                      "problems": len(result.problems),
                      "first": [p.problem for p in result.problems[:3]]}))


def baselines(zip_path: Path, folder: Path) -> dict:
    import duckdb
    import pandas as pd

    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(folder)
    tables = [folder / "toxicity.csv", folder / "labs.csv"]
    start = time.process_time()
    for path in tables:
        pd.read_csv(path)
    pandas_s = time.process_time() - start
    con = duckdb.connect()
    start = time.perf_counter()  # DuckDB runs threads: its wall time, not the process's CPU
    for path in tables:
        con.execute("SELECT count(*) FROM read_csv(?)", [str(path)]).fetchall()
    duckdb_count_s = time.perf_counter() - start
    start = time.perf_counter()
    for path in tables:
        con.execute("SELECT * FROM read_csv(?)", [str(path)]).df()
    duckdb_s = time.perf_counter() - start
    return {"pandas_read_csv_s": pandas_s, "duckdb_read_csv_s": duckdb_s, "duckdb_count_s": duckdb_count_s}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_500_000)
    parser.add_argument("--code", help="a folder holding the icans_core to validate with")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.code)
        return
    with tempfile.TemporaryDirectory() as tmp:
        zip_path = Path(tmp) / "cohort.zip"
        zip_path.write_bytes(cohort_zip(args.rows))
        size = zip_path.stat().st_size
        command = [sys.executable, __file__, "--child", str(zip_path)] + (["--code", args.code] if args.code else [])
        run = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
        base = baselines(zip_path, Path(tmp) / "csv")
    print(f"zip {size / 2**20:.1f} MiB, toxicity and labs {args.rows:,} rows each, {PATIENTS:,} patients"
          + (f" (icans_core from {args.code})" if args.code else ""))
    print(f"validate (load_sources): {run['seconds']:.1f} s wall, {run['cpu_s']:.1f} s CPU, peak RSS {run['peak_gib']:.2f} GiB, "
          f"loads: {run['ok']}, {run['problems']} problem(s) {run['first']}")
    print(f"baselines: pandas.read_csv {base['pandas_read_csv_s']:.1f} s CPU, DuckDB read_csv to pandas "
          f"{base['duckdb_read_csv_s']:.1f} s, DuckDB count {base['duckdb_count_s']:.2f} s; "
          f"validate / pandas (CPU) = {run['cpu_s'] / base['pandas_read_csv_s']:.1f}x")


if __name__ == "__main__":
    main()

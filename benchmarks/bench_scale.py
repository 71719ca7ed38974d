"""Registry scale (issue 11): ingest, filter -> every view's data, and memory, each against a
baseline measured in the same run. A script, not a test: nothing here asserts a time.

Run: `make bench` (300 and 10,000 patients), or
     .venv/bin/python benchmarks/bench_scale.py [--patients 300 10000 100000] [--registry DIR]
         [--sessions 20] [--json out.json]
`--registry DIR` reuses a folder written by `python -m icans_core sample` for the largest size
(generating 100,000 patients takes a few minutes).

What is measured, per size:
- ingest: read + validate (ingest.load_paths) of the CSV files, in MB/s, against
  `duckdb.read_csv` and `pandas.read_csv` reading the same files (no checks);
- filter -> every view's data: the seconds from a filter change (store.select_patients) until
  each view's data frames are computed on the selection (every export table, Table 1, the
  cytokine page's medians and tests, the expansion page's curves and metrics, steroid exposure),
  on a session database that attaches the cohort file read-only, as the app does; the baseline
  is a DuckDB scan of the same rows (every column of the four tables, selected patients only,
  aggregated so nothing is copied out); the ratio is the two divided;
  the first call after opening (derived tables built) is reported apart from the repeated calls;
  and each page's whole view (icans_core.content's build: data, tables and charts) after the change;
- memory: peak RSS of this process (ru_maxrss) after the size's work, and the RSS added by N
  sessions on the cohort file (each opening the file and computing every export table, which
  builds its derived tables), against N sessions each holding a private copy of the cohort (the
  app before issue 11; the copy alone, before any derived table), and what is left after closing
  them.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import pandas as pd  # noqa: E402

from icans_core import derived_tables, expansion, kinetics, results, steroids, store, summary  # noqa: E402
from icans_core import schema as S  # noqa: E402
from ui.lifecycle import rss_mib  # noqa: E402
from icans_core.filters import CohortFilter  # noqa: E402
from icans_core.ingest import Cohort, load_paths  # noqa: E402
from icans_core.options import AnalysisOptions  # noqa: E402
from icans_core.sample import generate_cohort, write_cohort  # noqa: E402

SEED = 7


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seconds(work, runs: int = 1) -> float:
    """Median seconds of `runs` calls."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def view_computations(con: duckdb.DuckDBPyConnection, options: AnalysisOptions) -> dict:
    """Each view's data on the current selection, as the pages and the export compute it: name -> call."""
    def overview():  # as icans_core.content.overview: from the derived tables, restricted
        patients = store.patients_frame(con, options.group_by)
        episodes = derived_tables.episodes(con, options.group_by, options.episodes)
        exposure = derived_tables.steroid_exposure(con, options.group_by)
        table1 = summary.summary_from_per_patient(derived_tables.table1_inputs(con, options.group_by,
                                                                               options.episodes))
        return (table1, summary.key_numbers(patients, episodes),
                summary.grade_distribution(patients, store.max_grades(con)),
                steroids.steroid_summary(exposure))

    def cytokines():
        measured = list(store.lab_analytes(con)["analyte"])
        return kinetics.cohort_cytokine_medians(con, kinetics.list_serum_analytes(measured), options.group_by)

    def expansion_page():
        cells = [a for a in S.CELL_COUNT_ANALYTES if a in set(store.lab_analytes(con)["analyte"])]
        patients = store.patients_frame(con, options.group_by)
        metrics = derived_tables.expansion_metrics(con)
        metrics = metrics[metrics["analyte"].isin(cells)].reset_index(drop=True)
        return (expansion.cohort_expansion_curves(con, cells, options.group_by),
                expansion.expansion_summary(metrics, patients))

    return {"export (every results table)": lambda: results.compute_results(con, options),
            "overview (Table 1, grades, steroids)": overview, "cytokines page": cytokines,
            "expansion page": expansion_page}


def page_builds(con: duckdb.DuckDBPyConnection, options: AnalysisOptions) -> dict:
    """Each page's whole view as the app builds it (icans_core.content: data, tables and charts,
    before Streamlit draws them) with its default page options: name -> call."""
    from icans_core.content import cytokines, expansion as expansion_view, overview, resolution, swimlanes, treatments

    pages = {"Overview": overview, "Swimlanes": swimlanes, "Cytokines": cytokines, "Resolution": resolution,
             "Treatments": treatments, "Expansion": expansion_view}
    return {name: (lambda module=module: module.build(con, options)) for name, module in pages.items()}


def views_data(con: duckdb.DuckDBPyConnection, options: AnalysisOptions) -> dict[str, object]:
    """Every view's data on the current selection."""
    return {name: work() for name, work in view_computations(con, options).items()}


def scan_baseline(con: duckdb.DuckDBPyConnection) -> None:
    """DuckDB reading every column of the selected patients' rows of the four tables."""
    for table in S.TABLES:
        columns = [c.name for c in S.TABLES[table].columns]
        aggregates = ", ".join(f"count({store.quote(c)})" for c in columns)
        con.execute(f"SELECT {aggregates} FROM {store.quote(table)} JOIN selected_patients USING (patient_id)"
                    ).fetchall()


def measure_ingest(folder: Path) -> dict:
    files = sorted(folder.glob("*.csv"))
    megabytes = sum(f.stat().st_size for f in files) / 1e6
    read_duckdb = seconds(lambda: [duckdb.read_csv(str(f)).fetchall() for f in files])
    read_pandas = seconds(lambda: [pd.read_csv(f) for f in files])
    start = time.perf_counter()
    result = load_paths([folder])
    validate = time.perf_counter() - start
    assert result.ok, result.report.head()
    return {"csv_mb": megabytes, "validate_s": validate, "validate_mb_s": megabytes / validate,
            "duckdb_read_csv_s": read_duckdb, "duckdb_read_csv_mb_s": megabytes / read_duckdb,
            "pandas_read_csv_s": read_pandas, "pandas_read_csv_mb_s": megabytes / read_pandas,
            "result": result}


def first_call(path: Path) -> float:
    """Seconds from opening the file to every view's data (what a new session's pages compute first)."""
    con = store.open_shared(path)
    start = time.perf_counter()
    store.select_patients(con, CohortFilter())
    views_data(con, AnalysisOptions())
    seconds_taken = time.perf_counter() - start
    con.close()
    return seconds_taken


def measure_filters(path: Path, runs: int) -> dict:
    options = AnalysisOptions()
    con = store.open_shared(path)
    out = {}
    start = time.perf_counter()
    store.select_patients(con, CohortFilter())
    views_data(con, options)
    out["first_call_s"] = time.perf_counter() - start  # the default options' derived tables are in the file
    for name, cohort_filter in (("full", CohortFilter()), ("axi-cel", CohortFilter(products=("axi-cel",)))):
        n = store.select_patients(con, cohort_filter)

        def change_and_compute():
            store.select_patients(con, cohort_filter)
            return views_data(con, options)

        def change_and_compute_export():
            store.select_patients(con, cohort_filter)
            return results.compute_results(con, options)

        views = seconds(change_and_compute, runs)
        export = seconds(change_and_compute_export, runs)
        scan = seconds(lambda: scan_baseline(con), max(runs, 3))
        per_view = {name: seconds(work, runs) for name, work in view_computations(con, options).items()}

        def after_filter_change(build):
            def work():
                store.select_patients(con, cohort_filter)
                return build()
            return work

        per_page = {page: seconds(after_filter_change(build), runs) for page, build in page_builds(con, options).items()}
        out[name] = {"patients": n, "views_s": views, "export_s": export, "scan_s": scan,
                     "views_x_scan": views / scan, "export_x_scan": export / scan, "per_view_s": per_view,
                     "per_page_s": per_page}
    con.close()
    return out


def measure_sessions(path: Path, cohort, sessions: int) -> dict:
    """RSS added by `sessions` sessions computing every view: attached file vs private copies."""
    options = AnalysisOptions()
    out = {}
    for mode in ("shared file (now)", "private copy (before)"):
        gc.collect()
        before = rss_mib()
        cons = []
        for _ in range(sessions):
            if mode.startswith("shared"):
                con = store.open_shared(path)
                results.compute_results(con, options)  # its derived tables: what a session adds
            else:
                con = store.connect()
                store.load_cohort(con, cohort)  # the copy alone (no derived tables yet)
            cons.append(con)
        gc.collect()
        held = rss_mib() - before
        for con in cons:
            con.close()
        cons.clear()
        gc.collect()
        out[mode] = {"sessions": sessions, "rss_added_mib": held, "rss_after_close_mib": rss_mib() - before}
    return out


def cohort_from_file(path: Path) -> Cohort:
    """A cohort saved by store.save_cohort_file (validated when it was written)."""
    tables, sources, metadata = store.read_cohort_file(path)
    return Cohort(tables=tables, sources=sources, loaded_at=metadata["loaded_at"], label=metadata["label"])


def run_size(n: int, registry: Path | None, runs: int, sessions: int, cohort_file: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        if cohort_file is not None:  # ingest measured elsewhere: reuse a validated cohort
            cohort, ingest = cohort_from_file(cohort_file), {}
        else:
            folder = registry or Path(tmp) / "csv"
            if registry is None:
                write_cohort(generate_cohort(n, seed=SEED), folder)
            ingest = measure_ingest(folder)
            cohort = ingest.pop("result").cohort
        plain, path = Path(tmp) / "plain.duckdb", Path(tmp) / "cohort.duckdb"
        start = time.perf_counter()
        store.save_cohort_file(plain, cohort, {"label": f"{n} patients"})
        ingest["write_shared_file_s"] = time.perf_counter() - start
        start = time.perf_counter()  # as the app writes its shared files: the default options' tables derived in
        store.save_cohort_file(path, cohort, {"label": f"{n} patients"}, prederive=derived_tables.prederive)
        ingest["write_prederived_file_s"] = time.perf_counter() - start
        first_plain = first_call(plain)
        filters = measure_filters(path, runs)
        filters["first_call_plain_file_s"] = first_plain
        memory = measure_sessions(path, cohort, sessions) if sessions else {}
        rows = {name: len(frame) for name, frame in cohort.tables.items()}
    return {"patients": n, "rows": rows, "ingest": ingest, "filters": filters, "sessions": memory,
            "peak_rss_mib": peak_rss_mib()}


def report(figures: dict) -> None:
    i, f = figures["ingest"], figures["filters"]
    print(f"\n== {figures['patients']:,} patients, rows {figures['rows']}")
    if "validate_s" in i:
        print(f"ingest {i['csv_mb']:.1f} MB: read+validate {i['validate_s']:.2f} s = {i['validate_mb_s']:.1f} MB/s; "
              f"duckdb.read_csv {i['duckdb_read_csv_s']:.2f} s = {i['duckdb_read_csv_mb_s']:.0f} MB/s; "
              f"pandas.read_csv {i['pandas_read_csv_s']:.2f} s = {i['pandas_read_csv_mb_s']:.0f} MB/s")
    print(f"shared file written in {i['write_shared_file_s']:.2f} s (its patient-day table derived in); "
          f"{i['write_prederived_file_s']:.2f} s with the default options' derived tables too (as the app does)")
    print(f"a new session's first call (every view's data): {f['first_call_s']:.2f} s on the file with its derived "
          f"tables; {f['first_call_plain_file_s']:.2f} s on the file without (the session derives them)")
    for name in ("full", "axi-cel"):
        r = f[name]
        print(f"filter {name} ({r['patients']:,} patients) -> every view's data {r['views_s']:.3f} s "
              f"({r['views_x_scan']:.0f}x scan); every export table {r['export_s']:.3f} s "
              f"({r['export_x_scan']:.0f}x scan); DuckDB scan of the same rows {r['scan_s']:.3f} s")
        print("    " + "; ".join(f"{view} {s:.3f} s" for view, s in r["per_view_s"].items()))
        print("    each page's whole view after the filter change (data, tables and charts): "
              + "; ".join(f"{page} {s:.2f} s" for page, s in r["per_page_s"].items()))
    for mode, m in figures["sessions"].items():
        print(f"{m['sessions']} sessions, {mode}: +{m['rss_added_mib']:.0f} MiB RSS "
              f"(+{m['rss_after_close_mib']:.0f} MiB after closing them)")
    print(f"peak RSS of the benchmark process: {figures['peak_rss_mib']:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[300, 10_000])
    parser.add_argument("--registry", type=Path, help="an existing CSV folder for the largest size")
    parser.add_argument("--runs", type=int, default=3, help="repeats of each filter change (median)")
    parser.add_argument("--sessions", type=int, default=20, help="sessions for the memory figure (0: skip)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--cohort-file", type=Path,
                        help="for the largest size, skip ingest: a cohort file written by store.save_cohort_file")
    args = parser.parse_args()
    largest = max(args.patients)
    every = []
    for n in sorted(args.patients):
        figures = run_size(n, args.registry if n == largest else None, args.runs if n <= 10_000 else 1,
                           args.sessions if n == 10_000 else 0, args.cohort_file if n == largest else None)
        report(figures)
        every.append(figures)
    if args.json:
        args.json.write_text(json.dumps(every, indent=2, default=str))


if __name__ == "__main__":
    main()

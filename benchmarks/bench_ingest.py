"""How long reading + validating + loading a cohort takes, against plain pandas.read_csv.

Run: `make bench` (or `.venv/bin/python benchmarks/bench_ingest.py [patients]`).
Reports seconds and the ratio to a baseline measured in the same run: pandas reading
the same CSV files with no checks at all. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from icans_core import store  # noqa: E402
from icans_core.ingest import load_paths  # noqa: E402
from icans_core.sample import generate_cohort, write_cohort  # noqa: E402


def best_of(runs: int, work) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(folder: Path, runs: int) -> dict:
    files = sorted(folder.glob("*.csv"))
    rows = sum(len(pd.read_csv(f)) for f in files)
    baseline = best_of(runs, lambda: [pd.read_csv(f) for f in files])
    validate = best_of(runs, lambda: load_paths([folder]))
    result = load_paths([folder])
    assert result.ok, result.report.head()
    load = best_of(runs, lambda: store.load_cohort(store.connect(), result.cohort))
    tracemalloc.start()
    load_paths([folder])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"rows": rows, "read_csv_s": baseline, "validate_s": validate, "duckdb_load_s": load,
            "ratio_validate_to_read_csv": validate / baseline, "validate_peak_mib": peak / 2**20}


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [300, 10_000]
    print(f"{'patients':>9} {'rows':>10} {'read_csv s':>11} {'validate s':>11} {'x read_csv':>11} "
          f"{'duckdb s':>9} {'peak MiB':>9}")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            write_cohort(generate_cohort(n, seed=7), Path(tmp))
            m = measure(Path(tmp), runs=3 if n <= 1000 else 1)
        print(f"{n:>9} {m['rows']:>10,} {m['read_csv_s']:>11.2f} {m['validate_s']:>11.2f} "
              f"{m['ratio_validate_to_read_csv']:>11.1f} {m['duckdb_load_s']:>9.2f} {m['validate_peak_mib']:>9.0f}")


if __name__ == "__main__":
    main()

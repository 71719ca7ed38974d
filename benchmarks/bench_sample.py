"""Time the synthetic cohort generator for 300 and 10,000 patients (a script, not a test).

Run: .venv/bin/python benchmarks/bench_sample.py
Prints the best of 3 runs for 300 patients, one run for 10,000, the time to write
the 10,000-patient cohort as CSV to a temporary folder, and the 10,000/300 ratio.
No timed assertions: the figures depend on the machine.
"""

from __future__ import annotations

import tempfile

from timing import time_call  # first: it puts the checkout on the import path

from icans_core.sample import generate_cohort, write_cohort

SEED = 7


def main() -> None:
    """Print the benchmark figures."""
    small = min(time_call(generate_cohort, 300, SEED)[0] for _ in range(3))
    large, tables = time_call(generate_cohort, 10_000, SEED)
    rows = {name: len(frame) for name, frame in tables.items()}
    with tempfile.TemporaryDirectory() as out:
        written, paths = time_call(write_cohort, tables, out)
        size_mb = sum(p.stat().st_size for p in paths) / 1e6
    print(f"generate_cohort(300):    {small:8.3f} s (best of 3)")
    print(f"generate_cohort(10000):  {large:8.3f} s (one run; rows {rows})")
    print(f"write_cohort(10000):     {written:8.3f} s ({size_mb:.1f} MB of CSV)")
    print(f"ratio 10000/300:         {large / small:8.1f} x (patients x{10_000 / 300:.1f})")


if __name__ == "__main__":
    main()

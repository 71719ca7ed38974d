"""ASTCT grading from observations: the vectorised grader against the rules applied row by row (a script, not a test).

Run: .venv/bin/python benchmarks/bench_grading.py [--patients 6000]
Grades the synthetic cohort's observations (about 17 per patient: 6,000 patients give ~100,000) with
grading.grade_observations (numpy) and with grading.grade_observations_one_by_one (crs_grade / icans_grade
per row, the reference), checks the two agree, and prints observations per second and the ratio,
measured in the same run. No timed assertions: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pandas.testing as pdt  # noqa: E402

from icans_core import grading  # noqa: E402
from icans_core.ingest import load_paths  # noqa: E402
from icans_core.sample import generate_cohort, write_cohort  # noqa: E402

SEED = 7


def timed(function, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=6000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        loaded = load_paths(write_cohort(generate_cohort(args.patients, SEED), folder))
    assert loaded.ok, loaded.report
    tables = loaded.cohort.tables  # validated, as the app grades them
    inputs = (tables["observations"], tables["patients"], tables["interventions"])
    n = len(tables["observations"])
    fast = min(timed(grading.grade_observations, *inputs)[0] for _ in range(3))
    slow, reference = timed(grading.grade_observations_one_by_one, *inputs)
    pdt.assert_frame_equal(grading.grade_observations(*inputs), reference)
    print(f"observations graded:            {n:,} ({args.patients:,} patients)")
    print(f"vectorised (numpy), best of 3:  {fast:8.3f} s  {n / fast:12,.0f} observations/s")
    print(f"row by row (reference), 1 run:  {slow:8.3f} s  {n / slow:12,.0f} observations/s")
    print(f"ratio:                          {slow / fast:8.1f} x faster, identical grades and drivers")


if __name__ == "__main__":
    main()

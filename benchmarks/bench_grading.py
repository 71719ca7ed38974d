"""ASTCT grading from observations: the vectorised grader against the rules applied row by row (a script, not a test).

Run: .venv/bin/python benchmarks/bench_grading.py [--patients 6000]
Grades the synthetic cohort's observations (about 17 per patient: 6,000 patients give ~100,000) with
grading.grade_observations (numpy) and with grading.grade_observations_one_by_one (crs_grade / icans_grade
per row, the reference), checks the two agree, and prints observations per second and the ratio,
measured in the same run. No timed assertions: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import tempfile

from timing import time_call  # first: it puts the checkout on the import path

import pandas.testing as pdt

from icans_core import grading
from icans_core.ingest import load_paths
from icans_core.sample import generate_cohort, write_cohort

SEED = 7


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
    fast = min(time_call(grading.grade_observations, *inputs)[0] for _ in range(3))
    slow, reference = time_call(grading.grade_observations_one_by_one, *inputs)
    pdt.assert_frame_equal(grading.grade_observations(*inputs), reference)
    print(f"observations graded:            {n:,} ({args.patients:,} patients)")
    print(f"vectorised (numpy), best of 3:  {fast:8.3f} s  {n / fast:12,.0f} observations/s")
    print(f"row by row (reference), 1 run:  {slow:8.3f} s  {n / slow:12,.0f} observations/s")
    print(f"ratio:                          {slow / fast:8.1f} x faster, identical grades and drivers")


if __name__ == "__main__":
    main()

"""The command line: parse, call one library function, print. Exit 0 = fine, 2 = refused."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from icans_core.ingest import load_paths
from icans_core.problems import format_problem

EXIT_OK = 0
EXIT_REFUSED = 2


def _validate(args: argparse.Namespace) -> int:
    result = load_paths(args.inputs)
    for problem in sorted(result.problems, key=lambda p: p.severity != "error"):
        print(format_problem(problem))
    errors, warnings = len(result.errors), len(result.problems) - len(result.errors)
    if result.ok:
        counts = ", ".join(f"{len(t)} {name} rows" for name, t in result.cohort.tables.items())
        print(f"OK: the cohort would load ({counts}); {warnings} warning(s).")
        return EXIT_OK
    print(f"REFUSED: {errors} error(s), {warnings} warning(s); nothing would be loaded.")
    return EXIT_REFUSED


def _export(args: argparse.Namespace) -> int:
    from icans_core import store
    from icans_core.episodes import EpisodeOptions
    from icans_core.options import AnalysisOptions
    from icans_core.results import compute_results, write_results

    try:
        options = AnalysisOptions(
            episodes=EpisodeOptions(args.severe_grade, args.resolved_grade, args.origin),
            group_by=args.group_by, ci=args.ci)
    except ValueError as exc:
        print(f"REFUSED: {exc}")
        return EXIT_REFUSED
    result = load_paths(args.inputs)
    if not result.ok:  # nothing is written for a cohort that fails validation
        for problem in result.errors:
            print(format_problem(problem))
        print(f"REFUSED: {len(result.errors)} error(s); nothing was written.")
        return EXIT_REFUSED
    con = store.connect()
    store.load_cohort(con, result.cohort)
    written = write_results(compute_results(con, options), args.out)
    print(f"Wrote {len(written)} files to {args.out}: " + ", ".join(p.name for p in written))
    return EXIT_OK


def _sample(args: argparse.Namespace) -> int:
    from icans_core.sample import generate_cohort, write_cohort

    if args.patients < 1:
        print("--patients must be at least 1", file=sys.stderr)
        return EXIT_REFUSED
    written = write_cohort(generate_cohort(args.patients, args.seed), Path(args.out))
    print(f"Wrote {args.patients} synthetic patients (seed {args.seed}): " + ", ".join(str(p) for p in written))
    return EXIT_OK


def _template(args: argparse.Namespace) -> int:
    from icans_core.template import write_template

    print(f"Wrote {write_template(args.out)}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m icans_core",
                                     description="CAR-T toxicity cohorts: validate, generate samples.")
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="check a cohort against the data format")
    validate.add_argument("inputs", nargs="+", help=".xlsx, .zip, .csv or .parquet files, or folders of them")
    validate.set_defaults(run=_validate)

    export = commands.add_parser("export", help="write the results tables (episodes, resolution, ...) as CSV")
    export.add_argument("inputs", nargs="+", help=".xlsx, .zip, .csv or .parquet files, or folders of them")
    export.add_argument("--out", required=True, help="folder for the result CSV files")
    export.add_argument("--severe-grade", type=int, default=3, help="ICANS grade that starts an episode (3)")
    export.add_argument("--resolved-grade", type=int, default=1, help="ICANS grade that resolves it (1)")
    export.add_argument("--origin", default="onset",
                        help="time origin: onset, or an intervention class such as IVIG or corticosteroid")
    export.add_argument("--group-by", default="group",
                        choices=["group", "product", "costimulatory_domain", "target", "disease"])
    export.add_argument("--ci", default="log", choices=["log", "log-log"],
                        help="confidence-interval transform of the median (log = R's default)")
    export.set_defaults(run=_export)

    sample = commands.add_parser("sample", help="write a deterministic synthetic cohort as CSV files")
    sample.add_argument("--patients", type=int, default=300)
    sample.add_argument("--seed", type=int, default=7)
    sample.add_argument("--out", required=True, help="folder to write patients.csv, toxicity.csv, ...")
    sample.set_defaults(run=_sample)

    template = commands.add_parser("template", help="write the .xlsx upload template")
    template.add_argument("--out", default="cohort-template.xlsx")
    template.set_defaults(run=_template)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.run(args)

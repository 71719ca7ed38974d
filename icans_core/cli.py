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


def _analysis_inputs(args: argparse.Namespace):
    """Options, filter and a loaded connection for export and report; or an exit status if refused."""
    from icans_core import store
    from icans_core.episodes import EpisodeOptions
    from icans_core.filters import CohortFilter, InterventionFilter, unknown_values
    from icans_core.options import AnalysisOptions

    try:
        options = AnalysisOptions(
            episodes=EpisodeOptions(args.severe_grade, args.resolved_grade, args.origin),
            group_by=args.group_by, ci=args.ci)
        age = None if args.age_min is None and args.age_max is None else (
            args.age_min if args.age_min is not None else 0, args.age_max if args.age_max is not None else 200)
        cohort_filter = CohortFilter(
            products=tuple(args.product), costimulatory_domains=tuple(args.costimulatory_domain),
            targets=tuple(args.target), diseases=tuple(args.disease), groups=tuple(args.group),
            sexes=tuple(args.sex), ecog=tuple(args.ecog), age_range=age,
            max_crs_grades=tuple(args.max_crs_grade), max_icans_grades=tuple(args.max_icans_grade),
            intervention=InterventionFilter(tuple(args.intervention), args.intervention_mode,
                                            args.intervention_within_days, args.severe_grade))
    except ValueError as exc:
        print(f"REFUSED: {exc}")
        return EXIT_REFUSED
    result = load_paths(args.inputs)
    if not result.ok:  # nothing is written for a cohort that fails validation
        for problem in result.errors:
            print(format_problem(problem))
        print(f"REFUSED: {len(result.errors)} error(s); nothing was written.")
        return EXIT_REFUSED
    for problem in result.problems:  # warnings: the cohort loads, and the user is told (as `validate` does)
        print(format_problem(problem))
    con = store.connect()
    store.load_cohort(con, result.cohort)
    unknown = unknown_values(cohort_filter, store.filter_choices(con))
    if unknown:  # a value that matches nobody would give empty results without a word
        for message in unknown:
            print(f"REFUSED: {message}")
        print("REFUSED: nothing was written.")
        return EXIT_REFUSED
    selected = store.select_patients(con, cohort_filter)
    print(f"{selected} of {len(result.cohort.tables['patients'])} patients selected.")
    return con, options, cohort_filter


def _export(args: argparse.Namespace) -> int:
    from icans_core.nca import NcaOptions
    from icans_core.results import compute_results, write_results

    prepared = _analysis_inputs(args)
    if isinstance(prepared, int):
        return prepared
    con, options, _ = prepared
    try:
        nca_options = NcaOptions(args.auc_method, args.auc_window, args.blq)
    except ValueError as exc:
        print(f"REFUSED: {exc}")
        return EXIT_REFUSED
    written = write_results(compute_results(con, options, tuple(args.cox_covariate), nca_options), args.out)
    print(f"Wrote {len(written)} files to {args.out}: " + ", ".join(p.name for p in written))
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from icans_core.filters import describe
    from icans_core.report import app_version, build_report

    prepared = _analysis_inputs(args)
    if isinstance(prepared, int):
        return prepared
    con, options, cohort_filter = prepared
    out = Path(args.out)
    as_pdf = args.pdf or args.format == "pdf" or (args.format is None and out.suffix.lower() == ".pdf")
    # built whole before anything is written
    if as_pdf:
        from icans_core.report_pdf import build_report_pdf

        document = build_report_pdf(con, options, describe(cohort_filter), app_version())
    else:
        document = build_report(con, options, describe(cohort_filter), app_version())
    out.parent.mkdir(parents=True, exist_ok=True)
    if as_pdf:
        out.write_bytes(document)
    else:
        out.write_text(document, encoding="utf-8")
    print(f"Wrote {out}")
    return EXIT_OK


def _sample(args: argparse.Namespace) -> int:
    from icans_core.sample import generate_cohort, write_cohort

    if args.patients < 1:
        print("--patients must be at least 1", file=sys.stderr)
        return EXIT_REFUSED
    if args.format == "redcap":
        from icans_core.sample_redcap import write_redcap_example

        written = write_redcap_example(generate_cohort(args.patients, args.seed), Path(args.out))
        print(f"Wrote an example REDCap project of {args.patients} synthetic patients (seed {args.seed}): "
              + ", ".join(str(p) for p in written))
        return EXIT_OK
    written = write_cohort(generate_cohort(args.patients, args.seed), Path(args.out))
    print(f"Wrote {args.patients} synthetic patients (seed {args.seed}): " + ", ".join(str(p) for p in written))
    return EXIT_OK


def _import_redcap(args: argparse.Namespace) -> int:
    from icans_core.ingest import load_raw_tables
    from icans_core.readers import Source
    from icans_core.redcap import _with_field, convert_redcap, write_converted

    paths = {"export": Path(args.export), "dictionary": Path(args.dictionary), "mapping": Path(args.mapping)}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        print(f"REFUSED: no such file: {', '.join(missing)}")
        return EXIT_REFUSED
    sources = {k: Source(p.name, p.read_bytes()) for k, p in paths.items()}
    # run locally: identifier and date fields are dropped with a warning rather than refused
    conversion = convert_redcap(sources["export"], sources["dictionary"], sources["mapping"], on_server=False)
    problems = conversion.problems
    if not any(p.severity == "error" for p in problems):
        result = load_raw_tables(conversion.tables, problems, list(sources.values()))
        problems = [_with_field(p, conversion.fields) for p in result.problems]
    for problem in sorted(problems, key=lambda p: p.severity != "error"):
        print(format_problem(problem))
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        print(f"REFUSED: {len(errors)} error(s); nothing was written.")
        return EXIT_REFUSED
    counts = ", ".join(f"{len(t.frame)} {t.table} rows" for t in conversion.tables)
    if args.out:
        written = write_converted(conversion, args.out)
        print(f"OK: converted ({counts}); wrote " + ", ".join(str(p) for p in written))
    else:
        print(f"OK: the REDCap project would load ({counts}); {len(problems)} warning(s).")
    return EXIT_OK


def _prepare(args: argparse.Namespace) -> int:
    from icans_core.prepare import prepare_paths

    result = prepare_paths(args.inputs, args.infusion_date_column, args.date_order)
    for problem in result.problems:
        print(format_problem(problem))
    if not result.ok:
        print(f"REFUSED: {len(result.errors)} error(s); nothing was written.")
        return EXIT_REFUSED
    written = result.write(args.out)
    print(f"OK: wrote {', '.join(str(p) for p in written)}. Dates and identifiers removed: "
          f"{len(result.removed)} item(s), listed in prepare-report.csv. Check the folder with "
          "`python -m icans_core validate` before uploading it.")
    return EXIT_OK


def _template(args: argparse.Namespace) -> int:
    from icans_core.template import write_template

    print(f"Wrote {write_template(args.out)}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m icans_core",
                                     description="CAR-T toxicity cohorts: validate, export, prepare, import "
                                                 "REDCap, generate samples.")
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="check a cohort against the data format")
    validate.add_argument("inputs", nargs="+", help=".xlsx, .zip, .csv or .parquet files, or folders of them")
    validate.set_defaults(run=_validate)

    analysis = argparse.ArgumentParser(add_help=False)  # what export and report share with the dashboard
    analysis.add_argument("inputs", nargs="+", help=".xlsx, .zip, .csv or .parquet files, or folders of them")
    options = analysis.add_argument_group("analysis options (as the dashboard's sidebar)")
    options.add_argument("--severe-grade", type=int, default=3, help="ICANS grade that starts an episode (3)")
    options.add_argument("--resolved-grade", type=int, default=1, help="ICANS grade that resolves it (1)")
    options.add_argument("--origin", default="onset",
                         help="time origin: onset, or an intervention class such as IVIG or corticosteroid")
    options.add_argument("--group-by", default="group",
                         choices=["group", "product", "costimulatory_domain", "target", "disease"])
    options.add_argument("--ci", default="log", choices=["log", "log-log"],
                         help="confidence-interval transform of the median (log = R's default)")
    cohort = analysis.add_argument_group("cohort filters (repeat an option for several values)")
    for name in ("product", "costimulatory-domain", "target", "disease", "group", "sex"):
        cohort.add_argument(f"--{name}", action="append", default=[], metavar="VALUE")
    cohort.add_argument("--ecog", type=int, action="append", default=[], metavar="N")
    cohort.add_argument("--age-min", type=float)
    cohort.add_argument("--age-max", type=float)
    cohort.add_argument("--max-crs-grade", type=int, action="append", default=[], metavar="GRADE")
    cohort.add_argument("--max-icans-grade", type=int, action="append", default=[], metavar="GRADE")
    cohort.add_argument("--intervention", action="append", default=[], metavar="CLASS_OR_AGENT")
    cohort.add_argument("--intervention-mode", default="any", choices=["any", "all", "none"])
    cohort.add_argument("--intervention-within-days", type=float, metavar="DAYS",
                        help="only doses started within DAYS after severe-ICANS onset count")

    export = commands.add_parser("export", parents=[analysis],
                                 help="write the results tables (episodes, resolution, ...) as CSV")
    export.add_argument("--out", required=True, help="folder for the result CSV files")
    more = export.add_argument_group("added result files (cox.csv, expansion_nca.csv)")
    more.add_argument("--cox-covariate", action="append", default=[],
                      choices=["peak_grade", "ecog", "age_years", "product", "costimulatory_domain"],
                      help="a covariate of the Cox model besides the group (repeat for several)")
    more.add_argument("--auc-method", default="linear", choices=["linear", "lin up/log down"],
                      help="AUC integration of expansion_nca.csv (PKNCA's names)")
    more.add_argument("--auc-window", default="observed", choices=["observed", "interpolated"],
                      help="observed: counts inside the window only; interpolated: PKNCA aucint ends")
    more.add_argument("--blq", default="as recorded", choices=["as recorded", "zero", "PKNCA"],
                      help="how counts below the LLOQ enter expansion_nca.csv")
    export.set_defaults(run=_export)

    report = commands.add_parser("report", parents=[analysis],
                                 help="write a self-contained HTML (or PDF) report of every figure and table")
    report.add_argument("--out", required=True, help="the file to write, e.g. report.html or report.pdf")
    report.add_argument("--format", choices=["html", "pdf"], default=None,
                        help="html or pdf (default: from the --out suffix, else html)")
    report.add_argument("--pdf", action="store_true", help="the same as --format pdf")
    report.set_defaults(run=_report)

    sample = commands.add_parser("sample", help="write a deterministic synthetic cohort as CSV files")
    sample.add_argument("--patients", type=int, default=300)
    sample.add_argument("--seed", type=int, default=7)
    sample.add_argument("--out", required=True, help="folder to write patients.csv, toxicity.csv, ...")
    sample.add_argument("--format", default="contract", choices=["contract", "redcap"],
                        help="contract CSV files (default), or an example REDCap project: data dictionary, "
                             "raw and labels exports, mapping")
    sample.set_defaults(run=_sample)

    redcap = commands.add_parser("import-redcap", help="convert a REDCap export (with its data dictionary and a "
                                                        "mapping file) into contract CSV files")
    redcap.add_argument("export", help="the REDCap flat CSV export (raw codes or labels)")
    redcap.add_argument("--dictionary", required=True, help="the project's data dictionary (CSV)")
    redcap.add_argument("--mapping", required=True, help="the mapping file (TOML, see docs/data-format.md)")
    redcap.add_argument("--out", help="folder for the contract CSV files (without it: check only)")
    redcap.set_defaults(run=_import_redcap)

    prepare = commands.add_parser("prepare", help="on your own computer: turn calendar dates into days since "
                                                  "infusion, drop dates and identifiers, write contract files")
    prepare.add_argument("inputs", nargs="+", help=".xlsx, .zip, .csv or .parquet files named after the tables")
    prepare.add_argument("--out", required=True, help="folder for the contract CSV files and prepare-report.csv")
    prepare.add_argument("--infusion-date-column", default="infusion_date",
                         help="the patients table's column holding the infusion date (infusion_date)")
    prepare.add_argument("--date-order", choices=["dmy", "mdy"],
                         help="how to read dates like 03/04/2024: day first (dmy) or month first (mdy)")
    prepare.set_defaults(run=_prepare)

    template = commands.add_parser("template", help="write the .xlsx upload template")
    template.add_argument("--out", default="cohort-template.xlsx")
    template.set_defaults(run=_template)

    hashing = commands.add_parser("hash-password",
                                  help="turn a team password into the password_hash for secrets.toml")
    hashing.set_defaults(run=_hash_password)
    return parser


def _hash_password(args: argparse.Namespace) -> int:
    """Read the password without echoing it (or from a pipe), print the [access] lines to paste."""
    from icans_core import passwords

    if sys.stdin.isatty():
        import getpass
        password = getpass.getpass("Team password: ")
        if getpass.getpass("Again: ") != password:
            print("The two passwords differ; nothing was written.", file=sys.stderr)
            return EXIT_REFUSED
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        hashed = passwords.hash_password(password)
    except ValueError as exc:
        print(f"Refused: {exc}.", file=sys.stderr)
        return EXIT_REFUSED
    print("# Paste into .streamlit/secrets.toml (never commit that file):")
    print("[access]")
    print(f'password_hash = "{hashed}"')
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.run(args)

"""A self-contained HTML report of the selected patients: every figure and table of the analysis
pages, with the filters, options and data provenance that produced them.

    html = build_report(con, AnalysisOptions(), filter_lines=[], app_version=app_version())

The report calls the same core and chart functions as the pages, with the pages' default choices.
It is one file: inline CSS, figures as inline SVG rendered offline by vl-convert, no scripts, no
external files or fonts. Everything that comes from the data is escaped, and a Content-Security-
Policy forbids scripts and remote loads in case anything ever slipped through.
"""

from __future__ import annotations

import hashlib
import html
import re
import tomllib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import altair as alt
import duckdb
import pandas as pd
import vl_convert as vlc

from icans_core import expansion, grade_change, kinetics, published, steroids, store, summary, survival, swimlanes
from icans_core import schema as S
from icans_core.charts import survival as survival_charts
from icans_core.charts.expansion import expansion_chart
from icans_core.charts.grade_change import grade_change_chart
from icans_core.charts.kinetics import cytokine_chart
from icans_core.charts.overview import grade_distribution_chart
from icans_core.charts.steroids import steroid_chart
from icans_core.charts.swimlanes import swimlane_chart
from icans_core.episodes import compute_episodes
from icans_core.options import AnalysisOptions

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
NO_FILTER = "No filter: all patients of the cohort"
MAX_ROWS = 50  # patient-level tables beyond this are cut; the CSV export has every row
FIGURE_WIDTH = 640  # for charts that take the page's width in the app and have none of their own

# The pages' default choices that live in views/ (kept equal to them; the report cannot import views).
# The pages' defaults, from the core, so the report always shows what the pages show by default.
CYTOKINE_DAYS = kinetics.DEFAULT_DAYS
CYTOKINE_CLASSES = kinetics.DEFAULT_LINES
GRADE_CHANGE_DAYS = (grade_change.DAYS_BEFORE, grade_change.DAYS_AFTER)
STEROID_MEASURE = next(iter(steroids.MEASURES))  # the Treatments page's first (default) measure

SECTIONS = {
    "overview": "Overview",
    "swimlanes": "Swimlanes",
    "cytokines": "Cytokines",
    "resolution": "Resolution",
    "treatments": "Treatments",
    "expansion": "Expansion",
}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1a1a1a;
 max-width:1200px;margin:0 auto;padding:1.5rem 2rem;line-height:1.45}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;margin-top:2.5rem}
h3{margin-top:1.8rem}
.meta{color:#555;margin:.1rem 0}
nav ol{columns:3;padding-left:1.2rem}
.table{overflow-x:auto;margin:.6rem 0}table.data{border-collapse:collapse;font-size:.85rem}
table.data th,table.data td{border:1px solid #ccc;padding:.2rem .45rem;text-align:left;vertical-align:top;
 max-width:28rem}
table.data th{background:#f2f2f2}
table.data tbody tr:nth-child(even){background:#fafafa}
table.provenance td:last-child{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
dl.options{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}
dl.options dt{font-weight:600}dl.options dd{margin:0}
.numbers{display:flex;flex-wrap:wrap;gap:1rem;margin:.8rem 0}
.numbers div{border:1px solid #ddd;border-radius:6px;padding:.5rem .9rem;min-width:11rem}
.numbers .value{display:block;font-size:1.5rem;font-weight:600}
.numbers .detail{display:block;color:#555;font-size:.8rem}
figure{margin:1rem 0;overflow-x:auto}figure svg{max-width:100%;height:auto}
.absent{background:#eef4fb;border-left:4px solid #4a7fc1;padding:.5rem .8rem}
.warning{background:#fff6e5;border-left:4px solid #e0a020;padding:.5rem .8rem}
.cut{color:#555;font-style:italic}
@media print{body{max-width:none;padding:0}h2{break-before:page}figure,table.data tr{break-inside:avoid}
 nav{display:none}}
"""


def app_version() -> str:
    """The app's version from pyproject.toml ('unknown' when the file is not beside the package)."""
    try:
        with PYPROJECT.open("rb") as f:
            return str(tomllib.load(f)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def describe_filters(filter_lines: list[str]) -> list[str]:
    """The cohort filter lines as the report states them (a line saying there is none when empty)."""
    lines = [str(line) for line in filter_lines if str(line).strip()]
    return lines or [NO_FILTER]


def describe_options(options: AnalysisOptions) -> list[tuple[str, str]]:
    """The analysis options in words, as (option, value) pairs, in the order the report lists them."""
    episodes = options.episodes
    return [
        ("Compare by", store.GROUPING_LABELS.get(options.group_by, options.group_by)),
        ("Severe ICANS", f"ASTCT ICANS grade {episodes.severe_grade} or higher starts an episode"),
        ("Resolved", f"first later assessment at ICANS grade {episodes.resolved_grade} or lower"),
        ("CI transform", f"{survival.CI_TRANSFORMS.get(options.ci, options.ci)}, 95%"),
        ("Time origin", episodes.origin_label),
    ]


def report_file_name(label: str, when: datetime) -> str:
    """A file name for the report from the cohort label and the date, e.g. icans-report-sample-2025-06-01.html."""
    slug = re.sub(r"[^a-z0-9]+", "-", str(label).lower()).strip("-")[:60].strip("-") or "cohort"
    return f"icans-report-{slug}-{when:%Y-%m-%d}.html"


def build_report(con: duckdb.DuckDBPyConnection, options: AnalysisOptions, filter_lines: list[str],
                 app_version: str, generated_at: datetime | None = None) -> str:
    """One self-contained HTML document: filters, options, provenance, then every page's figures and tables."""
    generated_at = generated_at or datetime.now(timezone.utc)
    info = store.cohort_info(con)
    data = _gather(con, options)
    body = [
        f"<h1>CAR-T toxicity cohort report: {_e(info['label'])}</h1>",
        f'<p class="meta">Generated {_e(f"{generated_at.astimezone(timezone.utc):%d %b %Y, %H:%M:%S} UTC")}'
        f" · icans-explorer version {_e(app_version)}</p>",
        _contents(),
        _section("filters", "Cohort filters", [
            "<ul>" + "".join(f"<li>{_e(line)}</li>" for line in describe_filters(filter_lines)) + "</ul>",
            _p(f"{len(data.patients):,} patients selected.")]),
        _section("options", "Analysis options", ['<dl class="options">' + "".join(
            f"<dt>{_e(name)}</dt><dd>{_e(value)}</dd>" for name, value in describe_options(options)) + "</dl>"]),
        _section("provenance", "Data provenance", _provenance(info)),
        _section("overview", SECTIONS["overview"], _overview(data)),
        _section("swimlanes", SECTIONS["swimlanes"], _swimlanes(data)),
        _section("cytokines", SECTIONS["cytokines"], _cytokines(con, data)),
        _section("resolution", SECTIONS["resolution"], _resolution(data)),
        _section("treatments", SECTIONS["treatments"], _treatments(data)),
        _section("expansion", SECTIONS["expansion"], _expansion(con, data)),
    ]
    title = f"CAR-T toxicity cohort report: {info['label']}"
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            # No scripts, no remote loads: only the inline styles this file carries.
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


# --- the data every section shares -----------------------------------------------------------------

@dataclass(frozen=True)
class _Data:
    options: AnalysisOptions
    patients: pd.DataFrame
    toxicity: pd.DataFrame
    interventions: pd.DataFrame
    episodes: pd.DataFrame
    exposure: pd.DataFrame
    groups: list[str]  # every group of the selected patients, in colour order


def _gather(con: duckdb.DuckDBPyConnection, options: AnalysisOptions) -> _Data:
    patients = store.patients_frame(con, options.group_by)
    toxicity = store.toxicity_frame(con)
    interventions = store.interventions_frame(con)
    episodes = compute_episodes(toxicity, patients, interventions, options.episodes)
    exposure = steroids.steroid_exposure(interventions, patients)
    groups = sorted(patients["group"].dropna().astype(str).unique())
    return _Data(options, patients, toxicity, interventions, episodes, exposure, groups)


# --- sections ----------------------------------------------------------------------------------------

def _provenance(info: dict) -> list[str]:
    sources = info["sources"].rename(columns={"name": "file", "size_bytes": "size (bytes)", "sha256": "SHA-256"})
    return [
        '<dl class="options">'
        f"<dt>Cohort</dt><dd>{_e(info['label'])}</dd>"
        f"<dt>Loaded</dt><dd>{_e(info['loaded_at'])}</dd>"
        f"<dt>Source files</dt><dd>{len(sources)}</dd></dl>",
        _table(sources, classes="data provenance"),
        _p("SHA-256 of each file as it was read; compare with the output of sha256sum to check that these are the "
           "files analysed."),
    ]


def _no_patients(data: _Data) -> list[str] | None:
    if data.patients.empty:
        return [_absent("No patients are selected: there is nothing to show here.")]
    return None


def _overview(data: _Data) -> list[str]:
    if (empty := _no_patients(data)) is not None:
        return empty
    episodes, options = data.episodes, data.options.episodes
    out = ['<div class="numbers">' + "".join(
        f'<div><span class="value">{_e(r.value)}</span>{_e(r.measure)}<span class="detail">{_e(r.detail)}</span>'
        "</div>" for r in summary.key_numbers(data.patients, episodes).itertuples()) + "</div>",
        _p(f"Severe ICANS: ASTCT grade {options.severe_grade} or higher; resolved at grade "
           f"{options.resolved_grade} or lower; time from {options.origin_label}.")]
    small = summary.small_groups(data.patients)
    if len(small):
        listed = ", ".join(f"{g} ({n})" for g, n in small.itertuples(index=False))
        out.append(_warning(f"Small groups (fewer than {summary.SMALL_GROUP} patients): {listed}. Percentages "
                            "and p-values for them are fragile; read the counts."))

    out.append("<h3>Patient characteristics per group (Table 1)</h3>")
    tidy = summary.cohort_summary(data.patients, data.toxicity, data.interventions, data.exposure, episodes)
    out.append(_table(summary.summary_table(tidy)))
    tests = summary.used_tests(tidy)
    out.append(_p("Tests compare the groups (the 'All patients' column is not part of any test); missing values "
                  "are shown as 'unknown' and left out of tests."))
    if len(tests):
        out.append("<ul>" + "".join(f"<li><strong>{_e(t)}</strong>: {_e(x)}.</li>"
                                    for t, x in tests.itertuples(index=False)) + "</ul>")

    out.append("<h3>Maximum CRS and ICANS grade per group</h3>")
    distribution = summary.grade_distribution(data.patients, data.toxicity)
    if distribution.empty:
        out.append(_absent("No CRS or ICANS assessment is recorded for the selected patients."))
    else:
        out.append(_figure(grade_distribution_chart(distribution)))

    out.append("<h3>This cohort beside published series</h3>")
    if episodes.empty:
        out.append(_absent("No selected patient had a severe-ICANS episode: only the published series are listed."))
    out.append(_table(published.compare_with_published(episodes, data.exposure)))
    out.append(_p("Response rate = share of severe-ICANS episodes resolved; TTR = time to resolution (this cohort: "
                  "median over resolved episodes); CSD = cumulative systemic steroid dose in dexamethasone mg "
                  "(this cohort: median over patients with an episode, whole follow-up). N/R = not reported. "
                  "The published series are steroid-refractory or selected populations: compare with care."))
    out.append("<p><strong>Sources</strong></p><ul>" + "".join(
        f"<li>{_e(c)}: {_e(what)}</li>" for c, what in published.citations().itertuples(index=False)) + "</ul>")
    return out


def _swimlanes(data: _Data) -> list[str]:
    if (empty := _no_patients(data)) is not None:
        return empty
    severe_grade = data.options.episodes.severe_grade
    out = ["<h3>Clinical course per patient</h3>"]
    lane_options = swimlanes.SwimlaneOptions()  # the page's defaults: by group, severe only, 60 lanes, days -5-60
    view = swimlanes.build_swimlanes(data.toxicity, data.interventions, data.patients, data.episodes, lane_options)
    if not view.order:
        out.append(_absent(f"No selected patient has a severe ICANS episode (grade {severe_grade} or more), so "
                           "there are no lanes to draw."))
    else:
        out.append(_p(f"Patients with a severe-ICANS episode, sorted by {lane_options.by}, days "
                      f"{lane_options.days[0]:g} to {lane_options.days[1]:g} since infusion, every intervention "
                      "class marked."))
        if view.left_out:
            out.append(_p(f"Showing the first {len(view.order)} of {view.eligible} patients in this order; "
                          f"{view.left_out} more in the Swimlanes page and in the CSV export (swimlanes.csv).",
                          "cut"))
        out.append(_figure(swimlane_chart(
            view.intervals, view.marks, view.patient_marks, view.order, patient_groups=view.patient_groups,
            groups=view.groups, group_sizes=view.group_sizes, days=view.days)))

    classes = swimlanes.intervention_classes(data.interventions)
    agent_class = S.IVIG_CLASS if S.IVIG_CLASS in classes else (classes[0] if classes else S.IVIG_CLASS)
    out.append(f"<h3>Grade change after {_e(agent_class)}</h3>")
    if not classes:
        out.append(_absent("This cohort records no interventions, so there is no first dose to count from."))
        return out
    before, after = GRADE_CHANGE_DAYS
    groups = swimlanes.group_order(data.patients)
    daily = grade_change.grade_after_intervention(data.toxicity, data.interventions, data.patients, agent_class,
                                                  before, after, options=data.options.episodes, groups=groups)
    day0 = f"first {agent_class} dose at or after severe-ICANS onset (grade {severe_grade}+)"
    if daily.empty:
        out.append(_absent(f"No patient has an ICANS assessment around a {day0}."))
        return out
    sizes = grade_change.patients_per_group(daily)
    small = [f"{g} ({n})" for g, n in sizes.items() if n < survival.SMALL_GROUP]
    if small:
        out.append(_warning("Fewer than 10 patients in: " + ", ".join(small) + ". Medians of so few patients move "
                            "a whole grade with one patient; read them with the individual lines."))
    change = grade_change.summarise_grade_change(daily, severe_grade=severe_grade)
    out.append(_figure(grade_change_chart(change, daily, agent_class, groups=groups, group_sizes=sizes,
                                          day0=day0, severe_grade=severe_grade)))
    out.append(_p(f"Per group and day relative to the {day0} (days -{before} to {after}): patients with a grade "
                  f"(n), median and quartiles of the ICANS grade, share with grade {severe_grade} or more."))
    out.append(_table(change))
    return out


def _cytokines(con: duckdb.DuckDBPyConnection, data: _Data) -> list[str]:
    if (empty := _no_patients(data)) is not None:
        return empty
    choices = kinetics.list_serum_analytes(list(store.lab_analytes(con)["analyte"]))
    if not choices:
        return [_absent("This cohort has no cytokine or serum-marker measurements (labs table), so there is "
                        "nothing to show here.")]
    chosen = [a for a in kinetics.DEFAULT_ANALYTES if a in choices] or choices[:1]
    # Every serum analyte and day is tested, as in the export, so the q-values here are the export's.
    patient_days = store.lab_patient_days(con, choices, data.options.group_by)
    medians = kinetics.select_medians(kinetics.cytokine_medians(patient_days), chosen, CYTOKINE_DAYS)
    out = [_p(f"{', '.join(chosen)}: median per group and whole day since CAR-T infusion, days "
              f"{CYTOKINE_DAYS[0]} to {CYTOKINE_DAYS[1]}, log scale, values below the LLOQ as recorded; dashed "
              f"lines at the median day {', '.join(CYTOKINE_CLASSES)} were first given; days marked on raw p.")]
    if medians.empty:
        return out + [_absent(f"No values of {', '.join(chosen)} between day {CYTOKINE_DAYS[0]} and day "
                              f"{CYTOKINE_DAYS[1]} for these patients.")]
    marks = kinetics.significance_marks(medians)
    lines = kinetics.intervention_days(data.interventions, data.patients, None, list(CYTOKINE_CLASSES))
    sizes = kinetics.count_patients(medians)
    small = sizes[sizes["small"]]
    if len(small):
        named = dict.fromkeys(f"{r.group} (n={r.n_patients})" for r in small.itertuples())
        out.append(_warning(f"Small groups, fewer than {kinetics.SMALL_GROUP} patients with values: "
                            f"{'; '.join(named)}. Read their medians and tests with care."))
    for analyte in chosen:
        out.append(f"<h3>{_e(analyte)}</h3>")
        if medians[medians["analyte"] == analyte].empty:
            out.append(_absent(f"No {analyte} values in this day range."))
            continue
        out.append(_figure(cytokine_chart(medians, marks, lines, analyte, True, "Days since CAR-T infusion",
                                          data.groups, "p")))
    tests = kinetics.count_tests(medians)
    lloq = kinetics.count_below_lloq(medians)
    out.append("<h3>Medians per group and day</h3>")
    out.append(_p(
        "Per day, the groups with at least 2 patients that day are compared: Mann-Whitney U (two-sided; exact "
        "below 50 per group without ties, as R's wilcox.test) for two groups, Kruskal-Wallis for more. Days here: "
        f"{', '.join(f'{r.n_tests} {r.test}' for r in tests.itertuples())}. q is the Benjamini-Hochberg "
        "adjustment over every day and serum analyte of the cohort (as in the results export). Quartiles: linear "
        "interpolation (R type 7). One value per patient and day (the patient's median that day). Below the LLOQ "
        "(read as recorded): " + "; ".join(f"{r.analyte} {r.n_below_lloq} of {r.n_values} patient-day values"
                                            for r in lloq.itertuples()) + "."))
    out.append(_table(medians))
    return out


def _resolution(data: _Data) -> list[str]:
    if (empty := _no_patients(data)) is not None:
        return empty
    options, ci, episodes = data.options.episodes, data.options.ci, data.episodes
    if episodes.empty:
        return [_absent(f"No selected patient has ICANS grade {options.severe_grade} or higher: there are no "
                        "severe episodes to analyse.")]
    out = []
    left_out = survival.count_left_out(episodes)
    missing = left_out[left_out["left_out"] > 0]
    if len(missing):
        detail = "; ".join(f"{r.group}: {r.left_out} of {r.episodes}" for r in missing.itertuples())
        out.append(_p(f"{int(missing['left_out'].sum())} of {int(left_out['episodes'].sum())} episode(s) had no "
                      f"{options.origin} dose between onset and the end of the episode and are left out ({detail})."))
    if left_out["analysed"].sum() == 0:
        out.append(_absent(f"No episode had a {options.origin} dose between onset and the end of the episode, so "
                           "no time to resolution can be measured from it."))
    else:
        out += _resolution_results(episodes, options.origin_label, ci, data.groups)
    out.append("<h3>Episodes</h3>")
    out.append(_p("One row per patient with a severe-ICANS episode (the first one). Times in days since CAR-T "
                  "infusion; time_to_resolution in days since the chosen origin."))
    out.append(_table(episodes, limit=MAX_ROWS, export_file="episodes.csv"))
    return out


def _resolution_results(episodes: pd.DataFrame, origin_label: str, ci: str, groups: list[str]) -> list[str]:
    km = survival.kaplan_meier(episodes, ci)
    medians = survival.median_times(episodes, ci, km)
    at_risk = survival.number_at_risk(km)
    out = []
    small = survival.small_groups(episodes)
    if small:
        out.append(_warning(f"Fewer than {survival.SMALL_GROUP} patients in: {', '.join(small)}. Curves, medians "
                            "and tests for such groups are very uncertain; read the number at risk."))
    out.append("<h3>Kaplan-Meier: time to resolution</h3>")
    out.append(_figure(survival_charts.km_figure(km, medians, at_risk, origin_label, ci, survival_charts.RESOLVED,
                                                 groups)))
    out.append("<h3>Median time to resolution</h3>")
    out.append(_p("Median in days (R survival's rule: midpoint where the curve sits exactly at 0.5); 95% CI from "
                  f"the {survival.CI_TRANSFORMS[ci]} band; blank = not reached. n = episodes analysed, resolved = "
                  "episodes that resolved."))
    out.append(_table(medians))
    out.append("<h3>Log-rank test</h3>")
    tests = survival.logrank(episodes)
    if tests.empty:
        out.append(_absent("Only one group has episodes to analyse: there is nothing to compare."))
    else:
        out.append(_p("Deaths counted as censored, as in R's survdiff. With more than two groups, each pair is also "
                      "tested; p_holm is the Holm-adjusted p of the pairwise tests."))
        out.append(_table(tests))
    out.append("<h3>Cumulative incidence of resolution (death as a competing event)</h3>")
    cif = survival.cumulative_incidence(episodes)
    out.append(_figure(survival_charts.cif_chart(cif, medians, origin_label, groups)))
    out.append(_p("An episode that ended in death before resolution is censored at the day of death in the "
                  "Kaplan-Meier curve, the medians and the log-rank test. In the cumulative incidence, death is a "
                  "competing event (Aalen-Johansen): the dashed line is the proportion who died first."))
    return out


def _treatments(data: _Data) -> list[str]:
    equivalents = ["<h3>Dexamethasone equivalents used</h3>", _table(steroids.equivalence_table()),
                   _p(f"Source: {S.STEROID_EQUIVALENCE_SOURCE}. mg of the drug x factor = mg dexamethasone; "
                      "equipotent_mg is the dose equal to 0.75 mg dexamethasone. Intrathecal hydrocortisone or "
                      "dexamethasone is intrathecal therapy, not systemic exposure.")]
    if (empty := _no_patients(data)) is not None:
        return empty + equivalents
    if data.interventions.empty:
        return [_absent("The selected patients have no recorded interventions (the interventions table is empty "
                        "or was not uploaded).")] + equivalents
    exposure = data.exposure
    out = []
    left_out = steroids.left_out_rows(data.interventions)
    if len(left_out):
        out.append(_warning(f"{len(left_out)} systemic corticosteroid row(s) are left out of the cumulative "
                            "dexamethasone-equivalent dose (their dose is not in mg or is missing); their days "
                            "still count as steroid days."))
        out.append(_table(left_out, limit=MAX_ROWS))
    out.append("<h3>Systemic steroid exposure per group</h3>")
    groups_summary = steroids.steroid_summary(exposure)
    if not (exposure["steroid_days"] > 0).any():
        out.append(_absent("None of these patients received a systemic corticosteroid."))
    else:
        small = summary.small_groups(exposure)
        if len(small):
            listed = ", ".join(f"{g} ({n})" for g, n in small.itertuples(index=False))
            out.append(_warning(f"Small groups (fewer than {summary.SMALL_GROUP} patients): {listed}."))
        out.append(_figure(steroid_chart(exposure, groups_summary, STEROID_MEASURE, False)))
        out.append(_table(groups_summary))
        out.append(_p("Among 'treated patients' (at least one systemic steroid day) and among 'all patients' "
                      "(untreated count as 0). Quartiles by linear interpolation (R's default). Groups compared "
                      "with Mann-Whitney U (two groups) or Kruskal-Wallis (more)."))
        out.append("<h3>Steroid exposure per patient</h3>")
        out.append(_table(exposure, limit=MAX_ROWS, export_file="steroid_exposure.csv"))
    out += equivalents
    out.append("<h3>Interventions received per class and group</h3>")
    out.append(_table(summary.interventions_by_class(data.interventions, data.patients)))
    return out


def _expansion(con: duckdb.DuckDBPyConnection, data: _Data) -> list[str]:
    if (empty := _no_patients(data)) is not None:
        return empty
    measured = set(store.lab_analytes(con)["analyte"])
    cell_analytes = [a for a in S.CELL_COUNT_ANALYTES if a in measured]
    if not cell_analytes:
        return [_absent("This cohort has no CAR-T cell counts (labs with analyte 'CAR-T cells', 'CD4+ CAR-T "
                        "cells' or 'CD8+ CAR-T cells'), so expansion cannot be shown.")]
    analyte = cell_analytes[0]  # the page's default choice
    group_by = data.options.group_by
    curves = expansion.expansion_curves(store.lab_patient_days(con, cell_analytes, group_by))
    metrics = expansion.expansion_metrics(store.lab_values(con, cell_analytes))
    out = ["<h3>Expansion curves</h3>", _figure(expansion_chart(curves, analyte, True, data.groups))]
    sizes = kinetics.count_patients(curves[curves["analyte"] == analyte])
    small = [f"{r.group} (n={r.n_patients})" for r in sizes[sizes["small"]].itertuples()]
    if small:
        out.append(_warning(f"Small groups, fewer than {kinetics.SMALL_GROUP} patients with {analyte}: "
                            f"{'; '.join(small)}. Read their medians and tests with care."))
    out.append("<h3>Cmax, Tmax and AUC0-28 per group, with tests</h3>")
    out.append(_p("Cmax = highest count (cells/uL); Tmax = first day it is reached; AUC0-28 = trapezoidal area "
                  "(cells/uL x days) over the observed counts with 0 <= day <= 28, not extrapolated. Median and IQR "
                  "(R type 7) per group; Mann-Whitney U (two groups) or Kruskal-Wallis (more); q is the "
                  "Benjamini-Hochberg adjustment over the analyte x metric tests in this table."))
    out.append(_table(expansion.expansion_summary(metrics, data.patients)))
    out.append("<h3>Per patient</h3>")
    out.append(_table(expansion.attach_groups(metrics, data.patients), limit=MAX_ROWS, export_file="expansion.csv"))
    return out


# --- HTML pieces: everything from the data passes through _e or DataFrame.to_html(escape=True) ------------

def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _p(text: str, css: str = "") -> str:
    return f'<p class="{css}">{_e(text)}</p>' if css else f"<p>{_e(text)}</p>"


def _absent(text: str) -> str:
    return f'<p class="absent">{_e(text)}</p>'


def _warning(text: str) -> str:
    return f'<p class="warning">{_e(text)}</p>'


def _section(anchor: str, title: str, parts: list[str]) -> str:
    return f'<section id="{anchor}">\n<h2>{_e(title)}</h2>\n' + "\n".join(parts) + "\n</section>"


def _contents() -> str:
    entries = [("filters", "Cohort filters"), ("options", "Analysis options"), ("provenance", "Data provenance"),
               *SECTIONS.items()]
    return "<nav><ol>" + "".join(f'<li><a href="#{a}">{_e(t)}</a></li>' for a, t in entries) + "</ol></nav>"


def _number(value: float) -> str:
    if abs(value) >= 1e4:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _table(frame: pd.DataFrame, limit: int | None = None, export_file: str | None = None,
           classes: str = "data") -> str:
    shown = frame if limit is None else frame.head(limit)
    table = '<div class="table">' + shown.to_html(escape=True, index=False, na_rep="", border=0, classes=classes,
                                                 float_format=_number) + "</div>"
    if limit is None or len(frame) <= limit:
        return table
    more = len(frame) - limit
    where = f"the CSV export ({export_file})" if export_file else "the CSV export"
    return table + _p(f"Showing the first {limit} of {len(frame):,} rows; {more:,} more rows in {where}.", "cut")


def _figure(chart: alt.TopLevelMixin) -> str:
    spec = chart.to_dict()  # validates once; the dict goes to vl-convert as it is
    if not any(k in spec for k in ("width", "hconcat", "vconcat", "concat", "facet")):
        spec["width"] = FIGURE_WIDTH  # in the app it stretches to the page
    svg = vlc.vegalite_to_svg(spec)
    lowered = svg.lower()
    # vl-convert escapes every label; refuse rather than embed anything active if that ever changed.
    if "<script" in lowered or "<foreignobject" in lowered or "javascript:" in lowered:
        raise ValueError("a rendered figure contains active content")
    return f"<figure>{_scope_ids(svg)}</figure>"


def _scope_ids(svg: str) -> str:
    # Inline SVGs share the page's id space, and vl-convert numbers clip paths with its renderer's own
    # counter (per process and worker, not per page): two figures could both hold id="clip1", and the
    # second would clip to the first one's rectangle. A prefix per figure keeps every id unique.
    prefix = "f" + hashlib.sha256(svg.encode()).hexdigest()[:10] + "-"
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", svg)
    return re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}{m.group(1)}"', svg)

"""Cytokine kinetics: median serum levels per group over days, compared each day (the IVIG study's Fig 3)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from icans_core import derived_tables, kinetics, store
from icans_core import schema as S
from icans_core.charts.kinetics import cytokine_chart, cytokine_panels_chart, mark_legend
from icans_core.content.sections import Figure, Heading, Note, Table, View, plural
from icans_core.options import AnalysisOptions

TITLE = "Cytokines"
ALIGNMENTS = {"infusion": "Days since CAR-T infusion", "onset": "Days since severe-ICANS onset"}
MARK_SYMBOL = {"p_value": "p", "q_value": "q"}
LAYOUTS = {"separate": "One figure per analyte", "panels": "One figure, a panel per analyte (Fig 3)"}
MARK_STYLE_LABELS = {"dagger": "* p < 0.05, † p < 0.1", "study": "** p < 0.05, * p < 0.1 (the IVIG study)"}


@dataclass(frozen=True)
class CytokineOptions:
    """Analytes (None: the defaults the cohort has), day 0, days, scale, LLOQ reading, lines and marks."""

    analytes: tuple[str, ...] | None = None
    alignment: str = "infusion"
    days: tuple[int, int] = kinetics.DEFAULT_DAYS
    log_scale: bool = True
    lloq: str = kinetics.LLOQ_AS_RECORDED
    classes: tuple[str, ...] = tuple(kinetics.DEFAULT_LINES)
    mark_on: str = "p_value"
    mark_style: str = "dagger"
    layout: str = "separate"


def available_analytes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The serum analytes measured in the selected patients."""
    return kinetics.list_serum_analytes(list(store.lab_analytes(con)["analyte"]))


def default_analytes(choices: list[str]) -> list[str]:
    """The analytes shown by default: IL-6, IFN-gamma, IL-10 where measured, else the first."""
    return [a for a in kinetics.DEFAULT_ANALYTES if a in choices] or choices[:1]


def build(con: duckdb.DuckDBPyConnection, analysis: AnalysisOptions,
          options: CytokineOptions = CytokineOptions()) -> View:
    """The Cytokines view's sections."""
    view = View("cytokines", TITLE)
    patients = store.patients_frame(con, analysis.group_by)
    if patients.empty:  # checked first: the analytes measured are those of the selected patients
        return view.add(Note("No patients are selected: widen the cohort filters to see cytokine kinetics.", "info"))
    choices = available_analytes(con)
    if not choices:
        # the labs table may hold CAR-T cell counts only (the Expansion page's): say what is missing, not "a labs table"
        return view.add(Note("The selected patients have no cytokine or serum-marker measurements in the labs table "
                             "(IL-6, IFN-gamma, CRP, ...), so there is nothing to show here. Add them to the labs table "
                             "to see cytokine kinetics.", "info"))
    chosen = [a for a in (options.analytes if options.analytes is not None else default_analytes(choices))
              if a in choices]
    if not chosen:
        return view.add(Note("Choose at least one analyte.", "info"))
    groups = store.group_names(con, analysis.group_by)  # one colour per group whatever the alignment or filter
    origins = None
    severe = analysis.episodes.severe_grade
    if options.alignment == "onset":
        episodes = derived_tables.episodes(con, analysis.group_by, analysis.episodes)  # derived once, restricted
        origins = kinetics.align_at_onset(episodes)
        view.add(Note(f"Aligned at severe-ICANS onset (first ICANS grade {severe} or higher): "
                      f"{plural(len(origins), 'patient')} with an episode; "
                      f"{plural(len(patients) - len(origins), 'patient')} without one are left out.", "info"))
        if origins.empty:
            return view
    # every serum analyte and day is tested, as in the export, so the q-values shown are the export's
    # medians and tests aggregated in DuckDB from the session's derived patient-day table (issue 11)
    medians = kinetics.select_medians(
        kinetics.cohort_cytokine_medians(con, choices, analysis.group_by, origins, options.lloq), chosen, options.days)
    first, last = options.days
    if medians.empty:
        return view.add(Note(f"No values of {', '.join(chosen)} between day {first} and day {last} for these "
                             "patients.", "info"))
    marks = kinetics.significance_marks(medians, on=options.mark_on)
    lines = kinetics.intervention_days(store.interventions_frame(con), patients, origins, list(options.classes))
    sizes = kinetics.count_patients(medians)
    small = sizes[sizes["small"]]
    if len(small):
        named = dict.fromkeys(f"{r.group} (n={r.n_patients})" for r in small.itertuples())
        view.add(Note(f"Small groups, fewer than {kinetics.SMALL_GROUP} patients with values: {'; '.join(named)}. "
                      "Read their medians and tests with care.", "warning"))
    day_title = ALIGNMENTS[options.alignment]
    symbol = MARK_SYMBOL[options.mark_on]
    caption = (f"Median per group and whole day, days {first} to {last}, "
               f"{'log' if options.log_scale else 'linear'} scale, values below the LLOQ "
               f"{'as recorded' if options.lloq == kinetics.LLOQ_AS_RECORDED else 'at half the LLOQ'}; dashed lines at "
               f"the median day {', '.join(options.classes) or 'no class'} was first given; days marked on "
               f"{'raw p' if options.mark_on == 'p_value' else 'BH q'} ({mark_legend(options.mark_style, symbol)}).")
    drawn = [a for a in chosen if (medians["analyte"] == a).any()]
    if options.layout == "panels" and len(drawn) > 1:
        view.add(Figure(cytokine_panels_chart(medians, marks, lines, drawn, options.log_scale, day_title, groups,
                                              symbol, options.mark_style),
                        medians, "cytokine-kinetics-" + "-".join(drawn), "cytokines_panels", caption))
    else:
        for analyte in chosen:
            if analyte not in drawn:
                view.add(Heading(analyte), Note(f"No {analyte} values in this day range.", "info"))
                continue
            view.add(Heading(analyte), Figure(
                cytokine_chart(medians, marks, lines, analyte, options.log_scale, day_title, groups, symbol,
                               options.mark_style),
                medians[medians["analyte"] == analyte], f"cytokine-kinetics-{analyte}",
                f"cytokines_{S.vocabulary_key(analyte)}", caption))
    lloq_counts = kinetics.count_below_lloq(medians)
    tests = kinetics.count_tests(medians)
    view.add(Heading("Medians per group and day"), Table(
        medians, "cytokine-medians", "cytokines_medians",
        "Per day, the groups with at least 2 patients that day are compared: Mann-Whitney U (two-sided; exact "
        "below 50 per group without ties, as R's wilcox.test) for two groups, Kruskal-Wallis for more. Days here: "
        f"{', '.join(f'{r.n_tests} {r.test}' for r in tests.itertuples())}. q is the Benjamini-Hochberg adjustment "
        "over every day and serum analyte of the cohort (as in the results export), not only those shown. "
        "Quartiles: linear interpolation (R type 7). One value per patient and day (the patient's median that "
        "day). Blank p / q: not tested that day (fewer than 2 groups with 2 patients). Below the LLOQ (read "
        f"{'as recorded' if options.lloq == kinetics.LLOQ_AS_RECORDED else 'as LLOQ/2'}): "
        + "; ".join(f"{r.analyte} {r.n_below_lloq} of {r.n_values} patient-day values"
                    for r in lloq_counts.itertuples()) + ".",
        formats={"p_value": "p", "q_value": "p"}))
    return view

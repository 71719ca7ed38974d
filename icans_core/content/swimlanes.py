"""Swimlanes: each patient's ICANS and CRS grades with the treatments given (IVIG study Fig 2), and the
change in ICANS grade after an intervention (Fig 1B).

Two parts, each with its own options, because the page puts the grade-change controls between them;
`build` joins both for the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import duckdb
import numpy as np
import pandas as pd

from icans_core import derived_tables, grade_change, store, swimlanes
from icans_core.charts.grade_change import grade_change_chart
from icans_core.charts.swimlanes import MAX_LANES_PER_PAGE, swimlane_chart
from icans_core.content.sections import Figure, Heading, Note, Table, View
from icans_core.episodes import EpisodeOptions
from icans_core.options import AnalysisOptions
from icans_core.schema import AGENT_CLASSES, IVIG_CLASS

TITLE = "Swimlanes"
SMALL_GROUP = 10  # the clinical reference: warn below 10 patients per group
MAX_PATIENT_LINES = 200  # thin per-patient lines drawn at most; the medians use every patient
MAX_LINE_ROWS = 4000  # and at most this many patient-days of them (Altair refuses more than 5,000 rows)
SAMPLE_SEED = 20250415  # fixed: the same cohort always draws the same sample
SYMBOL_CHOICES = ("class", "agent")


@dataclass(frozen=True)
class LaneOptions:
    """The lanes: order, which patients, lanes per page and page, days, classes marked, symbols."""

    by: str = "group"
    only_severe: bool = True
    per_page: int = 60
    page: int = 1
    days: tuple[float, float] = swimlanes.DEFAULT_DAYS
    classes: tuple[str, ...] | None = None
    symbol_by: str = "class"


@dataclass(frozen=True)
class ChangeOptions:
    """The grade change: intervention class (None: IVIG if given, else the first), day 0, window, groups."""

    agent_class: str | None = None
    after_onset: bool = True
    before: int = grade_change.DAYS_BEFORE
    after: int = grade_change.DAYS_AFTER
    groups: tuple[str, ...] | None = None
    lines: bool = True


@dataclass(frozen=True)
class SwimlaneViewOptions:
    lanes: LaneOptions = field(default_factory=LaneOptions)
    change: ChangeOptions = field(default_factory=ChangeOptions)


@dataclass(frozen=True)
class Data:
    """What both parts read, read once per page run."""

    patients: pd.DataFrame
    toxicity: pd.DataFrame
    interventions: pd.DataFrame
    episodes: pd.DataFrame
    classes: list[str]
    day_extent: tuple[int, int]
    groups: list[str]
    discrepancies: pd.DataFrame | None = None  # recorded vs derived grades (derived_tables.grade_discrepancies)
    # the selected patients' episodes under other options (derived once per cohort and options)
    episodes_under: Callable[[EpisodeOptions], pd.DataFrame] | None = None
    intervals: pd.DataFrame | None = None  # swimlanes.grade_intervals of the selection (derived once per cohort)


def read(con: duckdb.DuckDBPyConnection, analysis: AnalysisOptions) -> Data:
    """The selected patients' frames, their episodes, classes given and day span."""
    patients = store.patients_frame(con, analysis.group_by)
    toxicity = store.toxicity_frame(con)
    interventions = store.interventions_frame(con)
    episodes = derived_tables.episodes(con, analysis.group_by, analysis.episodes)  # derived once, restricted
    return Data(patients, toxicity, interventions, episodes, swimlanes.intervention_classes(interventions),
                swimlanes.day_extent(toxicity, interventions), swimlanes.group_order(patients),
                derived_tables.grade_discrepancies(con),
                lambda options: derived_tables.episodes(con, analysis.group_by, options),
                derived_tables.grade_intervals(con))


def pages(eligible: int, per_page: int) -> int:
    """How many pages of lanes `eligible` patients fill."""
    return max(1, math.ceil(eligible / max(per_page, 1)))


def lanes(data: Data, analysis: AnalysisOptions, options: LaneOptions = LaneOptions()) -> View:
    """The clinical-course part; context: order, patient_groups, eligible, pages."""
    view = View("swimlanes", TITLE)
    if data.patients.empty:
        return view.add(Note("No patients are selected: widen the cohort filters to see swimlanes.", "info"))
    severe_grade = analysis.episodes.severe_grade
    view.add(Heading("Clinical course per patient"))
    per_page = max(1, min(int(options.per_page), MAX_LANES_PER_PAGE))
    n_pages = pages(swimlanes.eligible_count(data.patients, data.episodes, options.only_severe), per_page)
    page = min(max(int(options.page), 1), n_pages)
    built = swimlanes.build_swimlanes(data.toxicity, data.interventions, data.patients, data.episodes,
                                      swimlanes.SwimlaneOptions(
                                          by=options.by, only_severe=options.only_severe, limit=per_page,
                                          days=options.days, classes=options.classes, offset=(page - 1) * per_page),
                                      discrepancies=data.discrepancies, intervals=data.intervals)
    view.context.update(order=built.order, patient_groups=built.patient_groups, eligible=built.eligible,
                        pages=n_pages, page=page)
    if not built.order:
        return view.add(Note(f"No patient in the selected cohort has a severe ICANS episode (grade {severe_grade} "
                             "or more). Choose 'All patients' to see every patient.", "info"))
    who = "Patients with a severe-ICANS episode" if options.only_severe else "All selected patients"
    page_note = ""
    if n_pages > 1:
        start = (page - 1) * per_page + 1
        page_note = f"lanes {start}-{start + len(built.order) - 1} of {built.eligible:,} (page {page} of {n_pages})"
        view.add(Note(f"{who}: {built.eligible:,} lanes in {n_pages} pages of {per_page}; this is page {page} "
                      f"(lanes {start} to {start + len(built.order) - 1}). Every lane is in the figure's CSV of "
                      "its page and in the results export (swimlanes.csv).", "info"))
    chart = swimlane_chart(built.intervals, built.marks, built.patient_marks, built.order,
                           patient_groups=built.patient_groups, groups=data.groups, group_sizes=built.group_sizes,
                           days=built.days, symbol_by=options.symbol_by, page_note=page_note,
                           discrepancies=built.discrepancies)
    found = built.discrepancies
    if found is not None and len(found):
        spans = int(found["bin_days"].max())
        view.add(Note(f"≠ marks {int(found['disagreements'].sum()):,} recorded grade(s) on these lanes that differ "
                      "from the grade derived from the bedside observations of the same patient and day (ASTCT "
                      "rules; in the app, hover a mark for both grades and the domain that set the derived "
                      "one). "
                      + (f"So many that each mark gathers one lane's disagreements within {spans} day(s). "
                         if spans else "")
                      + "The Cohort page of the app lists every disagreement.", "info"))
    view.add(Figure(chart, built.intervals, "toxicity-swimlanes", "swimlanes_lanes",
                    f"{who}, sorted by {options.by}, days {built.days[0]:g} to {built.days[1]:g} since infusion; "
                    + ("one symbol per drug." if options.symbol_by == "agent" else "one symbol per intervention class.")))
    return view


def default_class(classes: list[str]) -> str | None:
    """The class the grade change counts from by default: IVIG where given, else the first given."""
    if not classes:
        return None
    return IVIG_CLASS if IVIG_CLASS in classes else classes[0]


def sample_patients(daily: pd.DataFrame, most: int = MAX_PATIENT_LINES, seed: int = SAMPLE_SEED) -> pd.DataFrame:
    """At most `most` patients' rows of a per-patient frame, the patients drawn at random (fixed seed)."""
    ids = daily["patient_id"].drop_duplicates()
    if len(ids) <= most:
        return daily
    chosen = ids.sample(n=most, random_state=np.random.RandomState(seed))
    return daily[daily["patient_id"].isin(set(chosen))]


def change(data: Data, analysis: AnalysisOptions, options: ChangeOptions = ChangeOptions()) -> View:
    """The grade-change part (Fig 1B)."""
    view = View("swimlanes", TITLE)
    if data.patients.empty:
        return view
    agent_class = options.agent_class or default_class(data.classes)
    view.add(Heading(f"Grade change after {agent_class}" if agent_class else "Grade change after an intervention"))
    if agent_class is None:
        return view.add(Note("This cohort records no interventions, so there is no first dose to count from.",
                             "info"))
    severe_grade = analysis.episodes.severe_grade
    episode_options = analysis.episodes if options.after_onset else None
    chosen_groups = list(options.groups) if options.groups is not None else None
    # day 0 after onset is the origin of episodes counted from the class's first dose
    from_dose = (data.episodes_under(replace(episode_options, origin=agent_class))
                 if episode_options and data.episodes_under and agent_class in AGENT_CLASSES else None)
    daily = grade_change.grade_after_intervention(data.toxicity, data.interventions, data.patients, agent_class,
                                                  int(options.before), int(options.after), options=episode_options,
                                                  groups=chosen_groups, episodes=from_dose)
    day0 = (f"first {agent_class} dose at or after severe-ICANS onset (grade {severe_grade}+)"
            if episode_options else f"first {agent_class} dose at any time")
    if daily.empty:
        return view.add(Note(f"No patient in the chosen groups has an ICANS assessment around a {day0}.", "info"))
    sizes = grade_change.patients_per_group(daily)
    small = [f"{g} ({n})" for g, n in sizes.items() if n < SMALL_GROUP]
    if small:
        view.add(Note("Fewer than 10 patients in: " + ", ".join(small) + ". Medians of so few patients move a "
                      "whole grade with one patient; read them with the individual lines.", "warning"))
    summary = grade_change.summarise_grade_change(daily, severe_grade=severe_grade)
    lines, note = None, "each patient"
    if options.lines:
        days = int(options.before) + int(options.after) + 1
        most = max(1, min(MAX_PATIENT_LINES, MAX_LINE_ROWS // days))
        lines = sample_patients(daily, most)
        total = daily["patient_id"].nunique()
        if len(lines) < len(daily):
            note = f"{lines['patient_id'].nunique()} of {total:,} patients, a random sample (fixed seed)"
    chart = grade_change_chart(summary, lines, agent_class, groups=data.groups, group_sizes=sizes, day0=day0,
                               severe_grade=severe_grade, lines_note=note)
    view.add(Figure(chart, daily, f"icans-grade-after-{agent_class}", "swimlanes_change",
                    f"Day 0: {day0}; days -{options.before} to {options.after}. The CSV holds every patient-day."),
             Table(summary, f"icans-grade-after-{agent_class}-summary", "swimlanes_change_summary",
                   f"Per group and day relative to the {day0}: patients with a grade (n), median and quartiles of "
                   f"the ICANS grade, share with grade {severe_grade} or more (share_severe).",
                   formats={"share_severe": "percent", "median_grade": ".1f", "q1": ".1f", "q3": ".1f"}))
    return view


def build(con: duckdb.DuckDBPyConnection, analysis: AnalysisOptions,
          options: SwimlaneViewOptions = SwimlaneViewOptions()) -> View:
    """Both parts, lanes then grade change, as the report shows them."""
    data = read(con, analysis)
    view = lanes(data, analysis, options.lanes)
    if data.patients.empty:
        return view
    view.sections += change(data, analysis, options.change).sections
    return view

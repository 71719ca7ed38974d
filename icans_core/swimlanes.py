"""Toxicity swimlanes: per-patient grade intervals, intervention marks and lane order.

One lane per syndrome (ICANS, CRS) for each patient, as in the IVIG study's Fig 2 ("a top
bar of ICANS grade and a lower bar of CRS grade"). Intervals follow the data contract:
consecutive assessments of one syndrome with the same grade form one interval, from the
first of them to the next assessment with another grade; a lane's last interval ends at
its last assessment. A blank grade means "not assessed" and is simply skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from icans_core import schema as S
from icans_core.id_order import natural_ranks
from icans_core.summary import group_order as summary_group_order

LANES = ("ICANS", "CRS")  # top lane first
_GRADE_COLUMN = {"ICANS": "icans_grade", "CRS": "crs_grade"}
INTERVAL_COLUMNS = ["patient_id", "lane", "start_day", "end_day", "grade"]
MARK_COLUMNS = ["patient_id", "agent", "agent_class", "start_day", "end_day", "daily_dose", "dose_unit",
                "route", "label", "multi_day"]
PATIENT_MARK_COLUMNS = ["patient_id", "kind", "day"]
DEATH, LAST_FOLLOWUP = "death", "last follow-up"
ORDERINGS = ("group", "onset", "peak grade", "time to resolution", "patient")
DEFAULT_DAYS = (-5.0, 60.0)
DISCREPANCY_COLUMNS = ["patient_id", "group", "lane", "day", "last_day", "disagreements", "recorded_grade",
                       "derived_grade", "driver", "bin_days"]
MAX_DISCREPANCY_MARKS = 2000  # one page's marks (Altair refuses a dataset of more than 5,000 rows)
DISCREPANCY_BINS = (1, 2, 5, 7, 14, 28, 60, 120, 365, 730, 1461, 2922, 7305, 14610)  # whole days per mark


def grade_intervals(toxicity: pd.DataFrame) -> pd.DataFrame:
    """Grade intervals per patient and lane (the export's swimlanes.csv).

    Input: toxicity (patient_id, day, crs_grade, icans_grade). Columns: patient_id, lane
    ("ICANS" or "CRS"), start_day, end_day, grade. A lane's last interval may have
    start_day == end_day (a single final assessment); it is kept with zero length, and
    swimlane_chart draws it as a short vertical tick at that day.
    """
    parts = [_lane_intervals(toxicity, lane) for lane in LANES]
    intervals = pd.concat(parts, ignore_index=True)
    lane_rank = intervals["lane"].map({lane: i for i, lane in enumerate(LANES)})
    order = np.lexsort((intervals["start_day"].to_numpy(), lane_rank.to_numpy(),
                        intervals["patient_id"].to_numpy()))
    return intervals.iloc[order].reset_index(drop=True)[INTERVAL_COLUMNS]


def _lane_intervals(toxicity: pd.DataFrame, lane: str) -> pd.DataFrame:
    column = _GRADE_COLUMN[lane]
    # A blank grade is "not assessed" for this syndrome: the row is no assessment of it at all.
    rows = toxicity.loc[toxicity[column].notna(), ["patient_id", "day", column]]
    # Stable, so same-day assessments keep their source order (the later one is the later grade).
    if rows.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in
                             zip(INTERVAL_COLUMNS, [object, object, float, float, int])})
    rows = rows.sort_values(["patient_id", "day"], kind="stable")
    grade = rows[column].astype(int).to_numpy()
    patient = rows["patient_id"].to_numpy()
    day = rows["day"].astype(float).to_numpy()
    new_patient = np.r_[True, patient[1:] != patient[:-1]]
    new_run = new_patient | np.r_[True, grade[1:] != grade[:-1]]
    starts = np.flatnonzero(new_run)
    run_last = np.r_[starts[1:], len(rows)] - 1
    # A run ends where the next run (another grade) starts; the lane's last run at its last assessment.
    next_is_same_patient = np.r_[~new_patient[starts[1:]], False]
    next_start = np.r_[day[starts[1:]], np.nan]
    end = np.where(next_is_same_patient, next_start, day[run_last])
    return pd.DataFrame({"patient_id": patient[starts], "lane": lane, "start_day": day[starts],
                         "end_day": end, "grade": grade[starts]})


def _number(values: pd.Series) -> pd.Series:
    return values.map(lambda v: "" if pd.isna(v) else f"{v:g}").astype(str)  # str even when empty


def intervention_marks(interventions: pd.DataFrame) -> pd.DataFrame:
    """One mark per intervention row, with a readable label.

    Columns: patient_id, agent, agent_class, start_day, end_day (blank = start_day),
    daily_dose, dose_unit, route, label (e.g. "dexamethasone 40 mg IV, days 5-7"),
    multi_day (the course spans more than its start day).
    """
    marks = interventions[["patient_id", "agent", "agent_class", "start_day", "end_day", "daily_dose",
                           "dose_unit", "route"]].copy()
    marks["start_day"] = marks["start_day"].astype(float)
    marks["end_day"] = marks["end_day"].astype(float).fillna(marks["start_day"])  # contract: blank = start_day
    marks["multi_day"] = marks["end_day"] > marks["start_day"]
    dose = _number(marks["daily_dose"])
    unit = marks["dose_unit"].fillna("").astype(str)
    dose = dose.where(dose == "", " " + dose + np.where(unit == "", "", " " + unit))
    route = marks["route"].fillna("").astype(str)
    route = route.where(route == "", " " + route)
    start, end = _number(marks["start_day"]), _number(marks["end_day"])
    days = np.where(marks["multi_day"], "days " + start + "-" + end, "day " + start)
    marks["label"] = marks["agent"].astype(str) + dose + route + ", " + days
    return marks.reset_index(drop=True)[MARK_COLUMNS]


def intervention_classes(interventions: pd.DataFrame) -> list[str]:
    """The intervention classes given in the cohort, in the contract's order."""
    given = set(interventions["agent_class"].dropna())
    return [c for c in S.AGENT_CLASSES if c in given] + sorted(given - set(S.AGENT_CLASSES))


def patient_marks(patients: pd.DataFrame) -> pd.DataFrame:
    """Death, or else last follow-up, per patient.

    Columns: patient_id, kind ("death" or "last follow-up"), day. A patient who died gets
    only the death mark (last follow-up then adds nothing).
    """
    died = patients["death_day"].notna()
    marks = pd.DataFrame({
        "patient_id": patients["patient_id"].to_numpy(),
        "kind": np.where(died, DEATH, LAST_FOLLOWUP),
        "day": np.where(died, patients["death_day"], patients["last_followup_day"]).astype(float),
    })
    return marks[marks["day"].notna()].reset_index(drop=True)[PATIENT_MARK_COLUMNS]


def group_order(patients: pd.DataFrame) -> list[str]:
    """Groups in a stable (alphabetical) order, so colours match across pages."""
    return summary_group_order(patients["group"])


def order_patients(patients: pd.DataFrame, episodes: pd.DataFrame, intervals: pd.DataFrame, by: str) -> list[str]:
    """Patient order for the lanes, top first.

    by: "group" (alphabetical, groups without any severe episode last; severe-ICANS onset
    within a group), "onset", "peak grade" (highest first: the episode's peak, else the
    highest ICANS grade recorded), "time to resolution" (resolved first, shortest first; then
    unresolved by their time), "patient" (identifier, numbers compared as numbers). Patients
    without a severe episode come after those with one, except by "patient"; ties are broken
    by patient_id. Returns the patient_ids.
    """
    if by not in ORDERINGS:
        raise ValueError(f"unknown order {by!r}; one of {', '.join(ORDERINGS)}")
    frame = patients[["patient_id", "group"]].drop_duplicates("patient_id")
    episode_columns = ["patient_id", "onset_day", "peak_grade", "time_to_resolution", "outcome"]
    frame = frame.merge(episodes[episode_columns], on="patient_id", how="left")
    highest = intervals.loc[intervals["lane"] == "ICANS"].groupby("patient_id")["grade"].max()
    ids = frame["patient_id"].unique()
    frame["natural"] = frame["patient_id"].map(dict(zip(ids, natural_ranks(ids))))
    frame["no_episode"] = frame["onset_day"].isna().astype(int)
    frame["peak"] = -frame["peak_grade"].astype(float).fillna(frame["patient_id"].map(highest)).fillna(-1)
    frame["unresolved"] = (frame["outcome"] != "resolved").astype(int)
    frame["group_rank"] = frame["group"].map({g: i for i, g in enumerate(group_order(frame))}).fillna(-1)
    # A group with no severe episode at all (e.g. "No severe ICANS") goes after the others.
    frame["quiet_group"] = frame.groupby("group")["no_episode"].transform("min")
    keys = {
        "patient": ["natural"],
        "onset": ["no_episode", "onset_day", "natural"],
        "group": ["quiet_group", "group_rank", "no_episode", "onset_day", "natural"],
        "peak grade": ["no_episode", "peak", "onset_day", "natural"],
        "time to resolution": ["no_episode", "unresolved", "time_to_resolution", "natural"],
    }[by]
    return frame.sort_values(keys, na_position="last", kind="stable")["patient_id"].tolist()


def eligible_count(patients: pd.DataFrame, episodes: pd.DataFrame, only_severe: bool) -> int:
    """How many lanes the options allow in all (every page): the patients, or those with a severe episode."""
    ids = set(patients["patient_id"])
    return len(ids & set(episodes["patient_id"])) if only_severe else len(ids)


def select_patients(order: list[str], limit: int | None = None, only: set[str] | None = None,
                    offset: int = 0) -> list[str]:
    """The `limit` patients of `order` after the first `offset` that are in `only` (all when None), in order."""
    chosen = [p for p in order if only is None or p in only][max(int(offset), 0):]
    return chosen if limit is None else chosen[:max(int(limit), 0)]


def day_extent(toxicity: pd.DataFrame, interventions: pd.DataFrame) -> tuple[int, int]:
    """Whole days spanned by the assessments and interventions (for a day-range control)."""
    days = pd.concat([toxicity["day"], interventions["start_day"], interventions["end_day"]]).dropna()
    if days.empty:
        return int(DEFAULT_DAYS[0]), int(DEFAULT_DAYS[1])
    return math.floor(days.min()), math.ceil(days.max())


@dataclass(frozen=True)
class SwimlaneOptions:
    """What the swimlane view shows: order, which patients, how many, which days and drugs."""

    by: str = "group"
    only_severe: bool = True  # patients with a severe-ICANS episode; False = everyone
    limit: int = 60
    days: tuple[float, float] = DEFAULT_DAYS
    classes: tuple[str, ...] | None = None  # intervention classes to mark; None = all
    offset: int = 0  # lanes skipped before the first shown (paging through a large cohort)

    def __post_init__(self) -> None:
        if self.by not in ORDERINGS:
            raise ValueError(f"unknown order {self.by!r}; one of {', '.join(ORDERINGS)}")
        if self.limit < 1:
            raise ValueError("show at least one lane")
        if self.days[0] >= self.days[1]:
            raise ValueError("the day range must run forwards")


@dataclass(frozen=True)
class Swimlanes:
    """The swimlane view: frames restricted to the shown patients and day range."""

    intervals: pd.DataFrame  # patient_id, group, lane, start_day, end_day, grade
    marks: pd.DataFrame  # intervention_marks columns + group
    patient_marks: pd.DataFrame  # patient_id, group, kind, day
    order: list[str]  # shown patients, top first
    patient_groups: dict[str, str]  # shown patient -> group
    groups: list[str]  # every group of the cohort, in colour order
    group_sizes: dict[str, int]  # shown patients per group
    eligible: int  # patients meeting the "which patients" choice (before the limit)
    days: tuple[float, float]  # the x range: the requested range clipped to the shown data
    discrepancies: pd.DataFrame | None = None  # discrepancy_marks of the shown patients and days

    @property
    def left_out(self) -> int:
        return self.eligible - len(self.order)


def build_swimlanes(toxicity: pd.DataFrame, interventions: pd.DataFrame, patients: pd.DataFrame,
                    episodes: pd.DataFrame, options: SwimlaneOptions = SwimlaneOptions(),
                    discrepancies: pd.DataFrame | None = None, intervals: pd.DataFrame | None = None) -> Swimlanes:
    """The swimlane view for the options (see Swimlanes for its frames and their columns).

    `discrepancies`: grading.discrepancies' frame (recorded vs derived grades), marked on the lanes.
    `intervals`: grade_intervals(toxicity), if the caller has it (derived_tables keeps it per cohort)."""
    intervals = grade_intervals(toxicity) if intervals is None else intervals
    order = order_patients(patients, episodes, intervals, options.by)
    only = set(episodes["patient_id"]) if options.only_severe else None
    eligible = eligible_count(patients, episodes, options.only_severe)
    shown = select_patients(order, options.limit, only, options.offset)
    group_of = patients.drop_duplicates("patient_id").set_index("patient_id")["group"]

    # one mark per intervention row: only the shown patients' rows are labelled (a page of 60, not 10,000)
    marks = intervention_marks(interventions[interventions["patient_id"].isin(shown)])
    if options.classes is not None:
        marks = marks[marks["agent_class"].isin(options.classes)]
    events = patient_marks(patients)
    intervals, events = (f[f["patient_id"].isin(shown)] for f in (intervals, events))

    days = _clip_days(options.days, intervals, marks)
    lo, hi = days
    # Rows wholly outside the window would be invisible; they are not sent to the browser.
    intervals = intervals[(intervals["end_day"] >= lo) & (intervals["start_day"] <= hi)]
    marks = marks[(marks["end_day"] >= lo) & (marks["start_day"] <= hi)]
    events = events[events["day"].between(lo, hi)]
    with_group = [f.assign(group=f["patient_id"].map(group_of)).reset_index(drop=True)
                  for f in (intervals, marks, events)]
    intervals = with_group[0][["patient_id", "group", "lane", "start_day", "end_day", "grade"]]
    marks = with_group[1][["patient_id", "group", *MARK_COLUMNS[1:]]]
    events = with_group[2][["patient_id", "group", "kind", "day"]]
    sizes = group_of.loc[shown].value_counts()
    groups = group_order(patients)
    found = None if discrepancies is None else discrepancy_marks(discrepancies, shown, days, group_of.to_dict())
    return Swimlanes(intervals, marks, events, shown, {p: group_of[p] for p in shown}, groups,
                     {g: int(sizes[g]) for g in groups if g in sizes}, eligible, days, found)


def discrepancy_marks(discrepancies: pd.DataFrame, shown: list[str], days: tuple[float, float],
                      group_of: dict[str, str] | None = None, most: int = MAX_DISCREPANCY_MARKS) -> pd.DataFrame:
    """One mark per patient, lane and span of whole days holding recorded grades that disagree with the
    grade derived from observations, for the `shown` patients within `days`.

    Each disagreement is its own mark while the marks fit in `most`; beyond that, the disagreements of a
    lane within 1, 2, 5, 7, 14, ... whole days (the smallest span that fits, counted from the window's
    first day) share one mark, so a page never sends more than `most` rows to the browser.
    Input: grading.discrepancies (patient_id, day, syndrome, recorded_grade, derived_grade, driver).
    Columns: patient_id, group, lane (ICANS or CRS), day (the first disagreement of the mark),
    last_day, disagreements (how many), recorded_grade, derived_grade, driver (text: the distinct values,
    in day order, separated by ', ' and '; '), bin_days (0 = one disagreement per mark, else the span).
    """
    lo, hi = float(days[0]), float(days[1])
    rows = discrepancies[discrepancies["patient_id"].isin(set(shown)) & discrepancies["day"].between(lo, hi)]
    rows = rows.assign(lane=rows["syndrome"]).sort_values(["patient_id", "lane", "day"], kind="stable")
    if rows.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in DISCREPANCY_COLUMNS})
    if len(rows) <= most:
        out = rows.assign(last_day=rows["day"], disagreements=1, bin_days=0,
                          recorded_grade=rows["recorded_grade"].astype(int).astype(str),
                          derived_grade=rows["derived_grade"].astype(int).astype(str))
    else:
        offset = np.floor(rows["day"].to_numpy(dtype=float)) - np.floor(lo)
        width = next((w for w in DISCREPANCY_BINS if w >= (hi - lo + 1)
                      or len(rows.assign(b=offset // w).drop_duplicates(["patient_id", "lane", "b"])) <= most),
                     DISCREPANCY_BINS[-1])
        binned = rows.assign(bin=offset // width)
        distinct = lambda values: ", ".join(dict.fromkeys(str(v) for v in values))  # noqa: E731
        out = binned.groupby(["patient_id", "lane", "bin"], sort=False).agg(
            day=("day", "min"), last_day=("day", "max"), disagreements=("day", "size"),
            recorded_grade=("recorded_grade", lambda v: distinct(v.astype(int))),
            derived_grade=("derived_grade", lambda v: distinct(v.astype(int))),
            driver=("driver", lambda v: "; ".join(dict.fromkeys(v)))).reset_index().assign(bin_days=width)
    out = out.assign(group=out["patient_id"].map(group_of or {}))
    return out[DISCREPANCY_COLUMNS].reset_index(drop=True)


def _clip_days(requested: tuple[float, float], intervals: pd.DataFrame, marks: pd.DataFrame) -> tuple[float, float]:
    # The requested window, narrowed to where the shown patients have data (no empty margins).
    days = pd.concat([intervals["start_day"], intervals["end_day"], marks["start_day"], marks["end_day"]])
    lo, hi = float(requested[0]), float(requested[1])
    if days.empty:
        return lo, hi
    clipped = max(lo, float(days.min())), min(hi, float(days.max()))
    return clipped if clipped[0] < clipped[1] else (lo, hi)

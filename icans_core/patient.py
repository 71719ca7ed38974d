"""One patient's course for the tumour-board view: grades, treatments, cytokines, CAR-T cells, key numbers.

Nothing here is defined afresh: grade intervals and intervention marks come from
icans_core.swimlanes, the severe-ICANS episode from icans_core.episodes (run by the caller with
the sidebar's thresholds), the steroid dose from icans_core.steroids, so a patient's numbers are
the ones every other page and the export show for that patient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from icans_core import schema as S
from icans_core.id_order import natural_ranks
from icans_core.steroids import steroid_exposure
from icans_core.swimlanes import grade_intervals, intervention_marks

LAB_COLUMNS = ["analyte", "unit", "day", "value", "below_lloq"]
TREATMENT_COLUMNS = ["agent", "agent_class", "route", "row", "start_day", "end_day", "days", "daily_dose",
                     "dose_unit", "dose", "label_dose", "label", "multi_day"]
TABLE_COLUMNS = ["agent", "agent_class", "days", "daily_dose", "dose_unit", "route"]
EVENT_COLUMNS = ["kind", "day"]
DEATH = "death"
# The acute phase shown by default: at least the first 30 days (where CRS and ICANS happen), longer
# when treatment or the severe episode runs on, plus a little room to see what followed.
ACUTE_MIN_DAY = 30
ACUTE_MARGIN_DAYS = 2
EMPTY_DAYS = (0.0, 30.0)


@dataclass(frozen=True)
class KeyNumbers:
    """The patient's headline numbers; None where not recorded or not applicable."""

    product: str
    group: str
    disease: str | None
    age_years: float | None
    sex: str | None
    ecog: int | None
    onset_day: float | None  # first assessment at the severe grade; None = no severe episode
    peak_grade: int | None
    resolution_day: float | None
    time_to_resolution: float | None  # days from onset to resolution, death or censoring
    outcome: str | None  # resolved, died, censored; None without a severe episode
    end_day: float | None  # the day the episode's time ends (resolution, death or last assessment)
    max_icans_grade: int | None
    max_crs_grade: int | None
    steroid_days: int
    cumulative_dex_mg: float
    steroid_rows_left_out: int  # systemic steroid rows not in mg or without a dose (not in the total)
    death_day: float | None
    death_cause: str | None
    last_followup_day: float | None

    @property
    def severe(self) -> bool:
        return self.onset_day is not None


@dataclass(frozen=True, eq=False)
class PatientCourse:
    """One patient's frames for the timeline and the key numbers above it."""

    patient_id: str
    key: KeyNumbers
    intervals: pd.DataFrame  # lane (ICANS, CRS), start_day, end_day, grade
    treatments: pd.DataFrame  # TREATMENT_COLUMNS, by start day
    cytokines: pd.DataFrame  # LAB_COLUMNS, one value per analyte and whole day
    cell_counts: pd.DataFrame  # LAB_COLUMNS for the CAR-T cell analytes
    events: pd.DataFrame  # kind ("death"), day
    days: tuple[float, float]  # whole days spanned by everything recorded
    acute_days: tuple[float, float]  # the acute phase within `days`

    @property
    def intervention_table(self) -> pd.DataFrame:
        """The treatments as a table: agent, agent_class, days, daily_dose, dose_unit, route."""
        return self.treatments[TABLE_COLUMNS].reset_index(drop=True)

    @property
    def has_timeline(self) -> bool:
        return any(len(f) for f in (self.intervals, self.treatments, self.cytokines, self.cell_counts))


def _value(row: pd.Series | None, column: str, kind=float):
    if row is None or column not in row.index or pd.isna(row[column]):
        return None
    return kind(row[column])


def _texts(values: pd.Series) -> pd.Series:
    return values.map(lambda v: "" if pd.isna(v) else f"{v:g}").astype(str)  # str even when empty


def _treatments(interventions: pd.DataFrame) -> pd.DataFrame:
    marks = intervention_marks(interventions)
    marks = marks.sort_values(["start_day", "agent"], kind="stable").reset_index(drop=True)
    route = marks["route"].fillna("").astype(str)
    # Systemic and intrathecal use of one drug (hydrocortisone, dexamethasone) are different
    # treatments, so the route is part of the row.
    base = (marks["agent"].astype(str) + np.where(route == "", "", " " + route)).astype(str)
    dose = _texts(marks["daily_dose"])
    unit = marks["dose_unit"].fillna("").astype(str)
    marks["dose"] = pd.Series(np.where(dose == "", "", dose + np.where(unit == "", "", " " + unit)),
                              index=marks.index, dtype=object)
    # One unit in a row goes into the row's name ("prednisone PO (mg)") and the marks carry only
    # numbers, so taper steps a day or two apart stay legible; a row with mixed units keeps them on
    # the marks. A repeated identical dose (tocilizumab every 8 hours) is labelled once per row.
    units = unit.where(unit != "").groupby(base).nunique()
    only_unit = base.map(units).eq(1) & (unit != "")
    row_unit = unit.where(only_unit).groupby(base).transform("first")
    marks["row"] = np.where(row_unit.notna(), base + " (" + row_unit.fillna("") + ")", base).astype(str)
    same_dose = marks["dose"] == marks.groupby(base, sort=False)["dose"].shift().fillna("\0")
    shown = np.where(row_unit.notna(), dose, marks["dose"])
    marks["label_dose"] = pd.Series(np.where(same_dose, "", shown), index=marks.index, dtype=object)
    start, end = _texts(marks["start_day"]), _texts(marks["end_day"])
    marks["days"] = np.where(marks["multi_day"], start + "-" + end, start).astype(str)
    return marks[TREATMENT_COLUMNS]


def _labs(labs: pd.DataFrame | None, patient_id: str, analytes: tuple[str, ...]) -> pd.DataFrame:
    if labs is None or labs.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in
                             zip(LAB_COLUMNS, [object, object, float, float, bool])})
    rows = labs[(labs["patient_id"] == patient_id) & labs["analyte"].isin(analytes)].copy()
    rows["below_lloq"] = rows["below_lloq"].astype("boolean").fillna(False).astype(bool)
    rows["day"] = rows["day"].astype(float)
    rank = rows["analyte"].map({a: i for i, a in enumerate(analytes)})
    rows = rows.assign(rank=rank).sort_values(["rank", "day"], kind="stable")
    return rows[LAB_COLUMNS].reset_index(drop=True)


def _span(*columns: pd.Series) -> tuple[float, float]:
    days = pd.concat([c.astype(float) for c in columns]).dropna()
    if days.empty:
        return EMPTY_DAYS
    lo, hi = float(math.floor(days.min())), float(math.ceil(days.max()))
    return (lo, hi) if hi > lo else (lo, lo + 1)


def _acute(days: tuple[float, float], treatments: pd.DataFrame, key: KeyNumbers) -> tuple[float, float]:
    ends = [float(ACUTE_MIN_DAY)]
    if len(treatments):
        ends.append(float(treatments["end_day"].max()) + ACUTE_MARGIN_DAYS)
    if key.end_day is not None:
        ends.append(key.end_day + ACUTE_MARGIN_DAYS)
    hi = min(days[1], float(math.ceil(max(ends))))
    return (days[0], hi) if hi > days[0] else days


def patient_course(patient_id: str, patients: pd.DataFrame, toxicity: pd.DataFrame,
                   interventions: pd.DataFrame | None, labs: pd.DataFrame | None,
                   episodes: pd.DataFrame) -> PatientCourse:
    """One patient's course; raises KeyError if the patient is not in `patients`.

    Inputs are the cohort frames of icans_core.store (patients_frame, toxicity_frame,
    interventions_frame, lab_patient_days) and compute_episodes' episodes. Frames of the course:
    intervals (patient_id, lane, start_day, end_day, grade), treatments (agent, agent_class, route,
    row, start_day, end_day, days, daily_dose, dose_unit, dose, label_dose, label, multi_day),
    cytokines and cell_counts (analyte, unit, day, value, below_lloq), events (kind, day).
    """
    chosen = patients[patients["patient_id"] == patient_id]
    if chosen.empty:
        raise KeyError(f"patient {patient_id!r} is not in the selected cohort")
    person = chosen.iloc[0]
    own_toxicity = toxicity[toxicity["patient_id"] == patient_id]
    if interventions is None:
        interventions = pd.DataFrame(columns=["patient_id", "agent", "agent_class", "start_day", "end_day",
                                              "daily_dose", "dose_unit", "route"])
    own_interventions = interventions[interventions["patient_id"] == patient_id]
    intervals = grade_intervals(own_toxicity)
    treatments = _treatments(own_interventions)
    cytokines = _labs(labs, patient_id, S.CYTOKINES)
    cell_counts = _labs(labs, patient_id, S.CELL_COUNT_ANALYTES)

    episode_rows = episodes[episodes["patient_id"] == patient_id]
    episode = episode_rows.iloc[0] if len(episode_rows) else None
    exposure = steroid_exposure(own_interventions, chosen[["patient_id", "group"]]).iloc[0]
    icans = own_toxicity["icans_grade"].dropna()
    crs = own_toxicity["crs_grade"].dropna()
    key = KeyNumbers(
        product=str(person["product"]),
        group=str(person["group"]),
        disease=_value(person, "disease", str),
        age_years=_value(person, "age_years"),
        sex=_value(person, "sex", str),
        ecog=_value(person, "ecog", int),
        onset_day=_value(episode, "onset_day"),
        peak_grade=_value(episode, "peak_grade", int),
        resolution_day=_value(episode, "resolution_day"),
        time_to_resolution=_value(episode, "time_to_resolution"),
        outcome=_value(episode, "outcome", str),
        end_day=_value(episode, "end_day"),
        max_icans_grade=int(icans.max()) if len(icans) else None,
        max_crs_grade=int(crs.max()) if len(crs) else None,
        steroid_days=int(exposure["steroid_days"]),
        cumulative_dex_mg=float(exposure["cumulative_dex_mg"]),
        steroid_rows_left_out=int(exposure["rows_left_out"]),
        death_day=_value(person, "death_day"),
        death_cause=_value(person, "death_cause", str),
        last_followup_day=_value(person, "last_followup_day"),
    )
    days = _span(intervals["start_day"], intervals["end_day"], treatments["start_day"], treatments["end_day"],
                 cytokines["day"], cell_counts["day"])
    # A death that ended a severe episode belongs to the course and widens the days to it; one long
    # after (progression at day 200) would squeeze the course into a sliver, so it is drawn only
    # when it falls within the recorded days (the key numbers always give it).
    if key.death_day is not None and key.outcome == "died":
        days = (min(days[0], float(math.floor(key.death_day))), max(days[1], float(math.ceil(key.death_day))))
    inside = key.death_day is not None and days[0] <= key.death_day <= days[1]
    events = pd.DataFrame({"kind": [DEATH] if inside else [], "day": [key.death_day] if inside else []},
                          columns=EVENT_COLUMNS).astype({"day": float})
    return PatientCourse(patient_id, key, intervals.reset_index(drop=True), treatments, cytokines, cell_counts,
                         events, days, _acute(days, treatments, key))


def tabulate_timeline(course: PatientCourse) -> pd.DataFrame:
    """Everything the timeline draws, one row per bar, course or measurement (its CSV download).

    Columns: patient_id, panel (grades, interventions, cytokines, CAR-T cells), series (lane, row
    or analyte), start_day, end_day, grade, agent_class, daily_dose, dose_unit, value, unit, below_lloq.
    """
    grades = course.intervals.rename(columns={"lane": "series"}).assign(panel="grades")
    treatments = course.treatments.rename(columns={"row": "series"}).assign(panel="interventions")
    labs = [frame.rename(columns={"analyte": "series"}).assign(panel=panel, start_day=frame["day"],
                                                                end_day=frame["day"])
            for panel, frame in (("cytokines", course.cytokines), ("CAR-T cells", course.cell_counts))]
    columns = ["panel", "series", "start_day", "end_day", "grade", "agent_class", "daily_dose", "dose_unit",
               "value", "unit", "below_lloq"]
    parts = [p.reindex(columns=columns) for p in (grades, treatments, *labs) if len(p)]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    table["below_lloq"] = table["below_lloq"].astype("boolean")  # blank where not a lab value
    table.insert(0, "patient_id", course.patient_id)
    return table


def sort_patients(patients: pd.DataFrame) -> list[str]:
    """The stepping order through a cohort: group (alphabetical, no group last), then patient id in
    natural order (icans_core.id_order: "P2" before "P10"). Returns the patient_ids."""
    frame = patients[["patient_id", "group"]]
    if not frame["patient_id"].is_unique:  # one row a patient, as loaded: checked, not assumed
        frame = frame.drop_duplicates("patient_id")
    ids = frame["patient_id"].to_numpy(dtype=object)
    missing = frame["group"].isna().to_numpy()
    group_text = np.array(["" if m else str(g) for g, m in zip(frame["group"], missing)], dtype=object)
    group_code = pd.factorize(group_text, sort=True)[0]
    return list(ids[np.lexsort((natural_ranks(ids), group_code, missing))])  # the last key sorts first


def neighbours(order: list[str], patient_id: str) -> tuple[str | None, str | None]:
    """The patients before and after `patient_id` in `order`; None at either end (no wrapping)
    and (None, None) when the patient is not in the order."""
    if patient_id not in order:
        return None, None
    at = order.index(patient_id)
    return (order[at - 1] if at > 0 else None), (order[at + 1] if at + 1 < len(order) else None)

"""Assessments derived from episode-level forms and from bedside observations, marked as derived.

Runs on validated tables (ingest calls `derive_assessments` after validation):
- `toxicity_episodes`: each episode becomes assessments: its peak grade at onset_day and grade 0 at
  resolution_day; an unresolved episode holds its peak grade to the patient's last day (death_day,
  else last_followup_day). Grades between onset and resolution are not known: the rows are marked
  "episode form", and the pages say that daily grade kinetics cannot be read from them.
- `observations`: ASTCT grades derived by icans_core/grading.py. Where a toxicity row of the same
  patient and day has no recorded grade of a syndrome, or there is no such row, the derived grade is
  used and marked "observations (ASTCT)"; a recorded grade is never replaced (disagreements are listed
  by grading.discrepancies).
Every toxicity row carries crs_grade_source and icans_grade_source: "recorded", "episode form" or
"observations (ASTCT)" (blank where that grade is blank).
Treatments of episode forms that have days become interventions here; validation warns about them first as
about interventions rows (validation._episode_treatments: unknown agent, after death or follow-up, repeated).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from icans_core import grading
from icans_core.distinct import map_distinct
from icans_core import schema as S
from icans_core.problems import Problem, error
from icans_core.readers import TEXT, RawTable

RECORDED, EPISODE_FORM, FROM_OBSERVATIONS = "recorded", "episode form", "observations (ASTCT)"
SOURCE_COLUMNS = ["crs_grade_source", "icans_grade_source"]
EPISODE_LIMITS = (
    "Grades from episode-level forms are known only at onset (the episode's highest grade) and at "
    "resolution (grade 0): there are no daily kinetics of grade. Swimlanes show the peak grade over the "
    "whole episode; time to severe-ICANS onset is the episode's onset; the change in grade after an "
    "intervention and grade-based intervals are not meaningful for these patients.")
UNDATED_TREATMENTS = (
    "{undated} of {total} treatment(s) listed on episode forms have no day (the form's treatment_start_days): "
    "they are listed only, and are left out of steroid exposure (Treatments), first-dose origins "
    "(Resolution), the grade change after an intervention (Swimlanes) and the intervention filters; they are "
    "not assumed to start at onset. Give their days in treatment_start_days, or in the interventions table, "
    "to use them.")
DATED_TREATMENTS = (
    "{dated} treatment(s) from episode forms have days and are used as interventions, without a dose: they "
    "count toward steroid days, not toward the cumulative dexamethasone-equivalent dose.")
PLACEHOLDER_SOURCE = "(no toxicity table: assessments derived from {tables})"

_VOCABULARIES = {
    "hypotension": S.HYPOTENSION_SUPPORT, "oxygen": S.OXYGEN_SUPPORT, "consciousness": S.CONSCIOUSNESS,
    "seizure": S.SEIZURE, "motor_findings": S.MOTOR_FINDINGS, "raised_icp": S.RAISED_ICP,
}
_LOOKUPS = {column: S.vocabulary_lookup(vocabulary) for column, vocabulary in _VOCABULARIES.items()}
INTERVENTION_COLUMNS = ["source_row", *S.TABLES["interventions"].column_names, "agent_as_given", "agent_class"]
_SYNDROMES = {"crs": "CRS", "cytokinereleasesyndrome": "CRS", "icans": "ICANS", "neurotoxicity": "ICANS"}


def normalise(name: str, frame: pd.DataFrame) -> None:
    """Canonical vocabulary values of the issue-13 tables, and the grade-source marks of toxicity.

    Called by validation before its rules run: an unknown value stays as given and is then
    refused by the column's `allowed` rule.
    """
    if name == "toxicity":
        for column, source in zip(("crs_grade", "icans_grade"), SOURCE_COLUMNS):
            frame[source] = pd.Series(RECORDED, index=frame.index, dtype=object).where(frame[column].notna(), None)
    elif name == "observations":
        for column, lookup in _LOOKUPS.items():
            frame[column] = _canonical(frame[column], lookup)
        frame["vasopressors"] = frame["vasopressors"].map(_vasopressor_list, na_action="ignore")
        frame["sedated"] = frame["sedated"].fillna(False)
    elif name == "toxicity_episodes":
        frame["syndrome"] = _canonical(frame["syndrome"], _SYNDROMES)
        frame["treatments"] = frame["treatments"].map(_agent_list, na_action="ignore")


def _canonical(values: pd.Series, lookup: dict[str, str]) -> pd.Series:
    return map_distinct(values, lambda v: lookup.get(S.vocabulary_key(v), v))


def _vasopressor_list(text: str) -> str:
    lookup = S.vocabulary_lookup(S.VASOPRESSORS)
    names = [n.strip() for n in str(text).split(";") if n.strip()]
    return "; ".join(lookup.get(S.vocabulary_key(n), n) for n in names)


def _agent_list(text: str) -> str:
    names = [n.strip() for n in str(text).split(";") if n.strip()]
    return "; ".join(S.AGENT_SYNONYMS.get(S.vocabulary_key(n), n) for n in names)


def with_placeholder_toxicity(raw_tables: list[RawTable]) -> list[RawTable]:
    """The raw tables, plus an empty toxicity table when assessments will be derived from episode
    forms or observations only (toxicity is otherwise required)."""
    present = {t.table for t in raw_tables}
    sources = sorted(present & {"toxicity_episodes", "observations"})
    if "toxicity" in present or not sources:
        return raw_tables
    columns = S.TABLES["toxicity"].column_names
    frame = pd.DataFrame({c: pd.Series(dtype=TEXT) for c in columns}, index=pd.RangeIndex(2, 2))
    return [*raw_tables, RawTable("toxicity", PLACEHOLDER_SOURCE.format(tables=" and ".join(sources)), frame)]


# --- after validation ------------------------------------------------------------------------------

def derive_assessments(tables: dict[str, pd.DataFrame], sources: dict[str, str]) -> tuple[
        dict[str, pd.DataFrame], list[Problem]]:
    """Tables with toxicity completed from episode forms and observations, and any errors found.

    `sources` names the file or sheet of each table (for the messages). On an error the tables are
    returned unchanged: the caller refuses the cohort.
    """
    problems = []
    episodes = tables.get("toxicity_episodes")
    observations = tables.get("observations")
    if episodes is not None:
        problems += check_episodes(episodes, sources.get("toxicity_episodes", "toxicity_episodes"))
    if observations is not None:
        problems += check_observations(observations, sources.get("observations", "observations"))
    if problems:
        return tables, problems
    toxicity = tables["toxicity"]
    tables = dict(tables)
    if episodes is not None and len(episodes):
        toxicity = pd.concat([toxicity, episode_assessments(episodes, tables["patients"])], ignore_index=True)
        given = episode_interventions(episodes)
        if len(given):  # treatments with days are interventions like any other (before grading: fever rule)
            existing = tables.get("interventions")
            tables["interventions"] = given if existing is None or existing.empty else pd.concat(
                [existing, given.astype({c: t for c, t in existing.dtypes.items() if c in given})], ignore_index=True)
    if observations is not None and len(observations):
        graded = grading.grade_observations(observations, tables["patients"], tables.get("interventions"))
        toxicity = fill_from_observations(toxicity, graded, observations)
    return {**tables, "toxicity": _tidy_toxicity(toxicity)}, []


def check_episodes(episodes: pd.DataFrame, source: str) -> list[Problem]:
    """Episodes that end before they start, or overlap another episode of the same syndrome, and treatment
    day lists that do not match their treatments."""
    problems = _check_treatment_days(episodes, source)
    early = episodes[episodes["resolution_day"] < episodes["onset_day"]]
    problems += [error(source, "resolution_day is before onset_day.", row=int(r.source_row), column="resolution_day",
                       value=_number(r.resolution_day)) for r in early.itertuples(index=False)]
    ordered = episodes.sort_values(["patient_id", "syndrome", "onset_day"], kind="stable")
    for _, rows in ordered.groupby(["patient_id", "syndrome"], sort=False):
        ends = rows["resolution_day"].fillna(float("inf")).tolist()
        for previous_end, row in zip(ends, rows.iloc[1:].itertuples(index=False)):
            if row.onset_day < previous_end:
                problems.append(error(source, f"This {row.syndrome} episode starts before the patient's previous "
                                              f"{row.syndrome} episode resolved: episodes of one syndrome must not "
                                              "overlap.", row=int(row.source_row), column="onset_day",
                                      value=_number(row.onset_day)))
    return problems


def _split(text) -> list[str]:
    return [] if not isinstance(text, str) or not text.strip() else [part.strip() for part in text.split(";")]


def _day_entries(text) -> list[float | None | str]:
    """The entries of a ';'-separated day list: a float, None (empty entry) or the text that is no number."""
    out = []
    for part in _split(text):
        if not part:
            out.append(None)
            continue
        try:
            value = float(part)
        except ValueError:
            out.append(part)
            continue
        out.append(value if value == value and abs(value) != float("inf") else part)
    return out


def _check_treatment_days(episodes: pd.DataFrame, source: str) -> list[Problem]:
    problems = []
    lowest, highest = S.EARLIEST_DAY, S.LATEST_DAY
    for r in episodes.itertuples(index=False):
        starts_text, ends_text = getattr(r, "treatment_start_days", None), getattr(r, "treatment_end_days", None)
        if not _split(starts_text) and not _split(ends_text):
            continue
        row, treatments = int(r.source_row), _split(r.treatments)
        starts, ends = _day_entries(starts_text), _day_entries(ends_text)
        for column, entries, text in (("treatment_start_days", starts, starts_text),
                                      ("treatment_end_days", ends, ends_text)):
            if entries and len(entries) != len(treatments):
                problems.append(error(source, f"{len(entries)} day(s) for {len(treatments)} treatment(s): give one "
                                              "entry per treatment, in the order of treatments, separated by ';' "
                                              "(leave an entry empty when its day is not known, e.g. '5; ; 7').",
                                      row=row, column=column, value=str(text)))
                entries.clear()
            for entry in entries:
                if isinstance(entry, str):
                    problems.append(error(source, f"'{entry}' is not a day (a number of days since infusion).",
                                          row=row, column=column, value=str(text)))
                elif entry is not None and not lowest <= entry <= highest:
                    problems.append(error(source, f"Day {entry:g} is outside {lowest:g} to {highest:,g} days since "
                                                  "infusion.", row=row, column=column, value=str(text)))
        for treatment, start, end in zip(treatments, starts or [None] * len(treatments), ends or [None] * len(treatments)):
            if isinstance(start, str) or isinstance(end, str):
                continue
            if end is not None and start is None:
                problems.append(error(source, f"{treatment} has a last day but no first day.", row=row,
                                      column="treatment_start_days", value=str(starts_text or "")))
            elif end is not None and end < start:
                problems.append(error(source, f"{treatment}: the last day ({end:g}) is before the first ({start:g}).",
                                      row=row, column="treatment_end_days", value=str(ends_text)))
    return problems


def episode_interventions(episodes: pd.DataFrame) -> pd.DataFrame:
    """Interventions from the episode forms' treatments that have a first day (treatment_start_days); no
    dose or route. Columns: the validated interventions table's (source_row is the episode's row).

    Validation also calls it, before `check_episodes` has refused malformed day lists, to warn about these rows
    as about interventions rows: a list that does not match its treatments, or an entry that is no number, gives
    no row (which day is whose cannot be told; the load is refused anyway)."""
    rows = []
    for r in episodes.itertuples(index=False):
        treatments = _split(r.treatments)
        starts = _day_entries(getattr(r, "treatment_start_days", None)) or [None] * len(treatments)
        ends = _day_entries(getattr(r, "treatment_end_days", None)) or [None] * len(treatments)
        if len(starts) != len(treatments) or len(ends) != len(treatments):
            continue
        for agent, start, end in zip(treatments, starts, ends):
            if start is None or isinstance(start, str) or isinstance(end, str):
                continue
            rows.append({"source_row": int(r.source_row), "patient_id": r.patient_id, "agent": agent,
                         "start_day": float(start), "end_day": float(start if end is None else end),
                         "daily_dose": float("nan"), "dose_unit": None, "route": None, "agent_as_given": agent,
                         "agent_class": S.agent_class(agent, None)})
    return pd.DataFrame(rows, columns=INTERVENTION_COLUMNS)


def treatment_day_counts(episodes: pd.DataFrame) -> tuple[int, int]:
    """(treatments with a first day, treatments without) listed on episode forms."""
    dated = undated = 0
    for treatments, starts in zip(episodes["treatments"], episodes.get("treatment_start_days",
                                                                        pd.Series(None, index=episodes.index))):
        names, days = _split(treatments), _day_entries(starts)
        given = sum(1 for d in days if isinstance(d, float))
        dated += given
        undated += len(names) - given
    return dated, undated


def check_observations(observations: pd.DataFrame, source: str) -> list[Problem]:
    """Observations whose components contradict each other (so no grade could be trusted)."""
    problems = []
    # Only rows that could break a rule are visited (in row order), so a large table is checked quickly.
    candidates = (observations["vasopressors"].map(lambda v: isinstance(v, str) and bool(v))
                  | (observations["oxygen"].eq("low-flow") & observations["oxygen_l_min"].notna())
                  | (observations["seizure"].eq("rapidly resolving") & observations["seizure_minutes"].notna()))
    for r in observations[candidates.astype(bool)].itertuples(index=False):
        row = int(r.source_row)
        if isinstance(r.vasopressors, str) and r.vasopressors:
            try:
                counted = grading.vasopressor_support(r.vasopressors)
            except ValueError as exc:
                problems.append(error(source, f"Unknown vasopressor ({exc}).", row=row, column="vasopressors",
                                      value=r.vasopressors))
                continue
            if isinstance(r.hypotension, str) and r.hypotension in grading.HYPOTENSION_GRADE \
                    and r.hypotension != counted and r.hypotension in ("one vasopressor", "multiple vasopressors"):
                problems.append(error(source, f"hypotension says '{r.hypotension}' but the vasopressors listed make "
                                              f"'{counted}' (vasopressin is not counted).", row=row,
                                      column="hypotension", value=r.hypotension))
            elif r.hypotension in ("no hypotension", "fluids"):
                problems.append(error(source, f"hypotension says '{r.hypotension}' but vasopressors are listed.",
                                      row=row, column="hypotension", value=r.hypotension))
        if r.oxygen == "low-flow" and pd.notna(r.oxygen_l_min) and r.oxygen_l_min > S.LOW_FLOW_MAX_L_MIN:
            problems.append(error(source, f"Low-flow oxygen is at most {S.LOW_FLOW_MAX_L_MIN:g} L/min; this row "
                                          "gives more (high-flow, ASTCT grade 3).", row=row, column="oxygen_l_min",
                                  value=_number(r.oxygen_l_min)))
        if r.seizure == "rapidly resolving" and pd.notna(r.seizure_minutes) \
                and r.seizure_minutes > S.SEIZURE_PROLONGED_MINUTES:
            problems.append(error(source, "A seizure of more than 5 minutes is prolonged (ASTCT grade 4), not "
                                          "rapidly resolving.", row=row, column="seizure_minutes",
                                  value=_number(r.seizure_minutes)))
    return problems


def episode_assessments(episodes: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
    """Toxicity rows from episodes: the peak grade at onset, 0 at resolution, or the peak grade held to
    the patient's last day when unresolved. Columns: the toxicity table's, with the source marks."""
    last_day = patients.set_index("patient_id")["death_day"].fillna(patients.set_index("patient_id")["last_followup_day"])
    rows = []
    for e in episodes.itertuples(index=False):
        column = "crs_grade" if e.syndrome == "CRS" else "icans_grade"
        rows.append({"source_row": e.source_row, "patient_id": e.patient_id, "day": e.onset_day,
                     column: e.peak_grade})
        if pd.notna(e.resolution_day):
            if e.resolution_day > e.onset_day:
                rows.append({"source_row": e.source_row, "patient_id": e.patient_id, "day": e.resolution_day,
                             column: 0})
        elif e.peak_grade > 0 and last_day.get(e.patient_id, e.onset_day) > e.onset_day:
            rows.append({"source_row": e.source_row, "patient_id": e.patient_id,
                         "day": float(last_day[e.patient_id]), column: e.peak_grade})
    frame = pd.DataFrame(rows, columns=["source_row", "patient_id", "day", "crs_grade", "icans_grade"])
    for column, source in zip(("crs_grade", "icans_grade"), SOURCE_COLUMNS):
        frame[column] = frame[column].astype("Int64")
        frame[source] = pd.Series(EPISODE_FORM, index=frame.index, dtype=object).where(frame[column].notna(), None)
    frame["ice_score"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    return frame


def fill_from_observations(toxicity: pd.DataFrame, graded: pd.DataFrame, observations: pd.DataFrame) -> pd.DataFrame:
    """Toxicity with derived grades where no grade was recorded at that patient and day, and new rows
    for observations without a toxicity row.

    Where several observations share a patient and day, the first (in row order) with a derived grade
    of a syndrome fills that syndrome's blank."""
    toxicity = toxicity.copy()
    keys = ["patient_id", "day"]
    known = toxicity[keys].drop_duplicates().assign(_has_row=True)
    has_row = graded[keys].merge(known, on=keys, how="left")["_has_row"].notna().to_numpy()
    for column, source in (("crs_grade", "crs_grade_source"), ("icans_grade", "icans_grade_source")):
        given = graded.loc[has_row & graded[column].notna().to_numpy(), [*keys, column]]
        first = given.drop_duplicates(keys, keep="first").rename(columns={column: "_derived"})
        derived_value = toxicity[keys].merge(first, on=keys, how="left")["_derived"].to_numpy()
        fill = toxicity[column].isna().to_numpy() & pd.notna(derived_value)
        if fill.any():
            toxicity.loc[fill, column] = derived_value[fill]
            toxicity.loc[fill, source] = FROM_OBSERVATIONS
    new = graded[~has_row & (graded["crs_grade"].notna() | graded["icans_grade"].notna()).to_numpy()]
    if len(new):
        ice = observations.set_index("source_row")["ice_score"]
        added = pd.DataFrame({
            "source_row": new["source_row"].to_numpy(), "patient_id": new["patient_id"].to_numpy(),
            "day": new["day"].to_numpy(), "crs_grade": new["crs_grade"].array, "icans_grade": new["icans_grade"].array,
            "ice_score": new["source_row"].map(ice).array,
            "crs_grade_source": np.where(new["crs_grade"].notna(), FROM_OBSERVATIONS, None),
            "icans_grade_source": np.where(new["icans_grade"].notna(), FROM_OBSERVATIONS, None)})
        toxicity = pd.concat([toxicity, added], ignore_index=True)
    return toxicity


def _tidy_toxicity(toxicity: pd.DataFrame) -> pd.DataFrame:
    columns = ["source_row", *S.TABLES["toxicity"].column_names, *SOURCE_COLUMNS]
    out = toxicity[columns].copy()
    for column in ("crs_grade", "icans_grade", "ice_score"):
        out[column] = out[column].astype("Int64")
    out["day"] = out["day"].astype(float)
    out["source_row"] = out["source_row"].astype("int64")
    for column in ("patient_id", *SOURCE_COLUMNS):
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out.reset_index(drop=True)


def _number(value) -> str:
    return f"{value:g}"

"""Rules across rows and tables, which no single cell breaks: each one would otherwise change a result
without a word (issue 10, "Silent data changes").

- a row repeated exactly (toxicity, interventions, labs): warned; both copies load and count (a repeated
  steroid row doubles the cumulative dose), and the user is told which row it repeats;
- different grades of one syndrome for one patient at the same day value: refused, because which one
  holds would depend on row order;
(A rule that fires on many rows lists the first 100, then one problem counting the rest: `problems.capped`.)
- a negative concentration or cell count (a known analyte): refused; a negative value of another
  analyte (which may be a signed measure) is warned;
- an assessment, sample or treatment after the patient's death_day: warned; after the last_followup_day
  of a patient who did not die (the last day known alive): warned; a last_followup_day before day 0: warned;
  the same for a treatment with a day on an episode form, which is also warned when it is identical to an
  interventions row or another form's treatment (`episode_treatments`, called by validation);
- a grade 5 (death from CRS or ICANS, ASTCT) for a patient without a death_day (the analyses count the
  patient as alive), a grade 5 after the death_day (in place of that row's "after death" warning, which would
  repeat it), and an assessment after a grade 5: warned (the contract
  allows grade 5 and a blank death_day, so these load as given, and the user is told how they count);
- patient ids, or values of one categorical column (group, product, disease, agent, analyte, ...), that differ
  only in case, spacing, look-alike letters or invisible characters ("Steroids" and "steroids", "P2" and
  "P2" with a zero-width space): warned, naming both spellings and their row counts; they stay two values
  (two groups, two patients), as given.

Runs on the typed, normalised tables of `validation` (their `.frame`, `.raw` and `.spec`); every problem
names the file, the spreadsheet row, the column and the value as the user wrote it.
"""

from __future__ import annotations

import pandas as pd

from icans_core import schema as S
from icans_core.problems import (MAX_ALIKE, Problem, capped, error, lookalike_key, lookalike_note, quoted, warning,
                                 without_lookalikes)

_SYNDROMES = {"crs_grade": "CRS", "icans_grade": "ICANS"}
_DUPLICATE_EFFECT = {
    "interventions": " (a repeated dose counts twice in the cumulative steroid total)",
    "labs": " (the sample counts twice)",
    "toxicity": "",
}


def check_across_rows(tables: dict) -> list[Problem]:
    """Every cross-row and cross-table problem of a cohort's typed tables (see the module's rules)."""
    problems: list[Problem] = []
    for name in ("toxicity", "interventions", "labs"):
        if name in tables:
            problems += duplicate_rows(tables[name])
    if "toxicity" in tables:
        problems += conflicting_grades(tables["toxicity"])
        problems += graded_before_infusion(tables["toxicity"])
    if "labs" in tables:
        problems += negative_values(tables["labs"])
    if "patients" in tables:
        for name, columns in (("toxicity", ["day"]), ("labs", ["day"]), ("interventions", ["start_day", "end_day"])):
            if name in tables:
                # a grade 5 after the death_day has its own, more specific warning (`grade_five`): one per row
                skip = _grade_five(tables[name].frame) if name == "toxicity" else None
                problems += after_death(tables["patients"], tables[name], columns, skip=skip)
                problems += after_last_followup(tables["patients"], tables[name], columns)
        problems += followup_before_infusion(tables["patients"])
        if "toxicity" in tables:
            problems += grade_five(tables["patients"], tables["toxicity"])
        if "toxicity_episodes" in tables:
            problems += grade_five_episodes(tables["patients"], tables["toxicity_episodes"])
    for name, columns in _CATEGORICAL.items():
        if name in tables:
            for column in columns:
                problems += variant_spellings(tables[name], column)
    return problems


# Columns whose values name categories the analyses group, filter or match by (as loaded: known products,
# agents and analytes are already normalised to one spelling, so only values kept as given can differ), and the
# patients' ids, each one patient (other tables' ids must match one of them exactly: validation's rules).
_CATEGORICAL = {
    "patients": ("patient_id", "group", "product", "disease"),
    "interventions": ("agent",),
    "labs": ("analyte", "unit"),
}
_CATEGORY_USE = {
    "patient_id": "two patients (each with a lane, a course and a row in every per-patient table)",
    "group": "two groups (two arms in every comparison, filter and chart)",
    "product": "two products (and two groups where the product is the group)",
    "disease": "two diseases in Table 1 and the disease filter",
    "agent": "two agents in the intervention filters and the swimlane symbols",
    "analyte": "two analytes (two series in every cytokine and expansion analysis)",
}


def _raw(table, row: int, column: str) -> object:
    frame = table.raw.frame
    return frame.at[row, column] if column in frame.columns else None


def duplicate_rows(table) -> list[Problem]:
    """A warning on every row identical (in every column of the format) to an earlier one."""
    columns = table.spec.column_names
    keys = table.frame[columns]
    repeated = keys.duplicated(keep=False)
    if not repeated.any():
        return []
    copies = keys[repeated]
    group = copies.groupby(columns, dropna=False, sort=False).ngroup()
    first_row = pd.Series(copies.index, index=copies.index).groupby(group).transform("min")
    later = copies.index[copies.index != first_row]
    source = table.raw.source
    raw = table.raw.frame
    shown = [c for c in columns if c in raw.columns]
    problems = [
        warning(source, f"Duplicate row: the same as row {int(first_row[row])} in every column. Both are loaded and "
                        f"counted{_DUPLICATE_EFFECT[table.spec.name]}; delete one if it is a copy.",
                row=int(row), column="(every column)",
                value=", ".join("" if pd.isna(raw.at[row, c]) else str(raw.at[row, c]) for c in shown))
        for row in later
    ]
    return capped(problems, source, "(every column)")


def conflicting_grades(table) -> list[Problem]:
    """An error on every assessment whose grade differs from another of the same patient, syndrome and day."""
    problems = []
    f = table.frame
    for column, syndrome in _SYNDROMES.items():
        graded = f[["patient_id", "day", column]].dropna()
        if graded.empty:
            continue
        kinds = graded.groupby(["patient_id", "day"])[column].transform("nunique")
        clash = graded[kinds > 1]
        found: list[Problem] = []
        for (_, day), rows in clash.groupby(["patient_id", "day"], sort=False):
            if len(found) > MAX_ALIKE:  # the rest are counted, not described (bounded work for any upload)
                break
            listed = ", ".join(f"row {r} says {int(g)}" for r, g in zip(rows.index, rows[column]))
            for row in rows.index:
                found.append(error(
                    table.raw.source,
                    f"Conflicting {syndrome} grades for this patient at the same time (day {day:g}: {listed}): "
                    "which one holds is undefined. Give each assessment its own time (e.g. 5.25 and 5.75), "
                    "or delete the wrong one.",
                    row=int(row), column=column, value=_raw(table, row, column)))
        if len(found) < len(clash):  # placeholders, only counted by `capped`
            described = {p.row for p in found}
            found += [error(table.raw.source, "", row=int(row), column=column)
                      for row in clash.index if int(row) not in described]
        problems += capped(found, table.raw.source, column)
    return problems


def graded_before_infusion(table) -> list[Problem]:
    """A warning on every CRS or ICANS grade above 0 before day 0: days before the infusion are allowed
    (lymphodepletion, baseline), but a CAR-T toxicity cannot start before the cells were given; such a
    row is most often a wrong date or sign. It is kept as given, and the analyses count it."""
    f = table.frame
    source = table.raw.source
    problems = []
    for column, syndrome in _SYNDROMES.items():
        early = f[((f["day"] < 0) & (f[column] > 0)).fillna(False).astype(bool)]
        problems += capped([warning(
            source, f"{syndrome} grade {int(grade)} on day {day:g}, before the CAR-T infusion (day 0): kept as "
                    "given and counted (an episode would start before the infusion). Check the day (a wrong "
                    "date or sign?).", row=int(row), column=column, value=_raw(table, row, column))
            for row, grade, day in zip(early.index, early[column], early["day"])], source, column)
    return problems


def negative_values(table) -> list[Problem]:
    """Negative lab values: an error for a known analyte (a concentration or a cell count), else a warning."""
    f = table.frame
    negative = f[(f["value"] < 0).fillna(False).astype(bool)]
    known = negative["analyte"].isin(list(S.ANALYTES))
    source = table.raw.source
    errors = capped([error(source, f"Negative {analyte}: a concentration or a cell count cannot be below 0 (a code for "
                            "missing, or for below the limit of quantification?). Give the limit with below_lloq "
                            "= true, or leave the row out.", row=int(row), column="value",
                    value=_raw(table, row, "value"))
              for row, analyte in negative.loc[known, "analyte"].items()], source, "value")
    warnings = [warning(source, "Negative value: kept as given, as this analyte is not one of the format's "
                                "concentrations or cell counts; check it is not a code for missing.",
                        row=int(row), column="value", value=_raw(table, row, "value"))
                for row in negative.index[~known]]
    return errors + capped(warnings, source, "value")


def after_death(patients, table, columns: list[str], skip: pd.Series | None = None) -> list[Problem]:
    """A warning on every row dated after its patient's death_day (on the day of death itself is fine), but the
    rows of `skip` (True where another rule warns about the row more specifically)."""
    return _after(patients, table, columns, "death_day", "After death", "death_day", skip=skip)


def after_last_followup(patients, table, columns: list[str]) -> list[Problem]:
    """A warning on every row of a patient without a death_day dated after their last_followup_day, the last
    day they were known alive: a resolution assessed then would be counted, so the user must check it."""
    alive = patients.frame["death_day"].isna() if "death_day" in patients.frame.columns else True
    return _after(patients, table, columns, "last_followup_day", "After the last follow-up",
                  "last_followup_day (the last day the patient was known alive)", only=alive)


def followup_before_infusion(patients) -> list[Problem]:
    """A warning on a last_followup_day before day 0: follow-up is counted from the CAR-T infusion."""
    frame = patients.frame
    early = frame["last_followup_day"].astype("Float64").lt(0).fillna(False).astype(bool)
    found = [warning(patients.raw.source, f"Last follow-up before the infusion (day {frame.at[row, 'last_followup_day']:g}): "
                                          "follow-up is counted from day 0. Kept as given; check the day.",
                     row=int(row), column="last_followup_day", value=_raw(patients, row, "last_followup_day"))
             for row in early[early].index]
    return capped(found, patients.raw.source, "last_followup_day")


def _after(patients, table, columns: list[str], limit_column: str, title: str, limit_text: str,
           only=True, skip: pd.Series | None = None) -> list[Problem]:
    problems = []
    for column, late, day, limit in _late(patients, table.frame, columns, limit_column, only, skip):
        found = [warning(table.raw.source, f"{title}: day {day[row]:g} is after this patient's {limit_text} "
                                           f"({limit[row]:g}). Kept as given; check the day and the {limit_column}.",
                         row=int(row), column=column, value=_raw(table, row, column))
                 for row in late[late].index]
        problems += capped(found, table.raw.source, column)
    return problems


def _late(patients, frame: pd.DataFrame, columns: list[str], limit_column: str, only=True,
          skip: pd.Series | None = None) -> list[tuple[str, pd.Series, pd.Series, pd.Series]]:
    """For each of `columns`: (column, the rows later than their patient's `limit_column`, the days, the limits),
    a row only in the first column it is late in, and none of `skip`; rows of patients not chosen by `only` (a
    mask of the patients frame) are never late."""
    p = patients.frame
    if limit_column not in p.columns:
        return []
    chosen = p[limit_column].notna() & only
    limits = p.loc[chosen, ["patient_id", limit_column]].drop_duplicates("patient_id")
    if limits.empty:
        return []
    limit = frame["patient_id"].map(limits.set_index("patient_id")[limit_column]).astype("Float64")
    flagged = pd.Series(False, index=frame.index) if skip is None else skip.astype(bool).copy()
    found = []
    for column in columns:
        day = frame[column].astype("Float64")
        late = _later(day, limit) & ~flagged
        flagged |= late
        found.append((column, late, day, limit))
    return found


# The day columns of an episode form that give each treatment's first and last day (derived.episode_interventions)
_TREATMENT_DAYS = {"start_day": "treatment_start_days", "end_day": "treatment_end_days"}


def episode_treatments(patients, episodes, interventions, given: pd.DataFrame) -> list[Problem]:
    """The interventions rules on the treatments of episode forms that have days (`given`: the rows
    derived.episode_interventions makes of the forms, source_row = the form's row). They become interventions
    after validation, so without this they would load unchecked: a treatment after the death_day, or after the
    last follow-up of a patient known alive, and one identical to an interventions row or an earlier form's
    treatment (`_repeated_treatments`). Each warning names the form's row and column."""
    if given.empty:
        return []
    source = episodes.raw.source
    frame = given.reset_index(drop=True)
    problems: list[Problem] = []
    if patients is not None:
        alive = patients.frame["death_day"].isna() if "death_day" in patients.frame.columns else True
        for limit_column, title, limit_text, only in (
                ("death_day", "After death", "death_day", True),
                ("last_followup_day", "After the last follow-up",
                 "last_followup_day (the last day the patient was known alive)", alive)):
            for column, late, day, limit in _late(patients, frame, list(_TREATMENT_DAYS), limit_column, only):
                form_column = _TREATMENT_DAYS[column]
                found = [warning(source, f"{title}: {quoted(frame.at[i, 'agent'])} (a treatment of this episode "
                                         f"form) on day {day[i]:g} is after this patient's {limit_text} "
                                         f"({limit[i]:g}). Kept as given; check the day and the {limit_column}.",
                                 row=int(frame.at[i, "source_row"]), column=form_column,
                                 value=_raw(episodes, int(frame.at[i, "source_row"]), form_column))
                         for i in late[late].index]
                problems += capped(found, source, form_column)
    problems += _repeated_treatments(frame, episodes, interventions)
    return problems


def _repeated_treatments(frame: pd.DataFrame, episodes, interventions) -> list[Problem]:
    """A warning on every episode-form treatment identical, in every column of the interventions format, to an
    interventions row or an earlier treatment of the forms: the rule of `duplicate_rows`. A form gives no dose,
    unit or route, so only an interventions row without them is identical (one with a dose is another record of
    the course, not a copy: the template's example has both)."""
    keys = ["patient_id", "agent", "start_day", "end_day"]
    seen: dict[tuple, tuple[str, int | None]] = {}  # key -> where it was first, and its form row (None: another file)
    if interventions is not None:
        f = interventions.frame
        bare = f["daily_dose"].isna() & f["dose_unit"].isna() & f["route"].isna()  # as a form's treatment
        table = f.loc[bare.to_numpy(dtype=bool), keys].dropna(subset=["patient_id", "agent", "start_day"])
        for row, key in zip(table.index, table.itertuples(index=False, name=None)):
            seen.setdefault(key, (f"{interventions.raw.source}, row {int(row)}", None))
    source = episodes.raw.source
    found = []
    for key, row in zip(frame[keys].itertuples(index=False, name=None), frame["source_row"]):
        row = int(row)
        if key not in seen:
            seen[key] = (f"row {row} of this file", row)
            continue
        where, form_row = seen[key]
        where = "listed twice in this row's treatments" if form_row == row else f"also in {where}"
        days = f"on day {key[2]:g}" if key[2] == key[3] else f"from day {key[2]:g} to {key[3]:g}"
        found.append(warning(source, f"Duplicate treatment: {quoted(key[1])} {days} is {where} (the same patient, "
                                     "agent and days, and no dose, unit or route). Both are loaded as interventions "
                                     "(it shows twice in the swimlanes); delete one if they are the same treatment.",
                             row=row, column="treatments", value=_raw(episodes, row, "treatments")))
    return capped(found, source, "treatments")


def variant_spellings(table, column: str) -> list[Problem]:
    """A warning on each spelling of a value that differs from another spelling in the same column only in
    case, spacing, look-alike letters or invisible characters, at its first row, naming both spellings and
    their row counts. Nothing is merged: they stay different values, as the user gave them. A cell validation
    already warned as looking like a known product or agent (its warning names the characters and that value:
    `table.lookalikes`) is not warned again: one warning a cell."""
    f = table.frame
    if column not in f.columns:
        return []
    values = f[column].dropna()
    if values.empty:
        return []
    counts = values.value_counts(sort=False)
    if len(counts) < 2:
        return []
    keys = pd.Series({v: lookalike_key(v) for v in counts.index})
    problems = []
    for _, spellings in keys.groupby(keys, sort=False):
        if len(spellings) < 2:
            continue
        # the most common spelling (the first given, on a tie) is named as the other one
        order = sorted(spellings.index, key=lambda v: (-counts[v], values.index[values == v][0]))
        usual = order[0]
        for other in order[1:]:
            rows = values.index[values == other]
            if (int(rows[0]), column) in getattr(table, "lookalikes", {}):
                continue  # already warned as looking like a known value, naming the characters: one warning a cell
            problems.append(warning(
                table.raw.source,
                f"{quoted(other)} ({_rows(rows)}) and {quoted(usual)} ({_rows(values.index[values == usual])}) "
                f"differ only in {_difference(other, usual)}: they are kept as given, so they are "
                f"{_CATEGORY_USE.get(column, 'two different values')}. Write them the same way if they are one."
                + (f" ({'; '.join(n for n in (lookalike_note(other), lookalike_note(usual)) if n)}.)"
                   if lookalike_note(other) or lookalike_note(usual) else ""),
                row=int(rows[0]), column=column, value=_raw(table, rows[0], column)))
    return capped(problems, table.raw.source, column)


def _rows(rows) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
    return f"{len(rows):,} row{'s' if len(rows) != 1 else ''}: {'row' if len(rows) == 1 else 'rows'} {shown}"


def _difference(a: str, b: str) -> str:
    """Which kinds of difference separate two spellings with the same lookalike_key."""
    plain_a, plain_b = without_lookalikes(a), without_lookalikes(b)
    spaced_a, spaced_b = " ".join(plain_a.split()), " ".join(plain_b.split())
    kinds = []
    if spaced_a != spaced_b:
        kinds.append("case")
    if plain_a.casefold() != plain_b.casefold():
        kinds.append("spacing")
    if plain_a != a or plain_b != b:
        kinds.append("look-alike or invisible characters")
    return " and ".join(kinds) or "case"


_ALIVE_EFFECT = ("Without a death_day the analyses count this patient as alive to the last_followup_day: an "
                 "unresolved severe-ICANS episode is censored at its last assessment, not 'died' (no competing "
                 "death in the cumulative incidence), there is no death in the key numbers, and the swimlane shows "
                 "the last follow-up, not a death.")


def grade_five(patients, toxicity) -> list[Problem]:
    """Warnings on grade 5 (ASTCT: death from CRS / ICANS) that disagrees with the patients table: no
    death_day (the patient then counts as alive), or after the death_day; and on assessments after a grade 5."""
    p = patients.frame
    t = toxicity.frame
    if "death_day" not in p.columns or t.empty:
        return []
    first = p.drop_duplicates("patient_id")
    death = t["patient_id"].map(first.set_index("patient_id")["death_day"]).astype("Float64")
    patient_row = t["patient_id"].map(pd.Series(first.index, index=first["patient_id"]))
    source, patients_source = toxicity.raw.source, patients.raw.source
    day = t["day"].astype("Float64")
    problems: list[Problem] = []
    fives = pd.Series(False, index=t.index)
    for column, syndrome in _SYNDROMES.items():
        if column not in t.columns:
            continue
        five = (t[column].astype("Float64") == 5).fillna(False).astype(bool)
        fives |= five
        five &= day.notna().to_numpy() & t["patient_id"].isin(first["patient_id"]).to_numpy()
        no_death = five & death.isna().to_numpy()
        found = [warning(source, f"Grade 5 {syndrome} (death from {syndrome}, ASTCT) on day {day[r]:g}, but this "
                                 f"patient has no death_day ({patients_source}, row {int(patient_row[r])}). Kept as "
                                 f"given. {_ALIVE_EFFECT} Give the death_day, or correct the grade.",
                         row=int(r), column=column, value=_raw(toxicity, r, column))
                 for r in no_death[no_death].index]
        late = five & _later(day, death)
        found += [warning(source, f"Grade 5 {syndrome} (death from {syndrome}) on day {day[r]:g}, after this "
                                  f"patient's death_day ({death[r]:g}; {patients_source}, row {int(patient_row[r])}): "
                                  "a death from the toxicity is on the day of death. Kept as given; the death is "
                                  "counted on the death_day. Check the day, the grade and the death_day.",
                          row=int(r), column=column, value=_raw(toxicity, r, column))
                  for r in late[late].index]
        problems += capped(found, source, column)
    if fives.any():
        graded = pd.DataFrame({"patient_id": t.loc[fives, "patient_id"], "day": day[fives]})
        earliest = graded.sort_values("day", kind="stable").drop_duplicates("patient_id")
        five_day = t["patient_id"].map(earliest.set_index("patient_id")["day"]).astype("Float64")
        five_row = dict(zip(earliest["patient_id"], earliest.index))
        after = _later(day, five_day) & day.notna().to_numpy()
        found = [warning(source, f"Assessed after a grade 5 (death from the toxicity) on day {five_day[r]:g} (row "
                                 f"{int(five_row[t.at[r, 'patient_id']])}): day {day[r]:g}. Kept as given, and used "
                                 "as given: a later ICANS grade of 1 or less counts as the resolution of a severe "
                                 "episode. Check the grade 5 and this assessment.",
                         row=int(r), column="day", value=_raw(toxicity, r, "day"))
                 for r in after[after].index]
        problems += capped(found, source, "day")
    return problems


def grade_five_episodes(patients, episodes) -> list[Problem]:
    """A warning on each episode form with peak grade 5 for a patient without a death_day."""
    p = patients.frame
    e = episodes.frame
    if "death_day" not in p.columns or e.empty or "peak_grade" not in e.columns:
        return []
    dead = set(p.loc[p["death_day"].notna(), "patient_id"])
    rows = {pid: int(r) for r, pid in p["patient_id"].items()}
    five = (e["peak_grade"].astype("Float64") == 5).fillna(False).astype(bool) & ~e["patient_id"].isin(dead)
    found = [warning(episodes.raw.source, f"Peak grade 5 {e.at[r, 'syndrome']} (death from the toxicity, ASTCT), "
                                          f"but this patient has no death_day ({patients.raw.source}, row "
                                          f"{rows.get(e.at[r, 'patient_id'], '?')}). Kept as given. {_ALIVE_EFFECT} "
                                          "Give the death_day, or correct the grade.",
                     row=int(r), column="peak_grade", value=_raw(episodes, r, "peak_grade"))
             for r in five[five].index]
    return capped(found, episodes.raw.source, "peak_grade")


def _later(day: pd.Series, limit: pd.Series) -> pd.Series:
    """day after limit, where a whole limit is a day without a time (anything on that day is not after it)."""
    whole = limit == limit.round()
    return ((whole & (day >= limit + 1)) | (~whole & (day > limit))).fillna(False).astype(bool)


def _grade_five(frame: pd.DataFrame) -> pd.Series:
    """Rows with a grade 5 of either syndrome."""
    five = pd.Series(False, index=frame.index)
    for column in _SYNDROMES:
        if column in frame.columns:
            five |= (frame[column].astype("Float64") == 5).fillna(False).astype(bool)
    return five

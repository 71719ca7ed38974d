"""Change in ICANS grade around the first dose of an intervention class (IVIG study, Fig 1B).

Day 0 is the patient's first dose of the chosen class. Which dose counts as first:
- with EpisodeOptions (the page's default), the first dose at or after severe-ICANS onset
  and no later than the episode's end, exactly the time origin of episodes.compute_episodes
  (the contract's "first dose of a chosen intervention class at or after onset"); patients
  without such a dose are left out. Steroids started for CRS before ICANS onset therefore
  count from their first dose after onset.
- without options, the patient's first dose of the class at any time.
Relative day k covers the time [first dose + k, first dose + k + 1): an assessment belongs to
day floor(day - first dose). The grade of a relative day is the last ICANS assessment made by
the end of that day, carried forward over days without one (a grade holds until the next
assessment of the syndrome, the contract's rule). Days before a patient's first or after the
last ICANS assessment have no grade: nothing is carried past the last assessment.
The class is a parameter, so the other arm's view ("grades after glucocorticoids") is the
same function with agent_class="corticosteroid".
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from icans_core.episodes import EpisodeOptions, compute_episodes

DAILY_COLUMNS = ["patient_id", "group", "first_dose_day", "relative_day", "icans_grade", "assessed"]
SUMMARY_COLUMNS = ["group", "relative_day", "n", "median_grade", "q1", "q3", "share_severe"]


# The window shown by default around the first dose: 3 days before, 14 after.
DAYS_BEFORE, DAYS_AFTER = 3, 14

def first_doses(toxicity: pd.DataFrame, interventions: pd.DataFrame, patients: pd.DataFrame, agent_class: str,
                options: EpisodeOptions | None = None, episodes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Day 0 per patient: the first dose of the class (see the module notes for which dose).

    `episodes`, with options: compute_episodes of these patients with origin `agent_class`, if the
    caller has it already (derived_tables keeps it per cohort, so a filter change does not redo it).
    Columns: patient_id, first_dose_day.
    """
    if options is not None:
        if episodes is None:
            episodes = compute_episodes(toxicity, patients, interventions, replace(options, origin=agent_class))
        firsts = episodes[["patient_id", "origin_day"]].rename(columns={"origin_day": "first_dose_day"})
    else:
        doses = interventions.loc[interventions["agent_class"] == agent_class]
        firsts = doses.groupby("patient_id", as_index=False)["start_day"].min()
        firsts = firsts.rename(columns={"start_day": "first_dose_day"})
    firsts = firsts.dropna(subset=["first_dose_day"]).astype({"first_dose_day": float})
    return firsts.sort_values("patient_id", kind="stable").reset_index(drop=True)


def grade_after_intervention(toxicity: pd.DataFrame, interventions: pd.DataFrame, patients: pd.DataFrame,
                             agent_class: str, days_before: int = DAYS_BEFORE, days_after: int = DAYS_AFTER,
                             options: EpisodeOptions | None = None, groups: list[str] | None = None,
                             episodes: pd.DataFrame | None = None) -> pd.DataFrame:
    """ICANS grade per patient and whole day relative to the first dose of `agent_class`.

    Patients of `groups` only (all when None); options: see the module notes on day 0;
    episodes: as first_doses.

    Columns: patient_id, group, first_dose_day, relative_day (-days_before..days_after, 0 =
    day of the first dose), icans_grade (carried forward), assessed (an assessment was made
    that relative day, rather than a grade carried from an earlier one).
    """
    if days_before < 0 or days_after < 0:
        raise ValueError("days before and after the first dose cannot be negative")
    firsts = first_doses(toxicity, interventions, patients, agent_class, options, episodes)
    if groups is not None:
        firsts = firsts[firsts["patient_id"].isin(patients.loc[patients["group"].isin(groups), "patient_id"])]
    icans = toxicity.loc[toxicity["icans_grade"].notna(), ["patient_id", "day", "icans_grade"]]
    icans = icans.merge(firsts, on="patient_id")
    if icans.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            DAILY_COLUMNS, [object, object, float, "int64", "int64", bool])})
    icans["relative_day"] = np.floor(icans["day"] - icans["first_dose_day"]).astype("int64")
    # The last assessment of each relative day is the grade at that day's end (stable: source order on ties).
    icans = icans.sort_values(["patient_id", "day"], kind="stable")
    last = icans.drop_duplicates(["patient_id", "relative_day"], keep="last")
    span = last.groupby("patient_id")["relative_day"].agg(["min", "max"])

    grid = pd.DataFrame({"relative_day": np.arange(-days_before, days_after + 1, dtype="int64")})
    grid = firsts.merge(grid, how="cross").join(span, on="patient_id", how="inner")
    grid = grid[(grid["relative_day"] >= grid["min"]) & (grid["relative_day"] <= grid["max"])]
    daily = pd.merge_asof(
        grid.sort_values("relative_day", kind="stable"),
        last[["patient_id", "relative_day", "icans_grade"]].rename(columns={"relative_day": "assessed_day"})
        .sort_values("assessed_day", kind="stable"),
        left_on="relative_day", right_on="assessed_day", by="patient_id", direction="backward")
    daily["assessed"] = daily["assessed_day"] == daily["relative_day"]
    daily["icans_grade"] = daily["icans_grade"].astype("int64")
    daily["group"] = daily["patient_id"].map(patients.drop_duplicates("patient_id").set_index("patient_id")["group"])
    daily = daily.sort_values(["group", "patient_id", "relative_day"], kind="stable").reset_index(drop=True)
    return daily[DAILY_COLUMNS]


def summarise_grade_change(daily: pd.DataFrame, severe_grade: int = 3) -> pd.DataFrame:
    """Per group and relative day, the distribution of the carried-forward ICANS grades.

    Columns: group, relative_day, n (patients with a grade that day), median_grade, q1, q3
    (quartiles, linear interpolation as R's default type 7), share_severe (share of the n
    with grade >= severe_grade, 3 by default).
    """
    if daily.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in SUMMARY_COLUMNS})
    grades = daily.assign(severe=daily["icans_grade"] >= severe_grade).groupby(
        ["group", "relative_day"], sort=True)
    summary = grades.agg(n=("icans_grade", "size"), median_grade=("icans_grade", "median"),
                         share_severe=("severe", "mean"))
    quartiles = grades["icans_grade"].quantile([0.25, 0.75]).unstack()
    summary["q1"], summary["q3"] = quartiles[0.25], quartiles[0.75]
    return summary.reset_index()[SUMMARY_COLUMNS]


def patients_per_group(daily: pd.DataFrame) -> dict[str, int]:
    """Patients per group in a grade-change frame (for the chart's subtitle)."""
    counts = daily.drop_duplicates("patient_id")["group"].value_counts()
    return {str(g): int(n) for g, n in sorted(counts.items())}

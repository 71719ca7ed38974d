"""Severe-ICANS episodes and time to resolution, exactly as the data contract defines them.

- onset: the first assessment with icans_grade >= severe_grade (default 3);
- resolution: the first later assessment with icans_grade <= resolved_grade (default 1);
- peak_grade: the highest ICANS grade from onset until resolution (or the last assessment);
- time origin: onset by default, or the first dose of a chosen intervention class given at
  or after onset and no later than the episode's end (a dose after resolution cannot be the
  origin of that resolution); episodes without such a dose get no time;
- not resolved: outcome "died" with time to death_day if a death is recorded, otherwise
  "censored" at the last ICANS assessment. Kaplan-Meier treats "died" as censored; the
  cumulative incidence treats death as a competing event.
Only a patient's first severe episode counts; patients without one have no row.

Times are differences of days as the user wrote them: each day is read as its shortest decimal
representation (what the file held) and subtracted in decimal arithmetic, so 4.35 - 2.1 is 2.25,
the same time as 7 - 4.75 (binary floating point would give 2.2499999999999996 and 2.25, two
different times to a survival analysis). R's survival package reaches the same result with its
`timefix` rule (aeqSurv); survival.py applies that rule as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from icans_core.schema import AGENT_CLASSES

ONSET = "onset"
RESOLVED, DIED, CENSORED = "resolved", "died", "censored"
EPISODE_COLUMNS = ["patient_id", "group", "onset_day", "peak_grade", "resolution_day", "origin_day",
                   "time_to_resolution", "outcome", "end_day"]


@dataclass(frozen=True)
class EpisodeOptions:
    """What counts as severe and as resolved, and where time to resolution starts."""

    severe_grade: int = 3
    resolved_grade: int = 1
    origin: str = ONSET  # "onset", or an intervention class such as "IVIG"

    def __post_init__(self) -> None:
        if not 1 <= self.severe_grade <= 5 or not 0 <= self.resolved_grade < self.severe_grade:
            raise ValueError("need 0 <= resolved grade < severe grade <= 5")
        if self.origin != ONSET and self.origin not in AGENT_CLASSES:
            raise ValueError(f"origin must be 'onset' or one of {', '.join(AGENT_CLASSES)}")

    @property
    def origin_label(self) -> str:
        """How the time origin reads on a chart axis."""
        return "severe-ICANS onset" if self.origin == ONSET else f"first {self.origin} dose after onset"


def compute_episodes(toxicity: pd.DataFrame, patients: pd.DataFrame, interventions: pd.DataFrame | None = None,
                     options: EpisodeOptions = EpisodeOptions()) -> pd.DataFrame:
    """One row per patient with a severe-ICANS episode.

    Inputs: toxicity (patient_id, day, icans_grade), patients (patient_id, group, death_day),
    interventions (patient_id, agent_class, start_day) when the origin is a class.
    Columns: patient_id, group, onset_day, peak_grade, resolution_day (NaN if not resolved),
    origin_day (NaN if the chosen class was not given during the episode), time_to_resolution
    (days from origin to resolution, death or censoring; NaN without an origin), outcome
    (resolved, died, censored), end_day (the day the episode's time ends).
    """
    icans = (toxicity.loc[toxicity["icans_grade"].notna(), ["patient_id", "day", "icans_grade"]]
             .astype({"icans_grade": int}).sort_values(["patient_id", "day"], kind="stable"))
    onset = (icans[icans["icans_grade"] >= options.severe_grade].groupby("patient_id")["day"].min()
             .rename("onset_day"))
    if onset.empty:
        return pd.DataFrame(columns=EPISODE_COLUMNS)
    icans = icans.join(onset, on="patient_id", how="inner")
    after = icans[(icans["day"] > icans["onset_day"]) & (icans["icans_grade"] <= options.resolved_grade)]
    resolution = after.groupby("patient_id")["day"].min().rename("resolution_day")
    icans = icans.join(resolution, on="patient_id")
    in_episode = (icans["day"] >= icans["onset_day"]) & ~(icans["day"] > icans["resolution_day"])
    peak = icans[in_episode].groupby("patient_id")["icans_grade"].max().rename("peak_grade")
    last_assessed = icans.groupby("patient_id")["day"].max().rename("last_assessment_day")

    episodes = pd.concat([onset, peak, resolution, last_assessed], axis=1).reset_index()
    episodes = episodes.merge(patients[["patient_id", "group", "death_day"]], on="patient_id", how="left")
    resolved = episodes["resolution_day"].notna()
    died = ~resolved & episodes["death_day"].notna()
    episodes["outcome"] = np.select([resolved, died], [RESOLVED, DIED], CENSORED)
    episodes["end_day"] = np.select([resolved, died],
                                    [episodes["resolution_day"], episodes["death_day"]],
                                    episodes["last_assessment_day"])
    episodes["origin_day"] = _origins(episodes, interventions, options)
    episodes["time_to_resolution"] = decimal_difference(episodes["end_day"], episodes["origin_day"])
    episodes["peak_grade"] = episodes["peak_grade"].astype(int)
    return episodes[EPISODE_COLUMNS].sort_values(["group", "patient_id"], kind="stable").reset_index(drop=True)


def _origins(episodes: pd.DataFrame, interventions: pd.DataFrame | None, options: EpisodeOptions) -> pd.Series:
    if options.origin == ONSET:
        return episodes["onset_day"]
    if interventions is None or interventions.empty:
        return pd.Series(np.nan, index=episodes.index)
    doses = interventions.loc[interventions["agent_class"] == options.origin, ["patient_id", "start_day"]]
    doses = doses.merge(episodes[["patient_id", "onset_day", "end_day"]], on="patient_id")
    doses = doses[(doses["start_day"] >= doses["onset_day"]) & (doses["start_day"] <= doses["end_day"])]
    first = doses.groupby("patient_id")["start_day"].min()
    return episodes["patient_id"].map(first).astype(float)


def decimal_difference(end: pd.Series, start: pd.Series) -> pd.Series:
    """end - start computed in decimal arithmetic on the shortest representation of each day (NaN stays NaN)."""
    def exact(a: float, b: float) -> float:
        if np.isnan(a) or np.isnan(b):
            return np.nan
        return float(Decimal(repr(float(a))) - Decimal(repr(float(b))))
    values = [exact(a, b) for a, b in zip(end.to_numpy(dtype=float), start.to_numpy(dtype=float))]
    return pd.Series(values, index=end.index, dtype=float)

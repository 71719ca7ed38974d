"""Severe-ICANS episodes on hand-computed cohorts (the contract's definitions, worked by hand)."""

import math

import pandas as pd
import pytest

from icans_core.episodes import EpisodeOptions, compute_episodes


def toxicity(rows):
    return pd.DataFrame(rows, columns=["patient_id", "day", "icans_grade"]).astype({"icans_grade": "Int64"})


PATIENTS = pd.DataFrame({
    "patient_id": ["A", "B", "C", "D", "E"],
    "group": ["IVIG", "IVIG", "Steroids", "Steroids", "Steroids"],
    "death_day": [None, 12.0, None, None, None],
})
TOXICITY = toxicity([
    # A: onset 5 (grade 3), peak 4 on day 6, down to 2 on day 8, resolved (1) on day 10
    ("A", 1, 0), ("A", 5, 3), ("A", 6, 4), ("A", 8, 2), ("A", 10, 1), ("A", 12, 4),
    # B: onset 4, never resolves, died on day 12
    ("B", 2, 1), ("B", 4, 3), ("B", 7, 3), ("B", 9, 2),
    # C: onset 6.5, not resolved, alive: censored at the last ICANS assessment (day 9)
    ("C", 6.5, 4), ("C", 9, 2),
    # D: only grade 2: no severe episode
    ("D", 3, 2), ("D", 5, 1),
    # E: a blank ICANS grade (CRS-only row) is not an assessment
    ("E", 2, 3), ("E", 3, None), ("E", 4, 0),
])


def test_episodes_by_hand():
    episodes = compute_episodes(TOXICITY, PATIENTS).set_index("patient_id")
    assert list(episodes.index) == ["A", "B", "C", "E"]  # D had no severe episode
    a, b, c, e = (episodes.loc[p] for p in "ABCE")
    assert (a.onset_day, a.peak_grade, a.resolution_day, a.time_to_resolution, a.outcome) == (5, 4, 10, 5, "resolved")
    assert (b.onset_day, b.peak_grade, b.outcome, b.time_to_resolution) == (4, 3, "died", 8)
    assert math.isnan(b.resolution_day)
    assert (c.onset_day, c.peak_grade, c.outcome, c.time_to_resolution) == (6.5, 4, "censored", 2.5)
    assert (e.onset_day, e.resolution_day, e.time_to_resolution) == (2, 4, 2)


def test_thresholds_are_options():
    episodes = compute_episodes(TOXICITY, PATIENTS, options=EpisodeOptions(severe_grade=2, resolved_grade=0))
    d = episodes.set_index("patient_id").loc["D"]
    assert (d.onset_day, d.outcome, d.time_to_resolution) == (3, "censored", 2)
    a = episodes.set_index("patient_id").loc["A"]
    # resolved only when grade 0 is reached: never, censored at the last assessment (day 12)
    assert (a.onset_day, a.outcome, a.time_to_resolution, a.peak_grade) == (5, "censored", 7, 4)


def test_origin_at_the_first_dose_of_a_class_within_the_episode():
    interventions = pd.DataFrame({
        "patient_id": ["A", "A", "A", "B", "C"],
        "agent_class": ["IVIG", "IVIG", "IVIG", "corticosteroid", "IVIG"],
        "start_day": [3.0, 7.25, 9.0, 4.0, 11.0],  # A: before onset, then 7.25; C: after censoring
    })
    episodes = compute_episodes(TOXICITY, PATIENTS, interventions, EpisodeOptions(origin="IVIG"))
    episodes = episodes.set_index("patient_id")
    assert episodes.loc["A", "origin_day"] == 7.25
    assert episodes.loc["A", "time_to_resolution"] == pytest.approx(2.75)
    assert math.isnan(episodes.loc["B", "time_to_resolution"])  # no IVIG
    assert math.isnan(episodes.loc["C", "origin_day"])  # IVIG only after the episode ended


def test_no_severe_episode_gives_an_empty_frame_with_the_columns():
    episodes = compute_episodes(toxicity([("D", 3, 2)]), PATIENTS)
    assert episodes.empty
    assert "time_to_resolution" in episodes.columns


@pytest.mark.parametrize("bad", [dict(severe_grade=0), dict(severe_grade=3, resolved_grade=3),
                                 dict(origin="aspirin")])
def test_impossible_options_are_refused(bad):
    with pytest.raises(ValueError):
        EpisodeOptions(**bad)


def test_times_are_exact_decimal_differences():
    # 4.35 - 2.1 is 2.2499999999999996 in binary floating point; as written it is 2.25, the same time as
    # 7 - 4.75 (issue 12: R's timefix treats them as one time, and so must the project)
    patients = pd.DataFrame({"patient_id": ["A", "B"], "group": ["g", "g"], "death_day": [None, None]})
    tox = toxicity([("A", 2.1, 3), ("A", 4.35, 1), ("B", 4.75, 4), ("B", 7, 0)])
    times = compute_episodes(tox, patients).set_index("patient_id")["time_to_resolution"]
    assert times["A"] == times["B"] == 2.25
    assert 4.35 - 2.1 != 2.25  # what plain subtraction gives

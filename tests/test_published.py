"""Published series exactly as in the clinical reference, and this cohort beside them (by hand)."""

from __future__ import annotations

import math

import pandas as pd

from icans_core.published import (
    KATSIN_2024,
    MOKHTARI_2025,
    NR,
    THIS_COHORT,
    citations,
    compare_with_published,
    published_series,
)

# Katsin et al., Front Immunol 2024;15:1380451, Table 1, as in shared/spec/clinical-reference.md:
# series, treatment, n, response rate, median time to resolution, median CSD (dexamethasone mg)
KATSIN_TABLE_1 = [
    ("Strati et al. 2020", "AN", 6, "66%", "28.5 days", "1446 mg"),
    ("Gazeau et al. 2021", "AN (all)", 26, "73%", "15.5 days", "N/R"),
    ("Gazeau et al. 2021", "HD AN", 13, "100%", "N/R", "500 mg"),
    ("Gazeau et al. 2021", "LD AN", 13, "46%", "N/R", "610 mg"),
    ("Zurko et al. 2022", "IT HC", 7, "100%", "6 days", "713 mg"),
    ("Yucebay et al. 2020", "IT MTX + HC + Ara-C", 7, "71%", "11 days", "N/R"),
    ("Solh et al. 2023", "IT MTX, Ara-C +/- AN", 12, "100%", "4 days", "N/R"),
    ("Katsin et al. 2024 (case)", "first-line IT MTX + Ara-C + dexamethasone", 1, "resolved", "< 32 hours", "96 mg"),
]
# the same numbers as numbers (NaN = not reported, or only a bound)
KATSIN_NUMBERS = [
    (0.66, 28.5, 1446), (0.73, 15.5, None), (1.00, None, 500), (0.46, None, 610),
    (1.00, 6, 713), (0.71, 11, None), (1.00, 4, None), (1.00, None, 96),
]


def same(value, expected):
    return math.isnan(value) if expected is None else value == expected


def test_katsin_table_1_rows_exactly():
    published = published_series()
    katsin = published[published["citation"] == KATSIN_2024].reset_index(drop=True)
    assert len(katsin) == 8
    for i, (series, treatment, n, response, ttr, csd) in enumerate(KATSIN_TABLE_1):
        row = katsin.iloc[i]
        assert (row["series"], row["treatment"], row["n"]) == (series, treatment, n)
        assert (row["response_text"], row["ttr_text"], row["csd_text"]) == (response, ttr, csd)
        rate, days, mg = KATSIN_NUMBERS[i]
        assert row["response_rate"] == rate, series
        assert same(row["median_ttr_days"], days), series
        assert same(row["median_csd_mg"], mg), series


def test_mokhtari_ivig_study_rows():
    published = published_series()
    rows = published[published["citation"] == MOKHTARI_2025].set_index("treatment")
    assert list(rows.index) == ["glucocorticoids then IVIG", "glucocorticoids alone"]
    assert rows.loc["glucocorticoids then IVIG", "n"] == 9
    assert rows.loc["glucocorticoids alone", "n"] == 10
    assert rows.loc["glucocorticoids then IVIG", "mean_steroid_days"] == 11.2
    assert rows.loc["glucocorticoids alone", "mean_steroid_days"] == 13.5
    assert rows["response_rate"].isna().all() and (rows["response_text"] == NR).all()
    assert "no significant difference in time to resolution" in rows.loc["glucocorticoids then IVIG", "notes"]


def test_every_published_row_is_cited():
    published = published_series()
    assert published["citation"].isin([KATSIN_2024, MOKHTARI_2025]).all()
    assert KATSIN_2024 == "Katsin et al., Front Immunol 2024;15:1380451, Table 1"
    assert MOKHTARI_2025 == "Mokhtari et al., Int J Mol Sci 2025;26(8):3904"
    assert set(citations()["citation"]) == {KATSIN_2024, MOKHTARI_2025}


EPISODES = pd.DataFrame({
    "patient_id": ["A1", "A2", "A3", "A4", "B1", "B2"],
    "group": ["IVIG", "IVIG", "IVIG", "IVIG", "Steroids", "Steroids"],
    "outcome": ["resolved", "resolved", "resolved", "died", "resolved", "censored"],
    "time_to_resolution": [3.0, 8.0, 5.5, 20.0, 7.0, 2.0],
})
EXPOSURE = pd.DataFrame({
    "patient_id": ["A1", "A2", "A3", "A4", "B1", "B2", "C1"],
    "steroid_days": [4, 6, 2, 10, 12, 0, 3],
    "cumulative_dex_mg": [100.0, 300.0, 50.0, 1000.0, 240.0, 0.0, 30.0],
})


def test_this_cohort_beside_the_published_rows():
    comparison = compare_with_published(EPISODES, EXPOSURE)
    ours = comparison[comparison["source"] == THIS_COHORT].set_index("series")
    assert list(ours.index) == ["IVIG", "Steroids"]
    ivig, steroids = ours.loc["IVIG"], ours.loc["Steroids"]
    # IVIG: 3 of 4 episodes resolved (the death is not), median of 3, 5.5, 8 = 5.5 days;
    # median dose of 50, 100, 300, 1000 = 200 mg; mean steroid days (4+6+2+10)/4 = 5.5
    assert (ivig["n"], ivig["response_rate"], ivig["median_ttr_days"]) == (4, 0.75, 5.5)
    assert (ivig["median_csd_mg"], ivig["mean_steroid_days"]) == (200, 5.5)
    assert (ivig["response_text"], ivig["ttr_text"], ivig["csd_text"]) == ("3 (75%)", "5.5 days", "200 mg")
    # Steroids: 1 of 2 resolved (censored is not), TTR 7; doses 240 and 0 -> 120 mg
    assert (steroids["n"], steroids["response_rate"], steroids["median_ttr_days"]) == (2, 0.5, 7)
    assert steroids["median_csd_mg"] == 120
    published = comparison[comparison["source"] != THIS_COHORT]
    assert len(published) == 10
    assert set(published["source"]) == {KATSIN_2024, MOKHTARI_2025}
    strati = published[published["series"] == "Strati et al. 2020"].iloc[0]
    assert (strati["n"], strati["response_rate"], strati["median_ttr_days"], strati["median_csd_mg"]) == (
        6, 0.66, 28.5, 1446)


def test_no_resolved_episode_is_not_reported_and_no_episode_lists_only_published():
    comparison = compare_with_published(EPISODES[EPISODES["outcome"] != "resolved"], EXPOSURE)
    ours = comparison[comparison["source"] == THIS_COHORT].set_index("series")
    assert ours.loc["IVIG", "response_rate"] == 0
    assert math.isnan(ours.loc["IVIG", "median_ttr_days"]) and ours.loc["IVIG", "ttr_text"] == NR
    only = compare_with_published(EPISODES.iloc[0:0], EXPOSURE)
    assert len(only) == 10 and (only["source"] != THIS_COHORT).all()

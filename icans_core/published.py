"""Published series of steroid-refractory / severe ICANS, and this cohort's groups beside them.

The published numbers are copied exactly from the clinical reference (shared/spec/clinical-
reference.md): Katsin et al., Front Immunol 2024;15:1380451, Table 1, and Mokhtari et al.,
Int J Mol Sci 2025;26(8):3904. "N/R" (not reported) stays "N/R" in the text columns and is
NaN in the numeric ones; a bound such as "< 32 hours" is kept as text only.

This cohort is summarised the same way, per group of its severe-ICANS episodes:
response rate = resolved episodes / episodes; median time to resolution = the plain median
over resolved episodes (as small case series report it; the Kaplan-Meier median, which
accounts for unresolved episodes, belongs to the time-to-resolution analysis); median
cumulative steroid dose = median cumulative_dex_mg of the patients with an episode (systemic
only, whole follow-up).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from icans_core.summary import format_count, format_number, group_order

NR = "N/R"
THIS_COHORT = "this cohort"
KATSIN_2024 = "Katsin et al., Front Immunol 2024;15:1380451, Table 1"
MOKHTARI_2025 = "Mokhtari et al., Int J Mol Sci 2025;26(8):3904"

PUBLISHED_COLUMNS = ["series", "treatment", "treatment_detail", "n", "response_rate", "response_text",
                     "median_ttr_days", "ttr_text", "median_csd_mg", "csd_text", "mean_steroid_days", "notes",
                     "citation"]
COMPARISON_COLUMNS = ["source", "series", "treatment", "n", "response_rate", "median_ttr_days", "median_csd_mg",
                      "mean_steroid_days", "response_text", "ttr_text", "csd_text", "notes"]

_NAN = np.nan
# (series, treatment as tabulated, spelled out, n, response rate, its text, median TTR days, its
#  text, median CSD mg dexamethasone, its text, mean steroid days, notes, citation)
_ROWS = [
    ("Strati et al. 2020", "AN", "anakinra", 6, 0.66, "66%", 28.5, "28.5 days", 1446.0, "1446 mg",
     _NAN, "", KATSIN_2024),
    ("Gazeau et al. 2021", "AN (all)", "anakinra, all doses", 26, 0.73, "73%", 15.5, "15.5 days", _NAN, NR,
     _NAN, "", KATSIN_2024),
    ("Gazeau et al. 2021", "HD AN", "high-dose anakinra (8 mg/kg/day)", 13, 1.00, "100%", _NAN, NR, 500.0,
     "500 mg", _NAN, "", KATSIN_2024),
    ("Gazeau et al. 2021", "LD AN", "low-dose anakinra (100-200 mg/day)", 13, 0.46, "46%", _NAN, NR, 610.0,
     "610 mg", _NAN, "", KATSIN_2024),
    ("Zurko et al. 2022", "IT HC", "intrathecal hydrocortisone", 7, 1.00, "100%", 6.0, "6 days", 713.0, "713 mg",
     _NAN, "", KATSIN_2024),
    ("Yucebay et al. 2020", "IT MTX + HC + Ara-C", "intrathecal methotrexate + hydrocortisone + cytarabine", 7,
     0.71, "71%", 11.0, "11 days", _NAN, NR, _NAN, "", KATSIN_2024),
    ("Solh et al. 2023", "IT MTX, Ara-C +/- AN", "intrathecal methotrexate, cytarabine +/- anakinra", 12, 1.00,
     "100%", 4.0, "4 days", _NAN, NR, _NAN, "", KATSIN_2024),
    ("Katsin et al. 2024 (case)", "first-line IT MTX + Ara-C + dexamethasone",
     "first-line intrathecal methotrexate + cytarabine + dexamethasone", 1, 1.00, "resolved", _NAN,
     "< 32 hours", 96.0, "96 mg", _NAN, "single case; time to resolution is an upper bound (< 32 hours)",
     KATSIN_2024),
    ("Mokhtari et al. 2025", "glucocorticoids then IVIG", "glucocorticoids, then IVIG (axi-cel, severe ICANS)",
     9, _NAN, NR, _NAN, NR, _NAN, NR, 11.2,
     "no significant difference in time to resolution vs glucocorticoids alone; this arm had higher ICANS "
     "grades and lower baseline performance status", MOKHTARI_2025),
    ("Mokhtari et al. 2025", "glucocorticoids alone", "glucocorticoids alone (axi-cel, severe ICANS)", 10, _NAN,
     NR, _NAN, NR, _NAN, NR, 13.5, "comparison arm of the IVIG study", MOKHTARI_2025),
]


def citations() -> pd.DataFrame:
    """Where the published rows come from. Columns: citation, content."""
    return pd.DataFrame([
        {"citation": KATSIN_2024, "content": "steroid-refractory ICANS series (Strati 2020, Gazeau 2021, Zurko "
                                             "2022, Yucebay 2020, Solh 2023) and the authors' case, as tabulated"},
        {"citation": MOKHTARI_2025, "content": "axi-cel, severe ICANS: glucocorticoids then IVIG (n = 9) vs "
                                               "glucocorticoids alone (n = 10)"},
    ])


def published_series() -> pd.DataFrame:
    """The published series, numbers as published. Columns: series, treatment, treatment_detail,
    n, response_rate (fraction; NaN if N/R), response_text, median_ttr_days (NaN if N/R or a
    bound), ttr_text, median_csd_mg (dexamethasone mg; NaN if N/R), csd_text, mean_steroid_days,
    notes, citation."""
    frame = pd.DataFrame(_ROWS, columns=PUBLISHED_COLUMNS)
    return frame.astype({"n": int, "response_rate": float, "median_ttr_days": float, "median_csd_mg": float,
                         "mean_steroid_days": float})


def compare_with_published(episodes: pd.DataFrame, exposure: pd.DataFrame) -> pd.DataFrame:
    """This cohort's groups (severe-ICANS episodes) stacked on the published series. Columns:
    source ('this cohort' or the citation), series, treatment, n, response_rate, median_ttr_days,
    median_csd_mg, mean_steroid_days, response_text, ttr_text, csd_text, notes."""
    published = published_series().rename(columns={"citation": "source"})
    published["treatment"] = published["treatment_detail"]
    if episodes is None or episodes.empty:
        return published[COMPARISON_COLUMNS].reset_index(drop=True)
    data = episodes[["patient_id", "group", "outcome", "time_to_resolution"]].merge(
        exposure[["patient_id", "steroid_days", "cumulative_dex_mg"]], on="patient_id", how="left")
    data["group"] = data["group"].astype(str)
    rows = []
    for group in group_order(data["group"]):
        g = data[data["group"] == group]
        resolved = g[g["outcome"] == "resolved"]
        ttr = resolved["time_to_resolution"].median() if len(resolved) else np.nan
        csd = g["cumulative_dex_mg"].median()
        rows.append({
            "source": THIS_COHORT, "series": group, "treatment": group, "n": len(g),
            "response_rate": len(resolved) / len(g), "median_ttr_days": ttr, "median_csd_mg": csd,
            "mean_steroid_days": g["steroid_days"].mean(),
            "response_text": format_count(len(resolved), len(g)),
            "ttr_text": NR if pd.isna(ttr) else f"{format_number(ttr)} days",
            "csd_text": NR if pd.isna(csd) else f"{format_number(csd)} mg",
            "notes": "median time to resolution over resolved episodes; steroid dose systemic, whole follow-up",
        })
    ours = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    return pd.concat([ours, published[COMPARISON_COLUMNS]], ignore_index=True)

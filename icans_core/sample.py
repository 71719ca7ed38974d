"""Deterministic synthetic CAR-T toxicity cohort: made-up patients only, never real ones.

`generate_cohort(n_patients, seed)` returns the four tables of the data contract (v1),
with exactly the contract's columns in the contract's order:

- patients: one row per patient - pseudonym (P0001, ...), product (canonical short
  name), group (severe-ICANS treatment arm, or "No severe ICANS"), disease consistent
  with the product, age_years (18-90; 90 means 90 and over), sex (F/M), ecog,
  last_followup_day (= death_day for those who died), death_day, death_cause.
- toxicity: ASTCT CRS and ICANS grades with the ICE score, assessed daily on days
  0-14 and while toxic, then on days 21, 28, 60 and 90 within follow-up. A blank
  grade means "not assessed"; every row has at least one grade.
- interventions: one row per course - tocilizumab, siltuximab, dexamethasone,
  methylprednisolone pulses, prednisone tapers, IVIG, anakinra and intrathecal
  methotrexate / cytarabine / hydrocortisone, consistent with each patient's course
  and group. end_day is blank for single doses (the contract reads it as start_day).
- labs: cytokine panels (days -5, 0-14, 21, 28) and CAR-T cell counts with CD4+ and
  CD8+ subsets (days 0-90), one unit per analyte; a value below the assay's lower
  limit of quantification (LLOQ) is written as the LLOQ with below_lloq true.

`write_cohort(tables, out_dir)` writes them as <table>.csv, byte-identical for the
same seed. Randomness comes only from numpy's `default_rng(seed)`; each stage draws
from its own spawned stream, so retuning one stage leaves the others' data unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from icans_core.sample_observations import build_observations, observation_stream
from icans_core.schema import ANALYTES, TABLES

TABLE_NAMES = ("patients", "toxicity", "interventions", "labs", "observations")
# Integer-valued columns are written as integers (2, not 2.0); blanks stay blank.
INTEGER_COLUMNS = {
    "patients": ("age_years", "ecog"),
    "toxicity": ("crs_grade", "icans_grade", "ice_score"),
    "observations": ("ice_score", "capd_score", "organ_toxicity_grade"),
}
# %.10g prints 6.25 as 6.25 and 7.0 as 7; values are rounded before writing, so the
# text is the same on every run and platform.
FLOAT_FORMAT = "%.10g"

# --- Patients -------------------------------------------------------------------

# A real-world mix: axi-cel and tisa-cel were the first approved and dominate series.
PRODUCT_MIX = {
    "axi-cel": 0.34, "tisa-cel": 0.22, "liso-cel": 0.14, "brexu-cel": 0.07,
    "obe-cel": 0.04, "ide-cel": 0.09, "cilta-cel": 0.10,
}
# Diseases follow each product's labelled indications.
DISEASE_MIX = {
    "axi-cel": {"LBCL": 0.50, "DLBCL": 0.30, "PMBCL": 0.07, "FL": 0.13},
    "tisa-cel": {"LBCL": 0.45, "DLBCL": 0.35, "FL": 0.20},
    "liso-cel": {"LBCL": 0.50, "DLBCL": 0.30, "PMBCL": 0.05, "FL": 0.15},
    "brexu-cel": {"MCL": 0.70, "B-ALL": 0.30},
    "obe-cel": {"B-ALL": 1.0},
    "ide-cel": {"MM": 1.0},
    "cilta-cel": {"MM": 1.0},
}
# (median, standard deviation) of age in years; PMBCL and B-ALL affect younger adults.
AGE_BY_DISEASE = {
    "LBCL": (61, 11), "DLBCL": (61, 11), "PMBCL": (35, 10), "FL": (60, 10),
    "MCL": (66, 8), "B-ALL": (44, 15), "MM": (62, 8),
}
ECOG_MIX = (0.42, 0.48, 0.08, 0.02)  # ECOG 0-3; trials mostly enrolled 0-1
# Probability of ever dying of progression, by disease (relapsed/refractory setting).
PROGRESSION_DEATH = {
    "LBCL": 0.45, "DLBCL": 0.45, "PMBCL": 0.30, "FL": 0.15, "MCL": 0.35, "B-ALL": 0.45, "MM": 0.50,
}
INFECTION_DEATH = 0.04

# --- Toxicity -------------------------------------------------------------------

# Maximum CRS grade 0-4 by product, roughly as in the pivotal trials (ZUMA-1, JULIET,
# TRANSCEND, ZUMA-2, FELIX, KarMMa, CARTITUDE-1).
CRS_GRADE_MIX = {
    "axi-cel": (0.07, 0.50, 0.33, 0.08, 0.02),
    "tisa-cel": (0.42, 0.35, 0.15, 0.06, 0.02),
    "liso-cel": (0.58, 0.32, 0.08, 0.02, 0.00),
    "brexu-cel": (0.09, 0.35, 0.41, 0.13, 0.02),
    "obe-cel": (0.32, 0.46, 0.19, 0.03, 0.00),
    "ide-cel": (0.16, 0.60, 0.20, 0.04, 0.00),
    "cilta-cel": (0.05, 0.60, 0.30, 0.04, 0.01),
}
# Extra days before CRS onset: liso-cel and cilta-cel have later CRS (median day 5 / 7).
CRS_ONSET_DELAY = {"liso-cel": 1, "cilta-cel": 3}
# (any ICANS, severe ICANS grade >= 3) at average CRS: CD28 products (axi-cel,
# brexu-cel) cause more and more severe ICANS than 4-1BB ones.
ICANS_RISK = {
    "axi-cel": (0.64, 0.30), "brexu-cel": (0.62, 0.30), "tisa-cel": (0.22, 0.12),
    "liso-cel": (0.30, 0.10), "obe-cel": (0.23, 0.07), "ide-cel": (0.18, 0.03),
    "cilta-cel": (0.21, 0.09),
}
# ICANS tracks CRS severity: risk multipliers by maximum CRS grade 0-4.
ICANS_ANY_BY_CRS = np.array([0.4, 0.9, 1.2, 1.4, 1.5])
ICANS_SEVERE_BY_CRS = np.array([0.25, 0.8, 1.3, 1.8, 2.2])

NO_SEVERE = "No severe ICANS"
ARMS = ("Steroids alone", "Steroids + IVIG", "Steroids + anakinra", "Steroids + intrathecal")
ALONE, IVIG_ARM, ANAKINRA_ARM, INTRATHECAL_ARM = range(4)
ARM_MIX = (0.40, 0.20, 0.20, 0.20)
# Median days from severe onset to grade <= 1. Close for IVIG vs steroids alone (no
# significant difference in Mokhtari 2025), longer after anakinra (given to the most
# refractory), shorter with intrathecal therapy (Zurko 2022, Solh 2023: 4-6 days).
TTR_MEDIAN = (6.0, 6.5, 8.0, 4.0)
TTR_LOG_SD = 0.5
# Grade-4 peaks: more in the IVIG arm (it had higher grades in Mokhtari 2025).
PEAK4_PROB = (0.30, 0.50, 0.35, 0.30)
IVIG_ECOG_WORSE = 0.35  # and lower baseline performance status
FATAL_ICANS = 0.06  # of severe episodes
FATAL_CRS = 0.35  # of grade-4 CRS
CENSOR_SEVERE = 0.08  # severe episodes lost to follow-up / transferred before resolution
# Days between CRS onset and ICANS onset: usually 2-4, occasionally ICANS first.
ICANS_GAP = (-1, 0, 1, 2, 3, 4, 5)
ICANS_GAP_MIX = (0.02, 0.04, 0.12, 0.25, 0.30, 0.17, 0.10)
ASSESSMENT_DAYS_LATE = (21, 28, 60, 90)
LAST_DAILY_DAY = 14
# ICE score range per ICANS grade (ASTCT, Lee 2019): 0 -> 10, 1 -> 7-9, 2 -> 3-6,
# 3 -> 0-2, 4 -> 0 (unarousable, cannot perform ICE); none after death (grade 5).
ICE_RANGE = {0: (10, 10), 1: (7, 9), 2: (3, 6), 3: (0, 2), 4: (0, 0)}
ICE_NOT_DONE = 0.05  # of grade 0-2 assessments

# --- Labs -----------------------------------------------------------------------

CYTOKINE_DAYS = np.array([-5, *range(0, 15), 21, 28], dtype=float)  # -5 = before lymphodepletion
EXPANSION_DAYS = np.array([0, 1, 3, 7, 10, 14, 21, 28, 60, 90], dtype=float)
LAB_GRADE_DAYS = 29  # daily grades for days 0-28 drive the cytokine model


@dataclass(frozen=True)
class Analyte:
    """Log-normal model of one serum analyte: baseline, LLOQ and response per grade."""

    name: str
    baseline: float  # median before lymphodepletion
    lloq: float
    per_crs_grade: float  # log-fold rise per CRS grade
    per_icans_grade: float  # log-fold rise per ICANS grade
    lag_days: int = 0  # CRP and ferritin follow IL-6 with a delay
    lymphodepletion: float = 0.0  # log-fold rise at day 0 from lymphodepletion, fading
    after_tocilizumab: float = 0.0  # log-fold rise in the 3 days after tocilizumab
    patient_sd: float = 0.5
    noise_sd: float = 0.35

    @property
    def unit(self) -> str:
        """The canonical unit of the analyte (data contract)."""
        return ANALYTES[self.name][0]


# Baselines and LLOQs are typical of multiplex (Luminex / MSD) panels; IL-6 peaks in
# the hundreds to thousands of pg/mL in grade 3-4 CRS; IL-15 rises after
# fludarabine/cyclophosphamide; serum IL-6 rises after tocilizumab (receptor blocked);
# GM-CSF and IL-2 are linked to ICANS.
CYTOKINES = (
    Analyte("IL-6", 5.0, 1.5, 1.35, 0.5, after_tocilizumab=1.2),
    Analyte("IL-2", 0.8, 0.5, 0.3, 0.35),
    Analyte("IL-10", 3.0, 0.5, 0.9, 0.4),
    Analyte("IL-15", 4.0, 0.8, 0.4, 0.3, lymphodepletion=1.3),
    Analyte("IFN-gamma", 6.0, 1.0, 1.0, 0.5),
    Analyte("GM-CSF", 1.0, 0.6, 0.5, 0.5),
    Analyte("TNF-alpha", 8.0, 0.7, 0.4, 0.2),
    Analyte("IL-1RA", 300.0, 20.0, 0.9, 0.5),
    Analyte("MCP-1", 400.0, 10.0, 0.5, 0.4, lymphodepletion=0.4),
    Analyte("CRP", 8.0, 0.3, 1.0, 0.3, lag_days=1),
    Analyte("ferritin", 600.0, 5.0, 0.6, 0.3, lag_days=2),
)
CELL_LLOQ = 0.1  # cells/uL, flow cytometry
EXPANSION_ANALYTES = ("CAR-T cells", "CD4+ CAR-T cells", "CD8+ CAR-T cells")
# Median Cmax in cells/uL by product (ZUMA-1 ~40, ZUMA-2 ~75, FELIX high, 4-1BB lower).
CMAX_MEDIAN = {
    "axi-cel": 40.0, "brexu-cel": 70.0, "tisa-cel": 15.0, "liso-cel": 25.0,
    "obe-cel": 100.0, "ide-cel": 30.0, "cilta-cel": 50.0,
}
LLOQ = {a.name: a.lloq for a in CYTOKINES} | {name: CELL_LLOQ for name in EXPANSION_ANALYTES}


def generate_cohort(n_patients: int = 300, seed: int = 7) -> dict[str, pd.DataFrame]:
    """Build the contract tables (patients, toxicity, interventions, labs, observations) of a synthetic cohort."""
    if n_patients < 1:
        raise ValueError(f"n_patients must be at least 1, got {n_patients}")
    baseline_rng, course_rng, toxicity_rng, treatment_rng, lab_rng = (
        np.random.default_rng(seed).spawn(5)
    )
    ids = name_patients(n_patients)
    baseline = draw_baseline(baseline_rng, n_patients)
    course = draw_course(course_rng, baseline)
    traces = [trace_patient(course, i) for i in range(n_patients)]
    patients = build_patients(ids, baseline, course, traces)
    toxicity = build_toxicity(toxicity_rng, ids, traces)
    interventions = build_interventions(treatment_rng, ids, course, traces)
    labs = build_labs(lab_rng, ids, baseline, course, traces, interventions)
    tables = {"patients": patients, "toxicity": toxicity, "interventions": interventions, "labs": labs}
    # Issue 13: bedside observations consistent with the grades, from their own stream (the four
    # tables above are the same with or without them).
    tables["observations"] = build_observations(observation_stream(seed), tables)
    return tables


def write_cohort(tables: dict[str, pd.DataFrame], out_dir) -> list[Path]:
    """Write each table as <table>.csv (UTF-8, comma, header, no index) and return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in TABLE_NAMES:
        if name not in tables:
            continue
        path = out / f"{name}.csv"
        frame = convert_integer_columns(tables[name], INTEGER_COLUMNS.get(name, ()))
        # "\n" on every platform keeps the files byte-identical across machines.
        frame.to_csv(path, index=False, encoding="utf-8", float_format=FLOAT_FORMAT,
                     lineterminator="\n", na_rep="")
        paths.append(path)
    return paths


def convert_integer_columns(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """Return the frame with whole-number float columns as nullable integers (2, not 2.0)."""
    whole = [c for c in columns if pd.api.types.is_float_dtype(frame[c])
             and (frame[c].dropna() % 1 == 0).all()]
    return frame.astype({c: "Int64" for c in whole}) if whole else frame


def name_patients(n: int) -> np.ndarray:
    """Pseudonyms P0001, P0002, ... (wider when the cohort needs more digits)."""
    width = max(4, len(str(n)))
    return np.array([f"P{i:0{width}d}" for i in range(1, n + 1)], dtype=object)


# --- Stage 1: baseline characteristics ------------------------------------------

def draw_baseline(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Draw product, disease, age, sex and ECOG for n patients."""
    products = np.array(list(PRODUCT_MIX), dtype=object)
    product = rng.choice(products, size=n, p=list(PRODUCT_MIX.values()))
    disease = np.empty(n, dtype=object)
    for name, mix in DISEASE_MIX.items():
        chosen = product == name
        disease[chosen] = rng.choice(np.array(list(mix), dtype=object), size=chosen.sum(),
                                     p=list(mix.values()))
    median = np.array([AGE_BY_DISEASE[d][0] for d in disease], dtype=float)
    sd = np.array([AGE_BY_DISEASE[d][1] for d in disease], dtype=float)
    # Adults only; the contract records 90 and over as 90.
    age = np.clip(np.rint(rng.normal(median, sd)), 18, 90).astype(int)
    sex = np.where(rng.random(n) < 0.6, "M", "F").astype(object)
    ecog = rng.choice(len(ECOG_MIX), size=n, p=ECOG_MIX)
    return {"product": product, "disease": disease, "age": age, "sex": sex, "ecog": ecog}


# --- Stage 2: each patient's clinical course (latent) -----------------------------

def draw_course(rng: np.random.Generator, baseline: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Draw each patient's CRS and ICANS course, severe-ICANS arm, follow-up and deaths.

    Also returns "ecog": the baseline ECOG, worse for some in the IVIG arm.
    """
    product, disease = baseline["product"], baseline["disease"]
    n = len(product)
    crs_max = np.zeros(n, dtype=int)
    for name, mix in CRS_GRADE_MIX.items():
        chosen = product == name
        crs_max[chosen] = rng.choice(5, size=chosen.sum(), p=mix)
    delay = np.array([CRS_ONSET_DELAY.get(p, 0) for p in product])
    crs_onset = 1 + rng.choice(4, size=n, p=(0.30, 0.35, 0.20, 0.15)) + delay
    fatal_crs_draw = (crs_max == 4) & (rng.random(n) < FATAL_CRS)

    risk = np.array([ICANS_RISK[p] for p in product])
    p_any = np.minimum(risk[:, 0] * ICANS_ANY_BY_CRS[crs_max], 0.95)
    p_severe = np.minimum(risk[:, 1] * ICANS_SEVERE_BY_CRS[crs_max], p_any)
    u = rng.random(n)
    severe = u < p_severe
    mild = ~severe & (u < p_any)
    arm = rng.choice(len(ARMS), size=n, p=ARM_MIX)
    peak4 = rng.random(n) < np.array(PEAK4_PROB)[arm]
    fatal_icans = severe & (rng.random(n) < FATAL_ICANS)
    # A patient dying of CRS dies before any severe ICANS could be treated in an arm.
    fatal_crs = fatal_crs_draw & ~severe
    icans_max = np.where(severe, np.where(peak4 | fatal_icans, 4, 3), 0)
    icans_max[mild] = np.where(rng.random(mild.sum()) < 0.6, 1, 2)
    gap = rng.choice(ICANS_GAP, size=n, p=ICANS_GAP_MIX)
    icans_onset = np.where(crs_max > 0, crs_onset + gap, rng.integers(4, 9, size=n))
    icans_onset = np.maximum(icans_onset, 1)

    log_ttr = np.log(np.array(TTR_MEDIAN)[arm]) + TTR_LOG_SD * rng.standard_normal(n)
    # Grade-4 episodes take about a third longer to settle.
    ttr = np.clip(np.rint(np.exp(log_ttr) * np.where(icans_max == 4, 1.3, 1.0)), 1, 45).astype(int)
    censored = severe & ~fatal_icans & (ttr >= 5) & (rng.random(n) < CENSOR_SEVERE)
    # Censor at least 3 days after severe onset, so the arm's adjunct has been given.
    censor_after = 3 + np.floor(rng.random(n) * np.maximum(ttr - 4, 1)).astype(int)

    progression = np.where(
        rng.random(n) < np.array([PROGRESSION_DEATH[d] for d in disease]),
        45 + np.rint(rng.exponential(200.0, size=n)), np.inf)
    infection = np.where(rng.random(n) < INFECTION_DEATH, rng.integers(20, 251, size=n), np.inf)

    ecog = baseline["ecog"].copy()
    worse = severe & (arm == IVIG_ARM) & (rng.random(n) < IVIG_ECOG_WORSE)
    ecog[worse] = np.minimum(ecog[worse] + 1, 3)
    return {
        "ecog": ecog,
        "crs_max": crs_max, "crs_onset": crs_onset, "crs_hold": rng.integers(0, 3, size=n),
        "crs_tail": rng.integers(1, 4, size=n), "fatal_crs": fatal_crs,
        "icans_max": icans_max, "icans_onset": icans_onset,
        "icans_start": rng.choice(3, size=n, p=(0.6, 0.3, 0.1)) + 1,
        "icans_tail": rng.integers(1, 4, size=n), "mild_days": rng.integers(2, 7, size=n),
        "fatal_icans": fatal_icans, "fatal_after": rng.integers(4, 13, size=n),
        "arm": arm, "ttr": ttr, "censored": censored, "censor_after": censor_after,
        "followup": rng.integers(30, 731, size=n), "progression": progression,
        "infection": infection,
    }


# --- Stage 3: daily grade trajectories -----------------------------------------

@dataclass
class Trace:
    """One patient's true daily grades (index = day) and how follow-up ended."""

    crs: list[int]  # daily CRS grade from day 0 to the last non-zero day
    icans: list[int]
    severe_onset: int | None  # first day with ICANS grade >= 3, if within follow-up
    last_followup_day: int
    death_day: int | None
    death_cause: str | None


def trace_crs(onset: int, peak: int, hold: int, tail: int, fatal: bool) -> list[int]:
    """Daily CRS grades: rise a grade a day to the peak, hold, step down, linger at grade 1."""
    if peak == 0:
        return []
    grades = [0] * onset + list(range(1, peak + 1)) + [peak] * hold
    if fatal:
        return grades + [5]
    return grades + list(range(peak - 1, 0, -1)) + [1] * tail


def trace_icans(course: dict[str, np.ndarray], i: int) -> tuple[list[int], int | None]:
    """Daily ICANS grades and the severe-onset day; grade 5 ends a fatal course."""
    peak = int(course["icans_max"][i])
    if peak == 0:
        return [], None
    grades = [0] * int(course["icans_onset"][i])
    tail = [1] * int(course["icans_tail"][i])
    if peak <= 2:
        days = int(course["mild_days"][i])
        body = [1] * days if peak == 1 else [1] + [2] * max(1, days - 2) + [1]
        return grades + body, None
    grades += list(range(int(course["icans_start"][i]), 3))  # prodrome before grade 3
    onset = len(grades)
    if course["fatal_icans"][i]:
        return grades + [3] + [4] * (int(course["fatal_after"][i]) - 1) + [5], onset
    ttr = int(course["ttr"][i])
    # Resolution (grade <= 1) falls exactly ttr days after severe onset.
    grade2 = 0 if ttr < 3 else 1 if ttr < 6 else 2
    core = ttr - grade2
    if peak == 4 and core == 1:
        severe = [4]
    elif peak == 4:
        at4 = max(1, round(0.5 * (core - 1)))
        severe = [3] + [4] * at4 + [3] * (core - 1 - at4)
    else:
        severe = [3] * core
    return grades + severe + [2] * grade2 + tail, onset


def trace_patient(course: dict[str, np.ndarray], i: int) -> Trace:
    """Combine CRS, ICANS, deaths and follow-up into one patient's trace."""
    crs = trace_crs(int(course["crs_onset"][i]), int(course["crs_max"][i]),
                    int(course["crs_hold"][i]), int(course["crs_tail"][i]),
                    bool(course["fatal_crs"][i]))
    icans, severe_onset = trace_icans(course, i)
    deaths = []
    if course["fatal_crs"][i]:
        deaths.append((len(crs) - 1, "CRS"))
    if course["fatal_icans"][i]:
        deaths.append((len(icans) - 1, "ICANS"))
    censored = bool(course["censored"][i])
    if not censored:
        # Other-cause deaths come after the arm's adjunct therapy has started.
        earliest = severe_onset + 4 if severe_onset is not None else 0
        for cause in ("progression", "infection"):
            day = course[cause][i]
            if np.isfinite(day):
                deaths.append((max(int(day), earliest), cause))
    deaths = [d for d in deaths if d[0] <= course["followup"][i]]
    if deaths:
        death_day, cause = min(deaths)
        last = death_day
    else:
        death_day, cause = None, None
        last = int(course["followup"][i])
        if censored:
            last = severe_onset + int(course["censor_after"][i])
    if severe_onset is not None and severe_onset > last:
        severe_onset = None
    return Trace(crs[: last + 1], icans[: last + 1], severe_onset, last, death_day, cause)


# --- Stage 4: tables --------------------------------------------------------------

def build_patients(ids: np.ndarray, baseline: dict[str, np.ndarray],
                   course: dict[str, np.ndarray], traces: list[Trace]) -> pd.DataFrame:
    """The patients table, with each patient's severe-ICANS arm as group."""
    group = [ARMS[a] if t.severe_onset is not None else NO_SEVERE
             for a, t in zip(course["arm"], traces)]
    frame = pd.DataFrame({
        "patient_id": ids,
        "product": baseline["product"],
        "group": np.array(group, dtype=object),
        "disease": baseline["disease"],
        "age_years": pd.array(baseline["age"], dtype="Int64"),
        "sex": baseline["sex"],
        "ecog": pd.array(course["ecog"], dtype="Int64"),
        "last_followup_day": np.array([t.last_followup_day for t in traces], dtype=float),
        "death_day": np.array([np.nan if t.death_day is None else t.death_day for t in traces]),
        "death_cause": np.array([t.death_cause for t in traces], dtype=object),
    })
    return frame[TABLES["patients"].column_names]


def list_assessment_days(trace: Trace) -> list[int]:
    """Days 0-14 daily, daily while toxic, then 21, 28, 60, 90 - all within follow-up."""
    toxic_until = max(len(trace.crs), len(trace.icans))  # first day both are back to 0
    days = set(range(0, max(LAST_DAILY_DAY, toxic_until) + 1)) | set(ASSESSMENT_DAYS_LATE)
    return sorted(d for d in days if d <= trace.last_followup_day)


def build_toxicity(rng: np.random.Generator, ids: np.ndarray, traces: list[Trace]) -> pd.DataFrame:
    """The toxicity table: assessed CRS / ICANS grades (-1 = not assessed) and ICE scores."""
    patient, day, crs, icans = [], [], [], []
    for i, trace in enumerate(traces):
        for d in list_assessment_days(trace):
            c = trace.crs[d] if d < len(trace.crs) else 0
            g = trace.icans[d] if d < len(trace.icans) else 0
            # CRS is followed daily to day 14 and until it has resolved; later visits
            # assess neurotoxicity only. The other syndrome is not graded at death.
            assess_crs = (d <= LAST_DAILY_DAY or d <= len(trace.crs)) and g != 5
            assess_icans = c != 5 or g == 5
            patient.append(i)
            day.append(d)
            crs.append(c if assess_crs else -1)
            icans.append(g if assess_icans else -1)
    patient = np.array(patient, dtype=int)
    day = np.array(day, dtype=float)
    crs = np.array(crs, dtype=int)
    icans = np.array(icans, dtype=int)
    blank_missed_assessments(rng, day, crs, icans)
    ice = draw_ice_scores(rng, icans)
    frame = pd.DataFrame({
        "patient_id": ids[patient],
        "day": day,
        "crs_grade": to_nullable(crs),
        "icans_grade": to_nullable(icans),
        "ice_score": to_nullable(ice),
    })
    return frame[TABLES["toxicity"].column_names]


def blank_missed_assessments(rng: np.random.Generator, day: np.ndarray, crs: np.ndarray,
                             icans: np.ndarray) -> None:
    """Mark a few quiet early assessments of one syndrome as not done (in place)."""
    both_quiet = (day <= LAST_DAILY_DAY) & (crs == 0) & (icans == 0)
    u = rng.random(len(day))
    crs[both_quiet & (u < 0.03)] = -1
    icans[both_quiet & (u >= 0.03) & (u < 0.05)] = -1


def draw_ice_scores(rng: np.random.Generator, icans: np.ndarray) -> np.ndarray:
    """ICE scores consistent with each ICANS grade (ASTCT table); -1 where not done."""
    low = np.full(len(icans), -1)
    high = np.full(len(icans), -1)
    for grade, (lo, hi) in ICE_RANGE.items():
        low[icans == grade] = lo
        high[icans == grade] = hi
    u = rng.random(len(icans))
    ice = np.where(low >= 0, low + np.floor(u * (high - low + 1)).astype(int), -1)
    not_done = (icans >= 0) & (icans <= 2) & (rng.random(len(icans)) < ICE_NOT_DONE)
    ice[not_done] = -1
    return ice


def to_nullable(values: np.ndarray) -> pd.arrays.IntegerArray:
    """Integers with -1 as missing -> a nullable Int64 array."""
    return pd.arrays.IntegerArray(values.astype("int64"), values < 0)


# --- Interventions ----------------------------------------------------------------

class Uniforms:
    """A patient's pre-drawn uniforms, handed out one at a time."""

    def __init__(self, values: list[float]):
        self.values = values
        self.next_index = 0

    def draw(self) -> float:
        """The next uniform in [0, 1)."""
        value = self.values[self.next_index]
        self.next_index += 1
        return value

    def chance(self, p: float) -> bool:
        """True with probability p."""
        return self.draw() < p

    def pick(self, options):
        """One of the options, equally likely."""
        return options[min(int(self.draw() * len(options)), len(options) - 1)]


UNIFORMS_PER_PATIENT = 40
DAY_FRACTIONS = (0.0, 0.25, 0.5, 0.75)  # doses given at 00:00, 06:00, 12:00 or 18:00


def first_day_at(grades: list[int], grade: int) -> int | None:
    """The first day index whose grade is at least `grade`, or None."""
    return next((d for d, g in enumerate(grades) if g >= grade), None)


def course_row(agent: str, start: float, days: int, dose: float, unit: str, route: str) -> tuple:
    """One intervention row; single-day rows leave end_day blank (= start_day)."""
    end = start + days - 1 if days > 1 else math.nan
    return (agent, start, end, dose, unit, route)


def plan_crs_treatment(trace: Trace, course: dict[str, np.ndarray], i: int, u: Uniforms) -> list[tuple]:
    """Tocilizumab for CRS grade >= 2 (sometimes persistent grade 1), dexamethasone if worse."""
    rows = []
    peak = int(course["crs_max"][i])
    grade2 = first_day_at(trace.crs, 2)
    if peak >= 2 and grade2 is not None and u.chance(0.92):
        start = grade2 + u.pick(DAY_FRACTIONS)
    elif peak == 1 and trace.crs and u.chance(0.12):
        start = int(course["crs_onset"][i]) + 1 + u.pick(DAY_FRACTIONS)
    else:
        return rows
    doses = 1 + (peak >= 2 and u.chance(0.35)) + (peak >= 3 and u.chance(0.3))
    # Repeat doses on the following days (at most 3 doses, 8 mg/kg each).
    rows += [course_row("tocilizumab", start + k, 1, 8, "mg/kg", "IV") for k in range(doses)]
    if peak >= 3 and u.chance(0.15):
        rows.append(course_row("siltuximab", start + doses, 1, 11, "mg/kg", "IV"))
    grade3 = first_day_at(trace.crs, 3)
    if grade3 is not None:
        # Grade 3 CRS: dexamethasone 10 mg q6h.
        rows.append(course_row("dexamethasone", grade3 + u.pick(DAY_FRACTIONS),
                               1 + int(u.draw() * 3), 40, "mg", "IV"))
    elif peak == 2 and u.chance(0.3):
        rows.append(course_row("dexamethasone", start, 1 + int(u.draw() * 2), 10, "mg", "IV"))
    return rows


def plan_mild_icans_treatment(trace: Trace, u: Uniforms) -> list[tuple]:
    """Grade 2 ICANS: dexamethasone 10 mg daily, or 10 mg q6h for a day."""
    grade2 = first_day_at(trace.icans, 2)
    if grade2 is None or not u.chance(0.7):
        return []
    start = grade2 + u.pick(DAY_FRACTIONS)
    if u.chance(0.25):
        return [course_row("dexamethasone", start, 1, 40, "mg", "IV")]
    return [course_row("dexamethasone", start, 1 + int(u.draw() * 3), 10, "mg", "IV")]


# Steroid tapers after high-dose treatment: (agent, daily mg, days, route) steps.
# Shorter with IVIG (mean 11.2 vs 13.5 steroid days in Mokhtari 2025) and with
# intrathecal therapy (low cumulative doses in Zurko 2022 and Katsin 2024); longer in
# the anakinra arm, where steroid-refractory patients end up.
TAPERS = {
    ALONE: ([("dexamethasone", 20, 2, "IV"), ("dexamethasone", 10, 2, "IV")],
            [("prednisone", 40, 2, "PO"), ("prednisone", 20, 2, "PO"), ("prednisone", 10, 2, "PO")],
            [("dexamethasone", 5, 3, "PO")]),
    IVIG_ARM: ([("dexamethasone", 20, 1, "IV"), ("dexamethasone", 10, 2, "IV")],
               [("prednisone", 40, 2, "PO"), ("prednisone", 20, 2, "PO"), ("prednisone", 10, 1, "PO")],
               [("dexamethasone", 4, 2, "PO")]),
    ANAKINRA_ARM: ([("dexamethasone", 20, 3, "IV"), ("dexamethasone", 10, 2, "IV")],
                   [("prednisone", 60, 2, "PO"), ("prednisone", 40, 2, "PO"),
                    ("prednisone", 20, 2, "PO"), ("prednisone", 10, 2, "PO")],
                   [("dexamethasone", 5, 4, "PO")]),
    INTRATHECAL_ARM: ([("dexamethasone", 10, 2, "IV")], [], [("dexamethasone", 4, 2, "PO")]),
}
# Days of first-line dexamethasone 10 mg q6h, by arm (low, high inclusive).
FIRST_LINE_DAYS = {ALONE: (2, 4), IVIG_ARM: (2, 3), ANAKINRA_ARM: (3, 5), INTRATHECAL_ARM: (1, 2)}


def plan_severe_icans_treatment(trace: Trace, course: dict[str, np.ndarray], i: int,
                                u: Uniforms) -> tuple[list[tuple], float]:
    """Steroids from severe onset (pulse for grade 4), a taper, and the arm's adjunct."""
    arm = int(course["arm"][i])
    onset = trace.severe_onset
    grade2 = first_day_at(trace.icans, 2)
    # Some teams start dexamethasone already at grade 2, the day before grade 3.
    start = (grade2 if grade2 < onset and u.chance(0.3) else onset) + u.pick(DAY_FRACTIONS[:3])
    grade4 = first_day_at(trace.icans, 4)
    pulse = None
    if grade4 is not None:
        pulse = max(start, grade4 + u.pick(DAY_FRACTIONS[:3]))
    elif arm in (ALONE, ANAKINRA_ARM) and u.chance(0.3):
        pulse = start + 2  # escalation when grade 3 does not respond
    rows = []
    low, high = FIRST_LINE_DAYS[arm]
    first_days = low + int(u.draw() * (high - low + 1))
    if pulse is not None:
        # Dexamethasone on each day before the pulse takes over.
        first_days = math.floor(pulse) - math.floor(start)
    if first_days >= 1:
        rows.append(course_row("dexamethasone", start, first_days, 40, "mg", "IV"))
    taper_from = start + first_days
    if pulse is not None:
        rows.append(course_row("methylprednisolone", pulse, 3, 1000, "mg", "IV"))
        taper_from = pulse + 3
    high_dose, oral, short = TAPERS[arm]
    steps = high_dose + (oral if oral and u.chance(0.5) else short)
    for agent, dose, days, route in steps:
        rows.append(course_row(agent, taper_from, days, dose, "mg", route))
        taper_from += days
    rows += plan_adjunct(arm, start, u)
    return rows, start


def plan_adjunct(arm: int, steroid_start: float, u: Uniforms) -> list[tuple]:
    """The arm's second-line therapy, a day or two after steroids (steroid-refractory)."""
    later = steroid_start + u.pick((1, 1, 2))
    if arm == IVIG_ARM:
        return [course_row("IVIG", later, u.pick((3, 4, 5, 5, 5)), 0.4, "g/kg", "IV")]
    if arm == ANAKINRA_ARM:
        if u.chance(0.5):  # high dose (Gazeau 2021: 8 mg/kg/day IV)
            return [course_row("anakinra", later, u.pick((5, 6, 7)), 8, "mg/kg", "IV")]
        return [course_row("anakinra", later, u.pick((5, 7, 10)), u.pick((100, 200)), "mg", "SC")]
    if arm == INTRATHECAL_ARM:
        # Some centres give intrathecal therapy first-line, with the first steroid dose.
        day = steroid_start if u.chance(0.3) else later
        doses = [day] + ([day + u.pick((2, 3))] if u.chance(0.3) else [])
        return [course_row(agent, d, 1, dose, "mg", "IT") for d in doses
                for agent, dose in (("methotrexate", 12), ("cytarabine", 40), ("hydrocortisone", 50))]
    return []


def clip_to_followup(rows: list[tuple], last_day: float) -> list[tuple]:
    """Drop courses starting after follow-up ended and shorten those running past it."""
    kept = []
    for agent, start, end, dose, unit, route in rows:
        if start > last_day:
            continue
        if not math.isnan(end) and end > last_day:
            # Keep the course's time of day; the last dose falls within follow-up.
            end = start + math.floor(last_day - start)
            end = end if end > start else math.nan
        kept.append((agent, start, end, dose, unit, route))
    return kept


def stop_before(rows: list[tuple], day: float) -> list[tuple]:
    """End earlier dexamethasone courses before `day`, when the ICANS regimen takes over."""
    kept = []
    for agent, start, end, dose, unit, route in rows:
        if agent == "dexamethasone":
            if start >= day:
                continue
            if not math.isnan(end) and end >= day:
                end = start + math.ceil(day - start) - 1
                end = end if end > start else math.nan
        kept.append((agent, start, end, dose, unit, route))
    return kept


def build_interventions(rng: np.random.Generator, ids: np.ndarray, course: dict[str, np.ndarray],
                        traces: list[Trace]) -> pd.DataFrame:
    """The interventions table: each patient's treatments, consistent with their course."""
    uniforms = rng.random((len(traces), UNIFORMS_PER_PATIENT)).tolist()
    records = []
    for i, trace in enumerate(traces):
        u = Uniforms(uniforms[i])
        rows = plan_crs_treatment(trace, course, i, u)
        if trace.severe_onset is not None:
            severe_rows, steroid_start = plan_severe_icans_treatment(trace, course, i, u)
            rows = stop_before(rows, steroid_start) + severe_rows
        else:
            rows += plan_mild_icans_treatment(trace, u)
        rows = clip_to_followup(rows, trace.last_followup_day)
        rows.sort(key=lambda row: row[1])
        records += [(ids[i], *row) for row in rows]
    frame = pd.DataFrame.from_records(records, columns=TABLES["interventions"].column_names)
    for column in ("start_day", "end_day", "daily_dose"):
        frame[column] = frame[column].astype(float)
    return frame


# --- Labs -------------------------------------------------------------------------

def build_labs(rng: np.random.Generator, ids: np.ndarray, baseline: dict[str, np.ndarray],
               course: dict[str, np.ndarray], traces: list[Trace],
               interventions: pd.DataFrame) -> pd.DataFrame:
    """The labs table: cytokine panels and CAR-T expansion, with some samples missing."""
    crs_days = daily_grades([t.crs for t in traces])
    icans_days = daily_grades([t.icans for t in traces])
    toci_day = first_tocilizumab_day(interventions, ids)
    last_day = np.array([t.last_followup_day for t in traces], dtype=float)
    cytokines = simulate_cytokines(rng, crs_days, icans_days, toci_day)
    expansion = simulate_expansion(rng, baseline["product"], course["crs_max"], course["icans_max"])
    parts = [
        flatten_samples(rng, cytokines, CYTOKINE_DAYS, 0, last_day,
                        no_panel=0.05, missed_visit=0.08, missed_analyte=0.02),
        flatten_samples(rng, expansion, EXPANSION_DAYS, len(CYTOKINES), last_day,
                        no_panel=0.10, missed_visit=0.07, missed_analyte=0.0),
    ]
    patient = np.concatenate([p[0] for p in parts])
    day = np.concatenate([p[1] for p in parts])
    analyte = np.concatenate([p[2] for p in parts])
    value = round_significant(np.concatenate([p[3] for p in parts]), 3)
    names = np.array([a.name for a in CYTOKINES] + list(EXPANSION_ANALYTES), dtype=object)
    lloq = np.array([LLOQ[name] for name in names])[analyte]
    below = value < lloq
    value = np.where(below, lloq, value)
    units = np.array([ANALYTES[name][0] for name in names], dtype=object)
    order = np.lexsort((analyte, day, patient))
    frame = pd.DataFrame({
        "patient_id": ids[patient[order]],
        "day": day[order],
        "analyte": names[analyte[order]],
        "value": value[order],
        "unit": units[analyte[order]],
        "below_lloq": below[order],
    })
    return frame[TABLES["labs"].column_names]


def daily_grades(traces: list[list[int]]) -> np.ndarray:
    """Patients x days 0-28 matrix of true grades (grade 5 counted as 4)."""
    grades = np.zeros((len(traces), LAB_GRADE_DAYS), dtype=float)
    for i, trace in enumerate(traces):
        head = trace[:LAB_GRADE_DAYS]
        grades[i, : len(head)] = head
    return np.minimum(grades, 4)


def first_tocilizumab_day(interventions: pd.DataFrame, ids: np.ndarray) -> np.ndarray:
    """Each patient's first tocilizumab day (NaN if never given)."""
    given = interventions[interventions["agent"] == "tocilizumab"]
    first = given.groupby("patient_id")["start_day"].min()
    return pd.Series(ids).map(first).to_numpy(dtype=float)


def simulate_cytokines(rng: np.random.Generator, crs_days: np.ndarray, icans_days: np.ndarray,
                       toci_day: np.ndarray) -> np.ndarray:
    """Patients x days x analytes log-normal serum levels tracking CRS and ICANS."""
    n, days = len(crs_days), CYTOKINE_DAYS
    values = np.empty((n, len(days), len(CYTOKINES)))
    since_toci = days[None, :] - np.floor(toci_day)[:, None]
    after_toci = (since_toci >= 0) & (since_toci < 3)  # NaN compares False
    fading = np.where(days >= 0, np.exp(-np.maximum(days, 0) / 4.0), 0.0)
    for k, analyte in enumerate(CYTOKINES):
        crs = lagged_grades(crs_days, days, analyte.lag_days)
        icans = lagged_grades(icans_days, days, analyte.lag_days)
        log_level = (math.log(analyte.baseline)
                     + analyte.patient_sd * rng.standard_normal((n, 1))
                     + analyte.per_crs_grade * crs + analyte.per_icans_grade * icans
                     + analyte.lymphodepletion * fading[None, :]
                     + analyte.after_tocilizumab * after_toci
                     + analyte.noise_sd * rng.standard_normal((n, len(days))))
        values[:, :, k] = np.exp(log_level)
    return values


def lagged_grades(grades: np.ndarray, days: np.ndarray, lag: int) -> np.ndarray:
    """Grades at day - lag for each sampling day (0 before infusion)."""
    index = days.astype(int) - lag
    valid = index >= 0
    out = np.zeros((len(grades), len(days)))
    out[:, valid] = grades[:, index[valid]]
    return out


def simulate_expansion(rng: np.random.Generator, product: np.ndarray, crs_max: np.ndarray,
                       icans_max: np.ndarray) -> np.ndarray:
    """Patients x days x (total, CD4+, CD8+) CAR-T cells/uL: peak day 7-14, then a long tail."""
    n = len(product)
    # Higher expansion goes with more toxicity (Cmax correlates with CRS and ICANS grade).
    log_cmax = (np.log([CMAX_MEDIAN[p] for p in product]) + 0.25 * icans_max + 0.1 * crs_max
                + 0.8 * rng.standard_normal(n))
    cmax = np.exp(log_cmax)[:, None]
    tmax = rng.uniform(7.0, 14.0, size=n)[:, None]
    t = EXPANSION_DAYS[None, :]
    rel = t / tmax
    rising = rel ** 3 * np.exp(3 * (1 - rel))  # gamma-variate, equal to 1 at tmax
    # Contraction: most cells gone within weeks, a persisting fraction for months.
    falling = 0.85 * np.exp(-(t - tmax) / 5.0) + 0.15 * np.exp(-(t - tmax) / 60.0)
    total = cmax * np.where(t <= tmax, rising, falling) * np.exp(0.25 * rng.standard_normal((n, len(EXPANSION_DAYS))))
    cd4_share = rng.beta(4, 6, size=n)[:, None]  # CD4:CD8 about 40:60, varying by patient
    cd4 = total * cd4_share * np.exp(0.15 * rng.standard_normal(total.shape))
    cd8 = total * (1 - cd4_share) * np.exp(0.15 * rng.standard_normal(total.shape))
    return np.stack([total, cd4, cd8], axis=2)


def flatten_samples(rng: np.random.Generator, values: np.ndarray, days: np.ndarray,
                    first_analyte: int, last_day: np.ndarray, no_panel: float,
                    missed_visit: float, missed_analyte: float) -> tuple[np.ndarray, ...]:
    """Long arrays (patient, day, analyte index from first_analyte, value) of samples taken."""
    n, n_days, n_analytes = values.shape
    taken = (
        (rng.random((n, 1, 1)) >= no_panel)
        & (rng.random((n, n_days, 1)) >= missed_visit)
        & (rng.random((n, n_days, n_analytes)) >= missed_analyte)
        # No samples after death or the last follow-up.
        & (days[None, :, None] <= last_day[:, None, None])
    )
    patient, day_index, analyte = np.nonzero(taken)
    return patient, days[day_index], analyte + first_analyte, values[patient, day_index, analyte]


def round_significant(values: np.ndarray, digits: int) -> np.ndarray:
    """Round to `digits` significant figures, as assays report."""
    safe = np.where(values > 0, values, 1.0)
    scale = 10.0 ** (digits - 1 - np.floor(np.log10(safe)))
    return np.where(values > 0, np.round(safe * scale) / scale, 0.0)

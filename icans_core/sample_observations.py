"""Synthetic bedside observations consistent with the sample's recorded ASTCT grades.

For every toxicity assessment on days 0-28 (daily bedside observation while admitted), the
components of each recorded grade are drawn so that icans_core/grading.py gives that grade back:
temperature, hypotension support (with the vasopressors given), oxygen, the ICE score of the same
assessment, level of consciousness, seizures, motor findings, raised ICP. A grade that is blank
(not assessed) or 5 (death) gets no components. A few rows carry the mistakes centres make, so the
discrepancy report has something to show: grade 1 CRS recorded without fever, and grade 4 ICANS
recorded for a rapidly resolving seizure.

Draws come from their own random stream (child 5 of the generator's seed), so the four contract
tables of the sample are the same with or without this table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from icans_core import schema as S
from icans_core.grading import FEVER_MASKING_CLASSES

OBSERVED_UNTIL_DAY = 28
STREAM = 5  # the generator's children 0-4 draw the contract tables
MISTAKE_CRS_1_WITHOUT_FEVER = 0.04
MISTAKE_SEIZURE_AS_GRADE_4 = 0.3
TREMOR = 0.08


def observation_stream(seed: int) -> np.random.Generator:
    """The observations' own random stream: independent of the contract tables' five."""
    return np.random.default_rng(seed).spawn(STREAM + 1)[STREAM]


def build_observations(rng: np.random.Generator, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The observations table (contract columns) for the sample's toxicity, patients and interventions."""
    tox = tables["toxicity"]
    tox = tox[tox["day"] <= OBSERVED_UNTIL_DAY].reset_index(drop=True)
    iv = tables["interventions"]
    classes = [S.agent_class(a, r) for a, r in zip(iv["agent"], iv["route"])]
    chosen = np.array([c in FEVER_MASKING_CLASSES for c in classes], dtype=bool)
    masking = iv[chosen].groupby("patient_id")["start_day"].min()
    masked = (tox["patient_id"].map(masking) <= tox["day"]).fillna(False).to_numpy()
    u = rng.random((len(tox), 12))
    records = []
    for i, row in enumerate(tox.itertuples(index=False)):
        record = {"patient_id": row.patient_id, "day": row.day}
        crs = None if pd.isna(row.crs_grade) else int(row.crs_grade)
        icans = None if pd.isna(row.icans_grade) else int(row.icans_grade)
        if crs is not None and crs < 5:
            record |= crs_components(crs, bool(masked[i]), u[i, :6])
        if icans is not None and icans < 5:
            record |= icans_components(icans, None if pd.isna(row.ice_score) else int(row.ice_score), u[i, 6:])
        if len(record) > 2:
            records.append(record)
    frame = pd.DataFrame.from_records(records).reindex(columns=S.TABLES["observations"].column_names)
    for column in ("ice_score",):
        frame[column] = frame[column].astype("Int64")
    for column in ("day", "temperature_c", "oxygen_l_min", "seizure_minutes"):
        frame[column] = frame[column].astype(float)
    return frame


def _temperature(febrile: bool, u: float) -> float:
    return round(38.0 + 1.8 * u, 1) if febrile else round(36.2 + 1.6 * u, 1)


def crs_components(grade: int, masked: bool, u: np.ndarray) -> dict:
    """Temperature, hypotension, vasopressors and oxygen giving this CRS grade."""
    febrile = grade >= 1 and not (masked and grade >= 2 and u[0] < 0.5)
    if grade == 1 and not masked and u[1] < MISTAKE_CRS_1_WITHOUT_FEVER:
        febrile = False  # a centre's mistake: grade 1 recorded without fever
    out = {"temperature_c": _temperature(febrile, u[2]), "hypotension": "no hypotension", "oxygen": "room air"}
    if grade <= 1:
        return out
    pick = int(u[3] * 3)  # 0: hypotension drives, 1: hypoxia drives, 2: both at this grade
    if pick in (0, 2):
        out |= _hypotension(grade, u[4])
    else:
        out |= _hypotension(int(u[4] * (grade - 1)) if grade > 2 else 0, u[5])
    if pick in (1, 2):
        out |= _oxygen(grade, u[5])
    else:
        out |= _oxygen(int(u[5] * (grade - 1)) if grade > 2 else 0, u[4])
    return out


def _hypotension(grade: int, u: float) -> dict:
    if grade <= 1:
        return {"hypotension": "no hypotension"}
    if grade == 2:
        return {"hypotension": "fluids"}
    if grade == 3:
        return {"hypotension": "one vasopressor",
                "vasopressors": "norepinephrine; vasopressin" if u < 0.3 else "norepinephrine"}
    return {"hypotension": "multiple vasopressors",
            "vasopressors": "norepinephrine; epinephrine; vasopressin" if u < 0.3 else "norepinephrine; epinephrine"}


def _oxygen(grade: int, u: float) -> dict:
    if grade <= 1:
        return {"oxygen": "room air"}
    if grade == 2:
        return {"oxygen": "nasal cannula", "oxygen_l_min": float(1 + int(u * 6))} if u < 0.7 else {"oxygen": "low-flow"}
    if grade == 3:
        return {"oxygen": "nasal cannula", "oxygen_l_min": float(8 + int(u * 20))} if u < 0.5 else {"oxygen": "high-flow"}
    return {"oxygen": "positive pressure"}


_LEVELS = ("alert", "awakens spontaneously", "awakens to voice", "awakens to tactile stimulus", "unarousable")


def icans_components(grade: int, ice: int | None, u: np.ndarray) -> dict:
    """ICE (as recorded), consciousness, seizure, motor findings and raised ICP giving this ICANS grade."""
    out = {"ice_score": ice, "consciousness": _LEVELS[int(u[0] * (min(grade, 3) + 1))] if grade < 4 else None,
           "seizure": "no seizure", "motor_findings": "tremor" if grade <= 1 and u[1] < TREMOR else "no findings",
           "raised_icp": "no edema"}
    if ice is None and grade <= 2:
        out["consciousness"] = _LEVELS[grade]  # without ICE, consciousness carries the grade (not derived anyway)
    if grade == 3 and u[2] < 0.08:
        out["seizure"] = "rapidly resolving"
    elif grade == 3 and u[2] < 0.12:
        out["raised_icp"] = "focal edema"
    if grade == 4:
        if u[3] < MISTAKE_SEIZURE_AS_GRADE_4:
            # a centre's mistake: a rapidly resolving seizure recorded as grade 4
            out |= {"consciousness": "awakens to voice", "seizure": "rapidly resolving"}
        elif u[3] < 0.45:
            out |= {"consciousness": "awakens to tactile stimulus", "seizure": "seizure",
                    "seizure_minutes": float(6 + int(u[4] * 20))}
        elif u[3] < 0.55:
            out |= {"consciousness": "awakens to voice", "motor_findings": "deep focal weakness"}
        elif u[3] < 0.65:
            out |= {"consciousness": "awakens to tactile stimulus", "raised_icp": "diffuse edema"}
        else:
            out["consciousness"] = "unarousable"
    return out

"""ASTCT consensus grades of CRS and ICANS derived from their components: the one home of the rules.

Written from ../shared/spec/clinical-reference.md (Lee et al., Biol Blood Marrow Transplant
2019;25:625-638). Every rule below is a cell of the consensus tables:

CRS - fever >= 38.0 C is required for grades 1-4 until anti-cytokine therapy or steroids have
been given (tocilizumab, siltuximab, anakinra, systemic corticosteroids: "antipyretic or
anticytokine therapy such as tocilizumab or steroids"); after that, hypotension and hypoxia drive
the grade. The grade is the more severe of hypotension and hypoxia:
    grade 1  fever only
    grade 2  hypotension not requiring vasopressors | low-flow nasal cannula (<= 6 L/min) or blow-by
    grade 3  one vasopressor, with or without vasopressin | high-flow (> 6 L/min), facemask,
             non-rebreather or Venturi mask
    grade 4  multiple vasopressors (vasopressin not counted) | positive pressure (CPAP, BiPAP, intubation)
Organ toxicities (CTCAE) never change the CRS grade. Grade 5 (death from CRS) is never derived.

ICANS - the most severe domain:
    ICE score              7-9 -> 1, 3-6 -> 2, 0-2 -> 3 (ICE 0 in an awake patient with global aphasia
                           is 3; only an unarousable patient, graded by consciousness, is 4)
    CAPD (under 12 years)  1-8 -> 1, >= 9 -> 3 (awakening to voice makes 2 through consciousness)
    consciousness          awakens spontaneously 1, to voice 2, only to tactile stimulus 3,
                           unarousable 4; not graded when due to sedating medication
    seizure                rapidly resolving (or non-convulsive on EEG resolving with intervention) 3,
                           prolonged (> 5 min) or repetitive without return to baseline 4
    motor findings         deep focal weakness (hemiparesis, paraparesis) 4; tremor and myoclonus are
                           graded with CTCAE, not ICANS
    raised ICP / edema     focal/local edema 3; diffuse edema, posturing, cranial nerve VI palsy,
                           papilledema or Cushing's triad 4

Blank means "not recorded". A grade is derived only when every domain that could raise it was
recorded (temperature - unless fever is no longer required -, hypotension and oxygen for CRS; the
ICE score, or CAPD, and consciousness for ICANS), or when a recorded domain already gives grade 4.
Seizures, motor findings and raised ICP are events: blank means none was recorded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from icans_core import schema as S

FEVER_C = 38.0
# Classes after which fever is no longer required to grade CRS (Lee 2019).
FEVER_MASKING_CLASSES = (S.IL6_BLOCKADE, S.IL1_BLOCKADE, S.CORTICOSTEROID)

HYPOTENSION_GRADE = {"no hypotension": 0, "fluids": 2, "one vasopressor": 3, "multiple vasopressors": 4}
OXYGEN_GRADE = {"room air": 0, "low-flow": 2, "high-flow": 3, "positive pressure": 4}
CONSCIOUSNESS_GRADE = {"alert": 0, "awakens spontaneously": 1, "awakens to voice": 2,
                       "awakens to tactile stimulus": 3, "unarousable": 4}
SEIZURE_GRADE = {"no seizure": 0, "rapidly resolving": 3, "prolonged": 4}
MOTOR_GRADE = {"no findings": 0, "tremor": 0, "myoclonus": 0, "deep focal weakness": 4}
ICP_GRADE = {"no edema": 0, "focal edema": 3, "diffuse edema": 4}

# Names of the domains, as the derived grade's driver names them.
FEVER, HYPOTENSION, HYPOXIA = "fever", "hypotension", "hypoxia"
ICE, CAPD, CONSCIOUSNESS, SEIZURE, MOTOR, ICP = (
    "ICE score", "CAPD", "consciousness", "seizure", "motor findings", "raised ICP / cerebral edema")
NO_FEVER = "no fever (required before tocilizumab or steroids)"
NO_SIGNS = "no domain abnormal"

GRADED_COLUMNS = ["patient_id", "day", "source_row", "crs_grade", "crs_driver", "icans_grade", "icans_driver",
                  "fever_required"]
DISCREPANCY_COLUMNS = ["patient_id", "day", "syndrome", "recorded_grade", "derived_grade", "driver",
                       "difference"]


@dataclass(frozen=True)
class Grade:
    """A derived grade (None when it cannot be derived) and what set it (or why it is missing)."""

    grade: int | None
    driver: str


def _blank(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def vasopressor_support(agents: str | None) -> str | None:
    """'one vasopressor' or 'multiple vasopressors' from a ';'-separated agent list; None if blank.

    Vasopressin is not counted: norepinephrine + vasopressin is one vasopressor (grade 3), and
    vasopressin alone is still a vasopressor. Unknown agents raise ValueError.
    """
    if _blank(agents) or not str(agents).strip():
        return None
    lookup = S.vocabulary_lookup(S.VASOPRESSORS)
    names = [a.strip() for a in str(agents).split(";") if a.strip()]
    unknown = [a for a in names if S.vocabulary_key(a) not in lookup]
    if unknown:
        raise ValueError(f"unknown vasopressor {unknown[0]!r}; known: {', '.join(S.VASOPRESSORS)}")
    counted = {lookup[S.vocabulary_key(a)] for a in names} - {S.VASOPRESSIN}
    if not names:
        return None
    return "multiple vasopressors" if len(counted) >= 2 else "one vasopressor"


def oxygen_support(device: str | None, flow_l_min: float | None) -> str | None:
    """The oxygen category: a nasal cannula is low-flow up to 6 L/min and high-flow above it."""
    if _blank(device):
        return None
    if device == "nasal cannula":
        if _blank(flow_l_min):
            return None
        return "low-flow" if flow_l_min <= S.LOW_FLOW_MAX_L_MIN else "high-flow"
    return device


def crs_grade(temperature_c: float | None, hypotension: str | None, oxygen: str | None,
              fever_required: bool = True) -> Grade:
    """The ASTCT CRS grade (0-4) from temperature, hypotension support and oxygen category.

    `hypotension`: no hypotension / fluids / one vasopressor / multiple vasopressors; `oxygen`: room air /
    low-flow / high-flow / positive pressure (see oxygen_support). `fever_required` is False once
    tocilizumab or steroids have been given.
    """
    fever = None if _blank(temperature_c) else temperature_c >= FEVER_C
    parts = {HYPOTENSION: None if _blank(hypotension) else HYPOTENSION_GRADE[hypotension],
             HYPOXIA: None if _blank(oxygen) else OXYGEN_GRADE[oxygen]}
    if fever_required and fever is False:
        # No fever, no CRS: hypotension or hypoxia alone are not graded as CRS.
        return Grade(0, NO_FEVER)
    known = {name: g for name, g in parts.items() if g is not None}
    worst = max(known.values(), default=None)
    if worst == 4 and (fever or not fever_required):
        return Grade(4, _drivers(known, 4))
    missing = [name for name, g in parts.items() if g is None]
    if fever_required and fever is None:
        return Grade(None, "not derived: temperature not recorded")
    if missing:
        return Grade(None, f"not derived: {' and '.join(missing)} not recorded")
    if worst >= 2:
        return Grade(worst, _drivers(known, worst))
    if fever:
        return Grade(1, FEVER)
    return Grade(0, NO_SIGNS)


def icans_grade(ice_score: int | None = None, consciousness: str | None = None, seizure: str | None = None,
                motor_findings: str | None = None, raised_icp: str | None = None, capd_score: int | None = None,
                age_years: float | None = None, sedated: bool = False,
                seizure_minutes: float | None = None) -> Grade:
    """The ASTCT ICANS grade (0-4): the most severe domain.

    The ICE score is used from age 12 (and when the age is unknown), CAPD below; depressed
    consciousness due to sedation is not graded; a 'seizure' without its course is prolonged when
    it lasted more than 5 minutes.
    """
    sedated = not _blank(sedated) and bool(sedated)  # numpy's True is not `True`
    child = not _blank(age_years) and age_years < S.CAPD_AGE_LIMIT
    if child:
        encephalopathy = CAPD, None if _blank(capd_score) else (0 if capd_score == 0 else 1 if capd_score < 9 else 3)
    else:
        encephalopathy = ICE, None if _blank(ice_score) else _ice_grade(int(ice_score))
    level = None if _blank(consciousness) or sedated else CONSCIOUSNESS_GRADE[consciousness]
    parts = {encephalopathy[0]: encephalopathy[1], CONSCIOUSNESS: level,
             SEIZURE: 0 if _blank(seizure) else _seizure_grade(seizure, seizure_minutes),
             MOTOR: 0 if _blank(motor_findings) else MOTOR_GRADE[motor_findings],
             ICP: 0 if _blank(raised_icp) else ICP_GRADE[raised_icp]}
    known = {name: g for name, g in parts.items() if g is not None}
    worst = max(known.values())
    if worst == 4:
        return Grade(4, _drivers(known, 4))
    missing = [name for name, g in parts.items() if g is None]
    if sedated and CONSCIOUSNESS in missing:
        missing.remove(CONSCIOUSNESS)  # sedation: consciousness is deliberately not graded
    if missing:
        return Grade(None, f"not derived: {' and '.join(missing)} not recorded")
    return Grade(worst, _drivers(known, worst) if worst else NO_SIGNS)


def _ice_grade(score: int) -> int:
    # ICE 0 alone is grade 3: grade 4 needs an unarousable patient (the consciousness domain).
    return 0 if score == 10 else 1 if score >= 7 else 2 if score >= 3 else 3


def _seizure_grade(seizure: str, minutes: float | None) -> int | None:
    if seizure == "seizure":
        return None if _blank(minutes) else 4 if minutes > S.SEIZURE_PROLONGED_MINUTES else 3
    return SEIZURE_GRADE[seizure]


def _drivers(known: dict[str, int], grade: int) -> str:
    return " + ".join(name for name, g in known.items() if g == grade)


# --- Whole tables ------------------------------------------------------------------------------------

def fever_required(observations: pd.DataFrame, interventions: pd.DataFrame | None) -> pd.Series:
    """Per observation: False once the patient has had anti-cytokine therapy or systemic steroids
    (a dose starting at or before the observation's day), else True."""
    if interventions is None or interventions.empty:
        return pd.Series(True, index=observations.index)
    masking = interventions[interventions["agent_class"].isin(FEVER_MASKING_CLASSES)]
    first = masking.groupby("patient_id")["start_day"].min()
    first_dose = observations["patient_id"].map(first)
    return ~(first_dose <= observations["day"]).fillna(False).astype(bool)


def grade_observations(observations: pd.DataFrame, patients: pd.DataFrame,
                       interventions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Derived ASTCT grades of every observation row, computed for all rows at once (numpy).

    The same rules as crs_grade / icans_grade (the readable specification, applied row by row by
    grade_observations_one_by_one, which tests/test_grading_vectorised.py compares it with).
    Columns: patient_id, day, source_row, crs_grade (Int64), crs_driver, icans_grade (Int64),
    icans_driver, fever_required (bool).
    """
    obs, ages, required = _prepared(observations, patients, interventions)
    crs, crs_driver = _crs_grades(obs, required.to_numpy(dtype=bool))
    icans, icans_driver = _icans_grades(obs, ages.to_numpy(dtype=float, na_value=np.nan))
    return _graded_frame(obs, required, crs, crs_driver, icans, icans_driver)


def grade_observations_one_by_one(observations: pd.DataFrame, patients: pd.DataFrame,
                                  interventions: pd.DataFrame | None = None) -> pd.DataFrame:
    """grade_observations by calling crs_grade and icans_grade on each row: the reference the vectorised
    grader is tested against (and measured against in benchmarks/bench_grading.py). Same columns."""
    obs, ages, required = _prepared(observations, patients, interventions)
    crs, icans = [], []
    # the values .iloc[i] gives (numpy scalars), read once: .iloc per row costs more than the grading
    required_values, age_values = required.array, ages.array
    for i, row in enumerate(obs.itertuples(index=False)):
        support = row.hypotension
        agents = vasopressor_support(row.vasopressors)
        if agents is not None and (_blank(support) or support in ("no hypotension", "fluids")):
            support = agents  # vasopressors given: the list decides (a contradiction is refused at load)
        oxygen = oxygen_support(row.oxygen, row.oxygen_l_min)
        crs.append(crs_grade(row.temperature_c, support, oxygen, bool(required_values[i])))
        icans.append(icans_grade(row.ice_score, row.consciousness, row.seizure, row.motor_findings,
                                 row.raised_icp, row.capd_score, age_values[i], row.sedated,
                                 row.seizure_minutes))
    return _graded_frame(obs, required, [g.grade for g in crs], [g.driver for g in crs],
                         [g.grade for g in icans], [g.driver for g in icans])


def _prepared(observations, patients, interventions):
    obs = observations.reset_index(drop=True)
    if "source_row" not in obs:
        obs = obs.assign(source_row=range(2, len(obs) + 2))
    ages = obs["patient_id"].map(patients.set_index("patient_id")["age_years"]) if len(obs) else pd.Series(dtype=float)
    return obs, ages, fever_required(obs, interventions)


def _graded_frame(obs, required, crs, crs_driver, icans, icans_driver) -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": obs["patient_id"], "day": obs["day"].astype(float), "source_row": obs["source_row"],
        "crs_grade": pd.array(crs, dtype="Int64"), "crs_driver": np.asarray(crs_driver, dtype=object),
        "icans_grade": pd.array(icans, dtype="Int64"), "icans_driver": np.asarray(icans_driver, dtype=object),
        "fever_required": required.astype(bool).to_numpy(),
    }, columns=GRADED_COLUMNS)


def _numbers(values: pd.Series) -> np.ndarray:
    """A column as float64 with NaN for blank (None, pd.NA, NaN)."""
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _texts(values: pd.Series) -> np.ndarray:
    """A text column as an object array with None for blank."""
    return values.astype(object).where(values.notna(), None).to_numpy(dtype=object)


def _mapped(texts: np.ndarray, grades: dict[str, int]) -> np.ndarray:
    """The grade of each text (NaN for blank); a value outside the vocabulary raises KeyError, as the scalar
    rules do (validation refuses such values first)."""
    codes, uniques = pd.factorize(texts, use_na_sentinel=True)
    table = np.array([grades[u] for u in uniques] + [np.nan], dtype=float)  # code -1 (blank) -> NaN
    return table[codes]


def _joined(parts: np.ndarray, names: list[str], separator: str = " + ") -> np.ndarray:
    """Per row, the names of the columns of the boolean matrix `parts` that are True, joined in order."""
    codes = parts.astype(np.int64) @ (1 << np.arange(len(names), dtype=np.int64))
    words = [separator.join(n for j, n in enumerate(names) if c >> j & 1) for c in range(1 << len(names))]
    return np.array(words, dtype=object)[codes]


def _crs_grades(obs: pd.DataFrame, required: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(obs)
    support = _texts(obs["hypotension"])
    lists = _texts(obs["vasopressors"])
    counted = {a: vasopressor_support(a) for a in set(lists) - {None}}  # few distinct lists
    agents = np.array([None if a is None else counted[a] for a in lists], dtype=object)
    overridden = np.array([a is not None and (s is None or s in ("no hypotension", "fluids"))
                           for a, s in zip(agents, support)], dtype=bool)
    support = np.where(overridden, agents, support)
    device = _texts(obs["oxygen"])
    flow = _numbers(obs["oxygen_l_min"])
    cannula = device == "nasal cannula"
    device = np.where(cannula, np.where(np.isnan(flow), None,
                                        np.where(flow <= S.LOW_FLOW_MAX_L_MIN, "low-flow", "high-flow")), device)
    temperature = _numbers(obs["temperature_c"])
    fever_known = ~np.isnan(temperature)
    fever = fever_known & (temperature >= FEVER_C)
    parts = np.column_stack([_mapped(support, HYPOTENSION_GRADE), _mapped(device, OXYGEN_GRADE)]) if n else \
        np.empty((0, 2))
    names = [HYPOTENSION, HYPOXIA]
    known = ~np.isnan(parts)
    worst = np.where(known.any(axis=1), np.nanmax(np.where(known, parts, -1), axis=1), np.nan)
    missing_text = np.array([f"not derived: {m} not recorded" if m else "" for m in _joined(~known, names, " and ")],
                            dtype=object)
    drivers_of_worst = _joined(known & (parts == worst[:, None]), names)
    # The order of the rules is crs_grade's: each row takes the first that applies.
    rules = [
        (required & fever_known & ~fever, 0, NO_FEVER),
        ((worst == 4) & (fever | ~required), 4, drivers_of_worst),
        (required & ~fever_known, np.nan, "not derived: temperature not recorded"),
        (~known.all(axis=1), np.nan, missing_text),
        (worst >= 2, worst, drivers_of_worst),
        (fever, 1, FEVER),
        (np.ones(n, dtype=bool), 0, NO_SIGNS),
    ]
    return _first_rule(n, rules)


def _first_rule(n: int, rules) -> tuple[np.ndarray, np.ndarray]:
    grade = np.full(n, np.nan)
    driver = np.full(n, None, dtype=object)
    open_ = np.ones(n, dtype=bool)
    for applies, value, text in rules:
        chosen = open_ & applies
        grade[chosen] = (value if np.isscalar(value) else np.asarray(value)[chosen])
        driver[chosen] = (text if isinstance(text, str) else np.asarray(text, dtype=object)[chosen])
        open_ &= ~chosen
    return _nullable(grade), driver


def _nullable(grade: np.ndarray) -> pd.arrays.IntegerArray:
    missing = np.isnan(grade)
    return pd.arrays.IntegerArray(np.where(missing, 0, grade).astype(np.int64), missing)


def _icans_grades(obs: pd.DataFrame, ages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(obs)
    sedated = obs["sedated"].astype(object).where(obs["sedated"].notna(), False).astype(bool).to_numpy()
    child = ~np.isnan(ages) & (ages < S.CAPD_AGE_LIMIT)
    ice = np.trunc(_numbers(obs["ice_score"]))
    capd = _numbers(obs["capd_score"])
    ice_grade = np.where(ice == 10, 0, np.where(ice >= 7, 1, np.where(ice >= 3, 2, 3))).astype(float)
    ice_grade[np.isnan(ice)] = np.nan
    capd_grade = np.where(capd == 0, 0, np.where(capd < 9, 1, 3)).astype(float)
    capd_grade[np.isnan(capd)] = np.nan
    level = _mapped(_texts(obs["consciousness"]), CONSCIOUSNESS_GRADE)
    level[sedated] = np.nan  # depressed consciousness due to sedating medication is not graded
    seizure = _texts(obs["seizure"])
    minutes = _numbers(obs["seizure_minutes"])
    unspecified = seizure == "seizure"
    seizure_grade = _mapped(np.where(unspecified, None, seizure), SEIZURE_GRADE)
    seizure_grade[unspecified] = np.where(np.isnan(minutes[unspecified]), np.nan,
                                          np.where(minutes[unspecified] > S.SEIZURE_PROLONGED_MINUTES, 4, 3))
    seizure_grade[~unspecified & np.isnan(seizure_grade)] = 0  # an event: blank means none
    motor = np.nan_to_num(_mapped(_texts(obs["motor_findings"]), MOTOR_GRADE), nan=0.0)
    icp = np.nan_to_num(_mapped(_texts(obs["raised_icp"]), ICP_GRADE), nan=0.0)
    # ICE and CAPD are two columns of which each row uses one: the names keep icans_grade's order.
    names = [ICE, CAPD, CONSCIOUSNESS, SEIZURE, MOTOR, ICP]
    parts = np.column_stack([np.where(child, np.nan, ice_grade), np.where(child, capd_grade, np.nan), level,
                             seizure_grade, motor, icp]) if n else np.empty((0, 6))
    used = np.column_stack([~child, child, *(np.ones((4, n), dtype=bool))]) if n else np.empty((0, 6), dtype=bool)
    known = used & ~np.isnan(parts)
    worst = np.nanmax(np.where(known, parts, -1), axis=1) if n else np.empty(0)
    missing = used & np.isnan(parts)
    missing[:, 2] &= ~sedated  # sedation: consciousness is deliberately not graded
    missing_text = np.array([f"not derived: {m} not recorded" if m else "" for m in _joined(missing, names, " and ")],
                            dtype=object)
    drivers_of_worst = _joined(known & (parts == worst[:, None]), names)
    rules = [
        (worst == 4, 4, drivers_of_worst),
        (missing.any(axis=1), np.nan, missing_text),
        (worst > 0, worst, drivers_of_worst),
        (np.ones(n, dtype=bool), 0, NO_SIGNS),
    ]
    return _first_rule(n, rules)


def discrepancies(graded: pd.DataFrame, toxicity: pd.DataFrame) -> pd.DataFrame:
    """Every disagreement between a recorded grade and the grade derived at the same patient and day.

    `toxicity` needs patient_id, day, crs_grade, icans_grade and, when present, the
    <syndrome>_grade_source columns (only "recorded" grades are compared).
    Columns: patient_id, day, syndrome (CRS or ICANS), recorded_grade, derived_grade, driver,
    difference (recorded - derived).
    """
    rows = []
    for syndrome, column in (("CRS", "crs_grade"), ("ICANS", "icans_grade")):
        recorded = toxicity[toxicity[column].notna()]
        source = f"{column}_source"
        if source in recorded:
            recorded = recorded[recorded[source] == "recorded"]
        recorded = recorded[["patient_id", "day", column]].rename(columns={column: "recorded_grade"})
        derived = graded[graded[column].notna()][["patient_id", "day", column, column.replace("grade", "driver")]]
        derived = derived.rename(columns={column: "derived_grade", column.replace("grade", "driver"): "driver"})
        both = recorded.merge(derived, on=["patient_id", "day"])
        both = both[both["recorded_grade"].astype(int) != both["derived_grade"].astype(int)]
        rows.append(both.assign(syndrome=syndrome))
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=DISCREPANCY_COLUMNS)
    out["recorded_grade"] = out["recorded_grade"].astype("Int64")
    out["derived_grade"] = out["derived_grade"].astype("Int64")
    out["difference"] = (out["recorded_grade"] - out["derived_grade"]).astype("Int64")
    return out.sort_values(["patient_id", "day", "syndrome"], kind="stable").reset_index(drop=True)[DISCREPANCY_COLUMNS]

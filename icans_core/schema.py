"""The single place where the cohort's tables, columns, types and vocabularies are defined.

Everything else reads from here: ingest builds its pandera schemas from `TABLES`,
the store creates its tables from them, the data dictionary and the upload
template are generated from them, and the vocabularies below normalise what
users type (brand names, synonyms, spelling) to one canonical value each.
The binding source is ../shared/spec/data-contract.md (contract v1).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["text", "number", "integer", "boolean"]

# Days before infusion cover lymphodepletion; the contract allows down to -30.
EARLIEST_DAY = -30.0
# Days after infusion: at most 20 years (20 x 365.25). CAR-T follow-up is at most 15 years (the FDA's
# long-term follow-up of gene therapies) and the first infusions were in 2010, so a later day is not a
# day: an Excel date serial (45353 = 2024-03-02: every date after 1919 is a serial above 7305) or a
# yyyymmdd number (20240305). Both are refused with a message saying so.
LATEST_DAY = 7305.0
# A daily dose in mg, g, mg/kg or g/kg (the contract's units) is far below a million (IVIG 2 g/kg is
# 140,000 mg); a larger one is a typing error, and 1e308 would overflow the steroid total to infinity.
MAX_DAILY_DOSE = 1_000_000.0
# A measurement far above any assay (IL-6 reaches 1e5 pg/mL, CAR-T cells 1e5 cells/uL); a bound keeps
# sums and AUCs finite (1e308 would become infinity).
MAX_LAB_VALUE = 1e15
# Ages of 90 and over are recorded as 90 (a de-identification rule of the contract).
AGE_CAP = 90


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a contract table."""

    name: str
    kind: Kind
    required: bool
    meaning: str
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[str, ...] = ()  # canonical values of a closed vocabulary
    example: object = None

    @property
    def type_label(self) -> str:
        """How the type reads in the data dictionary."""
        if self.kind == "integer" and self.minimum is not None and self.maximum is not None:
            return f"integer {self.minimum:g}-{self.maximum:g}"
        return self.kind


@dataclass(frozen=True)
class TableSpec:
    """One contract table: its columns and whether a cohort must have it."""

    name: str
    required: bool
    meaning: str
    columns: tuple[ColumnSpec, ...]
    example_rows: tuple[dict, ...] = field(default=())

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


def _day(name: str, required: bool, meaning: str, example: float | None) -> ColumnSpec:
    return ColumnSpec(name, "number", required, meaning, minimum=EARLIEST_DAY, maximum=LATEST_DAY, example=example)


def is_day(col: ColumnSpec) -> bool:
    """Whether a column holds days since infusion (bounded -30 to 20 years; dates-as-numbers refused)."""
    return col.kind == "number" and col.minimum == EARLIEST_DAY and col.maximum == LATEST_DAY


PATIENTS = TableSpec(
    "patients",
    required=True,
    meaning="One row per patient.",
    columns=(
        ColumnSpec("patient_id", "text", True, "Pseudonymous identifier, unique.", example="P001"),
        ColumnSpec("product", "text", True, "CAR-T product; normalised to a short name.", example="axi-cel"),
        ColumnSpec("group", "text", False, "Comparison group / study arm.", example="Steroids + IVIG"),
        ColumnSpec("disease", "text", False, "e.g. LBCL, DLBCL, PMBCL, FL, MCL, B-ALL, MM.", example="DLBCL"),
        ColumnSpec("age_years", "number", False, "Age; ages of 90 and over are recorded as 90.",
                   minimum=0, maximum=AGE_CAP, example=61),
        ColumnSpec("sex", "text", False, "F, M or other.", allowed=("F", "M", "other"), example="F"),
        ColumnSpec("ecog", "integer", False, "Baseline ECOG performance status.", minimum=0, maximum=4, example=1),
        _day("last_followup_day", True, "Last day the patient was known alive.", 180),
        _day("death_day", False, "Day of death, if the patient died.", None),
        ColumnSpec("death_cause", "text", False, "Free text or a category.", example=None),
    ),
)

TOXICITY = TableSpec(
    "toxicity",
    required=True,
    meaning="ASTCT-graded assessments. A grade holds until the next assessment of the same "
    "syndrome; a blank means not assessed, not 0. Each row has at least one grade.",
    columns=(
        ColumnSpec("patient_id", "text", True, "Patient of the assessment.", example="P001"),
        _day("day", True, "Time of the assessment, days since infusion.", 5),
        ColumnSpec("crs_grade", "integer", False, "ASTCT CRS grade.", minimum=0, maximum=5, example=1),
        ColumnSpec("icans_grade", "integer", False, "ASTCT ICANS grade.", minimum=0, maximum=5, example=3),
        ColumnSpec("ice_score", "integer", False, "ICE encephalopathy score (10 = no impairment).",
                   minimum=0, maximum=10, example=2),
    ),
)

INTERVENTIONS = TableSpec(
    "interventions",
    required=False,
    meaning="Treatments given. Each agent maps to a class; any agent given intrathecally "
    "(route IT) is intrathecal therapy.",
    columns=(
        ColumnSpec("patient_id", "text", True, "Patient treated.", example="P001"),
        ColumnSpec("agent", "text", True, "Drug; normalised (synonyms and brand names accepted).",
                   example="dexamethasone"),
        _day("start_day", True, "First day given.", 5),
        _day("end_day", False, "Last day given, inclusive; blank = start_day.", 7),
        ColumnSpec("daily_dose", "number", False, "Dose given on each day from start_day to end_day.",
                   minimum=0, maximum=MAX_DAILY_DOSE, example=40),
        ColumnSpec("dose_unit", "text", False, "mg, g, mg/kg or g/kg.", example="mg"),
        ColumnSpec("route", "text", False, "IV, PO, SC or IT (intrathecal); blank = systemic.",
                   example="IV"),
    ),
)

LABS = TableSpec(
    "labs",
    required=False,
    meaning="Measurements over time: cytokines, inflammatory markers, CAR-T cell counts.",
    columns=(
        ColumnSpec("patient_id", "text", True, "Patient sampled.", example="P001"),
        _day("day", True, "Time of sampling, days since infusion.", 5),
        ColumnSpec("analyte", "text", True, "Normalised analyte name, or any other name as given.",
                   example="IL-6"),
        ColumnSpec("value", "number", True, "Measured value.", maximum=MAX_LAB_VALUE, example=245.0),
        ColumnSpec("unit", "text", True, "One unit per analyte in a cohort (after known conversions).",
                   example="pg/mL"),
        ColumnSpec("below_lloq", "boolean", False,
                   "Value is below the assay's lower limit of quantification.", example=False),
    ),
)

TABLES: dict[str, TableSpec] = {t.name: t for t in (PATIENTS, TOXICITY, INTERVENTIONS, LABS)}
# Sheets of the upload template that document the format; a reader skips them quietly.
INFO_SHEETS = ("data dictionary", "vocabularies")


# --- Vocabularies ----------------------------------------------------------------

# Hyphens as word processors type them (U+2010-2015, the minus sign, a soft hyphen) and invisible
# zero-width characters: "IL‐6" pasted from a document is IL-6.
_IGNORED_IN_TERMS = re.compile(r"[\s\-_.·\u2010-\u2015\u2212\u00ad\u200b-\u200d\u2060\ufeff]")


def vocabulary_key(text: str) -> str:
    """Matching key for a vocabulary term: case, spaces, hyphens, dots and underscores ignored.

    NFKC first, so compatibility lookalikes match too (full-width "ａｘｉ-ｃｅｌ", the micro sign).
    """
    return _IGNORED_IN_TERMS.sub("", unicodedata.normalize("NFKC", str(text))).casefold()


@dataclass(frozen=True)
class Product:
    short: str
    generic: str
    brand: str
    target: str
    costimulatory_domain: str


PRODUCTS: tuple[Product, ...] = (
    Product("axi-cel", "axicabtagene ciloleucel", "Yescarta", "CD19", "CD28"),
    Product("brexu-cel", "brexucabtagene autoleucel", "Tecartus", "CD19", "CD28"),
    Product("tisa-cel", "tisagenlecleucel", "Kymriah", "CD19", "4-1BB"),
    Product("liso-cel", "lisocabtagene maraleucel", "Breyanzi", "CD19", "4-1BB"),
    Product("obe-cel", "obecabtagene autoleucel", "Aucatzyl", "CD19", "4-1BB"),
    Product("ide-cel", "idecabtagene vicleucel", "Abecma", "BCMA", "4-1BB"),
    Product("cilta-cel", "ciltacabtagene autoleucel", "Carvykti", "BCMA", "4-1BB"),
)
PRODUCT_SYNONYMS: dict[str, str] = {
    vocabulary_key(name): p.short for p in PRODUCTS for name in (p.short, p.generic, p.brand)
}

# Agent classes named by the contract.
CORTICOSTEROID = "corticosteroid"
IL6_BLOCKADE = "IL-6 blockade"
IL1_BLOCKADE = "IL-1 blockade"
IVIG_CLASS = "IVIG"
INTRATHECAL = "intrathecal therapy"
OTHER = "other"
AGENT_CLASSES = (CORTICOSTEROID, IL6_BLOCKADE, IL1_BLOCKADE, IVIG_CLASS, INTRATHECAL, OTHER)

# Milligrams of dexamethasone per milligram of the drug (Meikle & Tyler, Am J Med
# 1977;63:200-207; the same ratios as the FDA prednisolone label): dexamethasone
# 0.75 mg = methylprednisolone 4 mg = prednisone 5 mg = prednisolone 5 mg =
# hydrocortisone 20 mg. Shown to users as a table; some sources differ slightly.
DEXAMETHASONE_EQUIVALENTS: dict[str, float] = {
    "dexamethasone": 1.0,
    "methylprednisolone": 0.1875,
    "prednisone": 0.15,
    "prednisolone": 0.15,
    "hydrocortisone": 0.0375,
}
STEROID_EQUIVALENCE_SOURCE = (
    "Meikle & Tyler, Am J Med 1977;63:200-207; same ratios as the FDA prednisolone label"
)

# canonical agent -> (class when systemic, synonyms)
AGENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "dexamethasone": (CORTICOSTEROID, ("dex", "decadron")),
    "methylprednisolone": (CORTICOSTEROID, ("MP", "methylpred", "solumedrol", "Solu-Medrol", "medrol")),
    "prednisone": (CORTICOSTEROID, ()),
    "prednisolone": (CORTICOSTEROID, ()),
    "hydrocortisone": (CORTICOSTEROID, ("HC", "solu-cortef", "solucortef")),
    "tocilizumab": (IL6_BLOCKADE, ("Actemra", "RoActemra", "toci")),
    "siltuximab": (IL6_BLOCKADE, ("Sylvant",)),
    "anakinra": (IL1_BLOCKADE, ("Kineret",)),
    "IVIG": (IVIG_CLASS, ("intravenous immunoglobulin", "intravenous immune globulin", "IgIV",
                          "immunoglobulin")),
    "methotrexate": (OTHER, ("MTX",)),
    "cytarabine": (OTHER, ("Ara-C", "cytosine arabinoside")),
    "dasatinib": (OTHER, ("Sprycel",)),
}
AGENT_SYNONYMS: dict[str, str] = {
    vocabulary_key(name): canonical
    for canonical, (_, synonyms) in AGENTS.items()
    for name in (canonical, *synonyms)
}

ROUTES = ("IV", "PO", "SC", "IT")
ROUTE_SYNONYMS: dict[str, str] = {
    **{vocabulary_key(r): r for r in ROUTES},
    "intravenous": "IV", "oral": "PO", "peroral": "PO", "subcutaneous": "SC", "intrathecal": "IT",
}
DOSE_UNITS = ("mg", "g", "mg/kg", "g/kg")
DOSE_UNIT_SYNONYMS: dict[str, str] = {
    **{vocabulary_key(u): u for u in DOSE_UNITS},
    "mg/kg/day": "mg/kg", "mg/kg/d": "mg/kg", "g/kg/day": "g/kg", "g/kg/d": "g/kg",
    "mg/day": "mg", "mg/d": "mg", "g/day": "g", "g/d": "g",
}

SEX_SYNONYMS: dict[str, str] = {
    "f": "F", "female": "F", "woman": "F", "m": "M", "male": "M", "man": "M", "other": "other",
}

# Analytes: canonical name -> (canonical unit, synonyms)
CYTOKINE_UNIT = "pg/mL"
CELL_COUNT_UNIT = "cells/uL"
ANALYTES: dict[str, tuple[str, tuple[str, ...]]] = {
    "IL-6": (CYTOKINE_UNIT, ("interleukin-6", "interleukin 6")),
    "IL-2": (CYTOKINE_UNIT, ("interleukin-2",)),
    "IL-10": (CYTOKINE_UNIT, ("interleukin-10",)),
    "IL-15": (CYTOKINE_UNIT, ("interleukin-15",)),
    "IFN-gamma": (CYTOKINE_UNIT, ("IFNg", "IFN-g", "IFN-γ", "IFNγ", "interferon gamma",
                                  "interferon-gamma")),
    "GM-CSF": (CYTOKINE_UNIT, ()),
    "TNF-alpha": (CYTOKINE_UNIT, ("TNFa", "TNF-a", "TNF-α", "TNFα", "TNF")),
    "IL-1RA": (CYTOKINE_UNIT, ("IL-1Ra", "IL1RN", "IL-1 receptor antagonist")),
    "MCP-1": (CYTOKINE_UNIT, ("CCL2",)),
    "CRP": ("mg/L", ("C-reactive protein",)),
    "ferritin": ("ng/mL", ()),
    "CAR-T cells": (CELL_COUNT_UNIT, ("CAR T cells", "CAR-T", "CAR T", "CAR+ cells", "CAR-T cell count")),
    "CD4+ CAR-T cells": (CELL_COUNT_UNIT, ("CD4+ CAR T cells", "CD4 CAR-T cells", "CD4+ CAR-T")),
    "CD8+ CAR-T cells": (CELL_COUNT_UNIT, ("CD8+ CAR T cells", "CD8 CAR-T cells", "CD8+ CAR-T")),
}
ANALYTE_SYNONYMS: dict[str, str] = {
    vocabulary_key(name): canonical
    for canonical, (_, synonyms) in ANALYTES.items()
    for name in (canonical, *synonyms)
}
# The analytes whose expansion (Cmax, AUC) is computed.
CELL_COUNT_ANALYTES = ("CAR-T cells", "CD4+ CAR-T cells", "CD8+ CAR-T cells")
CYTOKINES = tuple(a for a, (unit, _) in ANALYTES.items() if unit == CYTOKINE_UNIT)

# Known unit conversions: (canonical analyte or "*" for any cytokine, unit key) ->
# (canonical unit, factor). 1 mg/dL = 10 mg/L; ug/L = ng/mL; ng/L = pg/mL; 1 mm3 = 1 uL.
_CYTOKINE_UNITS = {"pg/ml": 1.0, "ng/l": 1.0, "ng/ml": 1000.0}
_CELL_UNITS = {"cells/ul": 1.0, "cells/µl": 1.0, "cells/μl": 1.0, "/ul": 1.0, "/µl": 1.0,
               "cells/mm3": 1.0, "/mm3": 1.0, "cells/ml": 0.001}


def unit_conversion(analyte: str, unit: str) -> tuple[str, float] | None:
    """The canonical unit and multiplying factor for a known analyte's unit, or None if unknown."""
    if analyte not in ANALYTES:
        return None
    canonical_unit = ANALYTES[analyte][0]
    key = unit.strip().replace(" ", "").casefold()
    if canonical_unit == CYTOKINE_UNIT:
        table = _CYTOKINE_UNITS
    elif canonical_unit == CELL_COUNT_UNIT:
        table = _CELL_UNITS
    elif analyte == "CRP":
        table = {"mg/l": 1.0, "mg/dl": 10.0}
    else:  # ferritin
        table = {"ng/ml": 1.0, "ug/l": 1.0, "µg/l": 1.0, "μg/l": 1.0}
    factor = table.get(key)
    return (canonical_unit, factor) if factor is not None else None


BOOLEAN_WORDS: dict[str, bool] = {
    "true": True, "yes": True, "y": True, "1": True, "t": True,
    "false": False, "no": False, "n": False, "0": False, "f": False,
}
# Spreadsheet spellings of "no value".
MISSING_WORDS = frozenset({"", "na", "n/a", "nan", "null", "none"})


def closest_agents(name: str) -> list[str]:
    """The known agents (canonical names) a name not in the vocabulary most likely means, best first: close
    in spelling to an agent or one of its synonyms (difflib, ratio >= 0.6), or the start of one (`pred` ->
    prednisone, prednisolone). Only a suggestion for a message: the name itself is never changed."""
    from difflib import get_close_matches

    key = vocabulary_key(name)
    if not key:
        return []
    found = [AGENT_SYNONYMS[k] for k in get_close_matches(key, list(AGENT_SYNONYMS), n=6, cutoff=0.6)]
    if len(key) >= 3:
        found += [AGENT_SYNONYMS[k] for k in AGENT_SYNONYMS if k.startswith(key) and len(k) > len(key)]
    return list(dict.fromkeys(found))[:3]


# Endings of corticosteroid names (betamethasone, budesonide, triamcinolone, fludrocortisone, ...): such an
# agent outside the table above has no dexamethasone factor, and the warning says so.
CORTICOSTEROID_ENDINGS = ("sone", "solone", "olone", "cort", "cortef", "medrol", "sonide", "nide", "zacort")


def agent_class(agent: str, route: str | None) -> str:
    """The contract's class of an agent: anything given intrathecally is intrathecal therapy."""
    if route == "IT":
        return INTRATHECAL
    return AGENTS[agent][0] if agent in AGENTS else OTHER


# --- Issue 13: optional tables for grading from components and for episode-level forms -----------
# Added, not changed: the four tables above are untouched. Vocabulary values (canonical first, then
# the synonyms that normalise to it) are matched with vocabulary_key; the grade each value gives is
# decided in icans_core/grading.py, the one home of the ASTCT rules.

HYPOTENSION_SUPPORT: dict[str, tuple[str, ...]] = {
    # "none" reads as a blank cell in a file (the format's missing-value words): write "no hypotension"
    "no hypotension": ("none", "no", "normotensive", "absent"),
    "fluids": ("fluid", "fluid bolus", "not requiring vasopressors", "hypotension not requiring vasopressors"),
    "one vasopressor": ("single vasopressor", "1 vasopressor", "vasopressor"),
    "multiple vasopressors": ("several vasopressors", "2 vasopressors", "two vasopressors", ">1 vasopressor"),
}
# Vasopressor agents: vasopressin is recorded but never counted (ASTCT: "one vasopressor with or
# without vasopressin"; "multiple vasopressors, excluding vasopressin").
VASOPRESSIN = "vasopressin"
VASOPRESSORS: dict[str, tuple[str, ...]] = {
    "norepinephrine": ("noradrenaline", "levophed", "norepi"),
    "epinephrine": ("adrenaline", "epi"),
    "phenylephrine": ("neosynephrine",),
    "dopamine": (),
    "angiotensin II": ("giapreza",),
    VASOPRESSIN: ("arginine vasopressin", "avp", "pitressin"),
}
OXYGEN_SUPPORT: dict[str, tuple[str, ...]] = {
    "room air": ("none", "no", "ra", "no oxygen"),
    "low-flow": ("low flow", "low-flow nasal cannula", "low flow nasal cannula", "blow-by", "blow by"),
    # a nasal cannula is low-flow up to 6 L/min and high-flow above: oxygen_l_min decides
    "nasal cannula": ("nc", "nasal prongs"),
    "high-flow": ("high flow", "high-flow nasal cannula", "high flow nasal cannula", "hfnc", "facemask",
                  "face mask", "simple mask", "non-rebreather", "nonrebreather", "non-rebreather mask",
                  "venturi", "venturi mask"),
    "positive pressure": ("cpap", "bipap", "niv", "non-invasive ventilation", "intubation", "intubated",
                          "mechanical ventilation", "ventilated"),
}
LOW_FLOW_MAX_L_MIN = 6.0  # ASTCT: low-flow nasal cannula is <= 6 L/min
CONSCIOUSNESS: dict[str, tuple[str, ...]] = {
    "alert": ("awake", "normal", "awake and alert"),
    "awakens spontaneously": ("drowsy", "drowsy, awakens spontaneously"),
    "awakens to voice": ("voice", "rousable to voice"),
    "awakens to tactile stimulus": ("tactile", "awakens only to tactile stimulus", "rousable to touch"),
    "unarousable": ("coma", "stupor", "unresponsive", "needs vigorous stimuli",
                    "requires vigorous or repetitive tactile stimuli"),
}
SEIZURE: dict[str, tuple[str, ...]] = {
    "no seizure": ("none", "no"),
    # any clinical seizure that resolves rapidly, or non-convulsive seizures on EEG that resolve
    # with intervention (ASTCT grade 3)
    "rapidly resolving": ("resolved rapidly", "self-limiting", "non-convulsive on EEG, resolved with intervention",
                          "nonconvulsive resolved with intervention"),
    # life-threatening prolonged seizure (> 5 min) or repetitive seizures without return to baseline
    "prolonged": ("prolonged > 5 min", "repetitive", "repetitive without return to baseline",
                  "status epilepticus", "status"),
    # a seizure recorded without its course: seizure_minutes decides (> 5 min is prolonged)
    "seizure": ("yes", "clinical seizure"),
}
SEIZURE_PROLONGED_MINUTES = 5.0
MOTOR_FINDINGS: dict[str, tuple[str, ...]] = {
    "no findings": ("none", "no", "normal"),
    # graded with CTCAE, not ICANS (ASTCT)
    "tremor": (),
    "myoclonus": (),
    "deep focal weakness": ("deep focal motor weakness", "hemiparesis", "paraparesis", "focal weakness"),
}
RAISED_ICP: dict[str, tuple[str, ...]] = {
    "no edema": ("none", "no", "normal", "no raised icp"),
    "focal edema": ("focal/local edema", "focal oedema", "local edema", "focal cerebral edema"),
    "diffuse edema": ("diffuse cerebral edema", "diffuse oedema", "diffuse cerebral oedema",
                      "decerebrate posturing", "decorticate posturing", "cranial nerve vi palsy",
                      "papilledema", "papilloedema", "cushing's triad"),
}
SYNDROMES = ("CRS", "ICANS")
CAPD_AGE_LIMIT = 12  # ASTCT: the ICE score from age 12; CAPD below


def vocabulary_lookup(vocabulary: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Matching key -> canonical value, for one of the vocabularies above."""
    return {vocabulary_key(name): canonical for canonical, synonyms in vocabulary.items()
            for name in (canonical, *synonyms)}


OBSERVATIONS = TableSpec(
    "observations",
    required=False,
    meaning="Bedside observations from which ASTCT CRS and ICANS grades are derived (icans_core/grading.py). "
    "Where a toxicity row of the same patient and day has no recorded grade (or there is no such row), the "
    "derived grade is used and marked as derived.",
    columns=(
        ColumnSpec("patient_id", "text", True, "Patient observed.", example="P001"),
        _day("day", True, "Time of the observation, days since infusion.", 5),
        ColumnSpec("temperature_c", "number", False, "Highest temperature, degrees Celsius (fever >= 38.0).",
                   minimum=25, maximum=45, example=38.4),
        ColumnSpec("hypotension", "text", False, "Hypotension and its support: no hypotension, fluids (not requiring "
                   "vasopressors), one vasopressor, multiple vasopressors (vasopressin not counted).",
                   allowed=tuple(HYPOTENSION_SUPPORT), example="no hypotension"),
        ColumnSpec("vasopressors", "text", False, "Vasopressor agents given, separated by ';' "
                   "(e.g. norepinephrine; vasopressin). Vasopressin is not counted.", example=None),
        ColumnSpec("oxygen", "text", False, "Oxygen support: room air, low-flow (<= 6 L/min or blow-by), nasal "
                   "cannula (oxygen_l_min decides), high-flow (> 6 L/min, facemask, non-rebreather, Venturi), "
                   "positive pressure (CPAP, BiPAP, intubation).", allowed=tuple(OXYGEN_SUPPORT), example="room air"),
        ColumnSpec("oxygen_l_min", "number", False, "Oxygen flow, L/min.", minimum=0, maximum=100, example=None),
        ColumnSpec("ice_score", "integer", False, "ICE score (10 = no impairment); used from age 12.",
                   minimum=0, maximum=10, example=2),
        ColumnSpec("capd_score", "integer", False, "CAPD score (children under 12; >= 9 = grade 3).",
                   minimum=0, maximum=32, example=None),
        ColumnSpec("consciousness", "text", False, "Level of consciousness: alert, awakens spontaneously, "
                   "awakens to voice, awakens to tactile stimulus, unarousable.",
                   allowed=tuple(CONSCIOUSNESS), example="awakens to voice"),
        ColumnSpec("sedated", "boolean", False, "Depressed consciousness is due to sedating medication "
                   "(then it is not graded).", example=False),
        ColumnSpec("seizure", "text", False, "no seizure, rapidly resolving, prolonged (> 5 min or repetitive "
                   "without return to baseline), or seizure (seizure_minutes decides).",
                   allowed=tuple(SEIZURE), example="no seizure"),
        ColumnSpec("seizure_minutes", "number", False, "Seizure duration, minutes.", minimum=0, example=None),
        ColumnSpec("motor_findings", "text", False, "no findings, tremor, myoclonus (both graded with CTCAE, not "
                   "ICANS) or deep focal weakness (hemiparesis, paraparesis).",
                   allowed=tuple(MOTOR_FINDINGS), example="no findings"),
        ColumnSpec("raised_icp", "text", False, "Raised intracranial pressure / cerebral edema: no edema, focal "
                   "edema, diffuse edema (or posturing, cranial nerve VI palsy, papilledema, Cushing's triad).",
                   allowed=tuple(RAISED_ICP), example="no edema"),
        ColumnSpec("organ_toxicity_grade", "integer", False, "Highest CTCAE v5.0 organ toxicity grade; recorded "
                   "only: it does not change the CRS grade.", minimum=0, maximum=5, example=None),
    ),
)

TOXICITY_EPISODES = TableSpec(
    "toxicity_episodes",
    required=False,
    meaning="Episode-level registry forms: one row per CRS or ICANS episode. Turned into assessments "
    "(peak grade at onset, grade 0 at resolution), marked as derived from episodes: daily grade "
    "kinetics are not known.",
    columns=(
        ColumnSpec("patient_id", "text", True, "Patient of the episode.", example="P001"),
        ColumnSpec("syndrome", "text", True, "CRS or ICANS.", allowed=SYNDROMES, example="ICANS"),
        _day("onset_day", True, "First day of the episode, days since infusion.", 5),
        ColumnSpec("peak_grade", "integer", True, "Highest ASTCT grade of the episode (0 = assessed, none).",
                   minimum=0, maximum=5, example=3),
        _day("resolution_day", False, "Day the episode resolved; blank = not resolved by the last follow-up.", 9),
        ColumnSpec("treatments", "text", False, "Treatments given for the episode, separated by ';' (listed "
                   "only, unless treatment_start_days gives their days).",
                   example="dexamethasone; IVIG"),
        ColumnSpec("treatment_start_days", "text", False, "First day of each treatment, days since infusion, in "
                   "the order of treatments, separated by ';' (an empty entry: day not known). A treatment with a "
                   "day becomes an intervention.", example="5; 7"),
        ColumnSpec("treatment_end_days", "text", False, "Last day (inclusive) of each treatment, in the same "
                   "order, separated by ';'; an empty entry or column: its start day.", example="7; 9"),
    ),
)

TABLES.update({t.name: t for t in (OBSERVATIONS, TOXICITY_EPISODES)})

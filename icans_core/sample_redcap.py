"""The example REDCap project: a synthetic cohort as REDCap would hold and export it.

`write_redcap_example(tables, out_dir)` writes, for a cohort from sample.generate_cohort:
- dictionary.csv: the data dictionary (REDCap's standard columns) of four instruments: baseline
  (one per record), toxicity_assessment (repeating: grades and the bedside components),
  treatment (repeating) and lab_result (repeating);
- export.csv: the flat CSV export with raw codes (REDCap's "CSV (raw data)"), repeating instruments
  marked by redcap_repeat_instrument / redcap_repeat_instance, the vasopressors as a checkbox;
- export-labels.csv: the same export with labels (REDCap's "CSV (labels)": field labels as headers,
  choice labels as values, checkboxes as Checked / Unchecked);
- mapping.toml: the mapping from these fields to the contract's tables.
Importing either export with the mapping gives the cohort the contract files give (tested).
The dictionary also lists the infusion date, flagged as an identifier: a de-identified export
leaves it out, as this one does.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pandas as pd

from icans_core import schema as S
from icans_core.sample import ARMS, NO_SEVERE

DICTIONARY_HEADER = ["Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
                     "Choices, Calculations, OR Slider Labels", "Field Note",
                     "Text Validation Type OR Show Slider Number", "Text Validation Min", "Text Validation Max",
                     "Identifier?", "Branching Logic (Show field only if...)", "Required Field?",
                     "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name",
                     "Matrix Ranking?", "Field Annotation"]
FORMS = {"baseline": "Baseline", "toxicity_assessment": "Toxicity Assessment", "treatment": "Treatment",
         "lab_result": "Lab Result"}
REPEATING = ("toxicity_assessment", "treatment", "lab_result")


def _choices(labels, start: int = 1) -> list[tuple[str, str]]:
    return [(str(i), label) for i, label in enumerate(labels, start=start)]


GRADES = [("0", "None"), *[(str(g), f"Grade {g}") for g in range(1, 5)], ("5", "Grade 5 (death)")]
DEATH_CAUSES = ["progression", "infection", "CRS", "ICANS"]
DISEASES = ["LBCL", "DLBCL", "PMBCL", "FL", "MCL", "B-ALL", "MM"]

# (field, form, type, label, choices, validation, identifier, contract table, contract column)
FIELDS: list[tuple] = [
    ("record_id", "baseline", "text", "Record ID", None, "", "", None, None),
    ("infusion_date", "baseline", "text", "CAR-T infusion date", None, "date_ymd", "y", None, None),
    ("product", "baseline", "dropdown", "CAR-T product", _choices(p.brand for p in S.PRODUCTS), "", "",
     "patients", "product"),
    ("study_arm", "baseline", "dropdown", "Study arm", _choices([NO_SEVERE, *ARMS]), "", "", "patients", "group"),
    ("disease", "baseline", "dropdown", "Disease", _choices(DISEASES), "", "", "patients", "disease"),
    ("age", "baseline", "text", "Age at infusion (years; 90 = 90 or over)", None, "integer", "", "patients",
     "age_years"),
    ("sex", "baseline", "radio", "Sex", [("1", "Female"), ("2", "Male")], "", "", "patients", "sex"),
    ("ecog", "baseline", "radio", "ECOG performance status",
     [(str(i), f"{i}") for i in range(5)], "", "", "patients", "ecog"),
    ("last_fu_day", "baseline", "text", "Last day known alive (days since infusion)", None, "number", "",
     "patients", "last_followup_day"),
    ("death_day", "baseline", "text", "Day of death (days since infusion)", None, "number", "", "patients",
     "death_day"),
    ("death_cause", "baseline", "dropdown", "Cause of death", _choices(DEATH_CAUSES), "", "", "patients",
     "death_cause"),
    ("tox_day", "toxicity_assessment", "text", "Day of assessment (days since infusion)", None, "number", "",
     "toxicity", "day"),
    ("crs_grade", "toxicity_assessment", "radio", "ASTCT CRS grade", GRADES, "", "", "toxicity", "crs_grade"),
    ("icans_grade", "toxicity_assessment", "radio", "ASTCT ICANS grade", GRADES, "", "", "toxicity", "icans_grade"),
    ("ice_score", "toxicity_assessment", "text", "ICE score (0-10)", None, "integer", "", "toxicity", "ice_score"),
    ("temp_c", "toxicity_assessment", "text", "Highest temperature (C)", None, "number", "", "observations",
     "temperature_c"),
    ("hypotension", "toxicity_assessment", "radio", "Hypotension",
     _choices(["No hypotension", "Fluids", "One vasopressor", "Multiple vasopressors"]), "", "", "observations", "hypotension"),
    ("vasopressors", "toxicity_assessment", "checkbox", "Vasopressors given",
     _choices(["Norepinephrine", "Epinephrine", "Vasopressin"]), "", "", "observations", "vasopressors"),
    ("oxygen", "toxicity_assessment", "radio", "Oxygen support",
     _choices(["Room air", "Low-flow", "Nasal cannula", "High-flow", "Positive pressure"]), "", "", "observations",
     "oxygen"),
    ("o2_flow", "toxicity_assessment", "text", "Oxygen flow (L/min)", None, "number", "", "observations",
     "oxygen_l_min"),
    ("consciousness", "toxicity_assessment", "radio", "Level of consciousness",
     _choices(["Alert", "Awakens spontaneously", "Awakens to voice", "Awakens to tactile stimulus", "Unarousable"]),
     "", "", "observations", "consciousness"),
    ("seizure", "toxicity_assessment", "radio", "Seizure",
     _choices(["No seizure", "Rapidly resolving", "Prolonged", "Seizure"]), "", "", "observations", "seizure"),
    ("seizure_min", "toxicity_assessment", "text", "Seizure duration (minutes)", None, "number", "", "observations",
     "seizure_minutes"),
    ("motor", "toxicity_assessment", "radio", "Motor findings",
     _choices(["No findings", "Tremor", "Myoclonus", "Deep focal weakness"]), "", "", "observations", "motor_findings"),
    ("icp", "toxicity_assessment", "radio", "Raised ICP / cerebral edema",
     _choices(["No edema", "Focal edema", "Diffuse edema"]), "", "", "observations", "raised_icp"),
    ("tx_agent", "treatment", "dropdown", "Agent", _choices(S.AGENTS), "", "", "interventions", "agent"),
    ("tx_start", "treatment", "text", "First day given", None, "number", "", "interventions", "start_day"),
    ("tx_end", "treatment", "text", "Last day given", None, "number", "", "interventions", "end_day"),
    ("tx_dose", "treatment", "text", "Daily dose", None, "number", "", "interventions", "daily_dose"),
    ("tx_unit", "treatment", "dropdown", "Dose unit", _choices(S.DOSE_UNITS), "", "", "interventions", "dose_unit"),
    ("tx_route", "treatment", "radio", "Route", _choices(S.ROUTES), "", "", "interventions", "route"),
    ("lab_day", "lab_result", "text", "Day sampled", None, "number", "", "labs", "day"),
    ("lab_analyte", "lab_result", "dropdown", "Analyte", _choices(S.ANALYTES), "", "", "labs", "analyte"),
    ("lab_value", "lab_result", "text", "Value", None, "number", "", "labs", "value"),
    ("lab_unit", "lab_result", "text", "Unit", None, "", "", "labs", "unit"),
    ("lab_below_lloq", "lab_result", "yesno", "Below the lower limit of quantification", None, "", "", "labs",
     "below_lloq"),
]
INSTRUMENT_OF_TABLE = {"patients": "baseline", "toxicity": "toxicity_assessment",
                       "observations": "toxicity_assessment", "interventions": "treatment", "labs": "lab_result"}
FLOAT_FORMAT = "%.10g"


def data_dictionary() -> pd.DataFrame:
    """The example project's data dictionary, in REDCap's column layout."""
    rows = []
    for name, form, kind, label, choices, validation, identifier, *_ in FIELDS:
        row = dict.fromkeys(DICTIONARY_HEADER, "")
        row |= {"Variable / Field Name": name, "Form Name": form, "Field Type": kind, "Field Label": label,
                "Choices, Calculations, OR Slider Labels": " | ".join(f"{c}, {t}" for c, t in choices or []),
                "Text Validation Type OR Show Slider Number": validation, "Identifier?": identifier}
        rows.append(row)
    return pd.DataFrame(rows, columns=DICTIONARY_HEADER)


def mapping_text() -> str:
    """The example's mapping file (TOML): which REDCap field fills which contract column."""
    lines = ["# Mapping of the example REDCap project to the cohort data contract (docs/data-format.md,",
             "# \"REDCap import\"). One [table] per contract table: the REDCap instrument (form) its rows come",
             "# from, optionally the event (longitudinal projects), and [table.columns]: contract column =",
             "# REDCap field. patient_id is the record id unless mapped.",
             "version = 1", 'record_id = "record_id"', ""]
    for table, instrument in INSTRUMENT_OF_TABLE.items():
        lines += [f"[{table}]", f'instrument = "{instrument}"', f"[{table}.columns]"]
        if table == "observations":  # the same assessment's day and ICE score
            lines += ['day = "tox_day"', 'ice_score = "ice_score"']
        lines += [f'{column} = "{name}"' for name, _, _, _, _, _, _, t, column in FIELDS if t == table]
        lines.append("")
    return "\n".join(lines)


def _text(value, integer: bool = False) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool,)) or str(value) in ("True", "False"):
        return "1" if str(value) == "True" else "0"
    if isinstance(value, (int,)) or integer:
        return str(int(value))
    if isinstance(value, float):
        return FLOAT_FORMAT % value
    return str(value)


def _code(field: tuple, value) -> str:
    """The raw code of a choice value (labels matched case-insensitively)."""
    text = _text(value)
    if not text or not field[4] or field[2] == "checkbox":
        return text
    by_label = {S.vocabulary_key(label): code for code, label in field[4]}
    canonical_labels = {"patients.sex": {"F": "Female", "M": "Male"}}
    text = canonical_labels.get(f"{field[7]}.{field[8]}", {}).get(text, text)
    if field[8] == "product":
        text = next(p.brand for p in S.PRODUCTS if p.short == text)
    if text in {code for code, _ in field[4]} and field[8] in ("ecog", "crs_grade", "icans_grade"):
        return text
    return by_label[S.vocabulary_key(text)]


def export_frame(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The raw-code flat export: a base row per record, then one row per repeating instance."""
    fields = {f[0]: f for f in FIELDS}
    exported = [f for f in FIELDS if f[0] != "infusion_date"]  # a de-identified export: no dates
    header = ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance"]
    for form in FORMS:
        for f in exported:
            if f[1] != form or f[0] == "record_id":
                continue
            if f[2] == "checkbox":
                header += [f"{f[0]}___{code}" for code, _ in f[4]]
            else:
                header.append(f[0])
        header.append(f"{form}_complete")
    observations = tables.get("observations")
    by_key = {} if observations is None else {
        (r.patient_id, r.day): r for r in observations.itertuples(index=False)}
    grouped = {name: dict(tuple(tables[name].groupby("patient_id", sort=False)))
               for name in ("toxicity", "interventions", "labs")}
    rows = []
    for patient in tables["patients"].itertuples(index=False):
        base = {"record_id": patient.patient_id, "baseline_complete": "2"}
        for name, f in fields.items():
            if f[7] == "patients":
                base[name] = _code(f, getattr(patient, f[8]))
        rows.append(base)
        for form, table in (("toxicity_assessment", "toxicity"), ("treatment", "interventions"),
                            ("lab_result", "labs")):
            frame = grouped[table].get(patient.patient_id)
            if frame is None:
                continue
            for instance, r in enumerate(frame.itertuples(index=False), start=1):
                row = {"record_id": patient.patient_id, "redcap_repeat_instrument": form,
                       "redcap_repeat_instance": str(instance), f"{form}_complete": "2"}
                for name, f in fields.items():
                    if f[7] == table:
                        row[name] = _code(f, getattr(r, f[8]))
                if table == "toxicity":
                    row |= _observation_cells(by_key.get((patient.patient_id, r.day)), fields)
                rows.append(row)
    return pd.DataFrame(rows, columns=header).fillna("")


def _observation_cells(observation, fields: dict) -> dict:
    cells = {}
    for name, f in fields.items():
        if f[7] != "observations":
            continue
        value = None if observation is None else getattr(observation, f[8])
        if f[2] == "checkbox":
            ticked = set() if value is None or (isinstance(value, float) and math.isnan(value)) else {
                S.vocabulary_key(v) for v in str(value).split(";")}
            for code, label in f[4]:
                cells[f"{name}___{code}"] = "1" if S.vocabulary_key(label) in ticked else "0"
        else:
            cells[name] = _code(f, value)
    return cells


def labels_export(raw: pd.DataFrame) -> pd.DataFrame:
    """The same export as REDCap's "CSV (labels)": labels for headers, choices and repeat instruments."""
    fields = {f[0]: f for f in FIELDS}
    out = pd.DataFrame(index=raw.index)
    headers = []
    for column in raw.columns:
        values = raw[column]
        name, _, code = column.partition("___")
        if column == "redcap_repeat_instrument":
            header, values = "Repeat Instrument", values.map(lambda v: FORMS.get(v, v))
        elif column == "redcap_repeat_instance":
            header = "Repeat Instance"
        elif column.endswith("_complete"):
            header, values = "Complete?", values.map({"2": "Complete", "": ""})
        elif code and name in fields:
            f = fields[name]
            header = f"{f[3]} (choice={dict(f[4])[code]})"
            # on rows without the instrument REDCap leaves checkbox cells empty in both layouts
            values = values.map({"1": "Checked", "0": "Unchecked", "": ""})
        else:
            f = fields[column]
            header = f[3]
            if f[4] or f[2] == "yesno":
                choices = dict(f[4] or [("1", "Yes"), ("0", "No")])
                values = values.map(lambda v: choices.get(v, v))
        headers.append(header)
        out[len(headers) - 1] = values.to_numpy()
    out.columns = headers
    return out


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(frame.columns))
    writer.writerows(frame.astype(str).itertuples(index=False, name=None))
    return buffer.getvalue().encode("utf-8")


def write_redcap_example(tables: dict[str, pd.DataFrame], out_dir) -> list[Path]:
    """Write dictionary.csv, export.csv, export-labels.csv and mapping.toml; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    raw = export_frame(tables)
    files = {"dictionary.csv": _csv_bytes(data_dictionary()), "export.csv": _csv_bytes(raw),
             "export-labels.csv": _csv_bytes(labels_export(raw)), "mapping.toml": mapping_text().encode("utf-8")}
    paths = []
    for name, data in files.items():
        path = out / name
        path.write_bytes(data)
        paths.append(path)
    return paths

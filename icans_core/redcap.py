"""Import a REDCap project: flat CSV export + data dictionary + a mapping file -> contract tables.

    result = load_redcap(export, dictionary, mapping)   # Sources: name and bytes
    if result.cohort is None: show(result.report)

The files are read with pandas (CSV) and tomllib (the mapping); this module only maps. The export
may hold raw codes or labels (REDCap's "CSV (raw data)" or "CSV (labels)", headers as variable names
or as field labels), repeating instruments and events (redcap_event_name, redcap_repeat_instrument,
redcap_repeat_instance) and checkbox fields (field___1, ...). Choice codes are resolved from the
dictionary: a contract text column gets the choice's label, a number column its code; a checkbox
mapped to a list column (vasopressors, treatments) gives its ticked labels separated by "; ".

The mapping (TOML, docs/data-format.md "REDCap import") names, for each contract table, the REDCap
instrument (form) its rows come from, optionally the event, and which field is which column.
`check_mapping` names every unmapped or mis-typed field; then the converted tables go through the
normal validation (all-or-nothing, the same messages), with rows pointing at the export's rows and
columns naming the REDCap field. Every row of a contract table comes from one row of the export.

On a server (`on_server=True`, the app), an export holding fields the dictionary flags as
identifiers, or date / datetime fields, is refused whole: export again with REDCap's
de-identification options. The command line (run locally) drops those fields and says so.
"""

from __future__ import annotations

import io
import re
import tomllib
from dataclasses import dataclass, replace
from difflib import get_close_matches

import pandas as pd

from icans_core import schema as S
from icans_core.ingest import LoadResult, load_raw_tables
from icans_core.limits import Limits
from icans_core.problems import Problem, error, warning
from icans_core.readers import TEXT, RawTable, Source, as_text

MAPPING_VERSION = 1
# Contract columns a REDCap checkbox may fill: its ticked labels, separated by "; ".
LIST_COLUMNS = {("observations", "vasopressors"), ("toxicity_episodes", "treatments")}
# Columns that only say whose row and when: a row with nothing else filled is not a row of the table.
KEY_COLUMNS = {"patient_id", "day"}
EVENT, INSTRUMENT, INSTANCE = "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance"
SPECIAL_LABELS = {"event name": EVENT, "repeat instrument": INSTRUMENT, "repeat instance": INSTANCE,
                  "survey identifier": "redcap_survey_identifier", "data access group": "redcap_data_access_group"}
NUMBER_VALIDATIONS = {"integer", "number", "float", "int"}
DATE_PREFIXES = ("date", "datetime", "time")

# The data dictionary's columns, as REDCap writes them (the UI's headers, or the API's names).
_DICTIONARY_COLUMNS = {
    "field": ("variable / field name", "field_name"),
    "form": ("form name", "form_name"),
    "type": ("field type", "field_type"),
    "label": ("field label", "field_label"),
    "choices": ("choices, calculations, or slider labels", "select_choices_or_calculations"),
    "validation": ("text validation type or show slider number", "text_validation_type_or_show_slider_number"),
    "identifier": ("identifier?", "identifier"),
}


@dataclass(frozen=True)
class Field:
    """One field of the data dictionary."""

    name: str
    form: str
    type: str  # text, notes, radio, dropdown, checkbox, yesno, truefalse, calc, slider, descriptive, ...
    label: str
    choices: dict[str, str]  # code -> label (yesno / truefalse included)
    validation: str
    identifier: bool

    @property
    def is_date(self) -> bool:
        return self.type == "text" and self.validation.startswith(DATE_PREFIXES)

    @property
    def numeric_codes(self) -> bool:
        return bool(self.choices) and all(_is_number(c) for c in self.choices)


@dataclass
class Dictionary:
    fields: dict[str, Field]  # in dictionary order; the first is the record id

    @property
    def record_id(self) -> str:
        return next(iter(self.fields))

    @property
    def forms(self) -> list[str]:
        return list(dict.fromkeys(f.form for f in self.fields.values()))


@dataclass
class TableMapping:
    table: str
    instrument: str
    event: str | None
    columns: dict[str, str]  # contract column -> REDCap field


# --- reading -----------------------------------------------------------------------------------------

def read_dictionary(source: Source) -> tuple[Dictionary | None, list[Problem]]:
    """The data dictionary, or the problems that stop it being read."""
    frame, problems = _read_csv(source)
    if frame is None:
        return None, problems
    headers = {c.strip().casefold(): c for c in frame.columns}
    found = {key: next((headers[n] for n in names if n in headers), None) for key, names in _DICTIONARY_COLUMNS.items()}
    missing = [_DICTIONARY_COLUMNS[k][0] for k in ("field", "form", "type") if found[k] is None]
    if missing:
        return None, [error(source.name, "Not a REDCap data dictionary: the column(s) "
                                         f"{', '.join(repr(m) for m in missing)} are missing (download it from "
                                         "REDCap: Project Setup › Data Dictionary).", row=1)]
    fields = {}
    for row, r in frame.iterrows():
        name = r[found["field"]].strip()
        if not name:
            continue
        field_type = r[found["type"]].strip().lower()
        choices = {}
        text = r[found["choices"]] if found["choices"] else ""
        if field_type in ("radio", "dropdown", "checkbox"):
            choices = _parse_choices(text)
            for code, labels in _repeated_codes(text).items():
                # the later label would win without a word: '1, Female | 2, Male | 1, Male' made every 1 a Male
                problems.append(error(source.name, f"The {field_type} field '{name}' gives the choice code "
                                                   f"'{code}' more than once ({', '.join(map(repr, labels))}): which "
                                                   "label a stored code means is undefined. Give each choice its "
                                                   "own code.", row=int(row), column=found["choices"], value=text))
            if not choices:
                problems.append(error(source.name, f"The {field_type} field '{name}' has no choices that can be read "
                                                   "(expected '1, Label | 2, Label').", row=int(row),
                                      column=found["choices"], value=text))
        elif field_type == "yesno":
            choices = {"1": "Yes", "0": "No"}
        elif field_type == "truefalse":
            choices = {"1": "True", "0": "False"}
        fields[name] = Field(name, r[found["form"]].strip(), field_type,
                             r[found["label"]].strip() if found["label"] else name, choices,
                             (r[found["validation"]].strip().lower() if found["validation"] else ""),
                             found["identifier"] is not None and r[found["identifier"]].strip().lower() == "y")
    if not fields:
        problems.append(error(source.name, "The data dictionary lists no fields."))
        return None, problems
    return Dictionary(fields), problems


def _repeated_codes(text: str) -> dict[str, list[str]]:
    """The choice codes given more than once, with every label each is given."""
    labels: dict[str, list[str]] = {}
    for part in str(text).split("|"):
        code, comma, label = part.partition(",")
        if comma and code.strip():
            labels.setdefault(code.strip(), []).append(label.strip())
    return {code: given for code, given in labels.items() if len(given) > 1}


def _parse_choices(text: str) -> dict[str, str]:
    choices = {}
    for part in str(text).split("|"):
        code, comma, label = part.partition(",")
        if comma and code.strip():
            choices[code.strip()] = label.strip()
    return choices


def _read_csv(source: Source) -> tuple[pd.DataFrame | None, list[Problem]]:
    if not source.data:
        return None, [error(source.name, "The file is empty.")]
    try:
        frame = pd.read_csv(io.BytesIO(source.data), dtype=str, keep_default_na=False, encoding="utf-8-sig",
                            engine="pyarrow")
    except UnicodeDecodeError:
        return None, [error(source.name, "Not UTF-8 text: export the file from REDCap again (CSV).")]
    except Exception as exc:  # any parser failure becomes a message, never a traceback
        return None, [error(source.name, f"The file could not be read as CSV: {str(exc).splitlines()[0][:200]}")]
    frame.index = pd.RangeIndex(2, len(frame) + 2)  # spreadsheet rows: the header is row 1
    frame.attrs["header"] = list(frame.columns)  # as written, repeats included
    seen: dict[str, int] = {}
    names = []
    for name in frame.columns:  # a labels export repeats "Complete?" once per form
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}.{seen[name] - 1}")
    frame.columns = names
    return frame, []


def read_mapping(source: Source) -> tuple[dict | None, list[Problem]]:
    """The mapping file's content (TOML), or why it cannot be read."""
    try:
        return tomllib.loads(source.data.decode("utf-8-sig")), []
    except UnicodeDecodeError:
        return None, [error(source.name, "The mapping file is not UTF-8 text.")]
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        return None, [error(source.name, f"The mapping file is not valid TOML: {exc}.",
                            row=int(line[1]) if line else None)]


# --- the mapping and its validator ------------------------------------------------------------------

def check_mapping(mapping: dict, dictionary: Dictionary, where: str) -> tuple[list[TableMapping], list[Problem]]:
    """The mapping's tables, and every problem: unknown or missing names, mis-typed fields, required
    columns left unmapped (errors), and every dictionary field the mapping does not use (warnings)."""
    problems = []
    version = mapping.get("version")
    if version != MAPPING_VERSION:
        problems.append(error(where, f"The mapping must say version = {MAPPING_VERSION} (found {version!r}).",
                              column="version"))
    record_id = mapping.get("record_id", dictionary.record_id)
    if record_id not in dictionary.fields:
        problems.append(error(where, f"record_id names '{record_id}', which is not a field of the data dictionary.",
                              column="record_id", value=record_id))
    tables = []
    for key, spec in mapping.items():
        if key in ("version", "record_id"):
            continue
        if key not in S.TABLES:
            problems.append(error(where, f"[{key}] is not a table of the data format ({', '.join(S.TABLES)}).",
                                  column=key))
            continue
        if not isinstance(spec, dict) or not isinstance(spec.get("instrument"), str):
            problems.append(error(where, f"[{key}] needs instrument = \"<REDCap form name>\".", column=key))
            continue
        instrument = spec["instrument"]
        if instrument not in dictionary.forms:
            problems.append(error(where, f"[{key}] instrument '{instrument}' is not a form of the data dictionary"
                                         f"{_hint(instrument, dictionary.forms)}.", column=f"{key}.instrument",
                                  value=instrument))
            continue
        columns = dict(spec.get("columns", {}))
        columns.setdefault("patient_id", record_id)
        problems += _check_columns(key, instrument, columns, dictionary, record_id, where)
        tables.append(TableMapping(key, instrument, spec.get("event"), columns))
    if not any(t.table == "patients" for t in tables):
        problems.append(error(where, "The mapping has no [patients] table: every cohort needs one."))
    if not any(t.table in ("toxicity", "toxicity_episodes", "observations") for t in tables):
        problems.append(error(where, "The mapping has no [toxicity], [toxicity_episodes] or [observations] table: "
                                     "a cohort needs its assessments."))
    used = {f for t in tables for f in t.columns.values()} | {record_id}
    for field in dictionary.fields.values():
        if field.name not in used and field.type != "descriptive":
            problems.append(warning(where, f"Field not imported: the mapping does not use it (form {field.form}).",
                                    column=field.name))
    return tables, problems


def _check_columns(table: str, instrument: str, columns: dict, dictionary: Dictionary, record_id: str,
                   where: str) -> list[Problem]:
    spec = S.TABLES[table]
    problems = []
    for column, field_name in columns.items():
        at = f"{table}.columns.{column}"
        if column not in spec.column_names:
            problems.append(error(where, f"'{column}' is not a column of the {table} table"
                                         f"{_hint(column, spec.column_names)}.", column=at, value=field_name))
            continue
        field = dictionary.fields.get(field_name) if isinstance(field_name, str) else None
        if field is None:
            problems.append(error(where, f"'{field_name}' is not a field of the data dictionary"
                                         f"{_hint(str(field_name), list(dictionary.fields))}.", column=at,
                                  value=field_name))
            continue
        if field.name != record_id and field.form != instrument:
            problems.append(error(where, f"'{field.name}' is on form '{field.form}', not on [{table}]'s instrument "
                                         f"'{instrument}'.", column=at, value=field.name))
        problem = _type_problem(table, spec.column(column), field)
        if problem:
            severity, text = problem
            problems.append((error if severity == "error" else warning)(where, text, column=at, value=field.name))
    for column in spec.required_columns:
        if column not in columns:
            problems.append(error(where, f"The required column '{column}' of the {table} table is not mapped.",
                                  column=f"{table}.columns.{column}"))
    return problems


def _type_problem(table: str, column: S.ColumnSpec, field: Field) -> tuple[str, str] | None:
    """('error' | 'warning', text) when a field cannot (or may not) fill a contract column."""
    kind = column.kind
    if field.is_date:
        return "error", (f"'{field.name}' is a {field.validation} field: calendar dates never enter a cohort. Map a "
                         "field holding days since infusion (e.g. a calculated field datediff([infusion_date], "
                         f"[{field.name}], \"d\", \"ymd\", true)), or convert dates locally with "
                         "`python -m icans_core prepare`.")
    if field.type == "checkbox":
        if (table, column.name) in LIST_COLUMNS or (kind == "boolean" and len(field.choices) == 1):
            return None
        return "error", (f"'{field.name}' is a checkbox; it can fill only a list column "
                         f"({', '.join(f'{t}.{c}' for t, c in sorted(LIST_COLUMNS))}) or, with one choice, a "
                         f"true/false column, not {table}.{column.name} ({kind}).")
    if field.type in ("descriptive", "file"):
        return "error", f"'{field.name}' is a {field.type} field: it holds no value for {table}.{column.name}."
    if kind in ("number", "integer"):
        if field.type in ("calc", "slider"):
            return None
        if field.type in ("radio", "dropdown"):
            return None if field.numeric_codes else ("error", (
                f"'{field.name}' is a {field.type} whose codes are not numbers; {table}.{column.name} is a {kind}."))
        if field.type == "text" and field.validation in NUMBER_VALIDATIONS | {f"number_{n}dp" for n in range(1, 5)}:
            if kind == "integer" and field.validation not in ("integer", "int"):
                return "warning", (f"'{field.name}' accepts decimals; {table}.{column.name} must be a whole number "
                                   "(each value is checked).")
            return None
        if field.type == "text":
            return "warning", (f"'{field.name}' is free text (no number validation in REDCap); "
                               f"{table}.{column.name} is a {kind}: each value is checked.")
        return "error", f"'{field.name}' is a {field.type} field; {table}.{column.name} is a {kind}."
    if kind == "boolean":
        if field.type in ("yesno", "truefalse") or (field.type in ("radio", "dropdown")
                                                     and set(field.choices) <= {"0", "1"}):
            return None
        return "error", f"'{field.name}' is a {field.type} field; {table}.{column.name} is true/false."
    if (table, column.name) in LIST_COLUMNS or field.type in ("text", "notes", "radio", "dropdown", "yesno",
                                                              "truefalse", "calc", "sql"):
        return None
    return "error", f"'{field.name}' is a {field.type} field; it cannot fill {table}.{column.name}."


def _hint(name: str, options: list[str]) -> str:
    close = get_close_matches(name, options, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


# --- converting the export ---------------------------------------------------------------------------

@dataclass
class Conversion:
    """Contract tables as text (RawTables indexed by export row), their fields, and every problem."""

    tables: list[RawTable]
    fields: dict[str, dict[str, str]]  # table source -> contract column -> REDCap field
    problems: list[Problem]


def convert_export(export: Source, dictionary: Dictionary, tables: list[TableMapping], on_server: bool,
                   limits: Limits | None = None) -> Conversion:
    """The export's rows as contract tables (text cells, as a reader gives them)."""
    limits = limits or Limits.from_environment()
    frame, problems = _read_csv(export)
    if frame is None:
        return Conversion([], {}, problems)
    if len(frame) > limits.max_rows:
        return Conversion([], {}, [error(export.name, f"The export has {len(frame):,} rows, more than the "
                                                      f"{limits.max_rows:,} a table may have.")])
    header = frame.attrs.get("header", list(frame.columns))
    frame.columns = _field_headers(list(frame.columns), dictionary)
    problems += _repeated_fields(export.name, header, dictionary, tables)
    problems += _screen_fields(export.name, frame, dictionary, on_server)
    if any(p.severity == "error" for p in problems):
        return Conversion([], {}, problems)
    record_id = next((t.columns["patient_id"] for t in tables if t.table == "patients"), dictionary.record_id)
    if record_id not in frame.columns:
        # one column whose name holds semicolons: an export saved with ';' between its cells (a spreadsheet's)
        separated = len(frame.columns) == 1 and ";" in str(frame.columns[0])
        return Conversion([], {}, [error(export.name, f"The export has no column '{record_id}' (the record id). " + (
            "Its cells are separated by semicolons: export the data from REDCap again as CSV (comma-separated), "
            "or save it from the spreadsheet as CSV with commas." if separated else
            "Is this the export of the project the dictionary describes?"), row=1)])
    raw_tables, fields = [], {}
    problems += _missing_events(export.name, frame, tables)
    if any(p.severity == "error" for p in problems):
        return Conversion([], {}, problems)
    for mapping in tables:
        rows = _rows_of(frame, mapping, dictionary)
        where = f"{export.name} › {mapping.instrument} (as {mapping.table})"
        cells, cell_problems = {}, []
        for column, field_name in mapping.columns.items():
            values, found = _column_values(frame.loc[rows], dictionary.fields[field_name],
                                           S.TABLES[mapping.table].column(column), where, column, mapping.table)
            cells[column] = values
            cell_problems += found
        table = pd.DataFrame(cells, index=rows) if len(rows) else pd.DataFrame(
            {c: pd.Series(dtype=TEXT) for c in cells})
        others = [c for c in table.columns if c not in KEY_COLUMNS]
        if others and len(table):
            table = table[table[others].notna().any(axis=1)]  # the row holds nothing of this table
        # a cell's problem only where the row is this table's; the header's (row 1: a mapped field the export
        # lacks) always: dropped, its column would load blank without a word (deaths, ECOG, below-LLOQ flags lost)
        problems += [p for p in cell_problems if p.row is None or p.row == 1 or p.row in table.index]
        raw_tables.append(RawTable(mapping.table, where, table))
        fields[where] = dict(mapping.columns)
    return Conversion(raw_tables, fields, problems)


def _repeated_fields(where: str, header: list[str], dictionary: Dictionary, tables: list[TableMapping]) -> list[Problem]:
    """An error for each column the mapping reads that the export's header gives more than once (as written
    or as a field label): only the first would be read, the other's values dropped without a word."""
    used = {EVENT, INSTRUMENT, INSTANCE, dictionary.record_id}
    for mapping in tables:
        for field_name in mapping.columns.values():
            field = dictionary.fields.get(field_name)
            used.add(field_name)
            if field is not None and field.type == "checkbox":
                used |= {_checkbox_column(field_name, code) for code in field.choices}
    written: dict[str, list[str]] = {}
    for name, as_written in zip(_field_headers(header, dictionary), header):
        written.setdefault(name, []).append(as_written)
    return [error(where, f"The export's header gives the column '{name}' {len(given)} times"
                         + (f" ({', '.join(map(repr, given))})" if any(g != name for g in given) else "")
                         + ": which one holds the values is undefined, so nothing is imported. Delete the extra "
                         "column, or export the project again.", row=1, column=name)
            for name, given in written.items() if len(given) > 1 and name in used]


def _field_headers(headers: list[str], dictionary: Dictionary) -> list[str]:
    """Variable names for every column: a labels export's headers (field labels) are translated."""
    known = set(dictionary.fields) | {EVENT, INSTRUMENT, INSTANCE}
    names = {h for h in headers if h in known or h.rsplit("___", 1)[0] in dictionary.fields}
    if len(names) * 2 >= len(headers):
        return headers
    by_label: dict[str, str] = {}
    for field in dictionary.fields.values():
        if field.type == "checkbox":
            for code, label in field.choices.items():
                by_label[_key(f"{field.label} (choice={label})")] = _checkbox_column(field.name, code)
        else:
            by_label.setdefault(_key(field.label), field.name)
    special = {_key(k): v for k, v in SPECIAL_LABELS.items()}
    return [by_label.get(_key(h), special.get(_key(h), h)) for h in headers]


def _key(text: str) -> str:
    return S.vocabulary_key(re.sub(r"<[^>]+>", "", str(text)))


def _checkbox_column(field: str, code: str) -> str:
    return f"{field}___{code.lower().replace('-', '_')}"


def _screen_fields(where: str, frame: pd.DataFrame, dictionary: Dictionary, on_server: bool) -> list[Problem]:
    """Identifier and date fields holding values: refused on a server, dropped (with a warning) locally."""
    problems = []
    for column in list(frame.columns):
        field = dictionary.fields.get(column)
        if field is None or field.name == dictionary.record_id:
            continue
        what = "flagged as an identifier in the data dictionary" if field.identifier else (
            f"a {field.validation} field (calendar dates)" if field.is_date else None)
        if what is None or not frame[column].str.strip().astype(bool).any():
            continue
        if on_server:
            problems.append(error(where, f"This field is {what}; it must not be uploaded. Export again with REDCap's "
                                         "de-identification options (remove tagged identifier fields, remove dates), "
                                         "or import on your own computer with `python -m icans_core import-redcap`.",
                                  row=1, column=column))
        else:
            frame.drop(columns=column, inplace=True)
            problems.append(warning(where, f"This field is {what}: dropped, never imported.", row=1, column=column))
    return problems


def _missing_events(where: str, frame: pd.DataFrame, tables: list[TableMapping]) -> list[Problem]:
    """An error for each event the mapping reads an instrument from that no row of the export is in: its table
    would come out empty ("the patients table has no rows"), which names the symptom, not the cause."""
    present = sorted({e for e in frame[EVENT].dropna().astype(str) if e.strip()}) if EVENT in frame.columns else []
    keys = {_key(e) for e in present}
    problems = []
    for mapping in tables:
        if mapping.event is None or _key(mapping.event) in keys:
            continue
        if EVENT not in frame.columns:
            problems.append(error(where, f"The mapping reads {mapping.table} from the event '{mapping.event}', but the "
                                         f"export has no {EVENT} column (the export of a project without events?). "
                                         "Remove the event from the mapping, or export the longitudinal project.",
                                  row=1, column=EVENT))
            continue
        shown = ", ".join(f"'{e}'" for e in present[:20]) + (f" and {len(present) - 20:,} more" if len(present) > 20
                                                              else "")
        problems.append(error(where, f"No row of the export is in the event '{mapping.event}', which the mapping reads "
                                     f"{mapping.table} from. The export's events: {shown or 'none'}. Correct the "
                                     "event's unique name in the mapping.", column=EVENT, value=mapping.event))
    return problems


def _rows_of(frame: pd.DataFrame, mapping: TableMapping, dictionary: Dictionary) -> pd.Index:
    """The export rows that hold the table's instrument (and event)."""
    keep = pd.Series(True, index=frame.index)
    if mapping.event is not None:
        if EVENT not in frame.columns:
            keep &= False
        else:
            keep &= frame[EVENT].map(_key) == _key(mapping.event)
    if INSTRUMENT in frame.columns:
        repeat = frame[INSTRUMENT].map(_key)
        repeating = repeat == _key(mapping.instrument)
        # a repeating instrument's rows are its own; any other form is on the rows of no repeat instrument
        keep &= repeating if repeating.any() else repeat == ""
    return frame.index[keep.to_numpy()]


def _column_values(rows: pd.DataFrame, field: Field, column: S.ColumnSpec, where: str, name: str,
                   table: str) -> tuple[pd.Series, list[Problem]]:
    """One contract column's text from a field: codes resolved, checkboxes joined."""
    if field.type == "checkbox":
        return _checkbox_values(rows, field, column, where, name)
    if field.name not in rows.columns:
        empty = pd.Series(pd.NA, index=rows.index, dtype=TEXT)
        return empty, [error(where, f"The export has no column '{field.name}' (mapped to {table}.{name}).", row=1,
                             column=field.name)]
    if not field.choices:
        return as_text(rows[field.name].astype(TEXT)), []
    # a choice labelled "None" or "NA" is a choice, not a missing value: only a blank cell is missing
    text = rows[field.name].astype(TEXT).str.strip()
    text = text.mask(text == "")
    by_label = {_key(label): code for code, label in field.choices.items()}
    problems, resolved = [], {}
    for value in text.dropna().unique():
        code = value if value in field.choices else by_label.get(_key(value))
        if code is None:
            resolved[value] = None
            continue
        if column.kind == "boolean":
            resolved[value] = "true" if code == "1" else "false"
        elif column.kind in ("number", "integer"):
            resolved[value] = code
        else:
            resolved[value] = field.choices[code]
    for row, value in text.items():
        if pd.notna(value) and resolved.get(value) is None:
            problems.append(error(where, f"Not one of the choices of '{field.name}' in the data dictionary "
                                         f"({_show_choices(field)}).", row=int(row), column=field.name, value=value))
    return text.map(resolved).astype(TEXT), problems


def _checkbox_values(rows: pd.DataFrame, field: Field, column: S.ColumnSpec, where: str,
                     name: str) -> tuple[pd.Series, list[Problem]]:
    ticked = pd.DataFrame(index=rows.index)
    problems = []
    for code, label in field.choices.items():
        header = _checkbox_column(field.name, code)
        if header not in rows.columns:
            problems.append(error(where, f"The export has no column '{header}' (choice '{label}' of the checkbox "
                                         f"'{field.name}').", row=1, column=header))
            continue
        cells = rows[header].str.strip().str.lower()
        bad = ~cells.isin(["", "0", "1", "checked", "unchecked"])
        problems += [error(where, "A checkbox column holds 0 or 1 (or Checked / Unchecked).", row=int(r),
                           column=header, value=rows.at[r, header]) for r in rows.index[bad.to_numpy()]]
        ticked[label] = cells.isin(["1", "checked"])
    known = {_checkbox_column(field.name, code) for code in field.choices}
    for header in rows.columns:
        # field___9 when the dictionary lists 1-3: ticks of a choice it does not know would be lost without a word
        if header.startswith(f"{field.name}___") and header not in known:
            cells = rows[header].astype(TEXT).str.strip().str.lower()
            ticked_rows = rows.index[cells.isin(["1", "checked"]).fillna(False).to_numpy(dtype=bool)]
            if len(ticked_rows):
                problems.append(error(
                    where, f"The export has the column '{header}', a choice of the checkbox '{field.name}' that the "
                           f"data dictionary does not list ({_show_choices(field)}), ticked in {len(ticked_rows):,} "
                           "row(s): those ticks cannot be imported. Use the project's current data dictionary.",
                    row=1, column=header))
    if column.kind == "boolean":
        return ticked.iloc[:, 0].map({True: "true", False: "false"}).astype(TEXT), problems
    joined = ticked.apply(lambda r: "; ".join(label for label, on in r.items() if on), axis=1) if len(ticked.columns) \
        else pd.Series("", index=rows.index)
    return as_text(joined.astype(TEXT)), problems


def _show_choices(field: Field) -> str:
    text = " | ".join(f"{c}, {label}" for c, label in field.choices.items())
    return text if len(text) <= 120 else text[:117] + "..."


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


# --- the whole path ------------------------------------------------------------------------------------

def convert_redcap(export: Source, dictionary_source: Source, mapping_source: Source, on_server: bool = True,
                   limits: Limits | None = None) -> Conversion:
    """Read the three files, check the mapping and convert the export (before validation)."""
    dictionary, problems = read_dictionary(dictionary_source)
    mapping, mapping_problems = read_mapping(mapping_source)
    problems += mapping_problems
    if dictionary is None or mapping is None:
        return Conversion([], {}, problems)
    tables, mapping_problems = check_mapping(mapping, dictionary, mapping_source.name)
    problems += mapping_problems
    if any(p.severity == "error" for p in problems):
        return Conversion([], {}, problems)
    conversion = convert_export(export, dictionary, tables, on_server, limits)
    conversion.problems = problems + conversion.problems
    return conversion


def load_redcap(export: Source, dictionary: Source, mapping: Source, label: str | None = None,
                on_server: bool = True, limits: Limits | None = None) -> LoadResult:
    """A cohort from a REDCap project, or every problem and no cohort (all-or-nothing)."""
    limits = limits or Limits.from_environment()
    total = len(export.data) + len(dictionary.data) + len(mapping.data)
    if limits.max_upload_bytes is not None and total > limits.max_upload_bytes:
        return LoadResult(None, [error(export.name, f"The three files are {total / 2**20:,.1f} MB, more than the "
                                                    f"upload limit of {limits.max_upload_bytes / 2**20:,.0f} MB. "
                                                    "Convert them on your own computer with `python -m icans_core "
                                                    "import-redcap` and upload the contract files (zipped).")])
    conversion = convert_redcap(export, dictionary, mapping, on_server, limits)
    sources = [export, dictionary, mapping]
    if any(p.severity == "error" for p in conversion.problems):
        return LoadResult(None, conversion.problems)
    result = load_raw_tables(conversion.tables, conversion.problems, sources,
                             label or f"{export.name} (REDCap)")
    problems = [_with_field(p, conversion.fields) for p in result.problems]
    if result.cohort is not None:
        result.cohort.warnings = problems
    return LoadResult(result.cohort, problems)


def _with_field(problem: Problem, fields: dict[str, dict[str, str]]) -> Problem:
    """A validation problem on a converted table names the REDCap field beside the contract column."""
    columns = fields.get(problem.source)
    if not columns or problem.column not in columns:
        return problem
    return replace(problem, column=f"{columns[problem.column]} ({problem.column})")


def write_converted(conversion: Conversion, out_dir) -> list:
    """Write the converted tables as contract CSV files (text as converted) and return the paths."""
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for raw in conversion.tables:
        path = out / f"{raw.table}.csv"
        raw.frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n", na_rep="")
        paths.append(path)
    return paths
